"""The output layouts real exported detectors have, decoded to one shape; letterboxing; SSD anchors.

Every decoder takes one image's raw outputs (the batch axis already indexed) and returns
``(boxes [N, 4] xyxy, scores [N] or [N, C], classes [N] or None)``: with ``classes`` None the
scores are per-class columns (one candidate per box and class over the threshold, then NMS).
Boxes stay in the unit the model gives (pixels of its input, or normalised); detect.py maps them
to the frame.

Layouts (the manifest's ``output.layout``):
* ``separate``: boxes, scores, classes (optional ``count``: TF Object Detection API exports);
* ``packed``: one [K, 6] output, rows ``box(4), score, class`` (CenterNet ``detections``);
* ``yolo``: one [4+C, N] or [N, 4+C] output (``cx, cy, w, h`` then per-class scores, with
  ``objectness`` one score before them that multiplies each class score); no NMS inside;
* ``ssd``: a raw SSD head, regressors [A, >=4] (``dx, dy, w, h`` in input pixels relative to
  the anchor centre) and logits [A, C], anchors from ``output.anchors`` (MediaPipe style).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAYOUTS = ("separate", "packed", "yolo", "ssd")


def xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    cx, cy, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def decode_packed(rows: np.ndarray):
    """[K, >=6] rows ``box, score, class`` -> boxes [K, 4], scores [K], classes [K]."""
    rows = np.asarray(rows, np.float32)
    if rows.ndim != 2 or rows.shape[1] < 6:
        raise ValueError(f"a packed output needs rows of 6 values (box, score, class), got shape {list(rows.shape)}")
    return rows[:, :4], rows[:, 4], rows[:, 5]


def decode_yolo(pred: np.ndarray, num_classes: int, objectness: bool = False):
    """[4+o+C, N] or [N, 4+o+C] (o = 1 with objectness) -> boxes [N, 4] xyxy, scores [N, C].

    The attribute axis is the one whose size is 4+o+C; when both are (a square output) the
    Ultralytics export order [4+C, N] is taken."""
    pred = np.asarray(pred, np.float32)
    attrs = 4 + int(objectness) + num_classes
    if pred.ndim != 2 or attrs not in pred.shape:
        raise ValueError(f"a YOLO output of {num_classes} classes{' with objectness' if objectness else ''} "
                         f"needs an axis of {attrs} values, got shape {list(pred.shape)}")
    if pred.shape[0] == attrs:
        pred = pred.T                                   # [N, attrs]
    boxes = xywh_to_xyxy(pred[:, :4])
    scores = pred[:, 4 + int(objectness):]
    if objectness:
        scores = scores * pred[:, 4:5]
    return boxes, scores, None


def ssd_anchors(grid, offset: float = 0.5) -> np.ndarray:
    """Anchor centres [A, 2] (x, y normalised) for layers ``[[cells, per_cell], ...]``: each layer
    a cells x cells grid, ``per_cell`` anchors at each centre ((i + offset) / cells), rows first."""
    out = []
    for cells, per_cell in grid:
        ys, xs = np.meshgrid((np.arange(cells) + offset) / cells, (np.arange(cells) + offset) / cells,
                             indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)       # [cells*cells, 2]
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


def decode_ssd(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
               input_size: tuple[int, int], sigmoid: bool = True):
    """Raw head -> boxes [A, 4] xyxy normalised, scores [A, C].

    ``regressors[:, :4]`` are (dx, dy, w, h) in pixels of the input (w, h): the centre is the
    anchor's plus (dx, dy) / size (fixed-size anchors, MediaPipe's palm/face detectors)."""
    reg = np.asarray(regressors, np.float32)
    logits = np.asarray(logits, np.float32)
    if logits.ndim == 1:
        logits = logits[:, None]
    if reg.shape[0] != len(anchors) or logits.shape[0] != len(anchors) or reg.shape[1] < 4:
        raise ValueError(f"an SSD head needs [{len(anchors)}, >=4] regressors and [{len(anchors)}, C] "
                         f"scores for its {len(anchors)} anchors, got {list(reg.shape)} and {list(logits.shape)}")
    w, h = input_size
    xywh = reg[:, :4] / np.asarray([w, h, w, h], np.float32)
    xywh[:, :2] += anchors
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80, 80))) if sigmoid else logits
    return xywh_to_xyxy(xywh), scores, None


# --- letterbox -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Letterbox:
    """A frame scaled into (width, height) with its aspect kept, centred, padding around."""
    width: int          # the model input
    height: int
    inner_w: int        # the scaled frame inside it
    inner_h: int
    pad_x: int          # left padding
    pad_y: int          # top padding


def letterbox(src_w: int, src_h: int, dst_w: int, dst_h: int) -> Letterbox:
    scale = min(dst_w / src_w, dst_h / src_h)
    iw, ih = max(1, min(dst_w, round(src_w * scale))), max(1, min(dst_h, round(src_h * scale)))
    return Letterbox(dst_w, dst_h, iw, ih, (dst_w - iw) // 2, (dst_h - ih) // 2)


def pad(frames: np.ndarray, box: Letterbox, value: int = 114) -> np.ndarray:
    """[n, inner_h, inner_w, 3] uint8 -> [n, height, width, 3] with the frames placed in the box."""
    n = frames.shape[0]
    out = np.full((n, box.height, box.width, 3), value, np.uint8)
    out[:, box.pad_y:box.pad_y + frames.shape[1], box.pad_x:box.pad_x + frames.shape[2]] = frames
    return out


def unletterbox(boxes_px: np.ndarray, box: Letterbox) -> np.ndarray:
    """Boxes [N, 4] xyxy in pixels of the model input -> normalised to the frame (not clipped)."""
    off = np.asarray([box.pad_x, box.pad_y, box.pad_x, box.pad_y], np.float32)
    return (boxes_px - off) / np.asarray([box.inner_w, box.inner_h, box.inner_w, box.inner_h], np.float32)
