"""leap-show: one clip's evidence, stub and program, in the terminal or as a PNG."""
from __future__ import annotations

import os
import shutil

import click

from ..options import Tool, need_module
from ..stream import read_lines


@click.command(cls=Tool)
@click.argument("inputs", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False), metavar="[FILE]...")
@click.option("--ids", required=True, metavar="ID[,ID...]", help="The clip(s) to show.")
@click.option("--png", type=click.Path(dir_okay=False, writable=True), metavar="OUT.png",
              help="Draw the timeline to this PNG (one clip; needs matplotlib).")
@click.option("--video", type=click.Path(exists=True, dir_okay=False),
              help="With --png: add a few frames with leap-detect's boxes (default: the record's video).")
@click.option("--width", type=int, default=None, help="Terminal width (default: the terminal's).")
def cli(inputs, ids, png, video, width):
    """Show a clip as a timeline of its evidence (sounds, walking, contacts, objects) beside its
    stub and its parsed program: the way to see why a program came out as it did.

    \b
    Example:
      leap-show --ids P01_01_12 programs.jsonl
      leap-show --ids P01_01_12 programs.jsonl --png clip.png --video P01_01.MP4
    """
    from ..show import draw, render

    wanted = [i.strip() for i in ids.split(",") if i.strip()]
    if png:
        if len(wanted) > 1:
            raise click.UsageError("--png draws one clip: give one id")
        need_module("matplotlib", "plot", "--png")
    found = {line.record["id"]: line.record for line in read_lines(inputs or ("-",))
             if line.record is not None and line.record.get("id") in wanted}
    absent = [i for i in wanted if i not in found]
    if absent:
        raise click.ClickException(f"no record for {', '.join(absent)} in {', '.join(inputs or ('stdin',))}")
    width = width or shutil.get_terminal_size((160, 40)).columns
    click.echo("\n".join(render(found[i], width) for i in wanted), nl=False)
    if png:
        record = found[wanted[0]]
        own = record.get("video")
        draw(record, png, video or (own if own and os.path.isfile(own) else None))
        click.echo(f"leap-show: wrote {png}", err=True)
