"""leap-merge: join stage outputs per clip id; merge shards back into clip-list order."""
from __future__ import annotations

import click

from ..options import Tool, finish, stage_options
from ..records import ClipError
from ..stream import read_lines, run


@click.command(cls=Tool)
@stage_options
@click.option("--order", type=click.Path(exists=True, dir_okay=False), metavar="CLIPS.jsonl",
              help="Write clips in this file's order; an id that no input has is reported.")
def cli(opts, order):
    """Join several JSONL files into one record per clip id.

    Stages run side by side on the same clips (leap-audio and leap-detect in parallel) give one
    record with both keys; shard outputs come back in the clip list's order with --order. A key
    whose values differ between files makes that clip an error record naming the id and key.

    \b
    Example:
      leap-merge audio.jsonl detect.jsonl > both.jsonl
      leap-merge --order clips.jsonl shard-*.jsonl > all.jsonl
    """
    from ..merge import ids_in, merge

    if len(opts.inputs) == 1 and opts.inputs[0] == "-":
        raise click.UsageError("give the files to merge (stdin alone has nothing to join)")
    wanted = ids_in(read_lines([order])) if order else None
    lines, conflicts = merge({path: read_lines([path]) for path in opts.inputs}, wanted, order)

    def check(record: dict) -> dict:
        if record["id"] in conflicts:
            raise ClipError(conflicts[record['id']])
        return record

    finish(run(opts, "merge", check, lines=lines))
