"""leap-contact's clip runners: files, ffmpeg and onnxruntime around contact.py's pure logic.

Each source gives the clip's ContactFrames (clip-relative times) and whether they are dense;
``value`` names the contacted objects with leap-detect's boxes, makes the events and
the record's ``contact`` value.
"""
from __future__ import annotations

import functools
import os
import re
import zipfile
from dataclasses import dataclass

import numpy as np

from .. import clip, epic, records, stages
from ..onnx import ModelError
from . import contact, detect, detect_run, hand_contact, hoa, visor

DEFAULT_FPS = 10.0
RAW_SIZE = (456, 256)  # EPIC's released frames, which the hand-object detector was run on


@dataclass(frozen=True)
class Settings:
    fps: float | None = DEFAULT_FPS     # dense sources: frames per second used (None: all)
    hand_threshold: float | None = 0.5  # None: a hand model's manifest threshold, else 0.5
    object_threshold: float = 0.5
    min_duration: float = 0.25          # s a dense contact change must last
    min_iou: float = 0.5                # to name an object box by a leap-detect box
    lookback: float = 1.0               # s before the clip a sparse source may tell the start state
    min_overlap: float = 0.5            # hand detectors: hand-object overlap that is contact (hand_contact.py)


def clip_frames_range(record: dict, fps: float | None) -> tuple[float, list[int]]:
    """EPIC frame numbers of the clip at the sampling rate (the record's start/stop_frame when
    it has them), and the EPIC frame rate of its video."""
    efps = clip.frame_rate(record)
    start, stop = clip.window(record)
    first = int(record.get("start_frame") or round(start * efps))
    last = int(record.get("stop_frame") or round(stop * efps))
    step = 1 if fps is None else max(1, round(efps / fps))
    return efps, list(range(max(first, 1), last + 1, step))


def value(record: dict, src: dict, frames: list[contact.ContactFrame], dense: bool,
          s: Settings, require: bool, empty_reason: str) -> dict:
    if not frames:
        return {"source": src, **stages.get("contact").missing_value(empty_reason, require)}
    det = record.get("detect") or {}
    if dense:
        frames, _ = contact.name_objects(frames, det.get("frames") or [], s.min_iou)
    # hand-frames in contact with an object whose noun no source gave (reported, not guessed)
    unnamed = sum(1 for f in frames for h in f.hands if h.holding and h.object is None)
    start, events = contact.events(frames, s.min_duration, dense=dense)
    return {"source": src, "holding_at_start": start,
            "events": [{"t": e.t, "hand": e.hand, "kind": e.kind, "object": e.object} for e in events],
            "frames": [contact.frame_record(f) for f in frames], "unnamed": unnamed}


def matched(fr: hoa.HoaFrame, t: float, s: Settings) -> contact.ContactFrame:
    """A detector frame's hands matched to their objects (the release's rule), at clip time t."""
    hand = 0.5 if s.hand_threshold is None else s.hand_threshold
    return contact.from_hoa(hoa.match(fr, hand, s.object_threshold), t)


def numbered_frames(record: dict, s: Settings, read) -> list[contact.ContactFrame]:
    """The clip's EPIC frames at the sampling rate through ``read`` (frame number -> HoaFrame,
    None where the source has no such frame), matched, with clip-relative times."""
    start = clip.window(record)[0]
    efps, numbers = clip_frames_range(record, s.fps)
    return [matched(fr, round(n / efps - start, 4), s) for n in numbers if (fr := read(n)) is not None]


def _find_video_file(root: str, video_id: str, suffix: str) -> str | None:
    participant = epic.participant(video_id)
    for path in (os.path.join(root, participant, video_id + suffix), os.path.join(root, video_id + suffix)):
        if os.path.exists(path):
            return path
    return None


@functools.lru_cache(maxsize=2)
def _pickle(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        data = f.read()
    try:
        return hoa.load_pickle(data)
    except Exception as e:  # noqa: BLE001 - a corrupt pickle raises many kinds
        raise records.ClipError(f"{path}: not a hand-object detections pickle ({e})") from None


def hoa_source(root: str, s: Settings):
    """--hoa DIR: the EPIC-100 hand-object detection pickles (DIR/PXX/PXX_YY.pkl or DIR/PXX_YY.pkl)."""
    def for_clip(record: dict, require: bool) -> dict:
        vid = record.get("video_id") or ""
        path = _find_video_file(root, vid, ".pkl")
        src = records.source("contact", hoa=path or root, **_naming(record))
        if path is None:
            return value(record, src, [], True, s, require, f"no hand-object detections {vid}.pkl under {root}")
        messages = _pickle(path)

        def read(n: int) -> hoa.HoaFrame | None:
            if n - 1 >= len(messages):  # list index i is frame i + 1
                return None
            _, fr = hoa.parse_detections(messages[n - 1])
            if fr.frame not in (0, n):  # an empty message has frame 0
                raise records.ClipError(f"{path}: list index {n - 1} holds frame {fr.frame}, "
                                        f"expected {n} (index i = frame i + 1)")
            return fr
        frames = numbered_frames(record, s, read)
        return value(record, src, frames, True, s, require,
                     f"{path} has {len(messages)} frames, none in the clip")
    return for_clip


_RAW_NAME = re.compile(r"frame_(\d+)\.npz$")


@functools.lru_cache(maxsize=8)
def _raw_listing(folder: str) -> dict[int, str]:
    return {int(m.group(1)): os.path.join(folder, f) for f in os.listdir(folder)
            if (m := _RAW_NAME.search(f))}


def raw_source(root: str, s: Settings):
    """--hoa-raw DIR: the detector demo's arrays, DIR[/PXX]/PXX_YY/frame_%010d.npz with
    ``hand_dets`` and ``obj_dets`` ([N, 10] rows in pixels; absent or empty: none) and optional
    ``size`` = [width, height] (default 456x256, EPIC's released frames)."""
    def for_clip(record: dict, require: bool) -> dict:
        vid = record.get("video_id") or ""
        folder = _find_video_file(root, vid, "")
        src = records.source("contact", hoa_raw=folder or root, **_naming(record))
        if folder is None or not os.path.isdir(folder):
            return value(record, src, [], True, s, require, f"no folder {vid} of detector arrays under {root}")
        listing = _raw_listing(folder)

        def read(n: int) -> hoa.HoaFrame | None:
            if n not in listing:
                return None
            try:
                with np.load(listing[n], allow_pickle=False) as z:
                    w, h = (float(v) for v in z["size"]) if "size" in z else RAW_SIZE
                    return hoa.raw_frame(n, z["hand_dets"] if "hand_dets" in z else None,
                                         z["obj_dets"] if "obj_dets" in z else None, w, h)
            except (OSError, ValueError, TypeError, zipfile.BadZipFile) as e:
                raise records.ClipError(f"{listing[n]}: not detector arrays ({e})") from None
        frames = numbered_frames(record, s, read)
        return value(record, src, frames, True, s, require, f"no detector arrays for the clip's frames in {folder}")
    return for_clip


def visor_source(root: str, s: Settings):
    """--visor DIR: VISOR hands' in_contact_object (sparse: no smoothing)."""
    def for_clip(record: dict, require: bool) -> dict:
        vid = record.get("video_id") or ""
        try:
            path, annotated = visor.video(root, vid)
        except FileNotFoundError as e:
            return value(record, records.source("contact", visor=root), [], False, s, require, str(e))
        src = records.source("contact", visor=path)
        frames = [contact.from_visor(t, fr, visor.noun_key, visor.HAND_SIDES)
                  for t, fr in visor.clip_frames(annotated, vid, *clip.window(record), s.lookback)]
        frames = [f for f in frames if f.hands]
        return value(record, src, frames, False, s, require, "no VISOR frame with a hand in the clip")
    return for_clip


def model_source(model: str, manifest: str | None, s: Settings, batch: int):
    """--model FILE.onnx: a hand-object detector whose manifest names the ``hand_dets`` and
    ``obj_dets`` outputs, rows as the detector demo's ([N, 10] or [B, N, 10]) in pixels of the
    model input, or normalised with ``"normalized": true``; or any detector whose manifest marks
    ``hands`` (hand_contact.py: contact from overlap with leap-detect's boxes)."""
    m = detect_run.OnnxModel(model, manifest)
    if "hand_dets" not in m.manifest.get("output", {}) and m.manifest.get("hands"):
        return hand_model_source(m, s, batch)
    try:
        det = detect.Detector(labels={}, **detect.input_fields(m.manifest.get("input", {})))
        out = m.manifest["output"]
        names = [out["hand_dets"], out["obj_dets"]]
    except (KeyError, detect.ManifestError) as e:
        raise ModelError(f"{m.manifest_file}: {e} (a contact manifest's output names hand_dets and obj_dets)") from None
    run = m.runner(det.input_name, names)
    normalized = bool(out.get("normalized", False))
    batch = max(batch, det.batch or 1)

    def for_clip(record: dict, require: bool) -> dict:
        src = records.source("contact", model=os.path.basename(model), sha256=m.sha256,
                             fps="native" if s.fps is None else s.fps, **_naming(record))
        start, frames = clip.window(record)[0], []
        for times, images in detect_run.model_frames(record, det, s.fps, batch):
            step = det.batch or len(images)
            for a in range(0, len(images), step):
                chunk = images[a:a + step]                       # [b, H, W, 3]
                h, w = chunk.shape[1:3]
                outs = run(detect.preprocess(det, chunk))
                hands, objs = (np.asarray(outs[n], np.float32) for n in names)
                if hands.ndim == 2:                              # batch-1 model: [N, 10]
                    hands, objs = hands[None], objs[None]
                if hands.ndim != 3 or objs.ndim != 3 or len(hands) != len(chunk):
                    raise ModelError(f"{model}: hand_dets/obj_dets must be [N, 10] or [B, N, 10] for "
                                     f"{len(chunk)} images, got {hands.shape} and {objs.shape}")
                for t, hd, od in zip(times[a:a + step], hands, objs):
                    fr = hoa.raw_frame(0, hd, od, 1.0 if normalized else w, 1.0 if normalized else h)
                    frames.append(matched(fr, round(float(t) - start, 4), s))
        return value(record, src, frames, True, s, require, "no frame decoded")
    return for_clip


def hand_model_source(m: detect_run.OnnxModel, s: Settings, batch: int):
    """A hand detector (no contact state, maybe no side): its hand boxes each frame, contact by
    overlap with leap-detect's boxes of the record (``--min-overlap``)."""
    det = detect_run.checked_detector(m)
    run = m.runner(det.input_name, det.output_names())
    threshold = s.hand_threshold if s.hand_threshold is not None else det.threshold if det.threshold is not None else 0.5
    batch = max(batch, det.batch or 1)

    def for_clip(record: dict, require: bool) -> dict:
        src = records.source("contact", model=os.path.basename(m.path), manifest=det.name, sha256=m.sha256,
                             fps="native" if s.fps is None else s.fps, threshold=threshold,
                             contact="overlap", min_overlap=s.min_overlap, **_naming(record))
        found = detect.run_detector(det, detect_run.model_frames(record, det, s.fps, batch), run,
                                    clip.window(record)[0], threshold, 0.5)
        hands = [(round(f.t, 4), [hand_contact.HandBox(b, sc, side) for b, _, sc, side in f.hands]) for f in found]
        return hand_frames_value(record, src, hands, s, require)
    return for_clip


def hand_frames_value(record: dict, src: dict, hands, s: Settings, require: bool) -> dict:
    frames = hand_contact.frames_from_hands(hands, (record.get("detect") or {}).get("frames") or [], s.min_overlap)
    return value(record, src, frames, True, s, require, "no frame decoded")


def detect_hands_source(s: Settings):
    """--detect-hands: the hand boxes leap-detect put in ``detect.hands`` (a hand model's)."""
    def for_clip(record: dict, require: bool) -> dict:
        det = record.get("detect") or {}
        src = records.source("contact", hands="detect.hands", contact="overlap", min_overlap=s.min_overlap,
                             **_naming(record))
        if "hands" not in det:
            return value(record, src, [], True, s, require,
                         "the record's detect has no hands (run leap-detect with a hand model first)")
        return hand_frames_value(record, src, hand_contact.detect_hands(det), s, require)
    return for_clip


def _naming(record: dict) -> dict:
    """Provenance of the nouns: leap-detect's boxes when the record has them."""
    det = record.get("detect") or {}
    return {"names": "leap-detect"} if det.get("frames") else {"names": None}
