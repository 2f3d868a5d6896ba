"""Hand-object contact: per-frame hand states -> named contacted objects -> grab/release events.

Pure logic (no files, no click). Sources (hoa.py, visor.py, an ONNX detector) produce
``ContactFrame`` lists with times relative to the clip start; ``name_objects`` gives each
contacted object box an EPIC-100 noun by IoU with leap-detect's boxes in the nearest frame
(the paper's step); ``events`` smooths dense tracks and turns them into events.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

from ..ontology import N_NOUNS

SIDES = ("left", "right")
HOLDING_STATES = ("P", "F")  # portable / stationary object: the hand holds or touches an object
UNKNOWN = "?"               # holding something whose noun no source could name


@dataclass(frozen=True)
class HandContact:
    side: str                                            # "left" | "right"
    state: str                                           # N, S, O, P, F
    box: tuple[float, float, float, float] | None = None         # hand, normalised xyxy
    object_box: tuple[float, float, float, float] | None = None  # contacted object, normalised xyxy
    object: str | None = None                            # EPIC-100 noun key once named
    score: float | None = None

    @property
    def holding(self) -> bool:
        return self.state in HOLDING_STATES

    def value(self) -> str | None:
        """What the hand holds in this frame: None (nothing), a noun key, or UNKNOWN."""
        return (self.object or UNKNOWN) if self.holding else None


@dataclass(frozen=True)
class ContactFrame:
    t: float                                   # seconds from clip start (may be < 0: look-back)
    hands: tuple[HandContact, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Event:
    t: float
    hand: str
    kind: str            # "grab" | "release"
    object: str | None   # None: the noun stayed unknown


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two xyxy boxes (0 for empty ones)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def name_objects(frames: Sequence[ContactFrame], detect_frames: Sequence[dict],
                 min_iou: float = 0.5, max_gap: float = 1.0) -> tuple[list[ContactFrame], int]:
    """Name each unnamed contacted object box by the leap-detect box with the highest IoU in
    the detect frame nearest in time (no farther than ``max_gap`` s). Returns the frames and
    how many contacted boxes stayed unnamed (no detect frame near, or no box with IoU >= min_iou)."""
    det = sorted((f for f in detect_frames if f.get("boxes")), key=lambda f: f["t"])
    times = [f["t"] for f in det]
    unnamed = 0
    out = []
    for fr in frames:
        hands = []
        for h in fr.hands:
            if h.holding and h.object is None and h.object_box is not None:
                noun = _best_noun(h.object_box, _nearest(det, times, fr.t, max_gap), min_iou)
                if noun is None:
                    unnamed += 1
                h = replace(h, object=noun)
            hands.append(h)
        out.append(replace(fr, hands=tuple(hands)))
    return out, unnamed


def _nearest(det: list[dict], times: list[float], t: float, max_gap: float) -> dict | None:
    import bisect

    i = bisect.bisect_left(times, t)
    best = min((j for j in (i - 1, i) if 0 <= j < len(det)), key=lambda j: abs(times[j] - t),
               default=None)
    return det[best] if best is not None and abs(times[best] - t) <= max_gap else None


def _best_noun(box, frame: dict | None, min_iou: float) -> str | None:
    if frame is None:
        return None
    scored = [(iou(box, b), n) for b, n in zip(frame["boxes"], frame["nouns"])]
    best = max(scored, default=(0.0, None), key=lambda s: s[0])
    return best[1] if best[0] >= min_iou else None


def track(frames: Iterable[ContactFrame], side: str) -> list[tuple[float, str | None]]:
    """(t, value) for the frames where ``side``'s hand was observed; a hand out of view (or one
    a sparse source marked inconclusive) is no evidence either way, so those frames are skipped."""
    out = []
    for fr in sorted(frames, key=lambda f: f.t):
        for h in fr.hands:
            if h.side == side:
                out.append((fr.t, h.value()))
                break
    return out


def _runs(values: list) -> list[list[int]]:
    runs: list[list[int]] = []
    for i, v in enumerate(values):
        if runs and values[runs[-1][0]] == v:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


def _smooth(times: list[float], values: list, min_duration: float) -> list:
    """Merge every run of equal values lasting less than ``min_duration`` seconds into its
    neighbour (the previous one; the next one for the first run), shortest first."""
    values = list(values)
    if len(times) < 2 or min_duration <= 0:
        return values
    step = sorted(b - a for a, b in zip(times, times[1:]))[(len(times) - 1) // 2]  # median spacing
    while True:
        runs = _runs(values)
        if len(runs) < 2:
            return values

        def duration(r):
            a, b = r
            return (times[b + 1] if b + 1 < len(times) else times[b] + step) - times[a]
        k = min(range(len(runs)), key=lambda i: duration(runs[i]))
        if duration(runs[k]) >= min_duration - 1e-9:
            return values
        a, b = runs[k]
        fill = values[runs[k - 1][0]] if k > 0 else values[runs[k + 1][0]]
        values[a:b + 1] = [fill] * (b - a + 1)


def smooth_track(tr: list[tuple[float, str | None]], min_duration: float) -> list[tuple[float, str | None]]:
    """Dense smoothing: first whether the hand holds anything must persist ``min_duration``;
    then, inside each holding stretch, unknown frames take the nearest named object and a
    change of object must persist as long too."""
    if not tr:
        return []
    times = [t for t, _ in tr]
    raw = [v for _, v in tr]
    holding = _smooth(times, [v is not None for v in raw], min_duration)
    values: list[str | None] = [None] * len(tr)
    for a, b in _runs(holding):
        if not holding[a]:
            continue
        seg = [raw[i] if raw[i] not in (None, UNKNOWN) else None for i in range(a, b + 1)]
        last = None
        for i, v in enumerate(seg):  # forward fill, then back fill the leading gap
            seg[i] = last = v if v is not None else last
        first = next((v for v in seg if v is not None), UNKNOWN)
        seg = [v if v is not None else first for v in seg]
        values[a:b + 1] = _smooth(times[a:b + 1], seg, min_duration)
    return list(zip(times, values))


def events(frames: Sequence[ContactFrame], min_duration: float = 0.25, dense: bool = True
           ) -> tuple[dict[str, str | None], list[Event]]:
    """``holding_at_start`` per hand and the grab/release events, sorted by time.

    Dense sources are smoothed (``smooth_track``); the state at start is the first frame's.
    Sparse sources (VISOR) are not: each annotated frame is evidence; the state at start is
    the last frame at or before t = 0 (a look-back frame), nothing when there is none, so
    contact first seen inside the clip counts as a grab at that frame's time.
    Changing objects without a free frame between gives a release and a grab at the same time.
    """
    start: dict[str, str | None] = {}
    out: list[Event] = []
    for side in SIDES:
        tr = track(frames, side)
        if dense:
            tr = smooth_track(tr, min_duration)
            prev = tr[0][1] if tr else None
            later = tr[1:]
        else:
            before = [v for t, v in tr if t <= 0]
            prev = before[-1] if before else None
            later = [(t, v) for t, v in tr if t > 0]
        start[side] = None if prev == UNKNOWN else prev
        for t, v in later:
            if v == prev:
                continue
            if prev is not None:
                out.append(Event(round(t, 3), side, "release", None if prev == UNKNOWN else prev))
            if v is not None:
                out.append(Event(round(t, 3), side, "grab", None if v == UNKNOWN else v))
            prev = v
    out.sort(key=lambda e: (e.t, SIDES.index(e.hand), e.kind != "release"))
    return start, out


def frame_record(fr: ContactFrame) -> dict:
    """A frame as it appears in ``contact.frames``."""
    def r(xs):
        return None if xs is None else [round(float(x), 4) for x in xs]
    return {"t": round(fr.t, 3), "hands": [
        {"side": h.side, "state": h.state, "box": r(h.box), "object_box": r(h.object_box),
         "object": h.object, **({"score": round(h.score, 4)} if h.score is not None else {})}
        for h in fr.hands]}


# --- sources as ContactFrames (parsed data in, no files) ----------------------------------

def from_hoa(frame, t: float) -> ContactFrame:
    """A matched hoa.HoaFrame -> ContactFrame (one hand per side: the best scoring)."""
    hands: dict[str, HandContact] = {}
    for h in sorted(frame.hands, key=lambda h: -h.score):
        if h.side in hands:
            continue
        obj = frame.objects[h.object_index].box if h.object_index is not None else None
        hands[h.side] = HandContact(h.side, h.state, h.box, obj if h.state in HOLDING_STATES else None,
                                    None, h.score)
    return ContactFrame(t, tuple(hands[s] for s in SIDES if s in hands))


def from_visor(t: float, frame, noun_key, hand_sides: dict[int, str]) -> ContactFrame:
    """A visor.VisorFrame -> ContactFrame. ``in_contact_object`` naming an entity is contact
    with it (a hand or glove entity: self contact, S); ``none-of-the-above`` is contact with an
    unannotated object (noun unknown); ``hand-not-in-contact`` is N; ``inconclusive`` or absent
    is no evidence. VISOR does not say portable or stationary: object contact is recorded as P."""
    from .visor import NOT_IN_CONTACT, UNANNOTATED_CONTACT

    entities = {e.id: e for e in frame.entities}
    hands: dict[str, HandContact] = {}
    for e in frame.entities:
        side = hand_sides.get(e.class_id)
        c = e.in_contact
        if side is None or side in hands or c is None or c == "inconclusive":
            continue
        if c == NOT_IN_CONTACT:
            hands[side] = HandContact(side, "N", e.box)
        elif c in entities and entities[c].class_id in hand_sides:
            hands[side] = HandContact(side, "S", e.box)
        elif c in entities:
            target = entities[c]
            noun = noun_key(target.class_id) if 0 <= target.class_id < N_NOUNS else None
            hands[side] = HandContact(side, "P", e.box, target.box, noun)
        elif c == UNANNOTATED_CONTACT or len(c) == 32:
            hands[side] = HandContact(side, "P", e.box)
    return ContactFrame(t, tuple(hands[s] for s in SIDES if s in hands))
