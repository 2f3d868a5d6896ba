"""leap-parse: generated responses -> action programs (tokens, steps, conditions, violations)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..options import Tool, finish, stage_options
from ..stream import Line, held_files, run


@click.command(cls=Tool)
@stage_options
@click.option("--text", "text_file", type=click.Path(exists=True, allow_dash=True, dir_okay=False), metavar="FILE",
              help="Parse a bare response or program from FILE ('-': stdin): one record per function.")
@click.option("--strict", is_flag=True, help="An invalid program (world-state violation) is an error record.")
@click.option("--summary", is_flag=True,
              help="On stdout, instead of the records, a report over them (-o still gets them); "
                   "with --resume over all that -o (and, with --on-error skip, --errors) holds.")
@click.option("--vote", is_flag=True,
              help="Parse every one of prompt.samples (leap-prompt --samples K) and keep the one that agrees "
                   "best with the evidence and the others (program.vote says which and why).")
@click.option("--embed-unknown", is_flag=True,
              help="Map object names EPIC lacks to the nearest noun by sentence embedding (needs [train]).")
@click.option("--embed-threshold", type=click.FloatRange(-1, 1), default=0.7, show_default=True,
              help="Least cosine similarity for --embed-unknown.")
def cli(opts, text_file, strict, summary, vote, embed_unknown, embed_threshold):
    """Parse each record's prompt.response into its `program` key.

    The response (one function, or a whole batch, picked by prompt.function) is read with Python's
    ast only, never executed; fences, prose, tabs, truncation, unquoted names are repaired and
    listed in program.warnings. Steps are the sub-actions in order (at most 9); violations are
    sub-actions whose pre-condition contradicts the world state or the clip's own evidence (each
    with a kind; `valid`: no world-state one, `consistent`: none at all). Nothing recoverable:
    error record.

    --vote picks, per clip, among the samples: consistent first, then valid; then the most
    agreement with the other samples (mean Jaccard similarity of the sets of sub-actions);
    then fewer violations; then the lower sample index.

    \b
    Example:
      leap-prompt clips.jsonl | leap-parse > programs.jsonl
      leap-parse --summary programs.jsonl
      leap-parse --text response.py
      leap-prompt --samples 3 --temperature 0.7 clips.jsonl | leap-parse --vote
    """
    from ..program.nouns import Nouns
    from ..program.stage import Summary, parse_record, text_records

    lines, functions = None, {}
    if text_file:
        if opts.inputs != ("-",):
            raise click.UsageError("give either --text FILE or record files, not both")
        name = "<stdin>" if text_file == "-" else text_file
        text = sys.stdin.read() if text_file == "-" else Path(text_file).read_text("utf-8", errors="replace")
        pairs = text_records(text, os.path.basename(name))
        functions = {r["id"]: piece for r, piece in pairs}
        lines = [Line(name, 1, record=r) for r, _ in pairs]
    if vote and text_file:
        raise click.UsageError("--vote chooses among a record's prompt.samples: not with --text")
    nouns = Nouns(embed=embed_unknown, threshold=embed_threshold)
    report = Summary() if summary else None
    if report is not None:
        opts.output = opts.output or os.devnull  # the report replaces the records on stdout
    code = run(opts, "parse", lambda r: parse_record(r, nouns, strict, functions.get(r["id"]), vote),
               lines=lines, observe=report.add if report is not None else None)
    if report is not None:
        click.echo(report.text(whole=summary_scope(opts)), nl=False)
    finish(code)


def summary_scope(opts) -> str | None:
    """What a resumed run's report covers: the whole output, earlier runs' records too."""
    if not opts.resume:
        return None
    files = held_files(opts)
    return f"all that {' and '.join(os.path.basename(f) for f in files)} hold{'s' if len(files) == 1 else ''}"
