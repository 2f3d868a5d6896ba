"""One accessor for what every stage asks of a clip record: its window, video, frame rate, participant.

The window check lives here only (every stage applies the same one): start and stop are finite
numbers of seconds, ``0 <= start < stop``, and stop is at most MAX_SECONDS. The bound is a day:
EPIC's longest video is about 1.5 h, and a larger time is a typo or hostile input (``stop: 1e12``
once made leap-slam try to allocate 146 TiB).
"""
from __future__ import annotations

import math

from . import epic
from .records import ClipError

MAX_SECONDS = 86_400.0  # 24 h, see the module docstring


def check_window(start, stop) -> tuple[float, float]:
    """(start, stop) as floats, or a ClipError saying what is wrong with them."""
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ClipError(f"{name} {value!r} is not a number of seconds")
    try:
        start, stop = float(start), float(stop)
    except OverflowError:
        raise ClipError("start and stop must be seconds in the video (an integer too large)") from None
    for name, value in (("start", start), ("stop", stop)):
        if not math.isfinite(value):
            raise ClipError(f"{name} {value} is not a finite number of seconds")
    if start < 0:
        raise ClipError(f"start {start:g} s is negative")
    if stop <= start:
        raise ClipError(f"stop {stop:g} s is not after start {start:g} s")
    if stop > MAX_SECONDS:
        raise ClipError(f"stop {stop:g} s is past {MAX_SECONDS:g} s (24 h): no video is that long")
    return start, stop


def window(record: dict) -> tuple[float, float]:
    """The clip's (start, stop) in seconds of its video, checked (see check_window)."""
    if "start" not in record or "stop" not in record:
        raise ClipError("the record needs numeric start and stop (seconds in the video; leap-clips writes them)")
    return check_window(record["start"], record["stop"])


def video(record: dict) -> str:
    """The clip's video file path, or a ClipError when the record has none."""
    path = record.get("video")
    if not isinstance(path, str) or not path:
        raise ClipError("the record has no video (leap-clips --videos DIR fills it)")
    return path


def video_id(record: dict) -> str:
    """The clip's video id, or a ClipError when the record has none."""
    vid = record.get("video_id")
    if not isinstance(vid, str) or not vid:
        raise ClipError("the record has no video_id")
    return vid


def frame_rate(record: dict, default: float | None = 60.0) -> float | None:
    """The EPIC frame-numbering rate of the clip's video (epic.frame_rate); ``default`` if not EPIC."""
    return epic.frame_rate(record.get("video_id"), default)


def participant(record: dict) -> str | None:
    """The clip's participant: its participant_id, else the prefix of its video id or id."""
    pid = record.get("participant_id")
    if isinstance(pid, str) and pid:
        return pid
    for key in ("video_id", "id"):
        if isinstance(record.get(key), str) and record[key]:
            return epic.participant(record[key])
    return None
