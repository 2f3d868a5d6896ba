"""Object detections per frame: ONNX detectors driven by a manifest, and precomputed sources.

Pure logic: the manifest becomes a ``Detector`` (pre-processing, post-processing, label map to
EPIC-100 noun keys); ``Detector.detect`` turns a batch of frames [n, H, W, 3] uint8 RGB plus a
run function into per-frame detections. The precomputed readers (VISOR, EPIC-55 object labels,
a generic JSONL/CSV) parse text into the same per-frame shape. Boxes are always xyxy
normalised to [0, 1] of the frame.
"""
from __future__ import annotations

import ast
import collections
import csv
import functools
import io
import json
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from .. import epic, ontology
from . import layouts
from . import visor as visor_mod

# EPIC-55 object labels: boxes are (top, left, height, width) in pixels of 1920x1080 frames.
EPIC55_WIDTH, EPIC55_HEIGHT = 1920, 1080


class ManifestError(ValueError):
    """A manifest that does not describe a usable detector."""


@dataclass(frozen=True)
class FrameDetections:
    t: float                                          # seconds from the clip start
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    nouns: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()
    hands: tuple[tuple[tuple[float, float, float, float], str, float, str | None], ...] = ()  # (box, label, score, side)

    def record(self) -> dict:
        return {"t": round(self.t, 3),
                "boxes": [[round(float(v), 4) for v in b] for b in self.boxes],
                "nouns": list(self.nouns), "scores": [round(float(s), 4) for s in self.scores]}


def objects(frames: Iterable[FrameDetections]) -> list[str]:
    """Nouns seen in the clip, in most frames first; ties: seen first (frame, then score order)."""
    count: collections.Counter = collections.Counter()
    first: dict[str, tuple[int, int]] = {}
    for i, f in enumerate(frames):
        for j, n in enumerate(f.nouns):
            first.setdefault(n, (i, j))
        count.update(set(f.nouns))
    return sorted(count, key=lambda n: (-count[n], first[n]))


# --- label maps ---------------------------------------------------------------------------

def label_map(spec, base_dir: str = ".", read_text: Callable[[str], str] | None = None) -> dict[int, str | None]:
    """Model class id -> EPIC-100 noun key (None: a class with no EPIC-100 noun, dropped).

    ``spec`` is ``{"scheme": "epic55", "offset": k}`` (class c is EPIC-55 noun c - k, mapped by
    ontology.epic55_to_100), a dict or list of words (keys, synonyms, English names), the name
    of a CSV file beside the manifest with columns ``class`` and ``noun``, or a TF Object
    Detection ``label_map.pbtxt`` (names: EPIC-55 class keys or EPIC-100 words).
    """
    if isinstance(spec, dict) and "scheme" in spec:
        offset = int(spec.get("offset", 0))
        if spec["scheme"] == "coco":
            return {i + offset: noun for i, (_, noun) in enumerate(coco_labels())}
        if spec["scheme"] != "epic55":
            raise ManifestError(f"unknown label scheme {spec['scheme']!r} (known: epic55, coco)")
        return {c.id + offset: ontology.epic55_to_100(c.id) for c in ontology.epic55_nouns()}
    if isinstance(spec, str):
        import os
        path = spec if os.path.isabs(spec) else os.path.join(base_dir, spec)
        text = read_text(path) if read_text else open(path, encoding="utf-8").read()
        if path.endswith(".pbtxt"):
            return pbtxt_labels(text)
        rows = csv.DictReader(io.StringIO(text))
        if not rows.fieldnames or not {"class", "noun"} <= set(rows.fieldnames):
            raise ManifestError(f"{path}: a label CSV needs columns class,noun")
        return {int(r["class"]): _key(r["noun"]) for r in rows}
    if isinstance(spec, list):
        return {i: _key(w) for i, w in enumerate(spec)}
    if isinstance(spec, dict):
        return {int(k): _key(w) for k, w in spec.items()}
    raise ManifestError("labels must be a scheme, a dict, a list or a CSV file name")


def label_names(spec, base_dir: str = ".") -> dict[int, str]:
    """Model class id -> the model's own name for it (reports of unmapped classes, hand labels)."""
    if isinstance(spec, dict) and "scheme" in spec:
        offset = int(spec.get("offset", 0))
        if spec["scheme"] == "coco":
            return {i + offset: name for i, (name, _) in enumerate(coco_labels())}
        return {c.id + offset: c.key for c in ontology.epic55_nouns()}
    if isinstance(spec, list):
        return {i: str(w) for i, w in enumerate(spec) if w}
    if isinstance(spec, dict):
        return {int(k): str(w) for k, w in spec.items() if w}
    if isinstance(spec, str) and not spec.endswith(".pbtxt"):
        import os
        path = spec if os.path.isabs(spec) else os.path.join(base_dir, spec)
        with open(path, encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        col = next((c for c in ("name", "epic55_key", "noun") if rows and c in rows[0]), None)
        return {int(r["class"]): r[col] for r in rows if col and r[col]}
    return {}


def coco_labels() -> list[tuple[str, str | None]]:
    """The 80 COCO detection classes in their contiguous order, each with its EPIC-100 noun key
    (None: no EPIC-100 noun) from leap_cli/data/coco_to_epic100.csv (checked by hand)."""
    return list(_coco_labels())


@functools.lru_cache(maxsize=1)
def _coco_labels() -> tuple[tuple[str, str | None], ...]:
    from importlib import resources

    text = resources.files("leap_cli").joinpath("data/coco_to_epic100.csv").read_text(encoding="utf-8")
    return tuple((r["coco"], r["noun"] or None) for r in csv.DictReader(io.StringIO(text)))


def pbtxt_labels(text: str) -> dict[int, str | None]:
    """A TF Object Detection label map (``item { id: 1 name: 'pan' }``) -> class id -> noun key;
    an EPIC-55 class key maps through ontology.epic55_to_100, any other name through noun_key."""
    import re

    epic55 = {c.key: c.id for c in ontology.epic55_nouns()}
    out: dict[int, str | None] = {}
    for item in re.findall(r"item\s*\{(.*?)\}", text, flags=re.S):
        ident = re.search(r"\bid\s*:\s*(\d+)", item)
        name = re.search(r"\b(?:display_name|name)\s*:\s*[\"']([^\"']*)[\"']", item)
        if not ident or not name:
            raise ManifestError(f"label map item without id or name: {item.strip()[:60]!r}")
        word = name.group(1)
        out[int(ident.group(1))] = ontology.epic55_to_100(epic55[word]) if word in epic55 else _key(word)
    if not out:
        raise ManifestError("no 'item { id: ... name: ... }' in the label map")
    return out


def _key(word) -> str | None:
    return ontology.noun_key(word) if word else None


# --- the manifest-driven detector ------------------------------------------------------------

@dataclass(frozen=True)
class Detector:
    """What the manifest says about a detector's input and output."""
    labels: dict[int, str | None]
    input_name: str | None = None          # None: the model's first input
    layout: str = "NCHW"                   # NCHW | NHWC
    dtype: str = "float32"                 # float32 | uint8
    color: str = "RGB"                     # RGB | BGR
    size: tuple[int, int] | int | None = None   # (w, h), short side, or None (native)
    resize: str = "stretch"                # stretch | letterbox (aspect kept, padded; needs (w, h))
    pad_value: int = 114                   # letterbox padding grey
    scale: float = 1.0 / 255.0             # float input = pixel * scale, then (x - mean) / std
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    batch: int | None = None               # fixed batch size the model takes (1 for most exports)
    out_layout: str = "separate"           # layouts.LAYOUTS
    boxes: str = "boxes"                   # output names (packed/yolo: the one output; ssd: regressors)
    scores: str | None = "scores"
    classes: str | None = "classes"        # None: scores are [N, C] per-class scores
    count: str | None = None               # valid-detection count output (TF: num_detections)
    box_format: str = "xyxy"               # xyxy | yxyx | cxcywh
    normalized: bool | None = True         # boxes in [0, 1], else pixels of the model input; None: per batch
    nms: bool = True                       # the model applies NMS itself
    background: int | None = None          # class-score column to ignore (no classes output)
    num_classes: int | None = None         # yolo: the class-score columns
    objectness: bool = False               # yolo: an objectness score before the class scores
    anchors: np.ndarray | None = field(default=None, compare=False)   # ssd: [A, 2] centres
    sigmoid: bool = True                   # ssd: scores are logits
    hands: frozenset = frozenset()         # classes that are hands: detect.hands, never objects
    hand_sides: dict = field(default_factory=dict)   # hand class -> "left" | "right", when the model says
    names: dict = field(default_factory=dict)   # class -> the model's own name
    threshold: float | None = None         # the manifest's score threshold (the flag overrides)
    name: str | None = None                # the manifest's name (provenance)

    def output_names(self) -> list[str]:
        return [n for n in (self.boxes, self.scores, self.classes, self.count) if n]

    def label(self, c: int) -> str:
        return self.names.get(c) or self.labels.get(c) or f"class {c}"


def input_fields(inp: dict) -> dict:
    """Detector keyword arguments for a manifest's ``input`` part (shared with leap-contact)."""
    size = inp.get("size")
    fields = dict(
        input_name=inp.get("name"), layout=str(inp.get("layout", "NCHW")).upper(),
        dtype=inp.get("dtype", "float32"), color=str(inp.get("color", "RGB")).upper(),
        size=tuple(int(v) for v in size) if isinstance(size, list) else size,
        resize=str(inp.get("resize", "stretch")).lower(), pad_value=int(inp.get("pad_value", 114)),
        scale=float(inp.get("scale", 1.0 / 255.0)),
        mean=tuple(float(v) for v in inp.get("mean", (0, 0, 0))),
        std=tuple(float(v) for v in inp.get("std", (1, 1, 1))),
        batch=inp.get("batch"))
    if fields["layout"] not in ("NCHW", "NHWC") or fields["dtype"] not in ("float32", "uint8") \
            or fields["color"] not in ("RGB", "BGR"):
        raise ManifestError("input layout must be NCHW|NHWC, dtype float32|uint8, color RGB|BGR")
    if fields["resize"] not in ("stretch", "letterbox"):
        raise ManifestError("input resize must be stretch or letterbox")
    if fields["resize"] == "letterbox" and not isinstance(fields["size"], tuple):
        raise ManifestError("input resize letterbox needs size [w, h]")
    return fields


def output_fields(out: dict, labels: dict) -> dict:
    """Detector keyword arguments for a manifest's ``output`` part (see layouts.py)."""
    kind = str(out.get("layout", "separate")).lower()
    if kind not in layouts.LAYOUTS:
        raise ManifestError(f"output layout must be one of {', '.join(layouts.LAYOUTS)}")
    normalized = out.get("normalized")
    fields = dict(out_layout=kind, box_format=str(out.get("box_format", "xyxy")).lower(),
                  normalized=None if normalized is None else bool(normalized),
                  nms=bool(out.get("nms", False)), background=out.get("background"), count=out.get("count"))
    if kind == "separate":
        fields.update(boxes=out["boxes"], scores=out["scores"], classes=out.get("classes"))
    elif kind == "packed":
        fields.update(boxes=out["detections"], scores=None, classes=None)
    elif kind == "yolo":
        fields.update(boxes=out["predictions"], scores=None, classes=None, box_format="cxcywh",
                      normalized=bool(normalized) if normalized is not None else False,
                      objectness=bool(out.get("objectness", False)),
                      num_classes=int(out.get("num_classes") or (max(labels) + 1 if labels else 0)))
    else:
        anchors = out["anchors"]
        fields.update(boxes=out["regressors"], scores=out["scores"], classes=None, normalized=True,
                      sigmoid=bool(out.get("sigmoid", True)),
                      anchors=layouts.ssd_anchors(anchors["grid"], float(anchors.get("offset", 0.5))))
    if fields["box_format"] not in ("xyxy", "yxyx", "cxcywh"):
        raise ManifestError("output box_format must be xyxy, yxyx or cxcywh")
    return fields


def from_manifest(m: dict, base_dir: str = ".") -> Detector:
    """Build a Detector from a manifest dict (see models/*/manifest.json)."""
    try:
        labels = label_map(m["labels"], base_dir)
        threshold = m.get("threshold")
        det = Detector(labels=labels, **input_fields(m.get("input", {})), **output_fields(m["output"], labels),
                       hands=frozenset(int(c) for c in m.get("hands", ())),
                       hand_sides={int(k): str(v) for k, v in m.get("hand_sides", {}).items()},
                       names={**label_names(m["labels"], base_dir),
                              **{int(k): str(v) for k, v in m.get("names", {}).items()}}, name=m.get("name"),
                       threshold=None if threshold is None else float(threshold))
    except KeyError as e:
        raise ManifestError(f"manifest lacks {e.args[0]!r}") from None
    return det


def preprocess(det: Detector, frames: np.ndarray) -> np.ndarray:
    """[n, H, W, 3] uint8 RGB -> the model's input tensor.

    Channel order and layout are changed on the uint8 frames first, then one sequential pass
    writes the float tensor and the normalisation runs in place: at 640x360 a careless float
    conversion (temporaries, a transpose of floats) costs about as much as decoding."""
    x = frames[..., ::-1] if det.color == "BGR" else frames
    if det.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)  # [n, 3, H, W]
    x = np.ascontiguousarray(x)      # the strided copy on 1-byte values: 4x cheaper than on floats
    if det.dtype != "float32":
        return x
    out = np.empty(x.shape, np.float32)
    np.multiply(x, np.float32(det.scale), out=out)
    if det.mean != (0.0, 0.0, 0.0) or det.std != (1.0, 1.0, 1.0):
        shape = (1, 3, 1, 1) if det.layout == "NCHW" else (3,)
        out -= np.asarray(det.mean, np.float32).reshape(shape)
        out /= np.asarray(det.std, np.float32).reshape(shape)
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; boxes [N, 4] xyxy -> kept indices, best first."""
    order = list(np.argsort(-scores, kind="stable"))
    area = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    keep = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if not order:
            break
        rest = np.asarray(order)
        iw = (np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])).clip(0)
        ih = (np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])).clip(0)
        inter = iw * ih
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = [j for j, v in zip(order, iou) if v <= iou_threshold]
    return keep


@dataclass
class Stats:
    """Counts over a clip (or a run): what the threshold and the label map left out."""
    unmapped: collections.Counter = field(default_factory=collections.Counter)  # model name -> boxes
    candidates: int = 0          # boxes the model put out with a score > 0
    passed: int = 0              # of those, at or over the threshold
    best: float = 0.0            # the best candidate score

    def add(self, other: "Stats") -> None:
        self.unmapped.update(other.unmapped)
        self.candidates += other.candidates
        self.passed += other.passed
        self.best = max(self.best, other.best)


def decode(det: Detector, outputs: dict[str, np.ndarray], n: int, width: int, height: int):
    """The model's outputs for a batch of n images -> per image (boxes [N, 4] xyxy in the model's
    unit, scores [N] or [N, C], classes [N] or None), ``count`` applied."""
    if np.ndim(outputs[det.boxes]) == 2:
        batched = {k: np.asarray(v)[None] for k, v in outputs.items()}  # no batch axis: a batch-1 model
    else:
        batched = {k: np.asarray(v) for k, v in outputs.items()}
    if batched[det.boxes].shape[0] != n:
        raise ManifestError(f"model returned {batched[det.boxes].shape[0]} images for a batch of {n}")
    count = batched[det.count].reshape(-1) if det.count else None
    images = []
    for i in range(n):
        main = batched[det.boxes][i]
        if det.out_layout == "packed":
            b, s, c = layouts.decode_packed(main)
        elif det.out_layout == "yolo":
            b, s, c = layouts.decode_yolo(main, det.num_classes, det.objectness)
        elif det.out_layout == "ssd":
            b, s, c = layouts.decode_ssd(main, batched[det.scores][i], det.anchors, (width, height), det.sigmoid)
        else:
            b, s = np.asarray(main, np.float32), np.asarray(batched[det.scores][i], np.float32)
            c = None if det.classes is None else batched[det.classes][i]
            if det.box_format == "yxyx":
                b = b[:, [1, 0, 3, 2]]
            elif det.box_format == "cxcywh":
                b = layouts.xywh_to_xyxy(b)
        if det.out_layout == "packed" and det.box_format == "yxyx":
            b = b[:, [1, 0, 3, 2]]
        if count is not None:
            k = int(count[i])
            b, s, c = b[:k], s[:k], None if c is None else c[:k]
        images.append((b, s, c))
    return images


def postprocess(det: Detector, outputs: dict[str, np.ndarray], n: int, width: int, height: int,
                threshold: float, nms_iou: float, stats: Stats | None = None,
                box: layouts.Letterbox | None = None) -> list[tuple[list, list, list, list]]:
    """The model's outputs for a batch of n images (width x height: the model input) -> per image
    (boxes, nouns, scores, hands); boxes xyxy normalised to the frame (``box``: the letterbox the
    frame was placed in, mapped back)."""
    stats = stats if stats is not None else Stats()
    result = []
    for b, s, c in decode(det, outputs, n, width, height):   # [N, 4], [N] or [N, C], [N] or None
        if c is None:  # per-class scores [N, C]: one candidate per (box, class)
            cols = [j for j in range(s.shape[1]) if j != det.background]
            sub = s[:, cols]
            stats.candidates += int((sub.max(axis=1, initial=0) > 0).sum()) if len(sub) else 0
            stats.best = max(stats.best, float(sub.max(initial=0)))
            idx, cls = np.nonzero(sub >= threshold)
            cls = np.asarray(cols, np.int64)[cls] if len(cols) else cls
            b, s, c = b[idx], s[idx, cls], cls
        else:
            stats.candidates += int((s > 0).sum())
            stats.best = max(stats.best, float(s.max(initial=0)))
            keep = s >= threshold
            b, s, c = b[keep], s[keep], np.asarray(c)[keep]
        stats.passed += len(s)
        c = np.rint(c).astype(np.int64)                # TF exports classes as floats
        normalized = det.normalized if det.normalized is not None else bool(len(b) == 0 or b.max() <= 1.0 + 1e-6)
        if box is not None:
            b = layouts.unletterbox(b * np.asarray([width, height, width, height], np.float32) if normalized else b, box)
        elif not normalized:
            b = b / np.asarray([width, height, width, height], np.float32)
        b = b.clip(0.0, 1.0)
        if not det.nms and len(b):
            keep_idx = []
            for cls in np.unique(c):  # per-class NMS, as the TF OD API does
                members = np.nonzero(c == cls)[0]
                keep_idx += [int(members[j]) for j in nms(b[members], s[members], nms_iou)]
            keep_idx.sort(key=lambda j: -s[j])
            b, s, c = b[keep_idx], s[keep_idx], c[keep_idx]
        out_b, out_n, out_s, hands = [], [], [], []
        for bb, ss, cc in zip(b, s, c):
            if bb[2] <= bb[0] or bb[3] <= bb[1]:
                continue
            xyxy = tuple(float(v) for v in bb)
            if int(cc) in det.hands:
                hands.append((xyxy, det.label(int(cc)), float(ss), det.hand_sides.get(int(cc))))
                continue
            noun = det.labels.get(int(cc))
            if noun is None:
                stats.unmapped[det.label(int(cc))] += 1
                continue
            out_b.append(xyxy)
            out_n.append(noun)
            out_s.append(float(ss))
        if len(hands) > 1:  # one hand, several pose classes (open hand, fist): the best label stays
            kept = []
            for side in {h[3] for h in hands}:
                same = [h for h in hands if h[3] == side]
                kept += [same[i] for i in nms(np.asarray([h[0] for h in same], np.float32),
                                              np.asarray([h[2] for h in same], np.float32), nms_iou)]
            hands = sorted(kept, key=lambda h: -h[2])
        result.append((out_b, out_n, out_s, hands))
    return result


def model_input(det: Detector, frames: np.ndarray) -> tuple[np.ndarray, int, int, layouts.Letterbox | None]:
    """Decoded frames [n, H, W, 3] -> (the tensor, input width, height, letterbox or None)."""
    box = None
    if det.resize == "letterbox":
        w, h = det.size
        box = layouts.letterbox(frames.shape[2], frames.shape[1], w, h)
        if (box.inner_w, box.inner_h) != (frames.shape[2], frames.shape[1]):
            raise ManifestError(f"letterbox frames must be decoded at {box.inner_w}x{box.inner_h}")
        frames = layouts.pad(frames, box, det.pad_value)
    return preprocess(det, frames), frames.shape[2], frames.shape[1], box


def run_detector(det: Detector, batches: Iterable[tuple[np.ndarray, np.ndarray]],
                 run: Callable[[np.ndarray], dict[str, np.ndarray]], clip_start: float,
                 threshold: float = 0.5, nms_iou: float = 0.5, stats: Stats | None = None
                 ) -> list[FrameDetections]:
    """Frames (times in the video, [n, H, W, 3] uint8 RGB) through ``run`` (input tensor ->
    named outputs) in model-sized batches -> per-frame detections with clip-relative times."""
    out = []
    for times, frames in batches:
        step = det.batch or len(frames)
        for a in range(0, len(frames), step):
            x, w, h, box = model_input(det, frames[a:a + step])
            per_image = postprocess(det, run(x), len(x), w, h, threshold, nms_iou, stats, box)
            for t, (b, n, s, hands) in zip(times[a:a + step], per_image):
                out.append(FrameDetections(float(t) - clip_start, tuple(b), tuple(n), tuple(s), tuple(hands)))
    return out


def hand_records(frames: Iterable[FrameDetections]) -> list[dict]:
    """detect.hands: every hand box, ``{"t", "box", "label", "score"}`` (label: the model's class;
    ``side`` when the model says)."""
    return [{"t": round(f.t, 3), "box": [round(v, 4) for v in box], "label": label, "score": round(score, 4),
             **({"side": side} if side else {})}
            for f in frames for box, label, score, side in f.hands]


# --- precomputed sources ---------------------------------------------------------------------

def visor_frames(frames, video_id: str, start: float, stop: float) -> list[FrameDetections]:
    """VISOR annotated frames in the clip -> detections (hands and the v2 additions left out:
    they are not EPIC-100 object nouns; leap-contact reads the hands)."""
    out = []
    for t, fr in visor_mod.clip_frames(frames, video_id, start, stop):
        ents = [e for e in fr.entities if 0 <= e.class_id < ontology.N_NOUNS]
        out.append(FrameDetections(t, tuple(e.box for e in ents),
                                   tuple(visor_mod.noun_key(e.class_id) for e in ents),
                                   tuple(1.0 for _ in ents)))
    return out


@dataclass(frozen=True)
class Row:
    """One box of a precomputed source, in video time."""
    video_id: str
    t: float
    box: tuple[float, float, float, float]
    noun: str
    score: float = 1.0


@dataclass
class Problems:
    """Rows a reader could not use: (file, line, reason)."""
    items: list[tuple[str, int, str]] = field(default_factory=list)

    def add(self, file: str, line: int, reason: str) -> None:
        self.items.append((file, line, reason))


def epic55_rows(text: str, name: str, problems: Problems) -> list[Row]:
    """EPIC-55 object labels CSV (``noun_class, noun, participant_id, video_id, frame,
    bounding_boxes``) -> one Row per box; frames with ``[]`` become an empty frame (box None)."""
    rows = []
    reader = csv.DictReader(io.StringIO(text))
    need = {"noun_class", "video_id", "frame", "bounding_boxes"}
    if not reader.fieldnames or not need <= set(reader.fieldnames):
        problems.add(name, 1, f"not an EPIC-55 object labels CSV (needs columns {', '.join(sorted(need))})")
        return rows
    for line, r in enumerate(reader, start=2):
        try:
            key = ontology.epic55_to_100(int(r["noun_class"]))
            frame = int(r["frame"])
            boxes = ast.literal_eval(r["bounding_boxes"])
            if not isinstance(boxes, list) or not all(
                    isinstance(b, (list, tuple)) and len(b) == 4
                    and all(isinstance(v, (int, float)) and math.isfinite(v) for v in b) for b in boxes):
                raise ValueError("bounding_boxes is not a list of (top, left, height, width)")
            t = frame / epic.frame_rate(r["video_id"])
        except (ValueError, SyntaxError, TypeError) as e:
            problems.add(name, line, f"cannot read row ({e})")
            continue
        if key is None:
            problems.add(name, line, f"EPIC-55 noun class {r['noun_class']} has no EPIC-100 noun")
            continue
        if not boxes:
            rows.append(Row(r["video_id"], t, None, key))  # annotated frame, object not visible
        for top, left, height, width in boxes:
            x1, y1 = left / EPIC55_WIDTH, top / EPIC55_HEIGHT
            x2, y2 = (left + width) / EPIC55_WIDTH, (top + height) / EPIC55_HEIGHT
            rows.append(Row(r["video_id"], t, (max(0.0, x1), max(0.0, y1), min(1.0, x2), min(1.0, y2)), key))
    return rows


GENERIC_FIELDS = ("video_id", "t", "x1", "y1", "x2", "y2", "noun", "score")


def generic_rows(text: str, name: str, problems: Problems) -> list[Row]:
    """A generic detections file: JSONL (one object per line) or CSV with a header; each row
    one box: ``video_id``, ``t`` (seconds in the video), ``x1 y1 x2 y2`` normalised to [0, 1]
    (JSONL may give ``box: [x1, y1, x2, y2]``), ``noun`` (any word the EPIC-100 ontology knows),
    optional ``score`` (default 1)."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        items = []
        for line, raw in enumerate(text.splitlines(), start=1):
            if raw.strip():
                try:
                    obj = json.loads(raw)
                    if not isinstance(obj, dict):
                        raise ValueError("not a JSON object")
                    if "box" in obj:
                        obj.update(zip(("x1", "y1", "x2", "y2"), obj.pop("box")))
                    items.append((line, obj))
                except ValueError as e:
                    problems.add(name, line, f"not a JSON object ({e})")
    else:
        reader = csv.DictReader(io.StringIO(text))
        missing = set(GENERIC_FIELDS[:-1]) - set(reader.fieldnames or ())
        if missing:
            problems.add(name, 1, f"CSV header lacks {', '.join(sorted(missing))}")
            return []
        items = list(enumerate(reader, start=2))
    rows = []
    for line, obj in items:
        try:
            box = tuple(float(obj[k]) for k in ("x1", "y1", "x2", "y2"))
            t = float(obj["t"])
            score = float(obj.get("score") if obj.get("score") not in (None, "") else 1.0)
            vid = str(obj["video_id"])
        except (KeyError, TypeError, ValueError) as e:
            problems.add(name, line, f"bad or missing field ({e})")
            continue
        if not all(math.isfinite(v) for v in (*box, t)) or not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
            problems.add(name, line, "box must be x1 < x2, y1 < y2 normalised to [0, 1]")
            continue
        key = _key(obj.get("noun"))
        if key is None:
            problems.add(name, line, f"noun {obj.get('noun')!r} is not an EPIC-100 noun")
            continue
        rows.append(Row(vid, t, box, key, score))
    return rows


def index_rows(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """Rows by video, sorted by time."""
    by_video: dict[str, list[Row]] = collections.defaultdict(list)
    for r in rows:
        by_video[r.video_id].append(r)
    for v in by_video.values():
        v.sort(key=lambda r: r.t)
    return dict(by_video)


def rows_frames(rows: Sequence[Row], start: float, stop: float) -> list[FrameDetections]:
    """The rows of one video in [start, stop] -> frames (one per distinct time)."""
    frames: dict[float, list[Row]] = collections.OrderedDict()
    for r in rows:
        if start - 1e-9 <= r.t <= stop + 1e-9:
            frames.setdefault(round(r.t, 4), []).append(r)
    out = []
    for t, group in frames.items():
        boxed = [r for r in group if r.box is not None]
        out.append(FrameDetections(round(t - start, 4), tuple(r.box for r in boxed),
                                   tuple(r.noun for r in boxed), tuple(r.score for r in boxed)))
    return out
