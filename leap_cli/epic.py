"""EPIC-KITCHENS rules: video ids, their frame rates, participants.

One home for what the dataset's naming tells: ``PXX_YY`` videos (EPIC-55) are numbered at
60 fps, ``PXX_1YY`` videos (the EPIC-100 extension) at 50 fps; a video or clip id starts with
its participant (``P01_101_3`` belongs to ``P01``).
"""
from __future__ import annotations

import re

_VIDEO_ID = re.compile(r"(P\d+)_(\d+)")


def is_video_id(video_id) -> bool:
    """An EPIC video id: PXX_YY or PXX_1YY."""
    return isinstance(video_id, str) and _VIDEO_ID.fullmatch(video_id) is not None


def frame_rate(video_id, default: float | None = 60.0) -> float | None:
    """The rate EPIC's frame numbers count at: 60 fps for PXX_YY, 50 fps for PXX_1YY;
    ``default`` for an id that is not an EPIC video's."""
    m = _VIDEO_ID.fullmatch(video_id) if isinstance(video_id, str) else None
    if not m:
        return default
    return 50.0 if len(m.group(2)) >= 3 else 60.0


def participant(ident: str) -> str:
    """The participant of a video or clip id: the part before the first underscore (P01_101_3 -> P01)."""
    return ident.split("_")[0]
