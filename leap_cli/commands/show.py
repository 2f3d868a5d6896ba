"""leap-show: one clip's evidence, stub and program, in the terminal, as a PNG or as HTML."""
from __future__ import annotations

import os
import shutil

import click

from ..options import Tool, need_module
from ..stream import read_lines


@click.command(cls=Tool)
@click.argument("inputs", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False), metavar="[FILE]...")
@click.option("--ids", metavar="ID[,ID...]", help="The clip(s) to show (with --html: default every clip).")
@click.option("--png", type=click.Path(dir_okay=False, writable=True), metavar="OUT.png",
              help="Draw the timeline to this PNG (one clip; needs matplotlib).")
@click.option("--video", type=click.Path(exists=True, dir_okay=False),
              help="With --png: add a few frames with leap-detect's boxes (default: the record's video).")
@click.option("--html", type=click.Path(dir_okay=False, writable=True), metavar="OUT.html",
              help="Write one self-contained page (no network): the clip, or the whole set with its "
                   "summary, Figure 5 and a table that sorts and filters.")
@click.option("--frames", "n_frames", type=click.IntRange(0, 32), default=4, show_default=True,
              help="With --html: frames per clip with their boxes (JPEG thumbnails when the video is readable: "
                   "one ffmpeg call each, so a big set with videos wants few).")
@click.option("--title", help="With --html: the page title (default: the one id, else the input file's name).")
@click.option("--width", type=click.IntRange(36), default=None,
              help="Terminal width; the timeline spans it (default: the terminal's).")
def cli(inputs, ids, png, video, html, n_frames, title, width):
    """Show a clip as a timeline of its evidence (sounds, walking, contacts, objects) beside its
    stub and its parsed program: the way to see why a program came out as it did.

    \b
    Example:
      leap-show --ids P01_01_12 programs.jsonl
      leap-show --ids P01_01_12 programs.jsonl --png clip.png --video P01_01.MP4
      leap-show programs.jsonl --html programs.html
    """
    from ..show import draw, render

    if html and png:
        raise click.UsageError("--html and --png: one at a time")
    if html:
        return write_html(inputs, ids, html, video, n_frames, title)
    if not ids:
        raise click.UsageError("give --ids (or --html for the whole file)")
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


def write_html(inputs, ids, path, video, n_frames, title):
    """Stream the selected records into one page, written atomically."""
    from .. import webview

    wanted = {i.strip() for i in ids.split(",") if i.strip()} if ids else None
    names = inputs or ("stdin",)

    def records():
        for line in read_lines(inputs or ("-",)):
            if line.record is None:  # shown as an error row (and said here), never dropped
                click.echo(f"leap-show: {line.file}:{line.line}: {line.problem}", err=True)
                if wanted is None:
                    yield {"id": f"{line.file}:{line.line}", "error": {"stage": "show", "message": line.problem}}
            elif wanted is None or line.record.get("id") in wanted:
                yield line.record

    jpegs = lambda record, picked: webview.video_jpegs(record, picked, video)  # noqa: E731
    part = f"{path}.part"
    title = title or (ids if wanted and len(wanted) == 1 else ", ".join(os.path.basename(n) for n in names))
    try:
        with open(part, "w", encoding="utf-8") as out:
            done = webview.write_page(records(), out, title, jpegs, n_frames)
    except BaseException:  # Ctrl-C or a bad input: no half page left behind
        if os.path.exists(part):
            os.unlink(part)
        raise
    if not done["clips"]:
        os.unlink(part)
        raise click.ClickException(f"no record{' for ' + ids if ids else 's'} in {', '.join(names)}")
    os.replace(part, path)
    click.echo(f"leap-show: wrote {path} ({done['clips']} clips, {os.path.getsize(path) / 1e6:.1f} MB)", err=True)
