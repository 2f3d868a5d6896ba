"""Generated text -> function sources -> Python ASTs, with tolerant recovery.

Generated text is data: it goes through ``ast.parse`` only, never through eval, exec, compile
or import. What an LLM gets wrong in practice is repaired line by line, and every repair is
reported: markdown fences, prose around or inside the code, tabs mixed with spaces, a missing
``:``, a truncated last function, multi-word names without quotes.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from ..records import ClipError

DEF = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)[ \t]*\(")
FENCE = re.compile(r"^[ \t]*(```|~~~)")
HEADER_WORD = re.compile(r"^(if|elif|else|while|for|with|try|except|finally)\b")
SIMPLE_CALL = re.compile(r"\b([A-Za-z_]\w*)\(([^()\"']*)\)")
BLOCK_AFTER = re.compile(r"^expected an indented block after .* on line (\d+)")
MAX_REPAIRS = 40
BARE_NAME = "program_without_def_line_"  # the stand-in name of a body read without its def line  # syntax repairs per function; past that the function is not recoverable


class ProgramError(ClipError):
    """Nothing recoverable: the response has no usable program for this clip."""


@dataclass
class Chunk:
    """One function's lines (dedented) and their line numbers in the response."""

    name: str
    lines: list[str]
    numbers: list[int]
    notes: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        return "\n".join(self.lines) + "\n"


def normalise(text) -> str:
    """Text as str with '\\n' line ends and without NUL bytes (which ``ast`` refuses)."""
    if type(text) is not str:
        text = bytes(text).decode("utf-8", errors="replace") if isinstance(text, (bytes, bytearray)) else str(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text or "\ufeff" in text:
        text = text.replace("\x00", "").replace("\ufeff", "")
    return text


def code_lines(text: str) -> tuple[list[tuple[int, str]], list[str]]:
    """(line number, line) pairs of the code in a response, and notes on what was left out.

    When the response has markdown fences, the code is what they enclose (an unclosed last fence:
    up to the end, as in a truncated response); otherwise every line.
    """
    lines = text.split("\n")
    if "```" not in text and "~~~" not in text:
        return list(enumerate(lines, 1)), []
    inside, fenced, outside_defs = False, [], False
    for number, line in enumerate(lines, 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if inside:
            fenced.append((number, line))
        elif DEF.match(line):
            outside_defs = True
    if not any(DEF.match(line) for _, line in fenced) and outside_defs:
        # Fences around something else (an example output); the functions are outside them.
        return [(n, line) for n, line in enumerate(lines, 1) if not FENCE.match(line)], \
            ["removed markdown fence lines"]
    return fenced, ["code taken from markdown fences"]


def chunks(text) -> tuple[list[Chunk], list[str]]:
    """The functions of a response (in order, duplicates kept) and notes about the whole text."""
    numbered, notes = code_lines(normalise(text))
    found: list[Chunk] = []
    current: Chunk | None = None
    indent = ""
    prose = 0
    for number, line in numbered:
        m = DEF.match(line)
        if m and (current is None or len(m.group(1).expandtabs(4)) <= len(indent.expandtabs(4))):
            indent = m.group(1)
            current = Chunk(m.group(2), [line[len(indent):]], [number])
            found.append(current)
            continue
        stripped = line.strip()
        if current is not None:
            body = not stripped or stripped.startswith("#") or (
                line.startswith(indent) and len(line) - len(line.lstrip()) > len(indent))
            if body:
                current.lines.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
                current.numbers.append(number)
                continue
            current = None  # a line at or left of the def's indentation ends the function
        if stripped and not stripped.startswith(("#", "import ", "from ", "@")):
            prose += 1
    if prose:
        notes.append(f"ignored {prose} line(s) of text outside the functions")
    for c in found:  # trailing blank and comment lines belong to no statement
        while len(c.lines) > 1 and (not c.lines[-1].strip() or c.lines[-1].lstrip().startswith("#")):
            c.lines.pop()
            c.numbers.pop()
    return found, notes


def split_functions(response_text) -> dict[str, str]:
    """{function name: its source} for every function in a (batch) response, first of each name."""
    out: dict[str, str] = {}
    for c in chunks(response_text)[0]:
        out.setdefault(c.name, c.source)
    return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _quote_args(line: str) -> str:
    """``grasp(chopping board)`` -> ``grasp("chopping board")`` (multi-word names only)."""
    def quote(m: re.Match) -> str:
        args = [a.strip() for a in m.group(2).split(",")]
        if not any(" " in a for a in args):
            return m.group(0)
        return m.group(1) + "(" + ", ".join(f'"{a}"' if " " in a else a for a in args) + ")"

    return SIMPLE_CALL.sub(quote, line)


def _repair(c: Chunk, e: SyntaxError, tried: set) -> bool:
    """Change c.lines so that this syntax error goes away; False when nothing is left to try."""
    lines, numbers = c.lines, c.numbers
    n = len(lines)
    idx = min(max((e.lineno or n) - 1, 0), n - 1)
    msg = e.msg or ""
    where = f"line {numbers[idx]}"
    text = lines[idx]
    if "\t" in "".join(lines) and ("tab" in msg.lower() or "indent" in msg.lower()) and "tabs" not in tried:
        tried.add("tabs")
        c.lines = [_retab(line) for line in lines]
        c.notes.append("tabs mixed with spaces: tabs read as 4 spaces")
        return True
    m = BLOCK_AFTER.search(msg)
    if m and m.group(1) == "1" and not any(line.strip() and not line.lstrip().startswith("#") for line in lines[1:]):
        c.notes.append("no statement under the def line")
        return False
    if idx == 0:
        header = f"def {c.name}():"
        if text.strip() == header:
            return False
        lines[0] = header
        c.notes.append(f"rewrote the unparsable function header ({where})")
        return True
    key = (numbers[idx], msg)
    if key not in tried:
        tried.add(key)
        stripped = text.strip()
        if msg.startswith("expected ':'") or (HEADER_WORD.match(stripped) and not stripped.endswith(":")
                                               and "invalid syntax" in msg):
            lines[idx] = text.rstrip() + ":"
            c.notes.append(f"added a missing ':' ({where})")
            return True
        m = BLOCK_AFTER.search(msg)
        if m and e.lineno and int(m.group(1)) < e.lineno <= n:
            head = int(m.group(1)) - 1
            lines[idx] = " " * (_indent(lines[head]) + 4) + text.lstrip()
            c.notes.append(f"indented line {numbers[idx]} into the block of line {numbers[head]}")
            return True
        if msg.startswith("unexpected indent") or msg.startswith("unindent does not match"):
            prev = [_indent(line) for line in lines[1:idx] if line.strip() and not line.lstrip().startswith("#")]
            if msg.startswith("unexpected indent"):
                level = prev[-1] if prev else 4
            else:
                level = max([p for p in prev if p <= _indent(text)] or [4])
            lines[idx] = " " * level + text.lstrip()
            c.notes.append(f"re-indented {where}")
            return True
        quoted = _quote_args(text)
        if quoted != text:
            lines[idx] = quoted
            c.notes.append(f"quoted multi-word object names ({where})")
            return True
    m = BLOCK_AFTER.search(msg)
    if m and 0 < int(m.group(1)) <= n:
        idx = int(m.group(1)) - 1  # a block header with nothing under it: a truncated end
        where, text = f"line {numbers[idx]}", lines[idx]
        if idx == 0:
            return False
    del lines[idx], numbers[idx]
    short = text.strip()
    short = short if len(short) <= 60 else short[:57] + "..."
    c.notes.append(f"dropped unparsable {where}: {short!r}")
    return len(lines) > 0


def _retab(line: str) -> str:
    body = line.lstrip(" \t")
    return line[: len(line) - len(body)].expandtabs(4) + body


def parse_chunk(c: Chunk) -> ast.FunctionDef | None:
    """The function's AST after as many repairs as needed; None when nothing is recoverable."""
    tried: set = set()
    for _ in range(MAX_REPAIRS):
        try:
            tree = ast.parse(c.source)
        except SyntaxError as e:  # IndentationError and TabError are SyntaxErrors
            if not _repair(c, e, tried):
                return None
            continue
        except (ValueError, RecursionError, MemoryError):  # nesting too deep for the parser
            return None
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
        return None
    c.notes.append(f"gave up after {MAX_REPAIRS} repairs")
    return None


def bare_body(text) -> Chunk | None:
    """A response with sub-action calls but no ``def`` line, read as one function's body."""
    numbered, notes = code_lines(normalise(text))
    if not re.search(r"\b(grasp|release|move|use|position|goto|wait|nothing)\s*\(",
                     "\n".join(line for _, line in numbered)):
        return None
    code = [(n, line) for n, line in numbered if line.strip()]
    if not code:
        return None
    base = min(_indent(line) for _, line in code)
    c = Chunk(BARE_NAME, [f"def {BARE_NAME}():"] + ["    " + line[base:] for _, line in code],
              [code[0][0]] + [n for n, _ in code], notes + ["no def line: the code was read as a function body"])
    return c
