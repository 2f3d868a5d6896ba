"""The one clip accessor (leap_cli.clip) and the EPIC rules (leap_cli.epic), and that every stage applies them."""
from __future__ import annotations

import json

import pytest

from conftest import records, run_tool
from leap_cli import clip, epic
from leap_cli.records import ClipError


@pytest.mark.parametrize("start, stop, message", [
    (float("nan"), 2.0, "start nan is not a finite number of seconds"),
    (1.0, float("inf"), "stop inf is not a finite number of seconds"),
    (-1, 2, "start -1 s is negative"),
    (3, 2, "stop 2 s is not after start 3 s"),
    (2, 2, "stop 2 s is not after start 2 s"),
    (0, 1e12, "stop 1e+12 s is past 86400 s (24 h): no video is that long"),
    (0, 10 ** 400, "start and stop must be seconds in the video (an integer too large)"),
    ("1", 2, "start '1' is not a number of seconds"),
    (0, True, "stop True is not a number of seconds"),
    (None, 2, "start None is not a number of seconds"),
])
def test_bad_windows_are_clear_errors(start, stop, message):
    with pytest.raises(ClipError) as e:
        clip.window({"start": start, "stop": stop})
    assert str(e.value) == message


def test_good_window_and_missing_keys():
    assert clip.window({"start": 0, "stop": 1}) == (0.0, 1.0)
    assert clip.window({"start": 1.5, "stop": clip.MAX_SECONDS}) == (1.5, 86400.0)
    with pytest.raises(ClipError, match="^the record needs numeric start and stop"):
        clip.window({"start": 1})


def test_epic_rules():
    assert epic.frame_rate("P01_101") == 50 and epic.frame_rate("P01_01") == 60
    assert epic.frame_rate("clip7") == 60 and epic.frame_rate("clip7", None) is None and epic.frame_rate(7, None) is None
    assert epic.participant("P01_101_3") == "P01"
    assert clip.participant({"id": "P02_01_4"}) == "P02"
    assert clip.participant({"id": "x", "video_id": "P03_1", "participant_id": "P09"}) == "P09"
    assert clip.frame_rate({"video_id": "P04_110"}) == 50


BAD = [{"start": "soon", "stop": 2}, {"start": 0, "stop": 1e12}, {"start": 10 ** 400, "stop": 2}, {"start": 2, "stop": 1}]


@pytest.mark.parametrize("tool, args", [
    ("leap-slam", ["--poses", "POSES"]),
    ("leap-detect", ["--object-labels", "LABELS"]),
    ("leap-audio", ["--annotations", "SOUNDS"]),
])
def test_every_stage_refuses_the_same_bad_windows(tmp_path, tool, args):
    (tmp_path / "poses.csv").write_text("video_id,t,x,y,z\nP01_01,0,0,0,0\nP01_01,1,0,0,0\n")
    (tmp_path / "labels.csv").write_text("noun_class,noun,participant_id,video_id,frame,bounding_boxes\n"
                                         '1,pan,P01,P01_01,90,"[(100, 200, 50, 80)]"\n')
    (tmp_path / "sounds.csv").write_text("annotation_id,participant_id,video_id,start_timestamp,stop_timestamp,"
                                         "start_sample,stop_sample,description,class,class_id\n")
    paths = {"POSES": tmp_path / "poses.csv", "LABELS": tmp_path / "labels.csv", "SOUNDS": tmp_path / "sounds.csv"}
    lines = "".join(json.dumps({"schema": 1, "id": f"P01_01_{i}", "video_id": "P01_01", **b}) + "\n"
                    for i, b in enumerate(BAD))
    proc = run_tool(tool, *[paths.get(a, a) for a in args], input=lines)
    assert proc.returncode == 0, proc.stderr
    out = records(proc.stdout)
    assert [r["error"]["message"] for r in out] == [
        "start 'soon' is not a number of seconds", "stop 1e+12 s is past 86400 s (24 h): no video is that long",
        "start and stop must be seconds in the video (an integer too large)", "stop 1 s is not after start 2 s"]


def test_leap_clips_refuses_a_nan_time(tmp_path):
    (tmp_path / "clips.csv").write_text("id,video,start,stop\na,v.mp4,nan,2\nb,v.mp4,0,2\n")
    proc = run_tool("leap-clips", tmp_path / "clips.csv")
    out = records(proc.stdout)
    assert out[0]["error"]["message"] == "bad row (start nan is not a finite number of seconds)"
    assert out[1]["start"] == 0.0 and "error" not in out[1]
