"""A function's AST -> the `program` record value: tokens, steps, conditions, violations.

Tokens (the nested structure the paper flattens):
    [verb, [objects]]            a sub-action, e.g. ["grasp", ["carrot"]]
    ["if", cond, [tokens]]       ["while", cond, [tokens]]       ["assert", cond]
    cond: [predicate, [objects]] | ["not", cond] | ["and", [conds]] | ["or", [conds]]
Objects are EPIC-100 noun keys; a name that maps to none stays as written (lower case, "_").
"""
from __future__ import annotations

import ast
import re

from .. import ontology
from ..ontology import MAX_STEPS
from .checker import simulate
from .nouns import Nouns, clean, natural
from .parser import BARE_NAME, Chunk, ProgramError, bare_body, chunks, code_lines, normalise, parse_chunk
from .spec import ARITY, PREDICATE_ALIASES, PREDICATES, SUBACTION_ID

MAX_DEPTH = 40  # deeper nesting than any program needs: the rest is dropped, not recursed into
HOLDING = re.compile(r"#\s*Holding (.+?) at start", re.IGNORECASE)
_SUFFIX = re.compile(r"_(\d+)$")  # the numbering leap-prompt gives stubs of the same name
_DEFAULT_NOUNS = Nouns()


def _short(node) -> str:
    try:
        text = ast.unparse(node)  # source text of a node (no evaluation)
    except Exception:  # noqa: BLE001 - unparse of an odd tree: the message just gets vaguer
        text = type(node).__name__
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


# ast node types bound once: the reader compares node types in its inner loops
_Expr, _Call, _Constant, _Name, _Attribute = ast.Expr, ast.Call, ast.Constant, ast.Name, ast.Attribute
_UnaryOp, _Not, _BoolOp, _And, _Compare = ast.UnaryOp, ast.Not, ast.BoolOp, ast.And, ast.Compare
_If, _While, _Assert, _Pass, _Break, _Continue, _Return = (ast.If, ast.While, ast.Assert, ast.Pass, ast.Break,
                                                          ast.Continue, ast.Return)


class Reader:
    """Walks a function body; collects tokens, notes and unmapped object names."""

    def __init__(self, nouns: Nouns, lines: list[int] | None, offset: int = 0):
        self.nouns, self.numbers, self.offset = nouns, lines, offset
        self.notes: list[str] = []
        self.unmapped: list[str] = []
        self.unquoted: set[str] = set()

    def where(self, node) -> str:
        if self.numbers is None:  # the text parsed as it is: its own line numbers
            return f"line {getattr(node, 'lineno', 0) + self.offset}"
        i = getattr(node, "lineno", 0) - 1
        return f"line {self.numbers[i]}" if 0 <= i < len(self.numbers) else "line ?"

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # objects -----------------------------------------------------------------------------------
    def obj(self, raw: str) -> str | None:
        key, _, approx, name = self.nouns.look_up(raw)
        if key is not None and approx is None:
            return key
        if not name:
            return None
        if approx:
            self.note(approx)
        if key is None:
            if name not in self.unmapped:
                self.unmapped.append(name)
            return name
        return key

    def objects(self, call: ast.Call, what: str) -> list[str]:
        if not call.keywords:  # the usual case: quoted names already looked up
            out, cache = [], self.nouns.cache
            for node in call.args:
                if type(node) is _Constant:
                    hit = cache.get(node.value)
                    if hit is not None and hit.key is not None and hit.note is None:
                        out.append(hit.key)
                        continue
                break
            else:
                return out
        out = []
        args = call.args if not call.keywords else [*call.args, *(k.value for k in call.keywords)]
        for node in args:
            kind = type(node)
            if kind is _Constant and type(node.value) is str:
                raw = node.value
            elif kind is _Name:
                raw = node.id
                if raw not in self.unquoted:
                    self.unquoted.add(raw)
                    self.note(f"unquoted object name {raw!r} read as a string ({self.where(node)})")
            elif kind is _Attribute and type(node.value) is _Name:
                raw = f"{node.value.id}_{node.attr}"
                self.note(f"object {_short(node)!r} read as {raw!r} ({self.where(node)})")
            else:
                self.note(f"dropped argument {_short(node)!r} of {what} ({self.where(node)})")
                continue
            o = self.obj(raw)
            if o is None:
                self.note(f"dropped empty object name in {what} ({self.where(call)})")
            else:
                out.append(o)
        return out

    # conditions --------------------------------------------------------------------------------
    def cond(self, node, depth: int = 0):
        kind = type(node)
        if kind is _Call:
            return self.predicate(node)
        if depth > MAX_DEPTH:
            return None
        if kind is _UnaryOp and type(node.op) is _Not:
            c = self.cond(node.operand, depth + 1)
            return None if c is None else (c[1] if c[0] == "not" else ["not", c])
        if kind is _BoolOp:
            parts = []
            for v in node.values:
                c = self.cond(v, depth + 1)
                if c is None:
                    self.note(f"dropped the condition part {_short(v)!r} ({self.where(v)})")
                else:
                    parts.append(c)
            if not parts:
                return None
            return parts[0] if len(parts) == 1 else ["and" if type(node.op) is _And else "or", parts]
        if (kind is _Compare and len(node.ops) == 1 and type(node.comparators[0]) is _Constant
                and type(node.comparators[0].value) is bool):
            c = self.cond(node.left, depth + 1)
            truth = node.comparators[0].value == isinstance(node.ops[0], (ast.Eq, ast.Is))
            return None if c is None else (c if truth else ["not", c])
        return None

    def predicate(self, call: ast.Call):
        name = _callee(call)
        if name is None:
            return None
        negate = False
        known = PREDICATES.get(name)
        if known is None:
            if name in PREDICATE_ALIASES:
                pred, negate = PREDICATE_ALIASES[name]
                self.note(f"predicate {name!r} read as {'not ' if negate else ''}{pred} ({self.where(call)})")
                name, known = pred, PREDICATES[pred]
            elif name in SUBACTION_ID or ontology.subaction(name):
                return None
            else:
                self.note(f"unknown predicate {name!r} kept ({self.where(call)})")
        objs = self.objects(call, name)
        need = known[0] if known is not None else min(max(len(objs), 1), 2)
        if len(objs) != need:
            if len(objs) < need:
                self.note(f"{name} needs {need} object(s) ({self.where(call)})")
                return None
            self.note(f"dropped extra objects of {name} ({self.where(call)})")
            objs = objs[:need]
        c = [name, objs]
        return ["not", c] if negate else c

    # statements --------------------------------------------------------------------------------
    def block(self, body, depth: int = 0) -> list:
        out: list = []
        if depth > MAX_DEPTH:
            self.note("dropped blocks nested too deep")
            return out
        statement = self.statement
        for node in body:
            statement(node, out, depth)
        return out

    def statement(self, node, out: list, depth: int) -> None:
        kind = type(node)
        if kind is _Expr:
            value = node.value
            if type(value) is _Call:
                tok = self.subaction(value)
                if tok is not None:
                    out.append(tok)
            elif not (type(value) is _Constant and type(value.value) is str):
                self.note(f"dropped expression {_short(node)!r} ({self.where(node)})")
        elif kind is _If or kind is _While:
            word = "if" if kind is _If else "while"
            c = self.cond(node.test)
            body = self.block(node.body, depth + 1)
            if c is None:
                self.note(f"{word} condition {_short(node.test)!r} not understood: its block is kept "
                          f"without it ({self.where(node)})")
                out.extend(body)
            elif body:
                out.append([word, c, body])
            if node.orelse:
                other = self.block(node.orelse, depth + 1)
                if word == "while":
                    self.note(f"dropped the else block of a while loop ({self.where(node)})")
                elif c is None:
                    out.extend(other)
                elif other:
                    out.append(["if", c[1] if c[0] == "not" else ["not", c], other])
        elif kind is _Assert:
            c = self.cond(node.test)
            if c is None:
                self.note(f"dropped assert {_short(node.test)!r}: not a condition ({self.where(node)})")
            else:
                out.append(["assert", c])
        elif kind in (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.Try):
            word = kind.__name__.lower().replace("async", "")
            self.note(f"{word} block read as its body, once ({self.where(node)})")
            out.extend(self.block(node.body, depth + 1))
            out.extend(self.block(getattr(node, "finalbody", []), depth + 1))
        elif kind in (_Pass, _Break, _Continue) or (kind is _Return and node.value is None):
            pass
        else:
            self.note(f"dropped {kind.__name__.lower()} statement ({self.where(node)})")

    def subaction(self, call: ast.Call):
        f = call.func
        name = f.id if type(f) is _Name else _callee(call)
        if name in SUBACTION_ID and not call.keywords:  # the usual case: quoted, known names
            args = call.args
            low, high = ARITY[name]
            if low <= len(args) <= high:
                cache, objs = self.nouns.cache, []
                for node in args:
                    hit = cache.get(node.value) if type(node) is _Constant else None
                    if hit is None or hit[0] is None or hit[2] is not None:
                        break
                    objs.append(hit[0])
                else:
                    return [name, objs]
        if name is None:
            self.note(f"dropped call {_short(call)!r} ({self.where(call)})")
            return None
        if name in SUBACTION_ID:
            verb = name
        else:
            verb = ontology.subaction(name)
            if verb is None:
                what = "predicate" if name in PREDICATES or name in PREDICATE_ALIASES else "unknown verb"
                self.note(f"dropped {what} {name!r} used as a sub-action ({self.where(call)})")
                return None
            self.note(f"verb {name!r} read as {verb} ({self.where(call)})")
        objs = self.objects(call, verb)
        low, high = ARITY[verb]
        if len(objs) < low:
            self.note(f"dropped {verb}() without an object ({self.where(call)})")
            return None
        if len(objs) > high:
            self.note(f"dropped extra objects of {verb}: {', '.join(objs[high:])} ({self.where(call)})")
            objs = objs[:high]
        return [verb, objs]


def _callee(call: ast.Call) -> str | None:
    f = call.func
    kind = type(f)
    if kind is ast.Name:
        return f.id
    if kind is ast.Attribute:  # robot.grasp(...), actions.grasp(...)
        return f.attr
    return None


# assembling the record value -------------------------------------------------------------------
def flatten(tokens, limit: int = MAX_STEPS):
    """Sub-actions in order, the (keyword, condition) pairs and the asserts read before the
    limit was hit, and whether the whole program was read."""
    steps: list = []
    conds: list = []
    posts: list = []
    complete = _flat(tokens, limit, steps, conds, posts)
    return steps, conds, posts, complete


def _flat(items, limit: int, steps: list, conds: list, posts: list) -> bool:
    for tok in items:
        head = tok[0]
        if head == "if" or head == "while":
            if len(steps) >= limit:
                return False
            conds.append((head, tok[1]))
            if not _flat(tok[2], limit, steps, conds, posts):
                return False
        elif head == "assert":
            posts.append(tok[1])
        else:
            if len(steps) >= limit:
                return False
            steps.append(tok)
    return True


def cond_text(cond, negate: bool = False) -> str:
    """A condition in the paper's words: ``cucumber not in hand``, ``water in kettle``."""
    head = cond[0]
    if head == "not":
        return cond_text(cond[1], not negate)
    if head in ("and", "or"):
        joiner = " and " if (head == "and") != negate else " or "
        return joiner.join(cond_text(c, negate) for c in cond[1])
    key = (head, negate, *cond[1])
    text = _TEXTS.get(key)
    if text is None:
        phrase = PREDICATES[head][1] if head in PREDICATES else (head[3:] if head.startswith("is_") else head).replace("_", " ")
        objs = [natural(o) for o in cond[1]]
        text = f"{objs[0]} {'not ' if negate else ''}{phrase}" + (f" {objs[1]}" if len(objs) > 1 else "")
        if len(_TEXTS) < 100_000:  # memo: programs repeat their conditions
            _TEXTS[key] = text
    return text


_TEXTS: dict[tuple, str] = {}
_COMPOUND = frozenset(("not", "and", "or"))


def conjuncts(cond, negate: bool = False) -> list[str]:
    """A condition split at its top-level ``and`` (after pushing ``not`` inwards)."""
    head = cond[0]
    if head == "not":
        inner = cond[1]
        if inner[0] not in _COMPOUND:  # the usual `not pred(o)`
            return [cond_text(inner, not negate)]
        return conjuncts(inner, not negate)
    if head not in _COMPOUND:
        return [cond_text(cond, negate)]
    if (head == "and" and not negate) or (head == "or" and negate):
        return [t for c in cond[1] for t in conjuncts(c, negate)]
    return [cond_text(cond, negate)]


def assemble(name: str, tokens: list, reader: Reader, holding) -> dict:
    r = simulate(tokens, holding, MAX_STEPS)
    steps_tok, conds, posts = r.steps, r.conds, r.posts
    if not steps_tok:
        raise ProgramError(f"function {name!r}: no sub-actions recovered"
                           + (f" ({'; '.join(reader.notes[:3])})" if reader.notes else ""))
    warnings = list(reader.notes)
    if not r.complete:
        total = len(flatten(tokens, limit=10**6)[0])
        warnings.append(f"kept the first {MAX_STEPS} of {total} sub-actions")
    get_id = (_IDS or _ids()).get
    steps = [{"verb": verb, "verb_id": SUBACTION_ID[verb], "objects": list(objs),
              "object_ids": list(map(get_id, objs))} for verb, objs in steps_tok]
    pre: list[str] = []
    sentence: list[str] = []
    loops = False
    for kw, c in conds:
        loops = loops or kw == "while"
        for text in conjuncts(c):
            said = f"{kw} {text}"
            if said not in sentence:
                sentence.append(said)
                pre.append(text)
    post: list[str] = []
    world = r.world
    for c in posts:
        if world.value(c) is False:  # an intermediate state undone later ("bin in hand", released)
            continue
        for text in conjuncts(c):
            if text not in post:
                post.append(text)
    violations = r.violations
    if r.notes:
        warnings += r.notes
    if loops:
        warnings += _loop_notes(tokens)
    return {
        "name": name,
        "tokens": tokens,
        "steps": steps,
        "preconditions": pre,
        "postconditions": post,
        "precondition_sentence": " and ".join(sentence),
        "violations": violations,
        "valid": not violations,
        "warnings": warnings,
        "unmapped": list(reader.unmapped),
    }


_IDS: dict[str, int] = {}


def _ids() -> dict[str, int]:
    """Noun key -> EPIC-100 noun class id."""
    if not _IDS:
        _IDS.update((c.key, c.id) for c in ontology.nouns())
    return _IDS


def _objects_in(items) -> set[str]:
    out: set[str] = set()
    for tok in items:
        if tok[0] in ("if", "while"):
            out |= _objects_in(tok[2])
        elif tok[0] in SUBACTION_ID:
            out |= set(tok[1])
    return out


def _cond_objects(cond) -> set[str]:
    if cond[0] == "not":
        return _cond_objects(cond[1])
    if cond[0] in ("and", "or"):
        return set().union(*(_cond_objects(c) for c in cond[1]))
    return set(cond[1])


def _loop_notes(tokens) -> list[str]:
    """A while loop whose body never acts on its condition's objects can never end."""
    out = []
    for tok in tokens:
        if tok[0] in ("if", "while"):
            if tok[0] == "while" and not (_cond_objects(tok[1]) & _objects_in(tok[2])):
                out.append(f"while loop on {', '.join(sorted(_cond_objects(tok[1])))} never acts on "
                           "its condition's objects (it could not terminate)")
            out += _loop_notes(tok[2])
    return out


def holding_from_text(source: str, nouns: Nouns = _DEFAULT_NOUNS) -> list[str]:
    """The objects the stub's "Holding X and Y at start." comment names (noun keys)."""
    at = source.find("olding ")  # a literal find first: a case-blind regex scan is slow
    if at < 0:
        at = source.find("OLDING ")
    m = HOLDING.search(source, max(at - 40, 0)) if at >= 0 else None
    if not m:
        return []
    said = m.group(1).strip()
    out = _HELD.get((said, nouns.embed))
    if out is None:
        out = []
        for raw in _AND.split(said):
            name = clean(raw)
            if name and name != "nothing":
                key = nouns(name)[0]
                out.append(key or name)
        if len(_HELD) < 10_000:
            _HELD[(said, nouns.embed)] = out
    return list(out)


_AND = re.compile(r"\s*(?:,|\band\b)\s*")
_HELD: dict[tuple, list[str]] = {}


def select(found: list[Chunk], function: str | None) -> tuple[Chunk | None, list[str]]:
    """The chunk for ``function`` (or the only/first one) and notes on how it was chosen."""
    if not found:
        return None, []
    if len(found) == 1 and found[0].name == function:  # the usual case: one function, as named
        return found[0], []
    if function is None:
        if len(found) > 1:
            return found[0], [f"the response has {len(found)} functions; read the first, {found[0].name!r}"]
        return found[0], []
    same = [c for c in found if c.name == function]
    if same:
        return same[0], [f"{len(same)} functions named {function!r}; read the first"] if len(same) > 1 else []
    base = _SUFFIX.sub("", function.lower())
    same = [c for c in found if _SUFFIX.sub("", c.name.lower()) == base]
    if same:
        # Stubs named take_cup, take_cup_2, ... answered as take_cup, take_cup: the k-th is take_cup_k.
        k = _SUFFIX.search(function)
        k = int(k.group(1)) if k and len(same) > 1 else 1
        if k > len(same):  # take_cup_3 among two take_cup: which one is unknowable
            return None, []
        pick = same[k - 1]
        notes = [f"function {pick.name!r} read as {function!r}"]
        if len(same) > 1:
            notes.append(f"{len(same)} functions named like {function!r}; read number {same.index(pick) + 1}")
        return pick, notes
    if len(found) == 1:
        return found[0], [f"no function named {function!r}; read the only one, {found[0].name!r}"]
    return None, []


_LAST: tuple = ("", None)  # the last text parsed and its tree: a batch response comes once per function


def _parse(text: str):
    """ast.parse, or None; the tree is only read, so the last one is kept for the next record."""
    global _LAST
    last = _LAST  # one read: another thread may replace it meanwhile
    if last[1] is not None and last[0] == text:
        return last[1]
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    _LAST = (text, tree)
    return tree


def _as_is(text: str, function: str | None):
    """Fast path: the text is plain Python whose top level is only functions (and imports).

    Returns (FunctionDef, notes, source for the holding comment, line offset) or None (use the
    repairs). Code in one markdown fence counts as plain, with its lines offset.
    """
    notes: list[str] = []
    offset = 0
    if "```" in text or "~~~" in text:
        numbered, notes = code_lines(text)
        if not numbered or numbered[-1][0] - numbered[0][0] != len(numbered) - 1:
            return None  # several fenced blocks: the line-based reader joins them
        offset = numbered[0][0] - 1
        text = "\n".join(line for _, line in numbered)
    tree = _parse(text)
    if tree is None:
        return None
    defs = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs.append(node)
        elif not isinstance(node, (ast.Import, ast.ImportFrom)) and not (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            return None  # statements outside functions: the line-based reader reports them
    node, chosen = select(defs, function)
    if node is None:
        return None
    if len(defs) == 1:
        return node, notes + chosen, text, offset
    lines = text.split("\n")
    return node, notes + chosen, "\n".join(lines[node.lineno - 1:node.end_lineno]), offset


def parse_program(text, function: str | None = None, holding=None, nouns: Nouns | None = None,
                  offset: int = 0, notes: tuple = ()) -> dict:
    """Generated text -> the `program` record value (see the module docstring), without the
    `source` that leap-parse adds.

    ``function`` picks one function of a batch response; ``holding`` is what the hands hold at
    the start (noun names; default: the stub's "Holding ... at start." comment, else nothing).
    ``offset``, ``notes``: for a piece cut from a longer text (split_text), its first line's
    offset there and the notes about the whole text. Raises ProgramError when nothing is
    recoverable.
    """
    nouns = nouns or _DEFAULT_NOUNS
    text = normalise(text)
    fast = _as_is(text, function)
    if fast is not None:
        tree, own, source, fence = fast
        reader = Reader(nouns, None, offset + fence)
        reader.notes = [*notes, *own]
        name = tree.name
    else:
        tree, reader, source = _repaired(text, function, nouns)
        if offset:
            reader.numbers = [n + offset for n in reader.numbers]
        reader.notes[:0] = notes
        name = (function or "program") if tree.name == BARE_NAME else tree.name
    tokens = reader.block(tree.body)
    if holding is None:
        holding = holding_from_text(source, nouns)
    else:
        holding = [reader.obj(h) for h in holding if h]
    return assemble(name, tokens, reader, holding)


def _repaired(text: str, function: str | None, nouns: Nouns):
    """Slow path: split into functions by lines, repair each until ast reads it."""
    found, notes = chunks(text)
    chunk, chosen = select(found, function)
    if chunk is None:
        if found:
            names = ", ".join(c.name for c in found[:5]) + (", ..." if len(found) > 5 else "")
            raise ProgramError(f"no function named {function!r} in the response (it has {names})")
        chunk = bare_body(text)
        if chunk is None:
            raise ProgramError("no function definition and no sub-action call in the text")
        notes = []
    tree = parse_chunk(chunk)
    if tree is None:
        raise ProgramError(f"function {chunk.name!r} is not recoverable Python"
                           + (f" ({chunk.notes[-1]})" if chunk.notes else ""))
    reader = Reader(nouns, chunk.numbers)
    reader.notes = notes + chosen + chunk.notes
    return tree, reader, chunk.source
