"""VISOR sparse annotations (GroundTruth-SparseAnnotations JSON): entities per annotated frame.

One JSON per video, ``PXX_YY.json``, anywhere under the folder the user names (VISOR's own layout
has ``train/`` and ``val/``). Each annotated frame lists entities with polygons in 1920x1080
pixels, a ``class_id`` from the v2 noun list (ids 0-299 are EPIC-100's nouns unchanged, 300-304
are the additions below), and for hands ``in_contact_object``: the id of the touched entity or
one of ``hand-not-in-contact``, ``none-of-the-above``, ``inconclusive``.
"""
from __future__ import annotations

import functools
import json
import os
import re
from typing import NamedTuple

from .. import epic, ontology, records

WIDTH, HEIGHT = 1920, 1080
# The v2 list's additions to EPIC-100's 300 nouns (EPIC_100_noun_classes_v2.csv).
V2_EXTRA = {300: "hand:left", 301: "hand:right", 302: "foot", 303: "glove:left", 304: "glove:right"}
HAND_SIDES = {300: "left", 301: "right", 303: "left", 304: "right"}
NOT_IN_CONTACT = "hand-not-in-contact"
UNANNOTATED_CONTACT = "none-of-the-above"

_FRAME = re.compile(r"frame_(\d+)\.\w+$")


class Entity(NamedTuple):
    id: str
    name: str
    class_id: int
    box: tuple[float, float, float, float]  # normalised xyxy
    in_contact: str | None                  # hands only


class VisorFrame(NamedTuple):
    frame: int          # EPIC frame number (rgb_frames numbering, 1-based)
    entities: tuple[Entity, ...]


def noun_key(class_id: int) -> str | None:
    """The v2 class id's key: an EPIC-100 noun key for 0-299, a v2 addition above."""
    if 0 <= class_id < ontology.N_NOUNS:
        return ontology.nouns()[class_id].key
    return V2_EXTRA.get(class_id)


@functools.lru_cache(maxsize=8)
def _index(root: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for folder, _dirs, files in sorted(os.walk(root)):
        for f in sorted(files):
            if re.fullmatch(r"P\d+_\d+\.json", f):
                found.setdefault(f[:-5], os.path.join(folder, f))
    return found


def find(root: str, video_id: str) -> str | None:
    """The path of ``video_id``'s JSON anywhere under ``root``, or None."""
    return _index(os.path.abspath(root)).get(video_id)


def video(root: str, video_id: str) -> tuple[str, tuple[VisorFrame, ...]]:
    """(path, parsed frames) of ``video_id``'s annotation file under ``root``; raises
    FileNotFoundError with the reason a clip's record gives when there is none."""
    path = find(root, video_id)
    if path is None:
        raise FileNotFoundError(f"no VISOR annotation {video_id}.json under {root}")
    return path, load(path)


def box_of(segments) -> tuple[float, float, float, float] | None:
    """The normalised xyxy box around all polygons (clipped to the frame), None if empty."""
    xs = [p[0] for poly in segments for p in poly]
    ys = [p[1] for poly in segments for p in poly]
    if not xs:
        return None
    x1, x2 = max(0.0, min(xs)), min(float(WIDTH), max(xs))
    y1, y2 = max(0.0, min(ys)), min(float(HEIGHT), max(ys))
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1 / WIDTH, y1 / HEIGHT, x2 / WIDTH, y2 / HEIGHT)


def parse(doc: dict) -> list[VisorFrame]:
    """A VISOR JSON document -> annotated frames sorted by frame number."""
    frames = []
    for item in doc.get("video_annotations", []):
        m = _FRAME.search(item["image"]["name"])
        if not m:
            raise ValueError(f"no frame number in image name {item['image']['name']!r}")
        ents = []
        for a in item.get("annotations", []):
            box = box_of(a.get("segments") or [])
            if box is None:
                continue
            ents.append(Entity(a["id"], a.get("name", ""), int(a["class_id"]), box,
                               a.get("in_contact_object")))
        frames.append(VisorFrame(int(m.group(1)), tuple(ents)))
    return sorted(frames, key=lambda f: f.frame)


@functools.lru_cache(maxsize=4)
def load(path: str) -> tuple[VisorFrame, ...]:
    """Parsed frames of one VISOR file (cached: a run visits many clips of one video)."""
    try:
        with open(path, encoding="utf-8") as f:
            return tuple(parse(json.load(f)))
    except (ValueError, KeyError, TypeError, AttributeError) as e:  # JSONDecodeError is a ValueError
        raise records.ClipError(f"{path}: not a VISOR annotation file ({type(e).__name__}: {e})") from None


def clip_frames(frames, video_id: str, start: float, stop: float, lookback: float = 0.0):
    """(t relative to clip start, frame) for annotated frames in [start - lookback, stop]."""
    fps = epic.frame_rate(video_id)
    out = []
    for fr in frames:
        t = fr.frame / fps
        if start - lookback - 1e-9 <= t <= stop + 1e-9:
            out.append((round(t - start, 4), fr))
    return out
