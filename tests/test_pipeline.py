"""The real demo sample piped through every stage (csvkit-style): every output line of every tool
validates against the record JSON Schema, and nothing is lost on the way."""
import json
import subprocess

import pytest

from conftest import DATA, records, tool
from leap_cli import stages
from leap_cli.records import validate
from leap_cli.stream import shard_of

DEMO = DATA / "demo"
# leap-clips, then every registered stage with a tool, on the demo data (leap_cli/stages.py)
STAGES = [("leap-clips", [str(DEMO / "EPIC_100_validation.sample.csv")])] + [
    (s.tool, s.sample_args(str(DEMO))) for s in stages.pipeline() if s.tool and s.sample is not None]
EVIDENCE = [s for s in stages.pipeline() if s.evidence and s.tool]


@pytest.fixture(scope="module")
def outputs():
    """Each stage's stdout, the stages run one after another on the previous stage's output."""
    text, out = None, {}
    for name, args in STAGES:
        proc = subprocess.run([tool(name), *args], input=text, capture_output=True, text=True)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        out[name] = text = proc.stdout
    return out


@pytest.mark.parametrize("name", [n for n, _ in STAGES])
def test_every_line_validates_and_none_is_lost(outputs, name):
    recs = records(outputs[name])
    assert len(recs) == 86
    for rec in recs:
        validate(rec)
    assert [r["id"] for r in recs] == [r["id"] for r in records(outputs["leap-clips"])]


def test_each_stage_adds_its_key_with_provenance(outputs):
    final = records(outputs["leap-parse"])
    assert [s.key for s in EVIDENCE] == ["audio", "slam", "detect", "contact"]
    for stage in EVIDENCE:
        assert all(r[stage.key]["source"]["tool"] == stage.tool for r in final if "error" not in r)
    # the demo's poses are SYNTHETIC (tests/data/demo/fields/README.md): walking to the fixtures
    walking = [r for r in final if r["slam"]["goto"]]
    assert not [r for r in final if "missing" in r["slam"]] and len(walking) >= 20
    assert "P03_22_2" in {r["id"] for r in walking}  # "open fridge": walked to the fridge
    assert sum(any(s["verb"] == "goto" for s in r["program"]["steps"]) for r in walking if "program" in r) >= 10
    with_program = [r for r in final if "program" in r and "error" not in r]
    assert len(with_program) >= 80


def test_missing_evidence_gives_a_reason_its_stage_lists(outputs):
    final = records(outputs["leap-parse"])
    found = {s.key: [r[s.key]["missing"] for r in final if "missing" in r.get(s.key, {})] for s in EVIDENCE}
    assert sum(map(len, found.values())) >= 1  # the demo's VISOR sample does not cover every clip
    for stage in EVIDENCE:
        assert [why for why in found[stage.key] if not stage.explains(why)] == [], stage.key


def test_a_take_clip_is_grounded_in_its_evidence(outputs):
    rec = next(r for r in records(outputs["leap-parse"]) if r["id"] == "P03_22_3")  # "grab lunch box"
    assert rec["detect"]["objects"] and "box" in rec["detect"]["objects"]
    assert any(e["kind"] == "grab" and e["object"] == "box" for e in rec["contact"]["events"])
    assert ["box"] in [s["objects"] for s in rec["program"]["steps"] if s["verb"] == "grasp"]


def test_shards_of_the_pipeline_merge_back(outputs, tmp_path):
    full = records(outputs["leap-audio"])
    parts = []
    for k in range(3):
        f = tmp_path / f"s{k}.jsonl"
        proc = subprocess.run([tool("leap-audio"), "--shard", f"{k}/3", "--annotations",
                               str(DEMO / "EPIC_Sounds_validation.sample.csv")],
                              input=outputs["leap-clips"], capture_output=True, text=True, check=True)
        f.write_text(proc.stdout)
        assert all(shard_of(r["id"], 3) == k for r in records(proc.stdout))
        parts.append(str(f))
    clips = tmp_path / "clips.jsonl"
    clips.write_text(outputs["leap-clips"])
    merged = subprocess.run([tool("leap-merge"), "--order", str(clips), *parts], capture_output=True,
                            text=True, check=True)
    assert records(merged.stdout) == full


@pytest.mark.parametrize("name,args", STAGES + [("leap-merge", [])])
def test_an_input_file_that_is_not_there_is_one_clear_error(name, args, tmp_path):
    missing = tmp_path / "nope.jsonl"
    proc = subprocess.run([tool(name), *args, str(missing)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == f"Error: {missing}: cannot open (No such file or directory)\n"
