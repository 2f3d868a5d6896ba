"""Queries: the messages for a group of stubs, and a response split back into functions.

The messages put what every query shares first (instructions, the dialect's specification, the
import header and library H) and the stubs last, so providers' prompt caching can reuse the
prefix across queries.
"""
from __future__ import annotations

import ast
import hashlib
import re
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


def shared(echo: bool = False, chosen: list[tuple[str, str]] | None = None) -> tuple[str, str]:
    """(system text, user text before the stubs) of a query: the fixed prefix, or with the
    ``chosen`` library programs (--exemplars) in place of library H."""
    system, user = prefix(echo)
    if chosen is not None:
        user = _program().library_text(chosen).strip("\n") + "\n"
    return system, user


def prompt_hash(echo: bool = False, chosen: list[tuple[str, str]] | None = None) -> str:
    """Hash of the text a query shares with every other (instructions, dialect, library H or the
    chosen exemplars): part of each clip answer's cache key."""
    if chosen is None:
        return _fixed_hash(echo)
    system, user = shared(echo, chosen)
    return "sha256:" + hashlib.sha256((system + "\0" + user).encode("utf-8")).hexdigest()


@lru_cache(maxsize=2)
def _fixed_hash(echo: bool) -> str:
    system, user = prefix(echo)
    return "sha256:" + hashlib.sha256((system + "\0" + user).encode("utf-8")).hexdigest()


# Why a stub is asked again, as a follow-up query says it.
MISSING, NO_BODY, TRUNCATED = "missing", "no body", "cut off at the completion limit"


def build(stubs: list[Stub], follow_up: int = 0, echo: bool = False,
          chosen: list[tuple[str, str]] | None = None, why: dict[str, str] | None = None) -> Query:
    """The query for ``stubs``; ``chosen``: the library programs to show (--exemplars). A
    follow-up (round ``follow_up`` > 0) says, per function, what was wrong with the previous
    answer (``why``: name -> reason), so no two rounds are alike."""
    system, user = shared(echo, chosen)
    if not follow_up:
        ask = "\n\n# Complete the following functions in the same dialect."
    else:
        told = "; ".join(f"{s.name}: {(why or {}).get(s.name, MISSING)}" for s in stubs)
        ask = (f"\n\n# Follow-up {follow_up}. These functions were not usable in your previous "
               f"answer ({told}).\n# Complete the following functions in full, in the same "
               "dialect, each with a body of its own for its clip's evidence (never a library "
               "example).")
    body = user + ask + "\n\n" + "\n".join(s.text for s in stubs)
    return Query([{"role": "system", "content": system}, {"role": "user", "content": body}],
                 list(stubs), follow_up)


def split(response: str) -> dict[str, str]:
    """name -> source of each function in a response: the program language's own splitter, so
    that leap-prompt and leap-parse agree on where a function ends (fences, prose, tabs)."""
    return split_noted(response)[0]


def split_noted(response: str) -> tuple[dict[str, str], list[str]]:
    """split(), in response order, with the splitter's notes on what it left out around the
    functions (fences, prose)."""
    from ..program.parser import chunks

    found, notes = chunks(response)
    out: dict[str, str] = {}
    for c in found:
        out.setdefault(c.name, c.source)
    return out, notes


# ast.parse from several threads raised SystemError on CPython 3.11 (seen with -j 8).
_PARSE = threading.Lock()
_DEF = re.compile(r"^def\s+\w+\s*\(")


def parse_function(source: str):
    """The ast.FunctionDef of a function's source; SyntaxError, ValueError, MemoryError or
    RecursionError as raised (a hostile answer must not end the run)."""
    with _PARSE:
        tree = ast.parse(source)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        raise SyntaxError("not exactly one function")
    return tree.body[0]


def _statements(fn) -> list:
    """A function's statements besides a docstring, ``pass`` and ``...``."""
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return [s for s in body if not isinstance(s, ast.Pass)
            and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                     and s.value.value is Ellipsis)]


def _body_dump(fn) -> str:
    with _PARSE:
        return ast.dump(ast.Module(body=_statements(fn), type_ignores=[]))


@lru_cache(maxsize=1)
def library_bodies() -> dict[str, str]:
    """ast dump of each library example's body -> its name (a copy is found whatever its name,
    def line or comments)."""
    return {_body_dump(parse_function(src)): name for name, src in _program().library()}


def verdict(source: str | None, copies: bool = True) -> tuple[str | None, bool]:
    """(why the function is not usable, or None; whether leap-parse may still repair it).
    ``copies``: a library example's body is refused (not for the rules model, which writes
    from the evidence alone and cannot have copied)."""
    if not source:
        return MISSING, False
    lines = source.strip("\n").split("\n")
    if all(not ln.strip() or ln.lstrip().startswith("#") for ln in lines[1:]):
        return NO_BODY, False  # the stub echoed back
    try:
        fn = parse_function(source)
    except (MemoryError, RecursionError, SystemError) as e:  # a hostile answer: asked again
        return f"not parseable ({type(e).__name__})", False
    except (SyntaxError, ValueError) as e:
        return f"not valid Python ({type(e).__name__}: {getattr(e, 'msg', e)})", True
    if not _statements(fn):
        return NO_BODY, False
    try:
        copied = library_bodies().get(_body_dump(fn)) if copies else None
    except (MemoryError, RecursionError):
        return "not parseable (too deeply nested)", False
    if copied:
        return f"a copy of library example {copied}", False
    return None, False


MAX_COMPLETION = 16384  # the most completion tokens common chat models allow per request


def completion_limit(stubs: list[Stub], echo: bool = False) -> int:
    """The default completion limit of a query: per stub, twice the longest library example
    (about 3 characters a token) plus, with --echo, the stub's own text; 256 tokens of slack."""
    longest = max(len(src) for _, src in _program().library()) // 3
    per = [2 * longest + (len(s.text) // 3 if echo else 0) for s in stubs]
    return min(MAX_COMPLETION, 256 + sum(per))


def parses(source: str | None) -> bool:
    """Whether a function's source is valid Python with a body beyond comments."""
    return verdict(source)[0] is None


def renamed(source: str, old: str, new: str) -> str:
    """A function's source with its def line's name changed."""
    return source.replace(f"def {old}(", f"def {new}(", 1) if old != new else source


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
