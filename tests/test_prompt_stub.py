"""Stub rendering (the paper's wording), the sound phrase table, names, splitting, cost, cache keys."""
from __future__ import annotations

import csv
import json
import multiprocessing
import os
from pathlib import Path

import pytest

from leap_cli.llm import cost, query, stub
from leap_cli.llm.cache import Cache, Entry, canonical, endpoint_host, query_key

DATA = Path(__file__).resolve().parent / "data"

PAPER = {
    "schema": 1, "id": "P01_01_12", "video_id": "P01_01", "start": 52.3, "stop": 57.18,
    "narration": "take carrots", "verb": "take", "noun": "carrot", "verb_class": 0, "noun_class": 41,
    "context": {"before": ["take peppers", "take potatoes"], "after": ["move washing liquid", "take gravy"]},
    "audio": {"source": {}, "events": [{"label": "scrub / scrape / scour / wipe", "start": 0.55, "stop": 0.93, "score": 0.7}]},
    "slam": {"source": {}, "goto": [{"start": 2.57, "stop": 3.77}]},
    "detect": {"source": {}, "objects": ["bowl", "spoon", "cupboard", "drawer"], "frames": []},
    "contact": {"source": {}, "holding_at_start": {"left": None, "right": None},
                "events": [{"t": 2.82, "hand": "right", "kind": "grab", "object": "carrot"},
                           {"t": 2.75, "hand": "left", "kind": "release", "object": "fridge"}]},
}


def test_paper_stub_exact():
    assert stub.render(PAPER, "take_carrots") == (
        "def take_carrots(start_t=0, stop_t=4.88):\n"
        '    # The actions performed right before this were "take peppers" and "take potatoes". The actions\n'
        '    # performed right after this were "move washing liquid" and "take gravy"\n'
        "    # objects = [bowl, spoon, cupboard, drawer]\n"
        "    # Holding nothing at start.\n"
        "    # Grabbed carrot at time(s) 2.82\n"
        "    # Released fridge at time(s) 2.75\n"
        "    # Go to object from time 2.57 sec to time 3.77 sec\n"
        "    # Heard sound of scrub at time 0.55 sec to 0.93 sec\n")


def test_missing_and_absent_evidence_is_left_out():
    rec = dict(PAPER, audio={"missing": "no audio stream", "events": []},
               slam={"missing": "no EPIC Fields file for P01_01", "goto": []},
               contact={"missing": "no detections", "events": [], "holding_at_start": {}})
    del rec["detect"], rec["context"]
    assert stub.render(rec, "take_carrots") == "def take_carrots(start_t=0, stop_t=4.88):\n"


def test_nouns_sounds_singular_context_and_holding():
    rec = {"id": "x", "start": 1.0, "stop": 3.5, "narration": "dry hands",
           "context": {"before": [], "after": ["put towel"]},
           "detect": {"objects": ["towel:kitchen", "board:chopping"]},
           "contact": {"holding_at_start": {"left": "towel:kitchen", "right": "knife"},
                       "events": [{"t": 0.5, "hand": "left", "kind": "grab", "object": "plate"},
                                  {"t": 1.25, "hand": "left", "kind": "grab", "object": "plate"}]},
           "audio": {"events": [{"label": "metal / ceramic collision", "start": 0.1, "stop": 0.2},
                                {"label": None, "start": 0.3, "stop": 0.4}]}}
    assert stub.evidence_lines(rec) == [
        'The action performed right after this was "put towel"',
        "objects = [towel_kitchen, board_chopping]",
        "Holding towel_kitchen and knife at start.",
        "Grabbed plate at time(s) 0.50, 1.25",
        "Heard sound of metal and ceramic collision at time 0.10 sec to 0.20 sec",
        "Heard a sound at time 0.30 sec to 0.40 sec",
    ]


def test_long_comments_wrap():
    rec = {"id": "x", "start": 0, "stop": 2, "narration": "look", "detect": {"objects": [f"object{i}" for i in range(40)]}}
    lines = stub.render(rec, "look").splitlines()
    assert len(lines) > 3 and all(line.startswith("    # ") and len(line) <= 104 for line in lines[1:])
    assert " ".join(line[6:] for line in lines[1:]) == "objects = [" + ", ".join(f"object{i}" for i in range(40)) + "]"


def test_sound_phrase_table_covers_the_44_epic_sounds_classes():
    with open(DATA / "audio" / "EPIC_Sounds_classes.csv", encoding="utf-8") as f:
        classes = [row["class"] for row in csv.DictReader(f)]
    table = stub.sound_phrases()
    assert len(classes) == 44 and sorted(table) == sorted(classes)
    assert table["scrub / scrape / scour / wipe"] == "scrub"
    assert table["metal / ceramic collision"] == "metal and ceramic collision"
    assert all(p and "/" not in p for p in table.values())
    assert stub.sound_text("a new label") == "a new label" and stub.sound_text("") is None


def test_function_names_snake_case_unique():
    used: set[str] = set()
    names = [stub.function_name(n, used) for n in
             ("take carrots", "take carrots", "Put-down 2 cups!", "3 eggs", "pass", "", "take carrots")]
    assert names == ["take_carrots", "take_carrots_2", "put_down_2_cups", "clip_3_eggs", "pass_",
                     "clip", "take_carrots_3"]
    stubs = stub.stubs_for([{"id": "a", "narration": "wash pan"}, {"id": "b", "narration": "wash pan"}])
    assert [s.name for s in stubs] == ["wash_pan", "wash_pan_2"]


def test_split_responses_by_function_name():
    text = ("Sure! Here you go:\n```python\n"
            "def take_cup(start_t=0, stop_t=1.00):\n    # 1: get it\n    grasp(\"cup\")\n\n"
            "    # 2: done\n    release(\"cup\")\n"
            "def wash_pan(start_t=0, stop_t=2.00):\n\tif not in_hand(\"pan\"):\n\t\tgrasp(\"pan\")\n"
            "```\nThat is all.\n"
            "def open_door(start_t=0, stop_t=3.00):\n    # 1: truncat")
    parts = query.split(text)
    assert list(parts) == ["take_cup", "wash_pan"]  # the code inside the fences
    assert parts["take_cup"] == ('def take_cup(start_t=0, stop_t=1.00):\n    # 1: get it\n    grasp("cup")\n\n'
                                 '    # 2: done\n    release("cup")\n')
    assert query.parses(parts["take_cup"]) and query.parses(parts["wash_pan"])
    parts = query.split("Here:\n" + text.split("```python\n")[1].replace("```", ""))
    assert list(parts) == ["take_cup", "wash_pan", "open_door"]
    assert not query.parses(parts["open_door"])  # a truncated stub, comments only: asked again


def test_prices_cost_prefix_override_and_batch(tmp_path):
    table = cost.load()
    assert table.cost("gpt-4", 1_000_000, 0) == pytest.approx(30.0)
    assert table.cost("gpt-4o-2024-08-06", 1_000_000, 1_000_000, cached_tokens=500_000) == pytest.approx(1.25 + 0.625 + 10)
    assert table.cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    assert table.cost("gpt-4", 1000, 1000, batch=True) == pytest.approx((0.03 + 0.06) / 2)
    assert table.cost("my-local-llama", 10, 10) is None
    extra = tmp_path / "prices.json"
    extra.write_text(json.dumps({"models": {"my-local-llama": {"input": 1, "output": 2}}, "batch_discount": 0.4}))
    t2 = cost.load(str(extra))
    assert t2.cost("my-local-llama", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert t2.cost("gpt-4", 1_000_000, 0, batch=True) == pytest.approx(12.0)


def test_cache_key_canonical():
    m = [{"role": "user", "content": "hi"}]
    k = query_key("gpt-4o", "api.openai.com", {"temperature": 0.0, "seed": 1}, m)
    assert k == query_key("gpt-4o", "api.openai.com", {"seed": 1, "temperature": 0.0}, m, sample=3)
    assert k.startswith("sha256:") and len(k) == 71
    assert k != query_key("gpt-4o", "localhost:8000", {"temperature": 0.0, "seed": 1}, m)
    hot = {"temperature": 0.7}
    assert query_key("m", "h", hot, m, 0) != query_key("m", "h", hot, m, 1)
    assert endpoint_host("http://127.0.0.1:8000/v1") == "127.0.0.1:8000" and endpoint_host(None) == "api.openai.com"
    assert endpoint_host("https://bob:s3cret@proxy.example.org/v1") == "proxy.example.org"
    assert canonical({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'


def _writer(path: str, start: int) -> None:
    c = Cache(path)
    for i in range(start, start + 50):
        c.put(f"k{i}", "m", "h", Entry(f"r{i}", 1, 2, 0, 0.5, 0.1, 0.0, "chat"))


def test_cache_many_processes_at_once(tmp_path):
    path = str(tmp_path / "c" / "cache.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 25 * i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    c = Cache(path)
    assert c.keys() == {f"k{i}" for i in range(125)}
    assert c.get("k7").response == "r7" and c.get("nope") is None


def test_evidence_comments_put_back_where_the_model_left_them_out():
    s = stub.stubs_for([PAPER])[0]
    bare = 'def take_carrots(start_t=0, stop_t=4.88):\n  # 1: take it\n  grasp("carrot")\n'
    full = query.with_evidence(s, bare)
    assert full.splitlines()[0] == "def take_carrots(start_t=0, stop_t=4.88):"
    assert full.splitlines()[4] == "  # Holding nothing at start." and full.endswith('  grasp("carrot")\n')
    assert query.with_evidence(s, full) == full  # already there: unchanged
    assert query.with_evidence(s, s.text + '    grasp("carrot")\n') == s.text + '    grasp("carrot")\n'
    assert query.parses(full)


def test_messages_share_a_prefix_and_ask_for_no_echo_by_default():
    a = query.build(stub.stubs_for([PAPER]))
    b = query.build(stub.stubs_for([dict(PAPER, narration="wash pan")]), follow_up=1)
    assert a.messages[0] == b.messages[0] and "Do not repeat a stub's evidence comments" in a.messages[0]["content"]
    assert a.messages[1]["content"].endswith(stub.render(PAPER, "take_carrots"))
    common = len(os.path.commonprefix([a.messages[1]["content"], b.messages[1]["content"]]))
    assert common > 0.9 * len(query.prefix()[1])  # library H before the stubs
    echo = query.build(stub.stubs_for([PAPER]), echo=True)
    assert "Do not repeat" not in echo.messages[0]["content"]


def test_both_hands_on_one_object_is_said_once():
    # The real P06_10_5: VISOR shows both hands grabbing the pot in the same frame.
    rec = {"id": "x", "start": 0, "stop": 2.47,
           "contact": {"holding_at_start": {"left": None, "right": None},
                       "events": [{"t": 0.47, "hand": "left", "kind": "grab", "object": "pot"},
                                  {"t": 0.47, "hand": "right", "kind": "grab", "object": "pot"},
                                  {"t": 1.9, "hand": "left", "kind": "release", "object": "pot"},
                                  {"t": 2.2, "hand": "right", "kind": "release", "object": "pot"}]}}
    lines = stub.evidence_lines(rec)
    assert "Grabbed pot at time(s) 0.47" in lines
    assert "Released pot at time(s) 1.90, 2.20" in lines
