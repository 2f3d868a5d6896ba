"""leap-slam: walking intervals (the paper's goto) from EPIC Fields poses or a generic pose file."""
from __future__ import annotations

import click

from ..options import Tool, finish, one_source, require_option, stage_options
from ..perception import slam, slam_run
from ..stream import log, run


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
    if fields:
        kind, given, load = "fields", fields, slam_run.fields_loader(fields, fps, lambda m: log(opts, f"{opts.tool}: {m}"))
    else:
        kind, given, load = "poses", poses, slam_run.poses_loader(poses)
    finish(run(opts, "slam", slam_run.adder(load, kind, given, params, require)))
