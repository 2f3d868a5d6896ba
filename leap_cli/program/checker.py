"""The world-state checker (the paper's Figure 2; rules in leap_cli.program.spec).

The world: what the two hands hold (always known) and facts such as "tap is open" that a
post-condition, a loop's end or the condition of the block being read established; a
sub-action on an object makes the facts about it unknown again. Sub-actions are taken in
order; one whose pre-condition contradicts the world is a violation.
"""
from __future__ import annotations

from .spec import SUBACTIONS

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
            if len(objects) > 1 and not set(objects) & set(held):
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
        if head == "not":
            v = self.value(cond[1])
            return None if v is None else not v
        if head in ("and", "or"):
            values = [self.value(c) for c in cond[1]]
            stop = head == "or"  # the value that decides: any True for or, any False for and
            if stop in values:
                return stop
            return None if None in values else not stop
        if head == "in_hand":
            return bool(cond[1]) and cond[1][0] in self.hands
        return self.facts.get((head, *cond[1]))

    def assume(self, cond, truth: bool = True) -> None:
        """Record what a condition says (hands are never assumed: they are known)."""
        head = cond[0]
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
    world = World(holding)
    out: list[dict] = []
    notes: list[str] = []
    count = 0

    def block(items, live: bool) -> None:
        nonlocal count
        for tok in items:
            if limit is not None and count >= limit:
                return
            head = tok[0]
            if head in ("if", "while"):
                run = live and world.value(tok[1]) is not False
                if run:
                    world.assume(tok[1], True)
                block(tok[2], run)
                if run and head == "while":
                    world.assume(tok[1], False)
            elif head == "assert":
                if live:
                    if world.value(tok[1]) is False:
                        notes.append(f"post-condition after step {count - 1} contradicts the "
                                     f"world state: {render_cond(tok[1])}")
                    world.assume(tok[1], True)
            elif head in SUBACTIONS:
                if live:
                    reason = world.apply(head, list(tok[1]))
                    if reason:
                        out.append(violation(count, head, reason))
                count += 1

    block(tokens, True)
    return out, notes


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
