"""The offline ``rules`` model: a deterministic program writer from a clip's evidence.

No key, no network. The narration's EPIC verb class picks a template (``TEMPLATE_OF``, all 97
classes); the template is bound to the narration's nouns and to the detected / contacted objects;
the evidence adds ``goto`` at the SLAM intervals, ``grasp``/``release`` at the contact events and
``use`` at sound events (of the hands: not footsteps), ordered by time, within the paper's 9
sub-actions (the least telling evidence is left out first). A small simulation of the two hands
keeps every sub-action's pre-condition true (the world-state checker's rules, docs/DESIGN.md section
5), so the programs it writes are valid by construction. It is the baseline LLM programs are compared with.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import ontology
from ..program.checker import evidence
from ..program.program import MAX_STEPS
from ..program.spec import FIXTURES
from ..ontology import SUBACTIONS
from .stub import Stub, noun_text, render, t2

MODEL = "rules"

# EPIC-100 verb class key -> template name. Every one of the 97 classes is listed (a test).
TEMPLATE_OF = {
    "take": "take", "remove": "take", "gather": "take", "choose": "take", "lift": "take", "hold": "take",
    "carry": "carry", "put": "put", "hang": "put", "serve": "put", "set": "put", "sort": "put",
    "drop": "drop", "let-go": "drop", "throw": "throw",
    "insert": "insert", "attach": "insert", "wear": "insert",
    "open": "open", "unscrew": "open", "unlock": "open", "uncover": "open", "unwrap": "open",
    "unroll": "open", "close": "close", "screw": "close", "lock": "close", "wrap": "close",
    "turn-on": "turn_on", "increase": "turn_on", "switch": "turn_on",
    "turn-off": "turn_off", "turn-down": "turn_off", "finish": "turn_off",
    "wash": "wash", "scrub": "wash", "rub": "wash", "soak": "wash", "brush": "wash",
    "scrape": "wash", "water": "wash", "dry": "dry",
    "cut": "cut", "peel": "peel", "grate": "cut", "break": "cut", "rip": "cut", "divide": "cut",
    "crush": "cut", "stab": "cut", "sharpen": "cut", "mark": "cut",
    "mix": "mix", "knead": "mix", "flatten": "mix", "form": "mix", "roll": "mix", "stretch": "mix",
    "fold": "mix", "coat": "mix", "cook": "cook", "bake": "cook", "unfreeze": "cook",
    "pour": "pour", "empty": "pour", "filter": "pour", "add": "pour", "sprinkle": "pour",
    "season": "pour", "spray": "pour", "apply": "pour", "squeeze": "pour", "scoop": "scoop",
    "fill": "fill", "measure": "fill",
    "move": "move", "slide": "move", "flip": "move", "turn": "move", "pull": "move",
    "press": "press", "pat": "press", "adjust": "press", "lower": "move", "bend": "move",
    "shake": "shake", "use": "use", "prepare": "use", "eat": "eat", "drink": "eat",
    "look": "look", "check": "look", "search": "search", "smell": "look", "feel": "look",
    "wait": "wait", "transition": "walk",
}

# The sub-actions that carry out each template's verb: a program agrees with its narration's
# verb when one of them is among its steps (leap-stats' narration agreement).
CORE_VERBS = {
    "take": ("grasp",), "carry": ("move", "grasp"), "put": ("position", "release"), "drop": ("release",),
    "throw": ("release", "position"), "insert": ("position",), "open": ("use",), "close": ("use",),
    "turn_on": ("use",), "turn_off": ("use",), "wash": ("use",), "dry": ("use",), "cut": ("use",),
    "peel": ("use",), "mix": ("use",), "cook": ("use",), "pour": ("use", "move", "position"),
    "scoop": ("use", "move"), "fill": ("use", "position"), "move": ("move", "position"),
    "shake": ("move", "use"), "press": ("use",), "use": ("use",), "eat": ("use",),
    "look": ("nothing", "goto", "move"), "search": ("nothing", "goto", "move"), "wait": ("wait", "nothing"),
    "walk": ("goto",),
}


def narrated_subactions(record: dict) -> tuple[str, ...]:
    """The sub-actions that would carry out the clip's narrated verb (its EPIC verb class)."""
    return CORE_VERBS[template_for(record)]


# Tools a template prefers, in order, when the evidence shows one.
TOOLS = {
    "cut": ("knife", "scissors", "peeler_potato", "grater", "masher"),
    "peel": ("peeler_potato", "knife"),
    "mix": ("spoon", "spatula", "whisk", "fork", "pin_rolling"),
    "cook": ("spatula", "spoon", "pan", "pot"),
    "wash": ("sponge", "brush", "cloth"),
    "dry": ("towel", "towel_kitchen", "cloth"),
    "scoop": ("spoon", "ladle", "scoop"),
}
SURFACES = ("furniture", "storage", "appliances", "containers", "crockery", "cookware", "rubbish")
FIXED = frozenset(noun_text(f) for f in FIXTURES)  # never grasped: used in place
# Templates that carry their object: over a fixture ("take heat") they become a use of it.
CARRIES = ("take", "carry", "put", "insert", "throw", "drop", "move", "shake", "pour", "fill", "scoop")
PUTS = ("put", "insert", "throw", "drop")  # done at the release of their object
UNHELD = ("walk", "look", "search", "wait")  # templates whose core holds nothing
PREPOSITIONS = ("in", "into", "on", "onto", "to", "inside")


@dataclass
class Binding:
    """The objects a template is written over."""

    noun: str
    other: str | None = None   # destination / source (second narration noun or a detected place)
    tool: str | None = None    # the tool the verb needs, when the evidence shows one


def _key(word) -> str | None:
    """The program's spelling of an EPIC noun (``board_chopping``), None when EPIC lacks it."""
    if not word:
        return None
    key = ontology.noun_key(str(word))
    return noun_text(key) if key else None


def _evidence_objects(record: dict) -> list[str]:
    """Detected and contacted objects, in order of first appearance."""
    out: list[str] = []
    con = record.get("contact") if isinstance(record.get("contact"), dict) else {}
    det = record.get("detect") if isinstance(record.get("detect"), dict) else {}
    hold = (con or {}).get("holding_at_start") or {}
    names = [hold.get("left"), hold.get("right")] if isinstance(hold, dict) else []
    names += [e.get("object") for e in (con or {}).get("events") or []]
    names += list((det or {}).get("objects") or [])
    for n in names:
        k = _key(n) or (noun_text(n) if n else None)
        if k and k not in out:
            out.append(k)
    return out


def _portable(name: str) -> bool:
    c = ontology.noun(name)
    return name not in FIXED and (c is None or c.category not in ("furniture", "appliances", "storage"))


def template_for(record: dict) -> str:
    """The template name for a record's verb (class id, then verb word), 'use' when unknown."""
    cls = record.get("verb_class")
    vs = ontology.verbs()
    key = None
    if isinstance(cls, int) and 0 <= cls < len(vs):
        key = vs[cls].key
    if key is None:
        key = ontology.verb_key(record.get("verb") or str(record.get("narration") or "").split(" ")[0])
    return TEMPLATE_OF.get(key or "", "use")


def bind(record: dict, template: str) -> Binding | None:
    """The objects of the template; None when nothing in the record names an object."""
    seen = _evidence_objects(record)
    nouns = [_key(n) or noun_text(n) for n in (record.get("all_nouns") or []) if n]
    main = _key(record.get("noun"))
    if main is None and isinstance(record.get("noun_class"), int) and \
            0 <= record["noun_class"] < len(ontology.nouns()):
        main = noun_text(ontology.nouns()[record["noun_class"]].key)
    main = main or (nouns[0] if nouns else None) or (seen[0] if seen else None) \
        or (noun_text(record["noun"]) if record.get("noun") else None)
    if main is None:
        return None
    other = next((n for n in nouns if n != main), None)
    words = str(record.get("narration") or "").lower().split()
    if template in PUTS and other is None and len(words) > 2 and words[1] in PREPOSITIONS:
        # "put in bin": the noun is where something goes; what goes is what the evidence shows
        # in hand, else a detected object that can be carried.
        thing = next((o for o in _holding(record) + seen if o != main and _portable(o)), None)
        if thing is not None:
            return Binding(thing, main, None)
    if other is None and template in ("put", "insert", "pour", "fill", "carry", "scoop", "throw"):
        for n in seen:
            c = ontology.noun(n)
            if n != main and c is not None and c.category in SURFACES:
                other = n
                break
    tool = next((t for t in TOOLS.get(template, ()) if t in seen and t != main), None)
    return Binding(main, other, tool)


# ---------------------------------------------------------------------------------------------
# Emission: a simulation of the two hands keeps every pre-condition true.

@dataclass
class _Writer:
    lines: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # at most two objects, oldest first
    keep: set[str] = field(default_factory=set)    # objects not to put down to free a hand
    later: set[str] = field(default_factory=set)   # objects the evidence releases at its own time
    goal: int = 0

    def comment(self, text: str) -> None:
        self.goal += 1
        self.lines.append(f"    # {self.goal}: {text}")

    def call(self, verb: str, *objs: str, indent: int = 1) -> None:
        args = ", ".join(f'"{o}"' for o in objs)
        self.lines.append("    " * indent + f"{verb}({args})")

    def free_hand(self, indent: int = 1) -> None:
        if len(self.held) < 2:
            return
        # Not what the evidence releases (that release would then come at the wrong time).
        drop = next((o for o in self.held if o not in self.keep and o not in self.later),
                    next((o for o in self.held if o not in self.keep), self.held[0]))
        self.call("release", drop, indent=indent)
        self.held.remove(drop)

    def get(self, obj: str, why: str | None = None) -> None:
        """Make sure ``obj`` is in a hand, guarded by its pre-condition (a fixture never is)."""
        if obj in self.held or obj in FIXED:
            return
        self.comment(why or f"get the {obj}")
        self.lines.append(f'    if not in_hand("{obj}"):')
        self.free_hand(indent=2)
        self.call("grasp", obj, indent=2)
        self.lines.append(f'        assert in_hand("{obj}")')
        self.held.append(obj)

    def release(self, obj: str) -> None:
        if obj in self.held:
            self.call("release", obj)
            self.held.remove(obj)

    def goto(self, obj: str) -> None:
        if self.lines and self.lines[-1] == f'    goto("{obj}")':
            return  # already there
        if obj not in self.held:  # goto(o) is invalid while o is held (Figure 2)
            self.comment(f"go to the {obj}")
            self.call("goto", obj)

    def use(self, a: str, b: str | None = None) -> None:
        if a not in self.held and a not in FIXED and (b is None or b not in self.held):
            self.get(a)
        self.call("use", a, *([b] if b else []))


def _state_change(w: _Writer, obj: str, pred: str, want: bool, verb: str) -> None:
    """open/close/turn on/turn off: grasp the handle or switch, use it, let go if it was free."""
    w.comment(f"{verb} the {obj}")
    cond = f'not {pred}("{obj}")' if want else f'{pred}("{obj}")'
    w.lines.append(f"    if {cond}:")
    had = obj in w.held or obj in FIXED  # a fixture (the hob) is used in place
    if not had:
        w.free_hand(indent=2)
        w.call("grasp", obj, indent=2)
    w.call("use", obj, indent=2)
    if not had:
        w.call("release", obj, indent=2)
    post = f'{pred}("{obj}")' if want else f'not {pred}("{obj}")'
    w.lines.append(f"        assert {post}")


def _core(w: _Writer, template: str, b: Binding) -> None:
    """The verb's own sub-actions over the bound objects."""
    n, o, tool = b.noun, b.other, b.tool
    if n in FIXED and template in CARRIES:
        template = "use"
    if template in ("take", "carry"):
        if template == "take" and n in w.held:
            # Already in hand at the start (the contact detector saw it): taking it is moving it;
            # grasp would contradict the world state.
            w.comment(f"take the {n}" + (f" off the {o}" if o else "") + " (already in hand)")
            w.call("move", n)
        w.get(n, f"take the {n}")
        if template == "carry" and o:
            w.call("move", n, o)
    elif template in ("put", "insert", "throw", "drop"):
        w.get(n)
        w.comment(f"{'put' if template != 'insert' else 'insert'} the {n}"
                  + (f" {'in' if template in ('insert', 'throw') else 'on'} the {o}" if o and template != "drop" else ""))
        if o and template != "drop":
            w.call("position", n, o)
        w.release(n)
        if o and template == "insert":
            w.lines.append(f'    assert is_in("{n}", "{o}")')
    elif template in ("open", "close"):
        _state_change(w, n, "is_open", template == "open", template)
    elif template in ("turn_on", "turn_off"):
        _state_change(w, n, "is_on", template == "turn_on", template.replace("_", " "))
    elif template == "wash":
        held_by = tool or n
        w.get(held_by)
        w.comment(f"clean the {n}")
        w.lines.append(f'    while not is_clean("{n}"):')
        w.call("use", *([tool, n] if tool else [n] + (["tap"] if o == "tap" else [])), indent=2)
    elif template in ("cut", "peel", "mix", "cook", "dry"):
        pred = {"cut": "is_cut", "peel": "is_peeled", "mix": "is_mixed", "cook": None,
                "dry": "is_dry"}[template]
        held_by = tool or n
        w.get(held_by)
        w.comment(f"{template} the {n}" + (f" with the {tool}" if tool else ""))
        args = [tool, n] if tool else [n]
        if pred:
            w.lines.append(f'    while not {pred}("{n}"):')
            w.call("use", *args, indent=2)
        else:
            w.call("use", *args)
    elif template in ("pour", "scoop"):
        w.get(tool if template == "scoop" and tool else n)
        w.comment(f"{template} the {n}" + (f" into the {o}" if o else ""))
        src = tool if template == "scoop" and tool else n
        w.call("use", *([src, o] if o else [src]))
    elif template == "fill":
        w.get(n)
        w.comment(f"fill the {n}")
        w.lines.append(f'    while not is_full("{n}"):')
        w.call("use", *([n, o] if o else [n]), indent=2)
    elif template in ("move", "shake"):
        w.get(n)
        w.comment(f"{template} the {n}")
        w.call("move", *([n, o] if o and template == "move" else [n]))
    elif template in ("press", "use", "eat"):
        w.use(n)
    elif template in ("look", "search"):
        w.comment(f"look at the {n}")
        w.call("nothing")
    elif template == "wait":
        w.comment("wait")
        w.call("wait")
    elif template == "walk":
        if n in w.held:
            w.comment("walk")
            w.call("nothing")
        else:
            w.goto(n)
    else:  # pragma: no cover - TEMPLATE_OF only names the templates above
        raise ValueError(template)


_TIE = {"goto": 0, "grab": 1, "release": 1, "touch": 1, "sound": 2}


def _events(record: dict) -> list[tuple[float, int, str, str | None]]:
    """(time, order, kind, object) for the evidence as the checker reads it (contacts replayed
    from the hands at the start, a fixture's contact a touch, no sounds the hands do not make)."""
    return [(e.t, _TIE[e.kind], e.kind, noun_text(e.object) if e.object else None)
            for e in evidence(record).events]


def _holding(record: dict) -> list[str]:
    """What the hands hold at the start (the checker starts from the same state)."""
    held = evidence(record).holding or []
    return [noun_text(h) for h in held if noun_text(h) not in FIXED]


def write_program(record: dict, name: str, echo: bool = True) -> str:
    """The rules model's program for one clip, as source text in the program dialect."""
    template = template_for(record)
    b = bind(record, template)
    events = _events(record)
    if b is None:  # no sub-action can name an object: say so rather than invent "object"
        lines = ["    # no narration, detection or contact names an object: no sub-actions", "    pass"]
        events = []
    else:
        lines = _body(record, template, b, events)
    # The paper's programs have fewer than 10 sub-actions (leap-parse keeps the first 9): with
    # more evidence than fits, the least telling goes first (the latest sound, then walk, then
    # the latest contact) until the program fits; the verb's own sub-actions always stay.
    while _count(lines) > MAX_STEPS and events:
        last = {"contact" if kind in ("grab", "release", "touch") else kind: i
                for i, (_, _, kind, _) in enumerate(events)}
        drop = next(last[k] for k in ("sound", "goto", "contact") if k in last)
        events = events[:drop] + events[drop + 1:]
        lines = _body(record, template, b, events)
    # Steps the checker would find out of time order with the evidence (the verb's own steps
    # placed at an event that another step of theirs stands for): the latest contact or walk goes
    # until none is left.
    while events and not _in_time(record, lines):
        drop = max(i for i, (_, _, kind, _) in enumerate(events) if kind != "sound") \
            if any(kind != "sound" for _, _, kind, _ in events) else len(events) - 1
        events = events[:drop] + events[drop + 1:]
        lines = _body(record, template, b, events)
    # The stub's header (and, with echo, its evidence comments), as a model would answer.
    head = render(record, name) if echo else render(record, name).split("\n", 1)[0] + "\n"
    return head + "\n".join(lines) + "\n"


def _in_time(record: dict, lines: list[str]) -> bool:
    """Whether the program's steps follow the times of the evidence events they stand for."""
    from ..program.checker import check_evidence
    from ..program.program import parse_program

    program = parse_program("def f():\n" + "\n".join(lines) + "\n", holding=_holding(record))
    return not any(v["kind"] in ("order", "regrasp") for v in check_evidence(program["steps"], evidence(record)))


def _count(lines: list[str]) -> int:
    return sum(line.strip().startswith(SUBACTION_CALLS) for line in lines)


def _body(record: dict, template: str, b: Binding, events: list) -> list[str]:
    """The program's lines below the header: the evidence in time order around the core."""
    w = _Writer(held=_holding(record), keep={x for x in (b.noun, b.tool) if x},
                later={o for _, _, k, o in _events(record) if k == "release"})
    # The verb's own sub-actions happen at its own evidence: the release of the object a put
    # puts down, else the grab of its object (or tool); without one, a put ends the clip and
    # any other verb is at the first sound, else after the other evidence. That event is the
    # core's own, not a sub-action of its own: a grab at the same instant as another (the real
    # P06_10_16) or the sound that placed the core must not add a second grasp or use.
    own_objs = {b.noun, b.tool} - {None}
    anchor = None
    if template in PUTS:
        anchor = next((i for i, (_, _, k, obj) in enumerate(events) if k == "release" and obj == b.noun), None)
    if anchor is None and template not in UNHELD:
        anchor = next((i for i, (_, _, k, obj) in enumerate(events) if k == "grab" and obj in own_objs), None)
    if anchor is None and template == "walk":
        anchor = next((i for i, (_, _, k, _) in enumerate(events) if k == "goto"), None)
    if anchor is None and template not in PUTS + UNHELD:
        anchor = next((i for i, (_, _, k, _) in enumerate(events) if k in ("sound", "touch")), None)
    if anchor is None:
        anchor = len(events)
    # The object the core itself grasps: the tool for a tool's verb, else the noun. A grab of the
    # other one (the carrot of "chop carrots", held while the knife cuts) is a grasp of its own.
    own = b.tool if b.tool and template in ("cut", "peel", "mix", "cook", "dry", "wash", "scoop") else b.noun
    core_done = False
    for i, (t, _, kind, obj) in enumerate(events):
        if i == anchor:
            if kind == "grab" and obj != own:
                w.get(obj, f"grab the {obj} (at {t2(t)} s)")
            elif kind == "touch" and obj != b.noun:
                w.comment(f"touch the {obj} (at {t2(t)} s)")
                w.call("use", obj)
            _core(w, template, b)
            core_done = True
            continue
        if kind == "goto":
            later = [o for _, _, k, o in events[i + 1:] if k == "grab" and o not in w.held]
            target = next(iter(later), None) or next(
                (o for o in (b.noun, b.other, b.tool) if o and o not in w.held), None)
            if target:
                w.goto(target)
        elif kind == "grab":
            w.get(obj, f"grab the {obj} (at {t2(t)} s)")
        elif kind == "touch":
            w.comment(f"touch the {obj} (at {t2(t)} s)")
            w.call("use", obj)
        elif kind == "release":
            if obj in w.held:
                w.comment(f"release the {obj} (at {t2(t)} s)")
                w.release(obj)
        elif kind == "sound" and w.held:
            a = w.held[-1]
            w.comment(f"use the {a} (sound at {t2(t)} s)")
            w.call("use", *([a, b.noun] if a != b.noun else [a]))  # used on the verb's noun
    if not core_done:
        _core(w, template, b)
    if not _count(w.lines):
        w.comment("nothing to do: the evidence shows the goal already reached")
        w.call("nothing")
    return w.lines


SUBACTION_CALLS = tuple(f"{v}(" for v in SUBACTIONS)


def respond(stubs: list[Stub], echo: bool = False) -> str:
    """The rules model's whole response to a query: one program per stub, in order."""
    return "\n\n".join(write_program(s.record, s.name, echo) for s in stubs)
