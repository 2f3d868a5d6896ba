"""leap-parse's per-record logic and its --summary, without click or I/O."""
from __future__ import annotations

import collections
import functools

from .. import stats
from ..records import SCHEMA_VERSION, ClipError, source
from .checker import check_evidence, evidence, holding_at_start
from .nouns import Nouns
from .parser import chunks
from .program import MAX_STEPS, parse_program

DIALECT = 1


def parse_record(record: dict, nouns: Nouns, strict: bool = False,
                 text: tuple[str, str | None] | None = None, vote: bool = False) -> dict:
    """The record with its `program` key, from `prompt.response` (ClipError when impossible).

    ``strict``: an invalid program is an error too. ``text``: (response, function) to parse
    instead of the record's prompt (--text: no evidence, so no `consistent`). ``vote``: parse
    every one of `prompt.samples` and keep the program ``choose`` picks.
    """
    if text is not None:
        program = parse_program(text[0], text[1], holding_at_start(record), nouns, *text[2:])
    else:
        prompt = record.get("prompt")
        if not isinstance(prompt, dict) or not isinstance(prompt.get("response"), str):
            why = prompt.get("missing") if isinstance(prompt, dict) else None
            raise ClipError(f"no prompt.response to parse ({why})" if why else
                            "no prompt.response to parse (run leap-prompt first)")
        samples = prompt.get("samples") if vote and isinstance(prompt.get("samples"), list) else None
        texts = [t for t in samples if isinstance(t, str)] if samples else [prompt["response"]]
        parsed, first_error = [], None
        for k, response in enumerate(texts):
            try:
                parsed.append((k, checked(record, parse_program(response, prompt.get("function"),
                                                                holding_at_start(record), nouns))))
            except ClipError as e:
                first_error = first_error or e
        if not parsed:
            raise first_error
        program = parsed[0][1] if not vote else choose(parsed, len(texts))
        told = [w for w in prompt.get("warnings") or [] if isinstance(w, str)]
        if told:  # what leap-prompt repaired counts as a repair too (--summary)
            program["warnings"] = [f"leap-prompt: {w}" for w in told] + program["warnings"]
    out = {**record, "program": program}
    if strict and not program["valid"]:
        raise ClipError("invalid program: " + "; ".join(
            f"step {v['step']} {v['verb']}: {v['reason']}" for v in program["violations"]))
    program["source"] = _source(nouns.embed)
    return out


def checked(record: dict, program: dict) -> dict:
    """The program held against its clip's own evidence: evidence violations and `consistent`."""
    try:
        ev = evidence(record)
    except ValueError as e:
        raise ClipError(str(e)) from None
    found = check_evidence(program["steps"], ev)
    if found:
        program["violations"] = sorted(program["violations"] + found, key=lambda v: v["step"])
    program["consistent"] = not program["violations"]
    return program


VOTE_RULE = ("evidence first (consistent, then valid, then the rest), then the most agreement with "
             "the other samples (mean Jaccard similarity of their sets of sub-actions), then fewer "
             "violations, then the lower sample index")


def choose(parsed: list[tuple[int, dict]], asked: int) -> dict:
    """--vote: of the parsed samples (index, program), the one VOTE_RULE ranks first, marked
    with `vote` (how many samples were asked and parsed, the chosen index, its agreement)."""
    sets = [{(s["verb"], *s["objects"]) for s in p["steps"]} for _, p in parsed]

    def agreement(i: int) -> float:
        others = [len(sets[i] & b) / len(sets[i] | b) for j, b in enumerate(sets) if j != i and sets[i] | b]
        return sum(others) / len(others) if others else 1.0

    scores = [agreement(i) for i in range(len(parsed))]
    best = min(range(len(parsed)), key=lambda i: (
        -(2 * parsed[i][1]["consistent"] + parsed[i][1]["valid"]), -scores[i],
        len(parsed[i][1]["violations"]), parsed[i][0]))
    k, program = parsed[best]
    program["vote"] = {"samples": asked, "parsed": len(parsed), "chosen": k,
                       "agreement": round(scores[best], 4), "rule": VOTE_RULE}
    return program


@functools.lru_cache(maxsize=2)
def _source(embed: bool) -> dict:
    """Provenance of every program this run writes (one dict: it is only ever serialised)."""
    return source("parse", dialect=DIALECT, embed_unknown=embed)


def text_records(text: str, name: str) -> list[tuple[dict, tuple | None]]:
    """--text: (record, parse arguments) for each function of a bare response; the text's name
    when none. Each function is parsed from its own piece of the text (its lines, with their
    offset and the notes about the whole text): linear in the number of functions."""
    found, notes = chunks(text)
    if not found:
        return [({"schema": SCHEMA_VERSION, "id": name}, (text, None))]
    same: dict[str, list] = {}
    for chunk in found:
        same.setdefault(chunk.name, []).append(chunk)
    return [({"schema": SCHEMA_VERSION, "id": fn},
             ("\n".join(line for c in group for line in c.lines) + "\n", fn, group[0].numbers[0] - 1, tuple(notes)))
            for fn, group in same.items()]


class Summary(stats.Summary):
    """What --summary reports: a fold over the records leap-parse outputs (leap-stats'
    statistics, one implementation), plus the reasons for the failures and the violations by verb."""

    def __init__(self):
        super().__init__()
        self.failed: collections.Counter = collections.Counter()
        self.violations: collections.Counter = collections.Counter()
        self.earlier: collections.Counter = collections.Counter()  # by stage

    def add(self, record: dict) -> None:
        """One output record: a parsed program, a parse error (an unreadable input line too;
        one an earlier leap-parse wrote counts the same), or an earlier stage's error."""
        super().add(record)
        if "error" not in record:
            self.violations.update(v["verb"] for v in (record.get("program") or {}).get("violations", []))
            return
        error = record["error"]
        stage = error.get("stage") if isinstance(error, dict) else "?"
        if stage == "parse":
            self.failed[_kind(str(error.get("message")))] += 1
        else:
            self.earlier[f"leap-{stage}"] += 1

    def text(self, top: int = 10, whole: str | None = None) -> str:
        """The report; ``whole`` says what a resumed run's report covers."""
        n = len(self.lengths)
        lines = [
            f"records: {self.clips}" + (f" ({whole}, earlier runs' records too)" if whole else ""),
            f"programs parsed: {n}",
            f"  recovered (with warnings): {self.recovered}",
            f"  invalid (world-state violations): {n - self.valid}",
            f"not recoverable: {sum(self.failed.values())}",
        ]
        lines += [f"  {count} {reason}" for reason, count in sorted(self.failed.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
        lines.append(f"errors from earlier stages: {sum(self.earlier.values())}")
        lines += [f"  {count} {stage}" for stage, count in sorted(self.earlier.items(), key=lambda kv: (-kv[1], kv[0]))]
        quality = self.quality()
        lines.append("quality: " + ", ".join(
            f"{k} {'-' if quality[k] is None else format(quality[k], '.1%')}"
            for k in ("valid", "consistent", "grounding", "narration_agreement", "event_coverage")))
        lines.append("violations by kind: " + (", ".join(
            f"{k} {v}" for k, v in sorted(quality["violations_by_kind"].items(), key=lambda kv: (-kv[1], kv[0])))
            or "-"))
        mean = sum(self.lengths) / n if n else 0.0
        lines.append(f"sub-actions per program: mean {mean:.2f}")
        histogram = collections.Counter(self.lengths)
        peak = max(histogram.values(), default=0)
        for k in range(1, MAX_STEPS + 1):
            count = histogram.get(k, 0)
            bar = "#" * (round(40 * count / peak) if peak else 0)
            lines.append(f"  {k} {count:>7} {bar}".rstrip())
        for title, counter in (("top verbs", self.subverbs), ("top objects", self.objects),
                               ("unmapped object names", self.unmapped),
                               ("violations by verb", self.violations)):
            ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top]  # ties by name
            items = ", ".join(f"{k} {v}" for k, v in ranked) or "-"
            lines.append(f"{title}: {items}")
        return "\n".join(lines) + "\n"


def _kind(message: str) -> str:
    """The kind of a parse error, grouped by reason, not by the function name in it: "no
    sub-actions recovered", "not JSON", "invalid program (--strict)"."""
    for kind in ("no sub-actions recovered", "is not recoverable Python", "no function named",
                 "no function definition"):
        if kind in message:
            return kind
    if message.startswith("invalid program: "):
        return "invalid program (--strict)"
    return message.split(" (")[0]
