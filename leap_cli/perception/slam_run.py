"""leap-slam's evidence sources: EPIC Fields per-video poses or a generic pose file, and the stage function."""
from __future__ import annotations

import functools
import os

import click

from .. import clip, epic, stages
from ..records import ClipError, source
from . import slam


def fields_file(directory: str, video_id: str) -> str | None:
    """DIR/PXX_YY.json (the EPIC Fields release) or DIR/PXX/PXX_YY.json, if either exists."""
    for path in (os.path.join(directory, f"{video_id}.json"),
                 os.path.join(directory, epic.participant(video_id), f"{video_id}.json")):
        if os.path.isfile(path):
            return path
    return None


def fields_loader(directory: str, fps: float | None, warn=lambda message: None):
    """video_id -> Trajectory | missing reason | ClipError; one parse per video, the last two kept.

    Records arrive grouped by video, so a two-entry cache parses each file once while memory
    stays at two videos' poses (a few MB each) however long the input. Input that is not
    grouped still works, re-reading files; ``warn`` says so, once.
    """
    parsed: set[str] = set()
    warned = []

    @functools.lru_cache(maxsize=2)
    def load(video_id: str):
        path = fields_file(directory, video_id)
        if path is None:
            return f"no EPIC Fields file for {video_id} in {directory}"
        if video_id in parsed and not warned:
            warned.append(video_id)
            warn(f"{video_id}.json read again: the input is not grouped by video "
                 "(sorting it by video_id makes leap-slam read each file once)")
        parsed.add(video_id)
        rate = fps or epic.frame_rate(video_id, default=None)
        if rate is None:
            return ClipError(f"cannot tell the frame rate of {video_id} (not an EPIC PXX_YY id): give --fps")
        try:
            return slam.read_epic_fields(path, rate)
        except (OSError, ValueError) as e:  # kept, so a broken file is read once, not once per clip
            return ClipError(str(e))

    return load


def poses_loader(path: str):
    """video_id -> Trajectory | missing reason, from a generic pose file read once."""
    try:
        table = slam.read_poses(path)
    except (OSError, ValueError) as e:
        raise click.UsageError(str(e)) from None
    name = os.path.basename(path)
    return lambda video_id: table.get(video_id) or f"no poses for {video_id} in {name}"


def adder(load, kind: str, given: str, params: slam.WalkParams, require: bool):
    """record -> record with slam.goto, the trajectories from ``load`` (fields_loader/poses_loader)."""

    def add(record: dict) -> dict:
        start, stop = clip.window(record)
        if not isinstance(record.get("video_id"), str) or not record["video_id"]:
            raise ClipError("the record has no video_id (poses are found by video)")
        traj = load(record["video_id"])
        if isinstance(traj, ClipError):
            raise ClipError(str(traj))
        if isinstance(traj, str):
            prov = source("slam", **{kind: os.path.basename(os.path.normpath(given))})
            return {**record, "slam": {"source": prov, **stages.get("slam").missing_value(traj, require)}}
        prov = source("slam", **{kind: traj.source})
        result = slam.goto_for_clip(traj, start, stop, params)
        if result.missing:
            return {**record, "slam": {"source": prov, **stages.get("slam").missing_value(result.missing, require)}}
        return {**record, "slam": {"source": prov, "goto": result.intervals}}

    return add
