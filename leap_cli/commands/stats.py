"""leap-stats: statistics of a program set as JSON, and the paper's Figure 5 as PNGs."""
from __future__ import annotations

import json

import click

from ..options import Tool, need_module
from ..stream import read_lines


@click.command(cls=Tool)
@click.argument("inputs", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False), metavar="[FILE]...")
@click.option("-o", "--output", type=click.File("w"), default="-", help="Write the JSON here (default stdout).")
@click.option("--png", "png_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Also draw Figure 5 into DIR (needs matplotlib: pip install 'leap-cli[plot]').")
@click.option("--top", default=30, show_default=True, help="Verb classes and objects shown in the figures.")
def cli(inputs, output, png_dir, top):
    """Summarize program records: clips covered, programs per EPIC verb class, sub-actions per
    program, object frequencies (programs vs EPIC labels), validity, unmapped names.

    \b
    Example:
      leap-stats programs.jsonl --png figures/ > stats.json
    """
    from ..stats import Summary, figure5

    if png_dir:
        need_module("matplotlib", "plot", "--png")
    summary, bad = Summary(), 0
    for line in read_lines(inputs or ("-",)):
        if line.record is None:
            bad += 1
            click.echo(f"leap-stats: {line.file}:{line.line}: {line.problem} (counted as an error)", err=True)
            line.record = {"id": None, "error": {"stage": "stats", "message": line.problem}}
        summary.add(line.record)
    output.write(json.dumps(summary.result(), indent=2) + "\n")
    if png_dir:
        for path in figure5(summary, png_dir, top):
            click.echo(f"leap-stats: wrote {path}", err=True)
