"""Property-based tests: the parser never raises; every input gives a program or one error."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leap_cli import records
from leap_cli.program import ProgramError, check, check_tokens, library, parse_program
from leap_cli.program.program import conjuncts, flatten
from leap_cli.program.spec import ARITY, PREDICATES

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOURCES = [src for _, src in library()]
NOUNS = ["cup", "tap", "knife", "carrot", "board:chopping", "towel:kitchen", "pan", "fridge", "spork"]


def outcome(text, function=None):
    """parse_program's result, or None for its one allowed failure; anything else fails the test."""
    try:
        p = parse_program(text, function)
    except ProgramError as e:
        assert str(e)
        return None
    assert 1 <= len(p["steps"]) <= 9
    assert p["valid"] == (not p["violations"])
    records.validate({"schema": 1, "id": "x",
                      "program": {**p, "source": {"tool": "leap-parse", "version": "0", "dialect": 1,
                                                  "embed_unknown": False}}})
    return p


@SETTINGS
@given(st.text(max_size=400))
def test_random_text_never_raises(text):
    outcome(text)


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data):
    outcome(data)


@st.composite
def mutated(draw):
    """A library program with random damage: cuts, deletions, insertions, tab swaps, truncation."""
    text = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cut", "delete", "insert", "tabs", "truncate", "dup"]))
        i = draw(st.integers(0, len(text)))
        if kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 12)):]
        elif kind == "insert":
            text = text[:i] + draw(st.text(alphabet="()[]:'\"\n\t #`abc=,.", max_size=8)) + text[i:]
        elif kind == "tabs":
            text = text.replace("    ", "\t", draw(st.integers(1, 6)))
        elif kind == "truncate":
            text = text[:i]
        elif kind == "dup":
            text = text + "\n" + text[i:]
        else:
            lines = text.split("\n")
            j = draw(st.integers(0, max(len(lines) - 1, 0)))
            text = "\n".join(lines[:j] + lines[j + 1:])
    return text


@SETTINGS
@given(mutated(), st.sampled_from([None, "wash_cucumber", "take_carrot", "missing_name"]))
def test_mutated_library_programs_never_raise(text, function):
    outcome(text, function)


# generated dialect programs round-trip through source text -------------------------------------
objects = st.sampled_from(NOUNS)


@st.composite
def predicate(draw):
    name = draw(st.sampled_from(sorted(PREDICATES)))
    return [name, [draw(objects) for _ in range(PREDICATES[name][0])]]


def condition():
    return st.recursive(predicate(), lambda inner: st.one_of(
        inner.map(lambda c: ["not", c]).filter(lambda c: c[1][0] != "not"),
        st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3)).map(list)),
        max_leaves=4)


@st.composite
def subaction(draw):
    verb = draw(st.sampled_from(sorted(ARITY)))
    low, high = ARITY[verb]
    return [verb, [draw(objects) for _ in range(draw(st.integers(low, high)))]]


def block():
    return st.recursive(subaction(), lambda inner: st.one_of(
        st.tuples(st.sampled_from(["if", "while"]), condition(), st.lists(inner, min_size=1, max_size=3)).map(list),
        condition().map(lambda c: ["assert", c])), max_leaves=8)


def cond_source(c, top=True) -> str:
    if c[0] == "not":
        return "not " + cond_source(c[1], False)
    if c[0] in ("and", "or"):
        text = f" {c[0]} ".join(cond_source(x, False) for x in c[1])
        return text if top else f"({text})"
    return f"{c[0]}(" + ", ".join(f'"{o.replace(":", "_")}"' for o in c[1]) + ")"


def source(tokens, depth=1) -> list[str]:
    pad = "    " * depth
    out = []
    for t in tokens:
        if t[0] in ("if", "while"):
            out.append(f"{pad}{t[0]} {cond_source(t[1])}:")
            out += source(t[2], depth + 1)
        elif t[0] == "assert":
            out.append(f"{pad}assert {cond_source(t[1])}")
        else:
            out.append(f"{pad}{t[0]}(" + ", ".join(f'"{o.replace(":", "_")}"' for o in t[1]) + ")")
    return out


def flat(tokens):
    for t in tokens:
        if t[0] in ("if", "while"):
            yield from flat(t[2])
        elif t[0] != "assert":
            yield t


@SETTINGS
@given(st.lists(block(), min_size=1, max_size=5))
def test_generated_programs_round_trip(tokens):
    text = "def f(start_t=0, stop_t=3.0):\n" + "\n".join(source(tokens)) + "\n"
    leaves = list(flat(tokens))
    if not leaves:
        return
    p = outcome(text)
    assert p is not None
    assert p["warnings"] in ([], [f"kept the first 9 of {len(leaves)} sub-actions"]) or any(
        "never acts" in w or "post-condition" in w for w in p["warnings"])
    if len(leaves) <= 9:
        assert p["tokens"] == tokens
    else:
        assert f"kept the first 9 of {len(leaves)} sub-actions" in p["warnings"]  # nesting, and/or and not come back as written
    assert [[s["verb"], s["objects"]] for s in p["steps"]] == leaves[:9]
    assert p["unmapped"] == (["spork"] if any("spork" in json.dumps(t) for t in tokens) else []) or \
        len(leaves) > 9
    # the reader's one-pass check agrees with the checker run over the finished tokens
    assert p["violations"] == check_tokens(p["tokens"], limit=9)[0]
    said = []
    for kw, c in flatten(p["tokens"])[1]:
        said += [f"{kw} {t}" for t in conjuncts(c) if f"{kw} {t}" not in said]
    assert p["precondition_sentence"] == " and ".join(dict.fromkeys(said))
    # without conditions, the tree checker and the flat checker agree
    if all(t[0] not in ("if", "while") for t in tokens):
        assert check_tokens(p["tokens"], limit=9)[0] == check(p["steps"])


FRAGMENTS = ["def f(start_t=0, stop_t=2):", "def g():", "    grasp('cup')", "        use(knife, carrot)",
             "    if not in_hand('cup'):", "    while not is_clean(\"pan\")", "```python", "```", "\tgoto('sink')",
             "    assert is_open('tap')", "  release(chopping board)", "    else:", "Here is the code:", "",
             "    move('cup', 'sink'", "      position('pan')", "    # 1: sub-goal", "    pick_up('x')"]


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=30)), max_size=25),
       st.sampled_from([None, "f", "g"]))
def test_fragment_soup_never_raises(lines, function):
    outcome("\n".join(lines), function)
