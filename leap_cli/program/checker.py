"""The world-state checker (the paper's Figure 2; rules in leap_cli.program.spec).

The world: what the two hands hold (always known) and facts such as "tap is open" that a
post-condition, a loop's end or the condition of the block being read established; a
sub-action on an object makes the facts about it unknown again. Sub-actions are taken in
order; one whose pre-condition contradicts the world is a violation.
"""
from __future__ import annotations


HANDS = 2


class World:
    """Two hands and the facts known so far; ``apply`` runs one sub-action."""

    def __init__(self, holding=()):
        self.hands: list[str] = []
        for o in holding:
            if o and o not in self.hands and len(self.hands) < HANDS:
                self.hands.append(o)
        self.facts: dict[tuple, bool] = {}  # (predicate, *objects) -> truth
        self.about: dict[str, list[tuple]] = {}  # object -> the fact keys that name it

    def apply(self, verb: str, objects: list[str]) -> str | None:
        """Run one sub-action; the reason it is invalid here, or None."""
        if self.facts:  # acting on an object may change any fact about it
            for obj in objects:
                for k in self.about.pop(obj, ()):
                    self.facts.pop(k, None)
        held = self.hands
        o = objects[0] if objects else None
        if verb == "grasp":
            if o in held:
                return f"{o} is already held"
            if len(held) >= HANDS:
                return f"both hands are full ({held[0]}, {held[1]})"
            held.append(o)
        elif verb == "release":
            if o not in held:
                return f"{o} is not held"
            held.remove(o)
        elif verb in ("move", "position"):
            if o not in held:
                return f"{o} is not held"
        elif verb == "use":
            if len(objects) > 1 and objects[0] not in held and objects[1] not in held:
                return f"neither {objects[0]} nor {objects[1]} is held"
            if len(objects) == 1 and o not in held:
                return f"{o} is not held"
        elif verb == "goto":
            if o in held:
                return f"{o} is held, so it is already in the workspace"
        return None

    def value(self, cond) -> bool | None:
        """A condition's truth in this world: True, False, or None (unknown)."""
        head = cond[0]
        if head == "in_hand":
            return bool(cond[1]) and cond[1][0] in self.hands
        if head == "not":
            inner = cond[1]
            if inner[0] == "in_hand":  # the usual `not in_hand(o)`, without a second call
                return not (inner[1] and inner[1][0] in self.hands)
            v = self.value(inner)
            return None if v is None else not v
        if head in ("and", "or"):
            values = [self.value(c) for c in cond[1]]
            stop = head == "or"  # the value that decides: any True for or, any False for and
            if stop in values:
                return stop
            return None if None in values else not stop
        return self.facts.get((head, *cond[1])) if self.facts else None

    def assume(self, cond, truth: bool = True) -> None:
        """Record what a condition says (hands are never assumed: they are known)."""
        head = cond[0]
        if head == "in_hand":
            return
        if head == "not":
            self.assume(cond[1], not truth)
        elif head == "and" and truth or head == "or" and not truth:
            for c in cond[1]:
                self.assume(c, truth)
        elif head not in ("and", "or", "in_hand"):
            key = (head, *cond[1])
            if key not in self.facts:
                for obj in cond[1]:
                    self.about.setdefault(obj, []).append(key)
            self.facts[key] = truth


def violation(step: int, verb: str, reason: str) -> dict:
    return {"step": step, "verb": verb, "reason": reason}


def check(steps, holding=()) -> list[dict]:
    """Violations of a flat sub-action sequence (every step runs; steps carry no conditions).

    ``steps`` are program steps ({"verb", "objects"}) or (verb, objects) pairs; ``holding``
    what the hands hold at the start.
    """
    world, out = World(holding), []
    for i, step in enumerate(steps):
        verb, objects = (step["verb"], step.get("objects") or []) if isinstance(step, dict) else step
        reason = world.apply(verb, list(objects))
        if reason:
            out.append(violation(i, verb, reason))
    return out


def check_tokens(tokens, holding=(), limit: int | None = None) -> tuple[list[dict], list[str]]:
    """Violations of a program's token tree, and notes on contradicted post-conditions.

    Blocks are read once. A block whose condition is false in the world (``if not
    in_hand("cup")`` while the cup is held) does not run: its sub-actions are not checked, but
    keep their step numbers. A loop's condition is false after it; an ``assert`` becomes a fact.
    Only the first ``limit`` sub-actions are read.
    """
    r = simulate(tokens, holding, limit)
    return r.violations, r.notes


class Reading:
    """What one pass over a token tree collects (see simulate)."""

    __slots__ = ("world", "limit", "steps", "conds", "posts", "violations", "notes", "complete")

    def __init__(self, world: World, limit: int):
        self.world, self.limit = world, limit
        self.steps: list = []        # sub-action tokens in order, at most limit
        self.conds: list = []        # (keyword, condition) of the blocks read
        self.posts: list = []        # assert conditions read
        self.violations: list = []
        self.notes: list = []
        self.complete = True         # False when the limit cut the program short


def simulate(tokens, holding=(), limit: int | None = None) -> Reading:
    """One pass over a token tree: flatten it (up to ``limit`` sub-actions) and check it."""
    r = Reading(World(holding), 1 << 30 if limit is None else limit)
    _walk(r, tokens, True)
    return r


def _walk(r: Reading, items, live: bool) -> bool:
    """Read a block; False once the limit is reached (the rest is not read)."""
    world, steps, limit = r.world, r.steps, r.limit
    for tok in items:
        head = tok[0]
        if head == "assert":
            r.posts.append(tok[1])
            if live:
                v = world.value(tok[1])
                if v is False:
                    r.notes.append(f"post-condition after step {len(steps) - 1} contradicts the "
                                   f"world state: {render_cond(tok[1])}")
                if v is not True:
                    world.assume(tok[1], True)
            continue
        if len(steps) >= limit:
            r.complete = False
            return False
        if head == "if" or head == "while":
            cond = tok[1]
            r.conds.append((head, cond))
            run = False
            if live:
                v = world.value(cond)
                run = v is not False
                if v is None:  # what is known already needs no assuming
                    world.assume(cond, True)
            if not _walk(r, tok[2], run):
                return False
            if run and head == "while":
                world.assume(cond, False)
        else:  # a sub-action
            if live:
                reason = world.apply(head, tok[1])
                if reason:
                    r.violations.append({"step": len(steps), "verb": head, "reason": reason})
            steps.append(tok)
    return True


def render_cond(cond) -> str:
    """A condition as dialect source (for messages): ``not in_hand("cup")``."""
    head = cond[0]
    if head == "not":
        inner = render_cond(cond[1])
        return f"not ({inner})" if cond[1][0] in ("and", "or") else "not " + inner
    if head in ("and", "or"):
        return f" {head} ".join(f"({render_cond(c)})" if c[0] in ("and", "or") else render_cond(c)
                                for c in cond[1])
    return f"{head}(" + ", ".join(f'"{o}"' for o in cond[1]) + ")"
