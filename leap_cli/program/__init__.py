"""The LEAP program language: dialect spec, library H, tolerant parser, world-state checker.

The dialect's specification is ``SPEC`` (leap_cli/program/spec.py), written once: the prompt
puts it, ``library_text()`` and the stubs in front of the LLM, and the parser and checker
implement it. Public API:

    parse_program(text, function=None, holding=None) -> the `program` record value (dict)
    check(steps, holding=()) -> violations of a flat sub-action sequence
    split_functions(response_text) -> {function name: source}
    library() -> [(name, source)]; library_text(); library_hash() -> "sha256:..."
"""
from __future__ import annotations

import functools
import hashlib
from importlib import resources

from .checker import check, check_tokens
from .nouns import ALIASES, Nouns, natural
from .parser import ProgramError, split_functions
from .program import MAX_STEPS, holding_from_text, parse_program
from .spec import IMPORT_HEADER, PREDICATES, SPEC, SUBACTIONS

__all__ = [
    "SPEC", "IMPORT_HEADER", "SUBACTIONS", "PREDICATES", "MAX_STEPS", "ALIASES",
    "parse_program", "check", "check_tokens", "split_functions", "holding_from_text",
    "library", "library_text", "library_hash", "Nouns", "ProgramError", "natural",
]


def library() -> list[tuple[str, str]]:
    """Library H: the 20 handwritten example programs as (function name, source), in order."""
    return list(_library())


@functools.lru_cache(maxsize=1)
def _library() -> tuple[tuple[str, str], ...]:
    folder = resources.files(__package__) / "library"
    files = sorted(f.name for f in folder.iterdir() if f.name.endswith(".py"))
    out = []
    for name in files:
        source = (folder / name).read_text(encoding="utf-8").strip() + "\n"
        (fn, _), = split_functions(source).items()  # one function per file
        out.append((fn, source))
    return tuple(out)


def library_text(chosen: list[tuple[str, str]] | None = None) -> str:
    """The import header and the 20 programs (or the ``chosen`` ones), as the prompt shows them."""
    return IMPORT_HEADER + "\n\n" + "\n\n".join(src for _, src in (library() if chosen is None else chosen))


def library_hash(chosen: list[tuple[str, str]] | None = None) -> str:
    """Content hash of library H, or of the ``chosen`` programs (provenance of prompts)."""
    return "sha256:" + hashlib.sha256(library_text(chosen).encode("utf-8")).hexdigest()
