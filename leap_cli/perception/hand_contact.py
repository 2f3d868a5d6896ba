"""Contact from a hand detector that has no contact state: hand boxes + object boxes -> ContactFrames.

The rule (pure logic; leap-contact --help and README say the same):
* side: the model's, when its manifest maps classes to sides; otherwise from the position in
  the egocentric frame: one hand is left when its box centre is left of the middle, else right;
  of two or more hands the leftmost is the left hand and the rightmost the right one (the
  camera wearer's hands enter from their own sides);
* contact: a hand touches the object whose box overlaps it most, overlap = intersection over
  the smaller of the two boxes (1 when one box lies inside the other), at least
  ``min_overlap``; among equal overlaps the smaller object (the cup in the hand before the
  cupboard behind it). Contact is recorded as P (the boxes cannot tell portable from
  stationary); a hand with no such object is N. A state the model gives itself wins.
Objects are leap-detect's boxes (``detect.frames``) of the frame nearest in time.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable, Sequence

from .contact import SIDES, ContactFrame, HandContact

MAX_GAP = 1.0   # s: the farthest detect frame that may give a hand its objects


@dataclass(frozen=True)
class HandBox:
    box: tuple[float, float, float, float]     # normalised xyxy
    score: float = 1.0
    side: str | None = None                    # from the model, if it says
    state: str | None = None                   # N S O P F, from the model, if it says


def overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over the smaller box's area (0 for disjoint or empty boxes)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller if smaller > 0 else 0.0


def assign_sides(hands: Sequence[HandBox]) -> dict[str, HandBox]:
    """At most one hand per side (the best scoring one the model put there, else by position)."""
    out: dict[str, HandBox] = {}
    for h in sorted((h for h in hands if h.side in SIDES), key=lambda h: -h.score):
        out.setdefault(h.side, h)
    rest = sorted((h for h in hands if h.side not in SIDES), key=lambda h: -h.score)
    free = [s for s in SIDES if s not in out]
    if not rest or not free:
        return out
    if len(rest) == 1 or len(free) == 1:
        h = rest[0]
        centre = (h.box[0] + h.box[2]) / 2
        side = free[0] if len(free) == 1 else ("left" if centre < 0.5 else "right")
        out[side] = h
        return out
    a, b = sorted(rest[:2], key=lambda h: h.box[0] + h.box[2])   # the two best, left to right
    out["left"], out["right"] = a, b
    return out


def touched(hand: Sequence[float], objects: Sequence[tuple[Sequence[float], str]], min_overlap: float):
    """The (box, noun) the hand touches by the rule above, or None."""
    best, key = None, None
    for box, noun in objects:
        o = overlap(hand, box)
        if o < min_overlap:
            continue
        k = (round(o, 6), -(box[2] - box[0]) * (box[3] - box[1]))
        if key is None or k > key:
            best, key = (tuple(box), noun), k
    return best


def contact_frame(t: float, hands: Sequence[HandBox], objects: Sequence[tuple[Sequence[float], str]],
                  min_overlap: float) -> ContactFrame:
    out = []
    for side, h in sorted(assign_sides(hands).items(), key=lambda kv: SIDES.index(kv[0])):
        hit = touched(h.box, objects, min_overlap)
        if h.state is not None:
            state = h.state
        else:
            state = "P" if hit else "N"
        holding = state in ("P", "F")
        out.append(HandContact(side, state, tuple(h.box), hit[0] if hit and holding else None,
                               hit[1] if hit and holding else None, h.score))
    return ContactFrame(t, tuple(out))


def nearest_objects(detect_frames: Sequence[dict], t: float, max_gap: float = MAX_GAP) -> list[tuple[list, str]]:
    """(box, noun) of the detect frame nearest to t (none farther than max_gap)."""
    frames = sorted(detect_frames, key=lambda f: f["t"])
    times = [f["t"] for f in frames]
    i = bisect.bisect_left(times, t)
    j = min((k for k in (i - 1, i) if 0 <= k < len(frames)), key=lambda k: abs(times[k] - t), default=None)
    if j is None or abs(times[j] - t) > max_gap:
        return []
    return list(zip(frames[j].get("boxes", []), frames[j].get("nouns", [])))


def frames_from_hands(hands_by_t: Iterable[tuple[float, Sequence[HandBox]]], detect_frames: Sequence[dict],
                      min_overlap: float) -> list[ContactFrame]:
    """Hand boxes per frame time (clip-relative) + leap-detect's frames -> ContactFrames."""
    return [contact_frame(t, hands, nearest_objects(detect_frames, t), min_overlap) for t, hands in hands_by_t]


def detect_hands(detect_value: dict) -> list[tuple[float, list[HandBox]]]:
    """``detect.hands`` (leap-detect with a hand model) grouped by frame time; every detect frame
    is a time the model looked, so a frame without hands is one (no hand seen, no evidence)."""
    by_t: dict[float, list[HandBox]] = {f["t"]: [] for f in detect_value.get("frames") or []}
    for h in detect_value.get("hands") or []:
        by_t.setdefault(h["t"], []).append(HandBox(tuple(h["box"]), float(h.get("score", 1.0)), h.get("side")))
    return sorted(by_t.items())
