"""leap-eval: EPIC-KITCHENS-100 metrics (official definitions) and the challenge submission file."""
from __future__ import annotations

import json
import sys

import click

from ..options import Tool, ToolGroup

_PRED = click.option("--predictions", required=True, type=click.Path(exists=True, dir_okay=False),
                     help="JSONL: {id, verb_scores [97], noun_scores [300], program} (leap-train predict).")


def _metrics(kind: str, predictions: str, annotations: str, tail_verbs=None, tail_nouns=None, unseen=None):
    from ..learn import evaluate as E
    from ..learn import metrics as M

    preds = E.read_predictions(predictions, need_scores=kind != "programs")
    gt, problems = E.read_annotations(annotations)
    for note in preds.problems + problems:  # before evaluating: a failure below may come from them
        click.echo(f"leap-eval: {note}", err=True)
    result, notes = E.evaluate(kind, preds, gt, M.load_split(tail_verbs, tail_nouns, unseen))
    for note in notes:
        click.echo(f"leap-eval: {note}", err=True)
    click.echo(json.dumps(result, sort_keys=True))


def _splits(fn):
    for opt in reversed([
        click.option("--tail-verbs", type=click.Path(exists=True, dir_okay=False),
                     help="Official EPIC_100_tail_verbs.csv (default: the vendored one)."),
        click.option("--tail-nouns", type=click.Path(exists=True, dir_okay=False),
                     help="Official EPIC_100_tail_nouns.csv (default: the vendored one)."),
        click.option("--unseen", type=click.Path(exists=True, dir_okay=False),
                     help="Unseen participants CSV (default: the vendored validation one, P18 and P32)."),
    ]):
        fn = opt(fn)
    return fn


_ANN = click.option("--annotations", required=True, type=click.Path(exists=True, dir_okay=False),
                    help="EPIC-format CSV (narration_id, participant_id, verb_class, noun_class) or records JSONL.")


@click.group(cls=ToolGroup)
def cli():
    """Evaluate predictions with EPIC-KITCHENS-100's official metric definitions (JSON on stdout).

    \b
    Example:
      leap-eval recognition --predictions predictions.jsonl --annotations EPIC_100_validation.csv
    """


@cli.command(cls=Tool)
@_PRED
@_ANN
@_splits
def recognition(predictions, annotations, tail_verbs, tail_nouns, unseen):
    """Top-1/5 verb, noun, action accuracy (%), all/tail/unseen.

    \b
    Example:
      leap-eval recognition --predictions predictions.jsonl --annotations EPIC_100_validation.csv
    """
    _metrics("recognition", predictions, annotations, tail_verbs, tail_nouns, unseen)


@cli.command(cls=Tool)
@_PRED
@_ANN
@_splits
def anticipation(predictions, annotations, tail_verbs, tail_nouns, unseen):
    """Mean top-5 recall (%) of verb, noun, action: overall/unseen/tail.

    \b
    Example:
      leap-eval anticipation --predictions predictions.jsonl --annotations EPIC_100_validation.csv
    """
    _metrics("anticipation", predictions, annotations, tail_verbs, tail_nouns, unseen)


@cli.command(cls=Tool)
@_PRED
@click.option("--annotations", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Program records JSONL (ground-truth program.steps).")
def programs(predictions, annotations):
    """Sub-action recognition: set-level S-Verb, Obj (A), Obj (B) (%).

    \b
    Example:
      leap-eval programs --predictions predictions.jsonl --annotations programs.last5.jsonl
    """
    _metrics("programs", predictions, annotations)


@cli.command(cls=Tool)
@_PRED
@click.option("--challenge", type=click.Choice(["action_recognition", "action_anticipation"]),
              default="action_recognition", show_default=True)
@click.option("--sls-pt", type=click.IntRange(0, 5), required=True, help="Supervision level: pre-training.")
@click.option("--sls-tl", type=click.IntRange(0, 5), required=True, help="Supervision level: training labels.")
@click.option("--sls-td", type=click.IntRange(0, 5), required=True, help="Supervision level: training data.")
def submission(predictions, challenge, sls_pt, sls_tl, sls_td):
    """The challenge submission JSON (version 0.2) on stdout; the server takes it as test.json in a zip.

    \b
    Example:
      leap-eval submission --predictions test.jsonl --sls-pt 2 --sls-tl 3 --sls-td 4 > test.json
      zip submission.zip test.json
    """
    from ..learn import evaluate as E
    from ..learn import metrics as M

    preds = E.read_predictions(predictions)
    for p in preds.problems:
        click.echo(f"leap-eval: skipped {p}", err=True)
    json.dump(M.submission(preds.ids, preds.verb_scores, preds.noun_scores, challenge, sls_pt, sls_tl, sls_td),
              sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    cli()
