"""leap-contact from a hand detector without contact states: hand boxes + leap-detect's boxes."""
from __future__ import annotations

import json

import pytest

from conftest import records, run_tool
from detect_models import box_detector, lavfi_boxes, lime_box
from leap_cli import records as rec
from leap_cli.perception import hand_contact as hc
from leap_cli.perception.contact import HandContact

W, H = 160, 120


def norm(box):
    return [box[0] / W, box[1] / H, box[2] / W, box[3] / H]


def test_overlap_is_over_the_smaller_box():
    assert hc.overlap((0, 0, 0.2, 0.2), (0.1, 0.1, 0.15, 0.15)) == pytest.approx(1.0)
    assert hc.overlap((0, 0, 0.2, 0.2), (0.1, 0, 0.3, 0.2)) == pytest.approx(0.5)
    assert hc.overlap((0, 0, 0.1, 0.1), (0.2, 0.2, 0.3, 0.3)) == 0.0


def test_sides_from_the_model_else_from_position():
    a, b, c = (hc.HandBox((0.6, 0.5, 0.8, 0.9), 0.9), hc.HandBox((0.2, 0.5, 0.4, 0.9), 0.8),
               hc.HandBox((0.45, 0.5, 0.5, 0.9), 0.3))
    assert hc.assign_sides([a, b, c]) == {"left": b, "right": a}      # the two best, left to right
    assert hc.assign_sides([c]) == {"left": c}                          # centre 0.475: left
    assert hc.assign_sides([a]) == {"right": a}
    told = hc.HandBox((0.6, 0.5, 0.8, 0.9), 0.5, side="left")
    assert hc.assign_sides([told, a]) == {"left": told, "right": a}


def test_contact_rule_smaller_object_wins_ties_and_min_overlap():
    hand = hc.HandBox((0.5, 0.5, 0.7, 0.9), 0.9)
    objects = [((0.0, 0.0, 1.0, 1.0), "cupboard"), ((0.55, 0.6, 0.65, 0.8), "cup"), ((0.65, 0.5, 0.9, 0.9), "pan")]
    f = hc.contact_frame(1.0, [hand], objects, 0.5)
    assert f.hands == (HandContact("right", "P", hand.box, (0.55, 0.6, 0.65, 0.8), "cup", 0.9),)
    f = hc.contact_frame(1.0, [hand], objects[2:], 0.5)              # pan covers 1/4 of the hand
    assert f.hands[0].state == "N" and f.hands[0].object is None
    assert hc.contact_frame(1.0, [hand], objects[2:], 0.2).hands[0].object == "pan"
    stated = hc.HandBox(hand.box, 0.9, state="N")                   # the model's own state wins
    assert hc.contact_frame(1.0, [stated], objects, 0.5).hands[0].state == "N"


def detect_value(times, cup_from, cup_to, hand_box=(0.6, 0.6, 0.75, 0.95)):
    cup = [0.62, 0.65, 0.7, 0.85]
    return {"source": {"tool": "leap-detect", "version": "0"}, "objects": ["cup"],
            "frames": [{"t": t, "boxes": [cup] if cup_from <= t <= cup_to else [],
                        "nouns": ["cup"] if cup_from <= t <= cup_to else [],
                        "scores": [0.9] if cup_from <= t <= cup_to else []} for t in times],
            "hands": [{"t": t, "box": list(hand_box), "label": "palm", "score": 0.8} for t in times]}


def test_detect_hands_source_grab_and_release():
    times = [round(0.1 * i, 3) for i in range(30)]
    r = {"schema": 1, "id": "X_1", "video_id": "P01_01", "start": 10.0, "stop": 13.0,
         "detect": detect_value(times, 1.0, 2.0)}
    proc = run_tool("leap-contact", "--detect-hands", input=json.dumps(r) + "\n")
    assert proc.returncode == 0, proc.stderr
    (out,) = records(proc.stdout)
    rec.validate(out)
    c = out["contact"]
    assert c["holding_at_start"] == {"left": None, "right": None}
    assert c["events"] == [{"t": 1.0, "hand": "right", "kind": "grab", "object": "cup"},
                           {"t": 2.1, "hand": "right", "kind": "release", "object": "cup"}]
    assert c["source"]["contact"] == "overlap" and c["source"]["min_overlap"] == 0.5
    # the cup covers 0.08 x 0.2 of a 0.15 x 0.35 hand; over the smaller box it is inside it: 1.0
    proc = run_tool("leap-contact", "--detect-hands", input=json.dumps({**r, "detect": {"frames": []}}) + "\n")
    assert records(proc.stdout)[0]["contact"]["missing"].startswith("the record's detect has no hands")


def test_hand_model_through_leap_contact(tmp_path):
    """A generated detector whose lime box is a hand (no side, no state); leap-detect's boxes in
    the record put a cup under it from 0.5 s to 1.0 s."""
    video = lavfi_boxes(tmp_path / "boxes.mkv")
    model = box_detector(tmp_path / "hands.onnx")
    (tmp_path / "hands.json").write_text(json.dumps({
        "name": "lime-hands", "input": {"name": "images", "size": [W, H]},
        "output": {"boxes": "boxes", "scores": "scores", "classes": "classes", "normalized": False},
        "labels": {"0": "tomato", "1": "hand"}, "hands": [1], "threshold": 0.85}))
    times = [round(0.1 * i, 3) for i in range(21)]
    frames = [{"t": t, "boxes": [norm(lime_box(t))] if 0.5 <= t <= 1.0 else [],
               "nouns": ["cup"] if 0.5 <= t <= 1.0 else [], "scores": [1.0] if 0.5 <= t <= 1.0 else []}
              for t in times]
    r = {"schema": 1, "id": "B_1", "video_id": "B_01", "video": str(video), "start": 0.0, "stop": 2.0,
         "detect": {"source": {"tool": "leap-detect", "version": "0"}, "objects": ["cup"], "frames": frames}}
    proc = run_tool("leap-contact", "--model", model, "--fps", "10", input=json.dumps(r) + "\n")
    assert proc.returncode == 0, proc.stderr
    c = records(proc.stdout)[0]["contact"]
    assert c["source"]["manifest"] == "lime-hands" and c["source"]["threshold"] == 0.85
    assert {h["side"] for f in c["frames"] for h in f["hands"]} == {"right"}      # centre x 0.7
    assert c["frames"][0]["hands"][0]["box"] == pytest.approx(norm(lime_box(0)), abs=1e-4)
    assert c["events"] == [{"t": 0.5, "hand": "right", "kind": "grab", "object": "cup"},
                           {"t": 1.1, "hand": "right", "kind": "release", "object": "cup"}]
