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


def test_label_objects_are_counted_by_class_key_like_the_programs():
    from leap_cli.ontology import noun_id
    from leap_cli.stats import summarize

    recs = [{"id": "P01_01_1", "verb": "wash", "noun": "saucepan", "all_nouns": ["saucepan", "mug"],
             "all_noun_classes": [noun_id("pan"), noun_id("cup")], "program": program(("use", ["pan"]))}]
    s = summarize(recs)
    assert s["objects_in_labels"] == {"pan": 1, "cup": 1}
    assert s["objects_in_programs"] == {"pan": 1}
