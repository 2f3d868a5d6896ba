"""leap-slam: walking intervals (the paper's goto) from EPIC Fields poses or a generic pose file."""
from __future__ import annotations

import functools
import os

import click

from ..options import Tool, finish, one_source, require_option, stage_options
from ..perception import slam
from ..records import ClipError, missing, source
from ..stream import log, run


def clip_window(record: dict) -> tuple[float, float]:
    """The clip's (start, stop) in video seconds, or a ClipError saying what is wrong."""
    try:
        start, stop = float(record["start"]), float(record["stop"])
    except (KeyError, TypeError, ValueError):
        raise ClipError("the record needs numeric start and stop (seconds in the video)") from None
    if not 0 <= start < stop:
        raise ClipError(f"bad clip window {start}-{stop} s")
    return start, stop


def fields_file(directory: str, video_id: str) -> str | None:
    """DIR/PXX_YY.json (the EPIC Fields release) or DIR/PXX/PXX_YY.json, if either exists."""
    for path in (os.path.join(directory, f"{video_id}.json"),
                 os.path.join(directory, video_id.split("_")[0], f"{video_id}.json")):
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
        rate = fps or slam.epic_fps(video_id)
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


@click.command(cls=Tool)
@stage_options
@require_option
@click.option("--fields", type=click.Path(file_okay=False, exists=True), metavar="DIR",
              help="EPIC Fields per-video pose JSONs: DIR/PXX_YY.json.")
@click.option("--poses", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Generic poses, CSV or JSONL: video_id, t, and x, y, z or qw..qz, tx, ty, tz.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True),
              help="Frame rate of the --fields frame numbers (default: 60 for PXX_YY, 50 for PXX_1YY).")
@click.option("--on-speed", type=float, default=slam.WalkParams.on, show_default=True,
              help="Walking starts above this speed (video extents per second) ...")
@click.option("--off-speed", type=float, default=slam.WalkParams.off, show_default=True,
              help="... and lasts while above this one.")
@click.option("--min-duration", type=float, default=slam.WalkParams.min_duration, show_default=True,
              help="Shortest walk, seconds.")
@click.option("--min-travel", type=float, default=slam.WalkParams.min_travel, show_default=True,
              help="Least net displacement of a walk, in video extents (swaying goes nowhere).")
def cli(opts, require, fields, poses, fps, on_speed, off_speed, min_duration, min_travel):
    """Add slam.goto: the intervals in which the camera wearer walks, seconds from the clip start.

    Camera centres (-R^T t) of the registered frames around the clip, on a 20 Hz grid (gaps over
    1 s stay unknown, never motion), smoothed over 0.5 s; speed in units of the video's extent
    (the SfM scale is arbitrary); hysteresis between --on-speed and --off-speed, boundaries at
    half the walk's median speed; walks under --min-duration or --min-travel dropped. A video
    without poses, or a clip outside its registered frames, gets `missing` (an error with
    --require).

    \b
    Example:
      leap-clips EPIC_100_train.csv | leap-slam --fields EPIC_FIELDS/ > slam.jsonl
    """
    one_source(fields=fields, poses=poses)
    if off_speed > on_speed:
        raise click.UsageError("--off-speed must not exceed --on-speed")
    params = slam.WalkParams(on=on_speed, off=off_speed, min_duration=min_duration, min_travel=min_travel)
    load = fields_loader(fields, fps, lambda m: log(opts, f"{opts.tool}: {m}")) if fields else poses_loader(poses)

    kind, given = ("fields", fields) if fields else ("poses", poses)

    def add(record: dict) -> dict:
        start, stop = clip_window(record)
        if not isinstance(record.get("video_id"), str) or not record["video_id"]:
            raise ClipError("the record has no video_id (poses are found by video)")
        traj = load(record["video_id"])
        if isinstance(traj, ClipError):
            raise ClipError(str(traj))
        if isinstance(traj, str):
            prov = source("slam", **{kind: os.path.basename(os.path.normpath(given))})
            return {**record, "slam": {"source": prov, **missing(traj, require, goto=[])}}
        prov = source("slam", **{kind: traj.source})
        result = slam.goto_for_clip(traj, start, stop, params)
        if result.missing:
            return {**record, "slam": {"source": prov, **missing(result.missing, require, goto=[])}}
        return {**record, "slam": {"source": prov, "goto": result.intervals}}

    finish(run(opts, "slam", add))
