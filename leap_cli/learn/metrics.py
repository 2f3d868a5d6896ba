"""EPIC-KITCHENS-100 metrics with the official definitions (numpy only, no torch).

Ranking follows EPIC's `scores.argsort()[::-1]` with a stable sort, so tied scores rank the
higher class id first. Action scores: softmax over the top-100 verb and the top-100 noun
scores, outer product, the 100 best (verb, noun) pairs, action id = verb * 1000 + noun.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from typing import Iterable, Sequence

import numpy as np

TOP_N = 100


def action_id(verb, noun):
    """EPIC's action id of (verb, noun) class ids: verb * 1000 + noun (ints or integer arrays)."""
    return verb * 1000 + noun


def ranks(scores: np.ndarray) -> np.ndarray:
    """Class ids by decreasing score, [N, C] -> [N, C]; ties: higher class id first."""
    return np.argsort(scores, axis=-1, kind="stable")[:, ::-1]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def action_ranks(verb_scores: np.ndarray, noun_scores: np.ndarray, top_n: int = TOP_N,
                 chunk: int = 512) -> np.ndarray:
    """Action ids [N, top_n] ranked as EPIC's compute_action_scores + dict ranking do.

    Rows are independent: `chunk` rows at a time keep the [rows, 97 * 100] products small
    (the whole EPIC validation set at once would take 1.6 GB).
    """
    if len(verb_scores) > chunk:
        return np.concatenate([_action_ranks(verb_scores[i:i + chunk], noun_scores[i:i + chunk], top_n)
                               for i in range(0, len(verb_scores), chunk)])
    return _action_ranks(verb_scores, noun_scores, top_n)


def _action_ranks(verb_scores: np.ndarray, noun_scores: np.ndarray, top_n: int) -> np.ndarray:
    n = len(verb_scores)
    rows = np.arange(n)[:, None]
    top_v = ranks(verb_scores)[:, :top_n]                       # [N, Vt]
    top_n_ = ranks(noun_scores)[:, :top_n]                      # [N, Nt]
    pv = _softmax(verb_scores[rows, top_v])                     # [N, Vt]
    pn = _softmax(noun_scores[rows, top_n_])                    # [N, Nt]
    probs = (pv[:, :, None] * pn[:, None, :]).reshape(n, -1)    # [N, Vt*Nt]
    order = ranks(probs)[:, :top_n]                             # [N, top_n] flat indices
    vi, ni = np.unravel_index(order, (top_v.shape[1], top_n_.shape[1]))
    ids = action_id(top_v[rows, vi], top_n_[rows, ni])          # [N, top_n]
    # EPIC then re-ranks the {action: score} dict by score (stable argsort reversed)
    resort = ranks(probs[rows, order])
    return ids[rows, resort]


def topk_accuracy(ranked: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5)) -> list[float]:
    """Fraction of rows whose label is among the first k ranked classes, for each k."""
    if len(labels) == 0:
        return [float("nan")] * len(ks)
    hit = ranked[:, : max(ks)] == np.asarray(labels).reshape(-1, 1)
    return [float(hit[:, :k].any(axis=1).mean()) for k in ks]


def topk_recall(ranked: np.ndarray, labels: np.ndarray, k: int = 5, classes: Iterable[int] | None = None) -> float:
    """Mean over the classes present in `labels` (optionally only `classes`) of top-k recall."""
    labels = np.asarray(labels)
    present = np.unique(labels)
    if classes is not None:
        present = np.intersect1d(present, np.asarray(list(classes)))
    if len(present) == 0:
        return float("nan")
    hit = (ranked[:, :k] == labels.reshape(-1, 1)).any(axis=1)
    return float(np.mean([hit[labels == c].mean() for c in present]))


@dataclass
class Split:
    """Evaluation subsets: tail verb / noun classes and unseen participants."""

    tail_verbs: frozenset
    tail_nouns: frozenset
    unseen: frozenset


def _read_column(path, column: str) -> list[str]:
    with open(path, newline="") as f:
        return [row[column] for row in csv.DictReader(f)]


def _vendored(name: str):
    return resources.files("leap_cli") / "data" / "epic100" / name


def load_split(tail_verbs=None, tail_nouns=None, unseen=None) -> Split:
    """Read the official CSVs (defaults: the vendored EPIC-100 validation ones)."""
    tail_verbs = tail_verbs or _vendored("EPIC_100_tail_verbs.csv")
    tail_nouns = tail_nouns or _vendored("EPIC_100_tail_nouns.csv")
    unseen = unseen or _vendored("EPIC_100_unseen_participant_ids_validation.csv")
    return Split(
        frozenset(int(v) for v in _read_column(tail_verbs, "verb")),
        frozenset(int(v) for v in _read_column(tail_nouns, "noun")),
        frozenset(_read_column(unseen, "participant_id")),
    )


def _pct(x: float):
    return None if np.isnan(x) else float(100.0 * x)


def recognition(verb_scores, noun_scores, verbs, nouns, participants, split: Split) -> dict:
    """EPIC action recognition: {all,tail,unseen}_{verb,noun,action}_accuracy_at_{1,5} in %."""
    verbs, nouns = np.asarray(verbs), np.asarray(nouns)
    actions = action_id(verbs, nouns)
    r = {"verb": ranks(np.asarray(verb_scores)), "noun": ranks(np.asarray(noun_scores))}
    r["action"] = action_ranks(np.asarray(verb_scores), np.asarray(noun_scores))
    gt = {"verb": verbs, "noun": nouns, "action": actions}
    tail_v = np.isin(verbs, list(split.tail_verbs))
    tail_n = np.isin(nouns, list(split.tail_nouns))
    masks = {
        "tail": {"verb": tail_v, "noun": tail_n, "action": tail_v | tail_n},
        "unseen": dict.fromkeys(gt, np.isin(np.asarray(participants), list(split.unseen))),
    }
    out = {}
    for task in ("verb", "noun", "action"):
        a1, a5 = topk_accuracy(r[task], gt[task], (1, 5))
        out[f"all_{task}_accuracy_at_1"], out[f"all_{task}_accuracy_at_5"] = _pct(a1), _pct(a5)
    for name, m in masks.items():
        if name == "unseen" and not m["verb"].any():
            continue  # as EPIC: no unseen segments, no unseen metrics
        for task in ("verb", "noun", "action"):
            (acc,) = topk_accuracy(r[task][m[task]], gt[task][m[task]], (1,))
            out[f"{name}_{task}_accuracy_at_1"] = _pct(acc)
    return out


def anticipation(verb_scores, noun_scores, verbs, nouns, participants, split: Split) -> dict:
    """EPIC action anticipation: class-mean top-5 recall {overall,unseen,tail}_{verb,noun,action}_mt5r."""
    verbs, nouns = np.asarray(verbs), np.asarray(nouns)
    actions = action_id(verbs, nouns)
    r = {"verb": ranks(np.asarray(verb_scores)), "noun": ranks(np.asarray(noun_scores)),
         "action": action_ranks(np.asarray(verb_scores), np.asarray(noun_scores))}
    gt = {"verb": verbs, "noun": nouns, "action": actions}
    unseen = np.isin(np.asarray(participants), list(split.unseen))
    tail_v, tail_n = np.isin(verbs, list(split.tail_verbs)), np.isin(nouns, list(split.tail_nouns))
    subsets = {"overall": dict.fromkeys(gt, np.ones(len(verbs), bool)),
               "unseen": dict.fromkeys(gt, unseen),
               "tail": {"verb": tail_v, "noun": tail_n, "action": tail_v | tail_n}}
    out = {}
    for name, m in subsets.items():
        for task in ("verb", "noun", "action"):
            out[f"{name}_{task}_mt5r"] = _pct(topk_recall(r[task][m[task]], gt[task][m[task]], 5))
    return out


def _verb_id(step: dict):
    if step.get("verb_id") is not None:
        return int(step["verb_id"])
    from leap_cli.ontology import SUBACTIONS

    return SUBACTIONS.index(step["verb"]) if step.get("verb") in SUBACTIONS else None


def _step_sets(steps: list[dict]) -> tuple[set, set, set]:
    """Sets of verb ids, first-object ids and second-object ids (objects without an EPIC id are left out)."""
    verbs = {v for v in map(_verb_id, steps) if v is not None}
    ids = [s.get("object_ids") or [] for s in steps]
    first = {o[0] for o in ids if len(o) >= 1 and o[0] is not None}
    second = {o[1] for o in ids if len(o) >= 2 and o[1] is not None}
    return verbs, first, second


def _jaccard(p: set, g: set) -> float:
    return 1.0 if not p and not g else len(p & g) / len(p | g)


def programs(pred_steps: list[list[dict]], gt_steps: list[list[dict]]) -> dict:
    """Sub-action recognition (Table 1): set-level accuracy of S-Verb, Obj (A), Obj (B), in %.

    Per clip, the set of predicted sub-action verbs (first objects, second objects) is compared
    with the ground-truth set by |P & G| / |P | G| (1 when both are empty); clips are averaged.
    """
    scores = np.zeros((len(gt_steps), 3))
    for i, (p, g) in enumerate(zip(pred_steps, gt_steps)):
        scores[i] = [_jaccard(a, b) for a, b in zip(_step_sets(p), _step_sets(g))]
    mean = scores.mean(axis=0) if len(gt_steps) else np.full(3, np.nan)
    return {"s_verb": _pct(mean[0]), "obj_a": _pct(mean[1]), "obj_b": _pct(mean[2]), "clips": len(gt_steps)}


def submission(ids, verb_scores, noun_scores, challenge: str, sls_pt: int, sls_tl: int, sls_td: int) -> dict:
    """The EPIC challenge submission object (version 0.2)."""
    results = {
        str(i): {"verb": {str(c): float(s) for c, s in enumerate(v)},
                 "noun": {str(c): float(s) for c, s in enumerate(n)}}
        for i, v, n in zip(ids, verb_scores, noun_scores)
    }
    return {"version": "0.2", "challenge": challenge, "sls_pt": int(sls_pt), "sls_tl": int(sls_tl),
            "sls_td": int(sls_td), "results": results}
