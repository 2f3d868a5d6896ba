"""Statistics of a program set, and the paper's Figure 5 drawn from them.

``summarize`` is pure (records in, dict out); ``figure5`` needs matplotlib (the ``plot`` extra).
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from typing import Iterable


def _top(counter: Counter, n: int | None = None) -> dict:
    return dict(counter.most_common(n))


def verb_class(rec: dict) -> str:
    """The EPIC verb class key of a clip (``pick-up`` narrations count under ``take``)."""
    if isinstance(rec.get("verb_class"), int):
        from .ontology import verbs

        return verbs()[rec["verb_class"]].key
    return rec.get("verb") or "(no label)"


def label_nouns(rec: dict) -> list[str]:
    """The clip's EPIC noun labels as class keys, the programs' vocabulary (``saucepan`` counts
    as ``pan``, ``mug`` as ``cup``: a quarter of EPIC's label nouns are not their class key).
    Without class ids (a hand-made list) the nouns are counted as written."""
    classes = rec.get("all_noun_classes")
    if isinstance(classes, list) and classes and all(isinstance(c, int) for c in classes):
        from .ontology import nouns

        return [nouns()[c].key for c in classes if 0 <= c < len(nouns())]
    return rec.get("all_nouns") or ([rec["noun"]] if rec.get("noun") else [])


class Summary:
    """Accumulates a program set one record at a time (a 60,000-clip file is never held whole)."""

    def __init__(self):
        self.clips = self.errors = self.recovered = self.valid = 0
        self.lengths: list[int] = []
        self.per_verb: dict[str, list[int]] = defaultdict(list)
        self.subverbs, self.objects, self.labels = Counter(), Counter(), Counter()
        self.unmapped, self.reasons = Counter(), Counter()
        self.kinds = Counter()
        # quality metrics: [hits, total] pooled over the programs they are defined for
        self.q = {k: [0, 0] for k in ("consistent", "grounding", "verb", "nouns", "both", "events")}

    def add(self, rec: dict) -> None:
        self.clips += 1
        self.labels.update(label_nouns(rec))
        program = rec.get("program")
        if "error" in rec or not program:
            self.errors += 1
            return
        steps = program.get("steps", [])
        self.lengths.append(len(steps))
        self.per_verb[verb_class(rec)].append(len(steps))
        self.valid += bool(program.get("valid"))
        self.recovered += bool(program.get("warnings"))
        for step in steps:
            self.subverbs[step["verb"]] += 1
            self.objects.update(o for o in step.get("objects", []) if o)
        self.unmapped.update(program.get("unmapped", []))
        self.reasons.update(v["reason"] for v in program.get("violations", []))
        self.kinds.update(v.get("kind", "(none)") for v in program.get("violations", []))
        self._quality(rec, program, steps)

    def _quality(self, rec: dict, program: dict, steps: list) -> None:
        """Consistency, grounding, narration agreement and event coverage of one program."""
        from .llm.rules import narrated_subactions
        from .program.checker import evidence, match, noun_of

        q = self.q
        if "consistent" in program:
            q["consistent"][0] += bool(program["consistent"])
            q["consistent"][1] += 1
        try:
            ev = evidence(rec)
        except ValueError:  # leap-parse reports it; the metrics of evidence skip the clip
            ev = None
        objects = {o for s in steps for o in s.get("objects") or []}
        if ev is not None and ev.seen and objects:  # a clip with object evidence: which program objects it shows
            q["grounding"][0] += len(objects & ev.seen)
            q["grounding"][1] += len(objects)
        if isinstance(rec.get("verb_class"), int) or rec.get("verb"):
            agrees = bool({s["verb"] for s in steps} & set(narrated_subactions(rec)))
            q["verb"][0] += agrees
            q["verb"][1] += 1
            labels = {noun_of(n) for n in label_nouns(rec)}
            q["nouns"][0] += len(labels & objects)
            q["nouns"][1] += len(labels)
            q["both"][0] += agrees and labels <= objects
            q["both"][1] += 1
        if ev is not None and ev.events:
            q["events"][0] += len(match(steps, ev.events))
            q["events"][1] += len(ev.events)

    def result(self) -> dict:
        """Clips covered, validity, sub-actions per program (overall and per EPIC verb class),
        object frequencies in the programs and in the EPIC labels, unmapped object names."""
        lengths, programs = self.lengths, len(self.lengths)
        by_size = sorted(self.per_verb.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        return {
            "clips": self.clips,
            "programs": programs,
            "coverage": round(programs / self.clips, 4) if self.clips else 0.0,
            "errors": self.errors,
            "valid": self.valid,
            "invalid": programs - self.valid,
            "recovered": self.recovered,
            "subactions_per_program": {
                "mean": round(statistics.fmean(lengths), 3) if lengths else 0.0,
                "median": statistics.median(lengths) if lengths else 0,
                "histogram": {str(k): v for k, v in sorted(Counter(lengths).items())},
            },
            "programs_per_verb_class": {v: len(n) for v, n in by_size},
            "subactions_per_verb_class": {v: round(statistics.fmean(n), 3) for v, n in by_size},
            "subaction_verbs": _top(self.subverbs),
            "objects_in_programs": _top(self.objects),
            "objects_in_labels": _top(self.labels),
            "unmapped_objects": _top(self.unmapped),
            "violation_reasons": _top(self.reasons, 20),
            "quality": self.quality(),
        }

    def quality(self) -> dict:
        """The numbers to choose a prompt, model or evidence source by (shares; null where no
        program has what the share is over). See QUALITY for what each is."""
        share = {k: round(h / n, 4) if n else None for k, (h, n) in self.q.items()}
        programs = len(self.lengths)
        return {
            "valid": round(self.valid / programs, 4) if programs else None,
            "consistent": share["consistent"],
            "grounding": share["grounding"],
            "narration_verb": share["verb"],
            "narration_nouns": share["nouns"],
            "narration_agreement": share["both"],
            "event_coverage": share["events"],
            "mean_length": round(statistics.fmean(self.lengths), 3) if self.lengths else None,
            "violations_by_kind": _top(self.kinds),
        }


QUALITY = {
    "valid": "programs without a world-state violation",
    "consistent": "programs without any violation, evidence ones included (ungrounded, order)",
    "grounding": "program objects (distinct per program) that the clip's detections or contacts show",
    "narration_verb": "programs with a sub-action that carries out the narrated verb class",
    "narration_nouns": "the clips' label nouns that the program names",
    "narration_agreement": "programs with both: the verb's sub-action and every label noun",
    "event_coverage": "evidence events (contacts, walks, sounds of the hands) some step stands for",
    "mean_length": "sub-actions per program",
}


def compare(results: dict[str, dict]) -> str:
    """Program sets side by side: the quality metrics, one column per set (name -> result())."""
    names = list(results)
    width = max(12, *(len(n) for n in names))
    rows = [("programs / clips", [f"{r['programs']} / {r['clips']}" for r in results.values()])]
    for key in QUALITY:
        rows.append((key, ["-" if r["quality"][key] is None else
                           (f"{r['quality'][key]:.3f}" if key == "mean_length" else f"{100 * r['quality'][key]:.1f}%")
                           for r in results.values()]))
    kinds = sorted({k for r in results.values() for k in r["quality"]["violations_by_kind"]})
    rows += [(f"violations: {k}", [str(r["quality"]["violations_by_kind"].get(k, 0)) for r in results.values()])
             for k in kinds]
    verbs = sorted({v for r in results.values() for v in r["subactions_per_verb_class"]},
                   key=lambda v: -sum(r["programs_per_verb_class"].get(v, 0) for r in results.values()))
    rows += [(f"length: {v}", [f"{r['subactions_per_verb_class'][v]:.2f}" if v in r["subactions_per_verb_class"]
                               else "-" for r in results.values()]) for v in verbs[:15]]
    head = max(len(label) for label, _ in rows)
    lines = [" " * head + "".join(f"  {n:>{width}}" for n in names)]
    lines += [f"{label:<{head}}" + "".join(f"  {c:>{width}}" for c in cells) for label, cells in rows]
    return "\n".join(lines) + "\n"


def summarize(records: Iterable[dict]) -> dict:
    summary = Summary()
    for rec in records:
        summary.add(rec)
    return summary.result()


def figure5(summary: Summary, out_dir: str, top: int = 30) -> list[str]:
    """Figure 5 of the paper as two PNGs in out_dir: (a) sub-actions per program per EPIC verb
    class, (b) object frequency in the EPIC labels vs in the programs (log scale)."""
    import os

    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    stats, paths = summary.result(), []

    verbs = list(stats["programs_per_verb_class"])[:top]
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(verbs) + 2), 4))
    ax.boxplot([summary.per_verb[v] for v in verbs], tick_labels=verbs, showfliers=False)
    ax.set_ylabel("sub-actions per program")
    ax.set_title("(a) sub-actions per program, by EPIC verb class")
    ax.tick_params(axis="x", rotation=70)
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "subactions_per_verb.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    labels, programs = stats["objects_in_labels"], stats["objects_in_programs"]
    nouns = sorted(set(labels) | set(programs), key=lambda n: (-labels.get(n, 0), -programs.get(n, 0)))[:top]
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(nouns) + 2), 4))
    x = range(len(nouns))
    ax.bar([i - 0.2 for i in x], [labels.get(n, 0) for n in nouns], width=0.4, label="EPIC labels")
    ax.bar([i + 0.2 for i in x], [programs.get(n, 0) for n in nouns], width=0.4, label="programs")
    ax.set_yscale("log")
    ax.set_xticks(list(x), nouns, rotation=70)
    ax.set_ylabel("occurrences (log)")
    ax.set_title("(b) object frequency: EPIC labels vs programs")
    ax.legend()
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "object_frequency.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
