"""leap-stats: statistics of a program set as JSON, and the paper's Figure 5 as PNGs."""
from __future__ import annotations

import json

import click

from ..options import Tool, need_module
from ..stream import read_lines


@click.command(cls=Tool)
@click.argument("inputs", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False), metavar="[FILE]...")
@click.option("-o", "--output", type=click.File("w"), default="-", help="Write the JSON (or the table) here (default stdout).")
@click.option("--png", "png_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Also draw Figure 5 into DIR (one program set; needs matplotlib: pip install 'leap-cli[plot]').")
@click.option("--top", default=30, show_default=True, help="Verb classes and objects shown in the figures.")
def cli(inputs, output, png_dir, top):
    """Summarize a program set: clips covered, programs per EPIC verb class, sub-actions per
    program, object frequencies (programs vs EPIC labels), validity, unmapped names, and under
    "quality" the numbers to choose a prompt, model or evidence source by: valid, consistent
    (no violation, evidence ones included), grounding, narration agreement, event coverage.

    Two or more FILEs are program sets compared side by side: a table of the quality metrics
    (one column per FILE) instead of the JSON. To summarize shards as one set: cat them in.

    \b
    Examples:
      leap-stats programs.jsonl --png figures/ > stats.json
      leap-stats rules.jsonl qwen.jsonl qwen_vote.jsonl
    """
    from ..stats import compare, figure5

    if png_dir:
        if len(inputs) > 1:
            raise click.UsageError("--png draws one program set: give one FILE")
        need_module("matplotlib", "plot", "--png")
    if len(inputs) > 1:
        output.write(compare({path: read_set([path]).result() for path in inputs}))
        return
    summary = read_set(inputs or ("-",))
    output.write(json.dumps(summary.result(), indent=2) + "\n")
    if png_dir and not summary.lengths:  # nothing to draw: a figure of no programs is no figure
        click.echo(f"leap-stats: no programs among {summary.clips} records: figures skipped", err=True)
    elif png_dir:
        for path in figure5(summary, png_dir, top):
            click.echo(f"leap-stats: wrote {path}", err=True)


def read_set(inputs):
    """One program set's Summary; a line that is not a record counts as an error (reported)."""
    from ..stats import Summary

    summary = Summary()
    for line in read_lines(inputs):
        if line.record is None:
            click.echo(f"leap-stats: {line.file}:{line.line}: {line.problem} (counted as an error)", err=True)
            line.record = {"id": None, "error": {"stage": "stats", "message": line.problem}}
        summary.add(line.record)
    return summary
