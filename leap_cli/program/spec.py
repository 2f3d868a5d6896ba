SPEC = '''\
The LEAP action-program dialect (version 1).

A program says, as a Python function, how the camera wearer performs the action of one video
clip: the sub-actions the hands carry out, why each runs (pre-conditions) and what it achieves
(post-conditions). Programs are valid Python so that `ast` can read them; they are data and
are never executed or imported.

Function
    def <name>(start_t=0, stop_t=<clip length in seconds>):
        # <evidence comments of the stub, kept as given>
        # 1: <first sub-goal>
        <statements>
        # 2: <second sub-goal>
        <statements>
    Keep the stub's name and arguments. Group the statements under numbered sub-goal
    comments `# k: ...`.

Sub-actions: a statement calling one of exactly these 8 verbs (ids 0..7):
    0 nothing()            no hand activity
    1 grasp(o)             take hold of o; o may be a tool or a fixture (tap, drawer handle)
    2 release(o)           let go of o
    3 move(o, dest)        carry o (to dest; dest is optional)
    4 use(o, target)       use o (on target; target is optional)
    5 position(o, where)   place or orient o at/in/on where
    6 goto(o)              walk or turn towards o
    7 wait()               wait for something to happen
    No other verb exists: express cutting as use("knife", "onion"), pouring as
    use("kettle", "cup"), opening a door as grasp + use + release of "fridge".

Objects are string literals naming EPIC-KITCHENS-100 noun classes, singular ("carrot", not
"carrots"); compound nouns use "_" with the head first, as in the stub ("board_chopping",
"towel_kitchen", "liquid_washing"). Use the names the stub's evidence uses where possible.

Conditions (after `if`, `while`, `assert`) are predicate calls combined with `not`, `and`, `or`:
    in_hand(o)        o is held            is_open(o)     o is open
    is_on(o)          o is switched on     is_clean(o)    o is clean
    is_dry(o)         o is dry             is_full(o)     o is full
    is_empty(o)       o is empty           is_cut(o)      o is cut
    is_peeled(o)      o is peeled          is_mixed(o)    o is mixed
    is_near(o)        o is within reach    is_in(a, b)    a is in b
    is_on_top(a, b)   a is on top of b
    `if cond:` states a pre-condition: the block runs because cond holds.
    `while cond:` repeats its block until cond is false; the block must act on an object of
    the condition, so that the loop can terminate (`while not is_clean("pan"): use(...)`).
    `else:` reads as `if not cond:`.
    `assert cond` right after a sub-action states its post-condition (what it achieved).

World-state rules (a program is valid when no sub-action breaks one). The checker reads the
sub-actions in the order written, each once (a `while` block counts once), starting from the
hands of the stub's "Holding ... at start." (empty hands when the stub says nothing). The
person has two hands. What is held is always known, so an `if`/`while` whose condition is false
then (`if not in_hand("cup"):` while the cup is held) is skipped; a condition not known to be
false is taken as true inside its block. A post-condition and the end of a `while` (its condition is false
then) become known facts, until a later sub-action acts on that object.
    grasp(o)        needs a free hand and o not already held; afterwards o is held.
                    No goto is needed first: objects may be within reach.
    release(o)      needs o held; afterwards o is not held.
    move(o, ...)    needs o held.
    position(o, ...) needs o held.
    use(a)          needs a held.
    use(a, b)       needs a or b held.
    goto(o)         invalid while o is held (it is already in the workspace).
    nothing(), wait() are always valid.
Fixtures cannot be held: {fixtures}.
    grasp(o) of a fixture is invalid; use(o) of a fixture needs no hand ("use the hob": turn
    its knob in place). A tap, door, drawer, cupboard, fridge, knob or handle may be grasped to
    operate it (grasp + use + release).
So: grasp before you use, move, position or release; release one object before grasping a
third; never goto what you hold; never grasp a fixture.

At most 9 sub-actions count (the training target has n < 10); further ones are dropped.
'''

# EPIC-100 noun classes that no hand can hold (checked by hand over all 300 classes: the
# fixed furniture and appliances, and what is not a thing). Whatever is grasped to operate it
# stays out: tap, door:kitchen, drawer, cupboard, fridge, oven, knob, handle, window.
FIXTURES = frozenset({
    "hob", "heat", "top", "sink", "kitchen", "floor", "wall", "fan:extractor", "heater",
    "power", "air", "face", "hand", "tv", "button", "light",
})
SPEC = SPEC.format(fixtures=", ".join(sorted(f.replace(":", "_") for f in FIXTURES)))

__doc__ = SPEC

# The paper's sub-action vocabulary, in the order of its verb ids (one home: ontology).
from ..ontology import SUBACTIONS  # noqa: E402
SUBACTION_ID = {v: i for i, v in enumerate(SUBACTIONS)}

# (least, most) objects each sub-action takes.
ARITY = {
    "nothing": (0, 0), "wait": (0, 0),
    "grasp": (1, 1), "release": (1, 1), "goto": (1, 1),
    "move": (1, 2), "use": (1, 2), "position": (1, 2),
}

# predicate -> (number of objects, phrase). The phrase renders a pre-condition in the
# paper's words: "{0} not in hand", "{0} in {1}".
PREDICATES = {
    "in_hand": (1, "in hand"),
    "is_open": (1, "open"),
    "is_on": (1, "on"),
    "is_clean": (1, "clean"),
    "is_dry": (1, "dry"),
    "is_full": (1, "full"),
    "is_empty": (1, "empty"),
    "is_cut": (1, "cut"),
    "is_peeled": (1, "peeled"),
    "is_mixed": (1, "mixed"),
    "is_near": (1, "within reach"),
    "is_in": (2, "in"),
    "is_on_top": (2, "on top of"),
}

# Words LLMs write for a predicate of the dialect: name -> (predicate, negated).
PREDICATE_ALIASES = {
    "is_closed": ("is_open", True), "is_shut": ("is_open", True),
    "is_off": ("is_on", True), "is_turned_on": ("is_on", False), "is_running": ("is_on", False),
    "is_turned_off": ("is_on", True),
    "is_dirty": ("is_clean", True), "is_wet": ("is_dry", True),
    "holding": ("in_hand", False), "is_holding": ("in_hand", False), "is_held": ("in_hand", False),
    "in_hands": ("in_hand", False), "is_in_hand": ("in_hand", False), "has": ("in_hand", False),
    "is_inside": ("is_in", False), "inside": ("is_in", False), "is_in_container": ("is_in", False),
    "is_on_top_of": ("is_on_top", False), "on_top": ("is_on_top", False),
    "is_sliced": ("is_cut", False), "is_chopped": ("is_cut", False),
    "is_stirred": ("is_mixed", False), "is_filled": ("is_full", False),
    "is_reachable": ("is_near", False), "is_within_reach": ("is_near", False),
    "near": ("is_near", False), "is_nearby": ("is_near", False),
}

IMPORT_HEADER = '''\
# Library H: example action programs in the LEAP dialect (see the specification).
from leap.subactions import nothing, grasp, release, move, use, position, goto, wait
from leap.predicates import (in_hand, is_open, is_on, is_clean, is_dry, is_full, is_empty,
                             is_cut, is_peeled, is_mixed, is_near, is_in, is_on_top)
'''
