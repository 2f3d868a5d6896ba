"""leap-stats: exact statistics of a small program set, and Figure 5 as PNGs."""
import json

from conftest import records, run_tool


def program(*verbs, valid=True, warnings=(), unmapped=()):
    return {"steps": [{"verb": v, "verb_id": 0, "objects": objs, "object_ids": []} for v, objs in verbs],
            "valid": valid, "warnings": list(warnings), "unmapped": list(unmapped),
            "violations": [] if valid else [{"step": 0, "verb": verbs[0][0], "reason": "object not held"}]}


RECS = [
    {"id": "a", "verb": "take", "noun": "carrot", "all_nouns": ["carrot"],
     "program": program(("grasp", ["carrot"]))},
    {"id": "b", "verb": "take", "noun": "knife", "all_nouns": ["knife"],
     "program": program(("goto", ["knife"]), ("grasp", ["knife"]), ("release", ["knife"]))},
    {"id": "c", "verb": "wash", "noun": "pan", "all_nouns": ["pan", "sponge"],
     "program": program(("use", ["sponge", "pan"]), ("release", ["pan"]), valid=False,
                        warnings=["markdown fence removed"], unmapped=["scrubber"])},
    {"id": "d", "verb": "open", "noun": "door", "error": {"stage": "prompt", "message": "budget"}},
]


def test_summary_values(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in RECS) + "oops\n")
    res = run_tool("leap-stats", f, check=True)
    s = json.loads(res.stdout)
    assert (s["clips"], s["programs"], s["errors"], s["valid"], s["invalid"], s["recovered"]) == (5, 3, 2, 2, 1, 1)
    assert s["coverage"] == 0.6
    assert s["subactions_per_program"] == {"mean": 2.0, "median": 2, "histogram": {"1": 1, "2": 1, "3": 1}}
    assert s["programs_per_verb_class"] == {"take": 2, "wash": 1}
    assert s["subactions_per_verb_class"] == {"take": 2.0, "wash": 2.0}
    assert s["objects_in_programs"] == {"knife": 3, "pan": 2, "carrot": 1, "sponge": 1}
    assert s["objects_in_labels"]["door"] == 1 and s["objects_in_labels"]["sponge"] == 1
    assert s["unmapped_objects"] == {"scrubber": 1}
    assert s["violation_reasons"] == {"object not held": 1}
    assert f"{f}:5: not JSON" in res.stderr


def test_figure5_pngs(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in RECS))
    out = tmp_path / "fig"
    res = run_tool("leap-stats", f, "--png", out, check=True)
    for name in ("subactions_per_verb.png", "object_frequency.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        assert f"wrote {out / name}" in res.stderr


def test_zero_programs_give_zero_counts_and_no_figures(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps(RECS[3]) + "\n")  # every clip failed (a dead LLM endpoint)
    out = tmp_path / "fig"
    res = run_tool("leap-stats", f, "--png", out)
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert (s["clips"], s["programs"], s["errors"], s["coverage"]) == (1, 0, 1, 0.0)
    assert s["subactions_per_program"] == {"mean": 0.0, "median": 0, "histogram": {}}
    assert res.stderr == "leap-stats: no programs among 1 records: figures skipped\n"
    assert not out.exists() or not list(out.iterdir())
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    res = run_tool("leap-stats", empty, "--png", out, check=True)
    assert json.loads(res.stdout)["clips"] == 0 and "no programs among 0 records" in res.stderr


def test_label_objects_are_counted_by_class_key_like_the_programs():
    from leap_cli.ontology import noun_id
    from leap_cli.stats import summarize

    recs = [{"id": "P01_01_1", "verb": "wash", "noun": "saucepan", "all_nouns": ["saucepan", "mug"],
             "all_noun_classes": [noun_id("pan"), noun_id("cup")], "program": program(("use", ["pan"]))}]
    s = summarize(recs)
    assert s["objects_in_labels"] == {"pan": 1, "cup": 1}
    assert s["objects_in_programs"] == {"pan": 1}


def test_quality_metrics_exact():
    from leap_cli.stats import summarize

    ev = {"detect": {"objects": ["carrot", "knife"]},
          "contact": {"holding_at_start": {"left": None, "right": None},
                      "events": [{"t": 1.0, "hand": "left", "kind": "grab", "object": "carrot"},
                                 {"t": 2.0, "hand": "left", "kind": "release", "object": "carrot"}]}}
    good = dict(program(("grasp", ["carrot"]), ("use", ["knife", "carrot"])), consistent=True)
    bad = dict(program(("grasp", ["bowl"]), valid=False), consistent=False)
    bad["violations"] = [{"step": 0, "verb": "grasp", "reason": "no evidence or narration names bowl",
                          "kind": "ungrounded"}]
    recs = [{"id": "a", "verb_class": 0, "verb": "take", "noun": "carrot", "all_nouns": ["carrot"], **ev,
             "program": good},
            {"id": "b", "verb_class": 7, "verb": "cut", "noun": "carrot", "all_nouns": ["carrot"], **ev,
             "program": bad}]
    q = summarize(recs)["quality"]
    # grounding: carrot, knife (a) and bowl (b): 2 of 3; verb: take->grasp yes, cut->use no;
    # nouns: carrot in a, not in b; events: a's grasp stands for the grab, nothing for the releases
    assert q == {"valid": 0.5, "consistent": 0.5, "grounding": 0.6667, "narration_verb": 0.5,
                 "narration_nouns": 0.5, "narration_agreement": 0.5, "event_coverage": 0.25,
                 "mean_length": 1.5, "violations_by_kind": {"ungrounded": 1}}


def test_two_sets_side_by_side(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in RECS))
    b.write_text(json.dumps(RECS[0]) + "\n")
    res = run_tool("leap-stats", a, b, check=True)
    lines = res.stdout.splitlines()
    assert lines[0].split() == [str(a), str(b)]
    assert lines[1].split() == ["programs", "/", "clips", "3", "/", "4", "1", "/", "1"]
    assert lines[2].split() == ["valid", "66.7%", "100.0%"]
    assert lines[3].split() == ["consistent", "-", "-"]  # records without the key: not measured
    res = run_tool("leap-stats", a, b, "--png", tmp_path / "fig")
    assert res.returncode == 2 and "--png draws one program set: give one FILE" in res.stderr
