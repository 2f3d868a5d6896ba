"""Queries: the messages for a group of stubs, and a response split back into functions.

The messages put what every query shares first (instructions, the dialect's specification, the
import header and library H) and the stubs last, so providers' prompt caching can reuse the
prefix across queries.
"""
from __future__ import annotations

import ast
import threading
from dataclasses import dataclass, field
from functools import lru_cache

from .stub import Stub

INSTRUCTIONS = """\
You write action programs for short egocentric video clips of kitchen activities.
Each clip is given as a Python function stub whose comments carry what was observed in it:
the narrations before and after, the objects seen, what the hands grabbed and released and
when, when the person walked, and the sounds heard (times in seconds from the clip start).
Complete every stub as a program in the dialect specified below, following the style of the
library of example programs. Answer with Python code only: one complete function per stub, in
the order given, each keeping its stub's name and arguments.
"""
NO_ECHO = """Do not repeat a stub's evidence comments in your answer (they are known): write each function's
def line, then its numbered sub-goal comments and statements.
"""


@dataclass
class Query:
    """One request: its messages and the stubs it asks for."""

    messages: list[dict]
    stubs: list[Stub]
    follow_up: int = 0
    key: str = ""
    sample: int = 0
    extra: dict = field(default_factory=dict)


def _program():
    from .. import program  # the program-language package (issue 3)

    return program


@lru_cache(maxsize=2)
def prefix(echo: bool = False) -> tuple[str, str]:
    """(system text, start of the user text): identical for every query."""
    prog = _program()
    system = INSTRUCTIONS + ("" if echo else NO_ECHO) + "\n" + prog.SPEC
    user = prog.library_text().strip("\n") + "\n"  # it opens with the import header
    return system, user


def library_hash(chosen: list[tuple[str, str]] | None = None) -> str:
    return _program().library_hash(chosen)


def build(stubs: list[Stub], follow_up: int = 0, echo: bool = False,
          chosen: list[tuple[str, str]] | None = None) -> Query:
    """The query for these stubs; ``chosen``: the library programs to show (--exemplars)."""
    system, user = prefix(echo)
    if chosen is not None:
        user = _program().library_text(chosen).strip("\n") + "\n"
    ask = ("\n\n# Complete the following functions in the same dialect."
           if not follow_up else
           "\n\n# Complete the following functions in the same dialect (they were missing or "
           "incomplete in your previous answer).")
    body = user + ask + "\n\n" + "\n".join(s.text for s in stubs)
    return Query([{"role": "system", "content": system}, {"role": "user", "content": body}],
                 list(stubs), follow_up)


def split(response: str) -> dict[str, str]:
    """name -> source of each function in a response: the program language's own splitter, so
    that leap-prompt and leap-parse agree on where a function ends (fences, prose, tabs)."""
    return _program().split_functions(response)


_PARSE = threading.Lock()  # ast.parse from several threads raised SystemError on CPython 3.11


def parses(source: str | None) -> bool:
    """Whether a function's source is valid Python with a body beyond comments (any answer,
    however hostile, is just False: a clip's missing function, asked again)."""
    if not source:
        return False
    try:
        with _PARSE:
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, SystemError):
        return False
    return len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef)


def with_evidence(stub: Stub, source: str) -> str:
    """A function with its stub's evidence comments after the def line, where the model left
    them out (leap-parse reads the stub's "Holding ... at start." from there)."""
    wanted = [ln.strip() for ln in stub.text.splitlines()[1:]]
    missing = [c for c in wanted if c not in source]
    if not missing:
        return source
    lines = source.rstrip("\n").split("\n")
    head = next((k for k, ln in enumerate(lines) if ln.split("#")[0].rstrip().endswith(":")), 0)
    body = next((ln for ln in lines[head + 1:] if ln.strip()), "    x")
    indent = body[: len(body) - len(body.lstrip())] or "    "
    return "\n".join(lines[: head + 1] + [indent + c for c in missing] + lines[head + 1:]) + "\n"
