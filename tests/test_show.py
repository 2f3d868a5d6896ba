"""leap-show: a clip's timeline, stub and program in the terminal and as a PNG."""
import json
import subprocess
import sys

import pytest

from conftest import run_tool

RECORD = {
    "schema": 1, "id": "P01_01_12", "video_id": "P01_01", "start": 52.3, "stop": 57.18,
    "narration": "take carrots", "verb": "take", "verb_class": 0,
    "context": {"before": ["take peppers"], "after": ["wash carrot"]},
    "audio": {"source": {"tool": "leap-audio", "version": "0"},
              "events": [{"label": "scrub / scrape / scour / wipe", "start": 0.55, "stop": 0.93, "score": 0.7}]},
    "slam": {"source": {"tool": "leap-slam", "version": "0"}, "goto": [{"start": 2.57, "stop": 3.77}]},
    "contact": {"source": {"tool": "leap-contact", "version": "0"}, "holding_at_start": {"left": None, "right": None},
                "events": [{"t": 2.82, "hand": "right", "kind": "grab", "object": "carrot"}]},
    "detect": {"source": {"tool": "leap-detect", "version": "0"}, "missing": "no VISOR file for P01_01",
               "objects": [], "frames": []},
    "prompt": {"function": "take_carrots", "response": 'def take_carrots(start_t=0, stop_t=4.88):\n    grasp("carrot")\n'},
    "program": {"steps": [{"verb": "grasp", "verb_id": 1, "objects": ["carrot"], "object_ids": [23]}],
                "violations": [], "warnings": ["unquoted object name"]},
}


def test_terminal_view(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"id": "other"}) + "\n" + json.dumps(RECORD) + "\n")
    out = run_tool("leap-show", "--ids", "P01_01_12", f, "--width", "80", check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "P01_01_12  take carrots  (P01_01 52.30-57.18 s)"
    sound = next(l for l in lines if l.strip().startswith("sound |"))
    walk = next(l for l in lines if l.strip().startswith("walk |"))
    right = next(l for l in lines if l.strip().startswith("right hand |"))
    # --width 80: 64 columns over 4.88 s: 0.55-0.93 s -> columns 7-12, 2.57-3.77 s -> 33-49, grab at 2.82 s -> 36.
    assert sound.split("|")[1].index("=") == 7 and sound.split("|")[1].count("=") == 6
    assert walk.split("|")[1].index("=") == 33
    assert right.split("|")[1].index("+") == 36
    assert "+carrot @2.82" in out
    assert "detect: missing (no VISOR file for P01_01)" in out
    objects = next(l for l in lines if l.strip().startswith("objects |"))
    assert objects == "    objects | missing (no VISOR file for P01_01)" + " " * 29 + "|"
    left = next(l for l in lines if l.strip().startswith("left hand |"))
    assert left == "  left hand | none found" + " " * 53 + "|"
    assert "# Heard sound of scrub at time 0.55 sec to 0.93 sec" in out  # the stub, beside...
    assert '    grasp("carrot")' in out and "0. grasp(carrot)" in out  # ...the program
    assert "~ unquoted object name" in out


def test_unknown_id_is_an_error(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps(RECORD) + "\n")
    res = run_tool("leap-show", "--ids", "P09_09_9", f)
    assert res.returncode == 1 and f"no record for P09_09_9 in {f}" in res.stderr


def test_png(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps(RECORD) + "\n")
    png = tmp_path / "clip.png"
    run_tool("leap-show", "--ids", "P01_01_12", f, "--png", png, check=True)
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000


def test_contacts_are_listed_in_time_order_and_a_swap_shows_both_marks():
    from leap_cli.show import timeline_text

    events = [{"t": 4.41, "hand": "right", "kind": "grab", "object": "water"},
              {"t": 18.71, "hand": "right", "kind": "grab", "object": "package"},
              {"t": 18.71, "hand": "right", "kind": "release", "object": "water"}]
    record = {"id": "P06_10_23", "start": 83.52, "stop": 106.70,
              "contact": {"holding_at_start": {"left": None, "right": None}, "events": events}}
    lines = timeline_text(record)
    right = lines.index(next(l for l in lines if l.strip().startswith("right hand |")))
    assert lines[right + 1].strip() == "+water @4.41; +package @18.71; -water @18.71"
    cells = lines[right].split("|")[1]
    assert cells[12] == "+" and cells[51] == "±"  # 63 columns over 23.18 s


@pytest.mark.parametrize("name", ["leap-stats", "leap-show"])
def test_png_without_matplotlib_names_the_extra(name, tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps(RECORD) + "\n")
    module = f"leap_cli.commands.{name.split('-')[1]}"
    code = (f"import sys; sys.modules['matplotlib'] = None\nimport {module} as m\n"
            f"m.cli(['--ids', 'P01_01_12', {str(f)!r}, '--png', {str(tmp_path / 'x.png')!r}]"
            if name == "leap-show" else
            f"import sys; sys.modules['matplotlib'] = None\nimport {module} as m\n"
            f"m.cli([{str(f)!r}, '--png', {str(tmp_path)!r}]")
    code += ", prog_name=%r)" % name
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == "Error: --png needs matplotlib: pip install 'leap-cli[plot]'\n"
    assert proc.stdout == ""


def test_png_with_two_ids_is_a_usage_error_before_any_output(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps(RECORD) + "\n" + json.dumps({**RECORD, "id": "P01_01_13"}) + "\n")
    res = run_tool("leap-show", "--ids", "P01_01_12,P01_01_13", f, "--png", tmp_path / "x.png")
    assert res.returncode == 2 and "--png draws one clip: give one id" in res.stderr and res.stdout == ""


def test_a_clip_without_narration_has_a_clean_heading():
    from leap_cli.show import render

    record = {"id": "epic_sounds_1", "video_id": "epic_sounds", "start": 6.0, "stop": 12.0}
    assert render(record, 120).splitlines()[0] == "epic_sounds_1  (epic_sounds 6.00-12.00 s)"


def test_png_frames_are_the_ones_the_boxes_came_from(tmp_path, monkeypatch):
    import numpy as np

    from leap_cli import media, show

    asked = []

    def fake_frames(path, start, stop, fps=None, size=None):
        asked.append(round(start, 2))
        return np.zeros(1), np.zeros((1, 48, 64, 3), np.uint8)

    monkeypatch.setattr(media, "frames", fake_frames)
    frames = [{"t": t, "boxes": [[0.1, 0.1, 0.5, 0.5]], "nouns": ["carrot"], "scores": [0.9]}
              for t in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.5)]
    record = {**RECORD, "detect": {"source": {"tool": "leap-detect", "version": "0"}, "objects": ["carrot"],
                                   "frames": frames}}
    show.draw(record, str(tmp_path / "clip.png"), video="v.mp4")
    assert asked == [52.8, 53.8, 54.8, 56.8]  # every 2nd detection frame (7 over 4 images), never between
    show.draw(RECORD, str(tmp_path / "none.png"), video="v.mp4")  # no detections: evenly spaced
    assert asked[4:] == [52.91, 54.13, 55.35, 56.57]


def test_width_sets_the_timeline_columns(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps(RECORD) + "\n")
    for width in (60, 136):
        out = run_tool("leap-show", "--ids", "P01_01_12", f, "--width", str(width), check=True).stdout
        sound = next(l for l in out.splitlines() if l.strip().startswith("sound |"))
        assert len(sound.split("|")[1]) == width - 16


def test_rows_say_missing_none_found_or_not_run_and_name_each_object():
    from leap_cli.show import png_rows

    frames = [{"t": 0.5 * i, "boxes": [[0, 0, 1, 1]] * 2, "nouns": ["carrot", f"n{i % 10}"], "scores": [1, 1]}
              for i in range(40)]
    record = {**RECORD, "slam": {"missing": "no EPIC Fields file for P01_01", "goto": []},
              "audio": {"events": []}, "detect": {"objects": ["carrot"], "frames": frames}}
    del record["contact"]
    rows = {r.name: r for r in png_rows(record)}
    assert rows["walk"].state == "missing (no EPIC Fields file for P01_01)"
    assert rows["sound"].state == "none found" and rows["left hand"].state == "not run"
    objects = [r.name for r in png_rows(record) if r.stage == "detect"]
    assert objects[0] == "carrot" and len(objects) == 9 and objects[-1] == "other objects"
    assert len(rows["carrot"].items) == 40 and len(rows["other objects"].items) == 12  # 3 nouns x 4 frames
