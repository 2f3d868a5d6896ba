"""The stage registry (leap_cli/stages.py): a stage registered there, and nowhere else, is in the
record schema, the stub, leap-show's timeline and the evidence checker; the built-in stages are
the files and tools the registry names."""
import json
import re
import subprocess
import sys
import tomllib

import jsonschema
import pytest

from conftest import ROOT
from leap_cli import records, show, stages
from leap_cli.llm import stub
from leap_cli.program import checker


def gaze_lines(value):
    return [f"Looked at {f['object']} from time {stub.t2(f['start'])} sec to time {stub.t2(f['stop'])} sec"
            for f in value["fixations"]]


def gaze_lanes(value):
    return [("gaze", [(f["start"], f["stop"], f["object"]) for f in value.get("fixations", [])])]


GAZE = stages.Stage(
    "gaze", None, "where the camera wearer looks", stub=gaze_lines, stub_rank=15,
    lanes=gaze_lanes, lane_rank=25, empty={"fixations": []}, missing=("no eye tracking for {video_id}",),
    schema={"type": "object", "required": ["source", "fixations"], "additionalProperties": False,
            "properties": {"source": {"$ref": "#/$defs/source"}, "missing": {"type": "string"},
                           "fixations": {"type": "array", "items": {
                               "type": "object", "required": ["object", "start", "stop"],
                               "properties": {"object": {"type": "string"}, "start": {"type": "number"},
                                              "stop": {"type": "number"}}}}}})
SOURCE = {"tool": "leap-gaze", "version": "0"}
RECORD = {"schema": 1, "id": "P01_01_12", "video_id": "P01_01", "start": 52.3, "stop": 57.18,
          "narration": "take carrots",
          "detect": {"source": {"tool": "leap-detect", "version": "0"}, "objects": ["carrot"], "frames": []},
          "contact": {"source": {"tool": "leap-contact", "version": "0"}, "events": [], "frames": [],
                      "holding_at_start": {"left": None, "right": None}},
          "gaze": {"source": SOURCE, "fixations": [{"object": "carrot", "start": 1.0, "stop": 2.0}]}}


@pytest.fixture
def gaze():
    stages.register(GAZE)
    yield GAZE
    stages.unregister("gaze")


def test_a_registered_stage_goes_after_the_last_evidence_stage(gaze):
    assert stages.keys() == ("audio", "slam", "detect", "contact", "gaze", "prompt", "program")
    assert "gaze" in stages.evidence_keys()
    with pytest.raises(ValueError, match="stage 'gaze' is registered already"):
        stages.register(GAZE)
    stages.unregister("gaze")
    stages.register(GAZE, after="audio")
    assert stages.keys()[:3] == ("audio", "gaze", "slam")


def test_records_validate_the_stage_by_its_fragment(gaze):
    records.validate(RECORD)
    records.validate({**RECORD, "gaze": {"source": SOURCE, **gaze.missing_value("no eye tracking for P01_01")}})
    bad = {**RECORD, "gaze": {"source": SOURCE, "fixations": [{"object": "carrot", "start": "1"}]}}
    with pytest.raises(jsonschema.ValidationError, match="'stop' is a required property"):
        records.validate(bad)
    stages.unregister("gaze")
    records.validate(bad)  # not registered: the key is one the schema does not know, so anything goes


def test_the_stub_renders_its_evidence_in_its_place(gaze):
    assert stub.render(RECORD, "take_carrots").splitlines() == [
        "def take_carrots(start_t=0, stop_t=4.88):",
        "    # objects = [carrot]",
        "    # Looked at carrot from time 1.00 sec to time 2.00 sec",
        "    # Holding nothing at start."]
    missing = {**RECORD, "gaze": {"source": SOURCE, **gaze.missing_value("no eye tracking for P01_01")}}
    assert "Looked at" not in stub.render(missing, "f")  # missing evidence is never rendered


def test_the_timeline_has_its_lane_and_says_why_it_is_missing(gaze):
    rows = show.evidence(RECORD)
    assert [r.name for r in rows] == ["sound", "walk", "gaze", "left hand", "right hand", "objects"]
    assert rows[2] == show.Lane("gaze", "gaze", [(1.0, 2.0, "carrot")])
    text = show.timeline_text(RECORD, width=50)
    assert next(l for l in text if l.strip().startswith("gaze |")).split("|")[1].startswith(" " * 10 + "=")
    missing = {**RECORD, "gaze": {"source": SOURCE, **gaze.missing_value("no eye tracking for P01_01")}}
    assert show.evidence(missing)[2].state == "missing (no eye tracking for P01_01)"
    assert "       gaze: missing (no eye tracking for P01_01)" in show.timeline_text(missing)
    assert gaze.explains("no eye tracking for P01_01") and not gaze.explains("no eye tracking")
    assert show.evidence({"id": "x"})[2].state == "not run"


def test_the_checker_counts_it_as_evidence(gaze):
    only_gaze = {"id": "x", "gaze": RECORD["gaze"]}
    assert checker.evidence(only_gaze).grounds
    stages.unregister("gaze")
    assert not checker.evidence(only_gaze).grounds


def test_the_command_line_lists_the_stages(gaze, capsys):
    assert stages.main(["evidence", "keys"]) == 0
    assert capsys.readouterr().out == "audio\nslam\ndetect\ncontact\ngaze\n"
    assert stages.main(["tools"]) == 0  # gaze has no tool of its own
    assert capsys.readouterr().out == "leap-audio\nleap-slam\nleap-detect\nleap-contact\nleap-prompt\nleap-parse\n"
    assert stages.main(["nope"]) == 2


def test_python_m_leap_cli_stages_is_the_pipeline_order():
    out = subprocess.run([sys.executable, "-m", "leap_cli.stages", "evidence", "tools"], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    assert out.split() == ["leap-audio", "leap-slam", "leap-detect", "leap-contact"]


def test_every_schema_fragment_belongs_to_a_stage_and_every_tool_is_installed():
    files = {p.name for p in (ROOT / "leap_cli" / "schema").glob("*.json")} - {"record.schema.json"}
    assert files == {s.schema for s in stages.pipeline()}
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert all(s.tool in scripts for s in stages.pipeline() if s.tool)
    assert set(records.schema()["properties"]) >= set(stages.keys())


def test_the_readme_pipeline_names_the_stages_in_order():
    text = (ROOT / "README.md").read_text()
    chain = re.search(r"```sh\n(leap-clips EPIC_100_train.csv \| leap-audio --annotations.*?)```", text, re.S)[1]
    assert re.findall(r"leap-[a-z]+", chain)[1:] == [s.tool for s in stages.pipeline() if s.tool]


def test_renderers_named_by_module_resolve():
    for stage in stages.pipeline():
        for ref in (stage.stub, stage.lanes):
            assert ref is None or callable(stages.resolve(ref)), (stage.key, ref)
    assert json.dumps(records.schema())  # every fragment is read and is JSON
