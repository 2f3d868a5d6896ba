"""Self-repair (--repair N): an answer that parses but breaks the world-state checker or its
clip's evidence is sent back with its violations listed, and the better answer is kept.

The verdict is leap-parse's own (parse_program then the evidence check, on the text leap-parse
will read), so "better" here means better there: evidence-consistent first, then valid, then
fewer violations; a tie keeps the first answer.
"""
from __future__ import annotations

import hashlib

from . import query as q
from .stub import Stub

MAX_LISTED = 8  # violations listed per function: enough to act on, bounded for a long program


def judge(stub: Stub, text: str, nouns) -> dict | None:
    """The program leap-parse would make of ``text`` for the stub's clip (None: it would not)."""
    from ..program.checker import holding_at_start
    from ..program.stage import checked
    from ..records import ClipError
    from ..program import parse_program

    try:
        return checked(stub.record, parse_program(q.with_evidence(stub, text), stub.name,
                                                  holding_at_start(stub.record), nouns))
    except (ClipError, RecursionError, MemoryError):
        return None


def faults(program: dict | None) -> bool:
    """Whether a judged program has something to repair."""
    return program is not None and bool(program["violations"])


def rank(program: dict | None) -> tuple:
    """Higher is better: consistent, valid, fewer violations (None: not a program at all)."""
    if program is None:
        return (-1,)
    return (program["consistent"], program["valid"], -len(program["violations"]))


def listed(program: dict) -> list[str]:
    """A program's violations as the repair query states them, in step order, bounded."""
    lines = []
    for v in program["violations"][:MAX_LISTED]:
        step = program["steps"][v["step"]] if v["step"] < len(program["steps"]) else None
        call = f"{v['verb']}({', '.join(step['objects'])})" if step else v["verb"]
        lines.append(f"step {v['step'] + 1} {call}: {v['reason']}")
    more = len(program["violations"]) - MAX_LISTED
    return lines + ([f"and {more} more"] if more > 0 else [])


def key_of(stub: Stub, text: str, program: dict) -> str:
    """What determines a repair of ``text`` besides the clip's own key: the answer sent back
    (under the stub's base name, as any grouping renders it) and the violations stated."""
    base = q.renamed(text, stub.name, stub.base or stub.name)
    told = "\n".join(listed(program))
    return "sha256:" + hashlib.sha256((base + "\0" + told).encode("utf-8")).hexdigest()


def build(items: list[tuple[Stub, str, dict]], round_: int, echo: bool = False,
          chosen: list[tuple[str, str]] | None = None) -> q.Query:
    """The repair query for (stub, answer, its program) items: the prefix every query shares,
    then each answer with its clip's evidence and the violations found in it."""
    system, user = q.shared(echo, chosen)
    ask = (f"\n\n# Repair {round_}. Each function below is your previous answer for its clip; "
           "the violations found in it\n# (of the dialect's world-state rules or of the clip's "
           "own evidence) are listed above it.\n# Rewrite each function in full, keeping its "
           "name and arguments, so that none of them remains.")
    parts = []
    for stub, text, program in items:
        told = "\n".join(f"#   - {line}" for line in listed(program))
        parts.append(f"# Violations in {stub.name}:\n{told}\n{q.with_evidence(stub, text).rstrip()}\n")
    body = user + ask + "\n\n" + "\n".join(parts)
    return q.Query([{"role": "system", "content": system}, {"role": "user", "content": body}],
                   [s for s, _, _ in items], round_, extra={"repair": True})
