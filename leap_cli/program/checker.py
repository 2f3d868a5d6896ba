"""The world-state checker (the paper's Figure 2; rules in leap_cli.program.spec).

The world: what the two hands hold (always known) and facts such as "tap is open" that a
post-condition, a loop's end or the condition of the block being read established; a
sub-action on an object makes the facts about it unknown again. Sub-actions are taken in
order; one whose pre-condition contradicts the world is a violation.

``check_evidence`` then holds a program against its clip's own evidence (the world starts from
``contact.holding_at_start`` already): names no evidence or narration gives, and steps out of
the time order of the events they stand for. Every violation has a ``kind`` (WORLD_KINDS,
EVIDENCE_KINDS) so that it can be counted and filtered.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from .. import stages
from .spec import FIXTURES

HANDS = 2
# Violation kinds. The world-state ones decide `valid` (the paper's Figure 2, plus fixtures);
# the evidence ones (a program against its clip's own evidence) decide `consistent` with them.
WORLD_KINDS = ("already-held", "hands-full", "not-holdable", "never-held", "not-held", "goto-held")
EVIDENCE_KINDS = ("ungrounded", "order", "regrasp")


class World:
    """Two hands and the facts known so far; ``apply`` runs one sub-action."""

    def __init__(self, holding=()):
        self.hands: list[str] = []
        for o in holding:  # a fixture in contact at the start is touched, not held
            if o and o not in self.hands and o not in FIXTURES and len(self.hands) < HANDS:
                self.hands.append(o)
        self.ever: set[str] = set(self.hands)  # held at some moment so far
        self.facts: dict[tuple, bool] = {}  # (predicate, *objects) -> truth
        self.about: dict[str, list[tuple]] = {}  # object -> the fact keys that name it

    def apply(self, verb: str, objects: list[str]) -> tuple[str, str] | None:
        """Run one sub-action; (kind, reason) when it is invalid here, else None."""
        if self.facts:  # acting on an object may change any fact about it
            for obj in objects:
                for k in self.about.pop(obj, ()):
                    self.facts.pop(k, None)
        held = self.hands
        o = objects[0] if objects else None
        if verb == "grasp":
            if o in FIXTURES:
                return "not-holdable", f"{o} cannot be held (a fixture: use it in place)"
            if o in held:
                return "already-held", f"{o} is already held"
            if len(held) >= HANDS:
                return "hands-full", f"both hands are full ({held[0]}, {held[1]})"
            held.append(o)
            self.ever.add(o)
        elif verb == "release":
            if o not in held:
                return self._unheld(o)
            held.remove(o)
        elif verb in ("move", "position"):
            if o not in held:
                return self._unheld(o)
        elif verb == "use":
            if o in FIXTURES or o in held or len(objects) > 1 and objects[1] in held:
                return None
            if len(objects) > 1:
                return "not-held", f"neither {objects[0]} nor {objects[1]} is held"
            return self._unheld(o)
        elif verb == "goto":
            if o in held:
                return "goto-held", f"{o} is held, so it is already in the workspace"
        return None

    def _unheld(self, o: str) -> tuple[str, str]:
        if o in self.ever:
            return "not-held", f"{o} is not held"
        return "never-held", f"{o} is not held (never held before)"

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


def violation(step: int, verb: str, found: tuple[str, str]) -> dict:
    return {"step": step, "verb": verb, "reason": found[1], "kind": found[0]}


def check(steps, holding=()) -> list[dict]:
    """Violations of a flat sub-action sequence (every step runs; steps carry no conditions).

    ``steps`` are program steps ({"verb", "objects"}) or (verb, objects) pairs; ``holding``
    what the hands hold at the start.
    """
    world, out = World(holding), []
    for i, step in enumerate(steps):
        verb, objects = (step["verb"], step.get("objects") or []) if isinstance(step, dict) else step
        found = world.apply(verb, list(objects))
        if found:
            out.append(violation(i, verb, found))
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
                found = world.apply(head, tok[1])
                if found:
                    r.violations.append(violation(len(steps), head, found))
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


# ---------------------------------------------------------------------------------------------
# Evidence consistency: a program against its own clip's evidence (the stub it was written from).

# EPIC-Sounds classes the hands do not make (a footstep is walking): no step accounts for them.
NOT_HANDS = frozenset({"footstep", "background", "human", "beep", "hoover / fan"})
# Which sub-actions stand for which kind of evidence event (touch: a contact with a fixture).
ACCOUNTS = {"grab": ("grasp",), "release": ("release",), "touch": ("use", "grasp"), "goto": ("goto",),
            "sound": ("use", "move", "position")}
ORDERED = ("grab", "release", "touch", "goto")  # events whose steps must follow their times
_EPS = 1e-6  # events at the same instant are in no order
# Besides the evidence stages' keys (stages.evidence_keys()): a record with none of these and no
# evidence (a hand-made one) has nothing to ground a program's objects in.
GROUNDS = ("narration", "noun", "all_nouns", "context")


@dataclass(frozen=True)
class Event:
    t: float
    kind: str               # grab, release, touch, goto, sound
    object: str | None      # the contacted object (grab, release)


@dataclass
class Evidence:
    """What a clip's record says, as the checker and the metrics read it (noun keys)."""

    holding: list[str] | None                        # None: no contact evidence has a say
    seen: set[str] = field(default_factory=set)      # detected and contacted objects
    named: set[str] = field(default_factory=set)     # nouns of the narration and its neighbours
    events: list[Event] = field(default_factory=list)  # by time
    grounds: bool = True  # False: the record carries no narration and no evidence to name objects


def noun_of(name) -> str:
    """An evidence or program name as a noun key (the name, lower case, when EPIC lacks it)."""
    text = str(name).strip()
    return _noun_key(text) or text.lower().replace(" ", "_")


@functools.lru_cache(maxsize=4096)
def _noun_key(text: str) -> str | None:
    from ..ontology import noun_key

    return noun_key(text)


def _stage(record: dict, key: str) -> dict:
    value = record.get(key)
    return value if isinstance(value, dict) and not value.get("missing") else {}


def holding_at_start(record: dict) -> list[str] | None:
    """What leap-contact saw in the hands at the clip start; None when it has no say."""
    contact = record.get("contact")
    if not isinstance(contact, dict) or contact.get("missing"):
        return None
    hold = contact.get("holding_at_start")
    if not isinstance(hold, dict):
        return None
    return [str(hold[h]) for h in ("left", "right") if hold.get(h)]


def narrated_nouns(record: dict) -> set[str]:
    """The noun keys the clip's labels and narrations (its own and its neighbours') name."""
    from ..ontology import nouns

    table = nouns()
    out = {noun_of(n) for n in [record.get("noun"), *(record.get("all_nouns") or [])] if n}
    for c in [record.get("noun_class"), *(record.get("all_noun_classes") or [])]:
        if isinstance(c, int) and 0 <= c < len(table):
            out.add(table[c].key)
    context = record.get("context") if isinstance(record.get("context"), dict) else {}
    for text in (record.get("narration"), *(context.get("before") or []), *(context.get("after") or [])):
        if text:
            out |= _text_nouns(str(text))
    return out


@functools.lru_cache(maxsize=65536)
def _text_nouns(text: str) -> frozenset[str]:
    """The noun keys a narration's words name (neighbouring clips share their narrations)."""
    words = text.lower().split()
    keys = (_noun_key(" ".join(words[i:i + k])) for k in (1, 2)  # "chopping board" is one noun
            for i in range(len(words) - k + 1))
    return frozenset(k for k in keys if k)


def evidence(record: dict) -> Evidence:
    """The evidence of a clip record (stage keys marked missing say nothing); ValueError names
    what is malformed."""
    try:
        return _evidence(record)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"malformed evidence ({type(e).__name__}: {e})") from None


def _evidence(record: dict) -> Evidence:
    with_evidence = record.keys() & stages.evidence_keys()
    grounds = bool(with_evidence) or any(k in record for k in GROUNDS)
    if not with_evidence:  # labels and narrations only
        return Evidence(None, named=narrated_nouns(record), grounds=grounds)
    holding = holding_at_start(record)
    ev = Evidence(list(dict.fromkeys(map(noun_of, holding))) if holding is not None else None)
    ev.seen.update(ev.holding or ())
    ev.seen.update(noun_of(o) for o in _stage(record, "detect").get("objects") or [] if o)
    contact = _stage(record, "contact")
    contacts = contact.get("events") or []
    events = _contacts(contacts, contact.get("holding_at_start") or {})
    ev.seen.update(noun_of(e["object"]) for e in contacts if isinstance(e, dict) and e.get("object"))
    events += [Event(float(g["start"]), "goto", None) for g in _stage(record, "slam").get("goto") or []]
    events += [Event(float(s["start"]), "sound", None) for s in _stage(record, "audio").get("events") or []
               if s.get("label") not in NOT_HANDS]
    order = {"goto": 0, "grab": 1, "release": 1, "touch": 1, "sound": 2}
    ev.events = sorted(events, key=lambda e: (e.t, order[e.kind]))
    ev.named = narrated_nouns(record)
    ev.grounds = grounds
    return ev


def _contacts(raw: list, holding: dict) -> list[Event]:
    """Contact events replayed from the hands at the start (``contact.holding_at_start``): a grab
    of what is held already and a release of what is not held contradict the evidence itself
    (detector noise) and are left out; a grab with both hands full implies the release, then, of
    what the grabbing hand held (a detector saw the new object, not the letting go); a contact
    with a fixture is a touch."""
    hands: dict[str, str | None] = {"left": None, "right": None}
    for side in hands:
        o = holding.get(side) if isinstance(holding, dict) else None
        o = noun_of(o) if o else None
        if o and o not in FIXTURES and o not in hands.values():
            hands[side] = o
    out = []
    for e in sorted((e for e in raw if isinstance(e, dict) and e.get("kind") in ("grab", "release")
                     and e.get("object")), key=lambda e: (float(e["t"]), e["kind"] != "release")):
        o, kind, t = noun_of(e["object"]), e["kind"], float(e["t"])
        if o in FIXTURES:
            touch = Event(t, "touch", o)
            if kind == "grab" and touch not in out:  # both hands on the hob: one touch
                out.append(touch)
            continue
        held = [side for side, x in hands.items() if x == o]
        if kind == "release":
            if held:
                hands[held[0]] = None
                out.append(Event(t, "release", o))
            continue
        if held:
            continue
        side = next((s for s, x in hands.items() if x is None), None)
        if side is None:
            side = e.get("hand") if e.get("hand") in hands else "left"
            out.append(Event(t, "release", hands[side]))
        hands[side] = o
        out.append(Event(t, "grab", o))
    return out


def _fits(step: dict, e: Event) -> bool:
    """Whether a step can stand for an evidence event."""
    return step["verb"] in ACCOUNTS[e.kind] and (
        e.object is None or (step.get("objects") or [None])[0] == e.object)


def _pairs(steps, events) -> list[tuple[int, int]]:
    """A largest set of (step, event) pairs, each step and event in one at most, in no order."""
    out, used = [], set()
    # events naming an object first: a use step is better spent on the touch of its fixture
    for j in sorted(range(len(events)), key=lambda j: events[j].object is None):
        i = next((i for i, s in enumerate(steps) if i not in used and _fits(s, events[j])), None)
        if i is not None:
            used.add(i)
            out.append((i, j))
    return out


def _in_order(steps, events) -> list[tuple[int, int]]:
    """A largest set of pairs whose events' times never go back as the steps go on (events at
    the same instant in any order): dynamic programming over steps and groups of same-time events."""
    groups: list[list[int]] = []
    for j, e in enumerate(events):
        if groups and abs(events[groups[-1][0]].t - e.t) <= _EPS:
            groups[-1].append(j)
        else:
            groups.append([j])
    n, g = len(steps), len(groups)
    best = [[(0, ())] * (g + 1) for _ in range(n + 1)]  # best[i][k]: (count, pairs) for steps[:i], groups[:k]
    for k in range(1, g + 1):
        group = [events[j] for j in groups[k - 1]]
        for i in range(n + 1):
            top = best[i][k - 1]
            for start in range(i):  # steps[start:i] stand for events of group k-1
                run = [(start + a, groups[k - 1][b]) for a, b in _pairs(steps[start:i], group)]
                if best[start][k - 1][0] + len(run) > top[0]:
                    top = (best[start][k - 1][0] + len(run), best[start][k - 1][1] + tuple(run))
            if i and best[i - 1][k][0] > top[0]:
                top = best[i - 1][k]
            best[i][k] = top
    return list(best[n][g][1])


def match(steps, events: list[Event], kinds=tuple(ACCOUNTS)) -> dict[int, int]:
    """Step index -> the index of the evidence event it stands for (of the given kinds): as many
    steps as can stand for an event (a grasp for a grab of its object, a goto for a walk...)."""
    chosen = [j for j, e in enumerate(events) if e.kind in kinds]
    return {i: chosen[j] for i, j in _pairs(steps, [events[j] for j in chosen])}


def check_evidence(steps, ev: Evidence) -> list[dict]:
    """Violations of a program's steps against its clip's evidence: objects that neither the
    evidence nor a narration names (``ungrounded``), and steps standing for contact or walking
    events out of the events' time order (``order``)."""
    out = []
    seen, named = ev.seen, ev.named
    said: set[str] = set()
    for i, s in enumerate(steps if ev.grounds else ()):
        for o in s["objects"]:
            if o not in seen and o not in named and o not in said:
                said.add(o)
                out.append(violation(i, s["verb"], ("ungrounded", f"no evidence or narration names {o}")))
    timed = [e for e in ev.events if e.kind in ORDERED]
    if not timed:
        return out
    ordered = _in_order(steps, timed)
    kept, taken = {i for i, _ in ordered}, {j for _, j in ordered}
    rest = [i for i in range(len(steps)) if i not in kept]
    left = [e for j, e in enumerate(timed) if j not in taken]
    # A step that stands for an event no time-ordered reading of the program gives a step to.
    for a, b in _pairs([steps[i] for i in rest], left):
        i, e = rest[a], left[b]
        what = f"{e.kind} of {e.object}" if e.object else e.kind
        out.append(violation(i, steps[i]["verb"], (
            "order", f"stands for the {what} at {e.t:.2f} s, out of time order with the steps around it")))
    # A grasp, after the step that stands for an event at or after the evidence's last release of
    # its object (no grab follows that release), holds what the evidence shows put down for good.
    final: dict[str, float] = {}
    for e in timed:
        if e.kind in ("grab", "release") and e.object:
            final[e.object] = e.t if e.kind == "release" else float("inf")
    at = {i: timed[j].t for i, j in ordered}
    now = float("-inf")
    for i, s in enumerate(steps):
        o = (s.get("objects") or [None])[0]
        if s["verb"] == "grasp" and i not in at and final.get(o, float("inf")) <= now + _EPS:
            out.append(violation(i, "grasp", (
                "regrasp", f"grasps {o} after the evidence released it for good (at {final[o]:.2f} s)")))
        now = max(now, at.get(i, now))
    return sorted(out, key=lambda v: v["step"])
