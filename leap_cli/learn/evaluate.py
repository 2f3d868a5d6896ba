"""Readers for leap-eval: predictions JSONL, EPIC-format CSV or program-record ground truth.

numpy only (no torch): `leap-eval` starts fast.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np

from leap_cli import epic
from leap_cli.learn import metrics as M
from leap_cli.ontology import N_NOUNS, N_VERBS
from leap_cli.records import ClipError


@dataclass
class Predictions:
    ids: list = field(default_factory=list)
    verb_scores: list = field(default_factory=list)
    noun_scores: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    problems: list = field(default_factory=list)   # 'file:line: reason'


def _lines(path: str, problems: list):
    """(where, record) for each clip record of a JSONL file; the other lines go to `problems`."""
    from leap_cli.stream import read_lines

    for line in read_lines([path]):
        where = f"{line.file}:{line.line}"
        if line.problem:
            problems.append(f"{where}: {line.problem}")
        else:
            yield where, line.record


def read_predictions(path: str, need_scores: bool = True) -> Predictions:
    p = Predictions()
    seen: dict[str, str] = {}   # id -> the line of its prediction
    for where, rec in _lines(path, p.problems):
        if "error" in rec:
            p.problems.append(f"{where}: {rec.get('id')}: error record from {rec['error'].get('stage')}")
            continue
        if rec["id"] in seen:
            p.problems.append(f"{where}: {rec['id']}: a second prediction for this clip (line {seen[rec['id']]} kept)")
            continue
        v, s = rec.get("verb_scores"), rec.get("noun_scores")
        if need_scores and (not isinstance(v, list) or len(v) != N_VERBS
                            or not isinstance(s, list) or len(s) != N_NOUNS):
            p.problems.append(f"{where}: {rec['id']}: needs verb_scores [{N_VERBS}] and noun_scores [{N_NOUNS}]")
            continue
        if need_scores:
            bad = _bad_scores(v, "verb_scores") or _bad_scores(s, "noun_scores")
            if bad:  # NaN sorts anywhere: a metric over it would be silently wrong
                raise ClipError(f"{where}: {rec['id']}: {bad}")
        seen[rec["id"]] = where.rsplit(":", 1)[1]
        p.ids.append(rec["id"])
        p.verb_scores.append(v)
        p.noun_scores.append(s)
        p.steps.append(((rec.get("program") or {}).get("steps")) or [])
    return p


def _bad_scores(values: list, name: str) -> str | None:
    """Why a score list is unusable (a value that is not a finite number), or None."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 1 or any(isinstance(x, bool) for x in values):
        k = next((i for i, x in enumerate(values) if isinstance(x, bool) or not isinstance(x, (int, float))), 0)
        return f"{name}[{k}] is {values[k]!r}, not a number"
    finite = np.isfinite(arr)
    if not finite.all():
        k = int(np.argmin(finite))
        return f"{name}[{k}] is {arr[k]}: scores must be finite numbers"
    return None


CSV_COLUMNS = ("narration_id", "verb_class", "noun_class")


def _class(value, name: str):
    """An EPIC class id from a CSV cell or JSON value (None stays None)."""
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} {value!r} is not a class id") from None
    n = N_VERBS if name == "verb_class" else N_NOUNS
    if not 0 <= number < n:  # a wrong class file or a shifted column: no metric can use it
        raise ClipError(f"{name} {number} is out of range (EPIC-100 has {n}: 0-{n - 1})")
    return number


def read_annotations(path: str) -> tuple[dict[str, dict], list[str]]:
    """({id: {"participant_id", "verb_class", "noun_class", "steps"}}, problems 'file:line: reason')
    from an EPIC-format CSV (narration_id, participant_id, verb_class, noun_class) or JSONL
    clip/program records. A CSV without the needed columns is an error (ValueError)."""
    out, problems = {}, []
    if path.endswith((".csv", ".csv.gz")):
        from leap_cli.stream import open_input

        with open_input(path) as f:  # gzip and a byte-order mark handled
            reader = csv.DictReader(f)
            absent = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if absent:
                raise ClipError(f"{path}: no column {', '.join(absent)} (an EPIC-format CSV has "
                                 f"{', '.join(CSV_COLUMNS)}, participant_id)")
            for row in reader:
                where = f"{path}:{reader.line_num}"
                nid = row["narration_id"]
                entry = {"participant_id": row.get("participant_id") or epic.participant(nid),
                         "verb_class": None, "noun_class": None, "steps": None}
                try:
                    entry["verb_class"] = _class(row["verb_class"], "verb_class")
                    entry["noun_class"] = _class(row["noun_class"], "noun_class")
                except ClipError as e:
                    raise ClipError(f"{where}: {nid}: {e}") from None
                except ValueError as e:
                    problems.append(f"{where}: {nid}: {e}")
                    entry["verb_class"] = entry["noun_class"] = None  # known clip, no usable label
                out[nid] = entry
        return out, problems
    for where, rec in _lines(path, problems):
        if "error" in rec:
            continue  # a clip a pipeline stage failed on has no ground truth to offer
        prog = rec.get("program") if isinstance(rec.get("program"), dict) else None
        entry = {"participant_id": rec.get("participant_id") or epic.participant(rec["id"]),
                 "verb_class": None, "noun_class": None,
                 "steps": prog.get("steps") if prog and not prog.get("missing") else None}
        try:
            entry["verb_class"] = _class(rec.get("verb_class"), "verb_class")
            entry["noun_class"] = _class(rec.get("noun_class"), "noun_class")
        except ClipError as e:
            raise ClipError(f"{where}: {rec['id']}: {e}") from None
        except ValueError as e:
            problems.append(f"{where}: {rec['id']}: {e}")
            entry["verb_class"] = entry["noun_class"] = None
        out[rec["id"]] = entry
    return out, problems


def evaluate(kind: str, preds: Predictions, gt: dict, split: M.Split) -> tuple[dict, list[str]]:
    """Metrics for `kind` (recognition | anticipation | programs) and notes for stderr
    (the readers' problems are the caller's to report)."""
    notes = []
    unknown = [i for i in preds.ids if i not in gt]
    if unknown:
        raise ClipError(f"{len(unknown)} predicted ids are not in the annotations (first: {unknown[0]})")
    predicted = set(preds.ids)
    absent = sum(1 for i in gt if i not in predicted)
    if absent:
        notes.append(f"{absent} annotated clips have no prediction and are not evaluated")
    if kind == "programs":
        keep = [k for k, i in enumerate(preds.ids) if gt[i]["steps"] is not None]
        if len(keep) < len(preds.ids):
            notes.append(f"{len(preds.ids) - len(keep)} clips have no ground-truth program and are not evaluated")
        return M.programs([preds.steps[k] for k in keep], [gt[preds.ids[k]]["steps"] for k in keep]), notes
    keep = [k for k, i in enumerate(preds.ids) if gt[i]["verb_class"] is not None and gt[i]["noun_class"] is not None]
    if len(keep) < len(preds.ids):
        notes.append(f"{len(preds.ids) - len(keep)} clips have no verb_class and noun_class in the annotations "
                     "and are not evaluated")
    if not keep:
        raise ClipError("no predicted clip has verb_class and noun_class in the annotations")
    ids = [preds.ids[k] for k in keep]
    args = (np.asarray([preds.verb_scores[k] for k in keep], np.float64),
            np.asarray([preds.noun_scores[k] for k in keep], np.float64),
            [int(gt[i]["verb_class"]) for i in ids], [int(gt[i]["noun_class"]) for i in ids],
            [gt[i]["participant_id"] for i in ids], split)
    fn = M.recognition if kind == "recognition" else M.anticipation
    return fn(*args), notes
