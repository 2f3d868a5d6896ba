"""leap-clips: clip lists (EPIC-100 CSV or generic) -> clip records."""
from __future__ import annotations

import click

from ..options import Tool, finish, stage_options


@click.command(cls=Tool)
@stage_options
@click.option("--videos", type=click.Path(file_okay=False), metavar="DIR",
              help="Fill `video` from DIR (DIR/PXX/videos/PXX_YY.MP4, DIR/PXX/PXX_YY.MP4 or DIR/PXX_YY.MP4); "
              "a generic list's relative `video` paths are taken under DIR.")
@click.option("--participants", metavar="P01,P02", help="Only these participants.")
@click.option("--split", type=click.Choice(["first32", "last5"]),
              help="The paper's split by participant: P01-P32 train, P33-P37 evaluate.")
def cli(opts, videos, participants, split):
    """Read clip lists and write one clip record per clip.

    FILE is an EPIC-100 annotation CSV (labelled, or the timestamp-only test format) or a generic
    CSV/JSONL with id, video, start, stop and optionally narration. Each record gets start/stop in
    seconds and context.before/after: the narrations of the 2 clips around it in the same video.

    \b
    Example:
      leap-clips EPIC_100_train.csv --videos /data/EPIC-KITCHENS --split first32 > clips.jsonl
    """
    from .. import clips
    from ..stream import run

    wanted = frozenset(p.strip() for p in participants.split(",")) if participants else None
    lines = clips.clip_lines(opts.inputs, wanted, split)

    def locate(record: dict) -> dict:
        if videos:
            record = {**record, "video": clips.video_path(record, videos)}
        return record

    finish(run(opts, "clips", locate, lines=lines))
