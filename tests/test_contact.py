"""leap-contact: the EPIC-100 hand-object pickles, the detector's raw arrays, VISOR, events."""
from __future__ import annotations

import csv
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA, records, run_tool
from leap_cli import ontology
from leap_cli import records as rec
from leap_cli.perception import contact, hoa
from leap_cli.perception.contact import ContactFrame, Event, HandContact

CONTACT = DATA / "contact"
VISOR_DIR = DATA / "detect" / "visor"
REAL = json.loads((CONTACT / "hoa_P01_09_frame_0000013404.json").read_text())
BOX_KEYS = ("left", "top", "right", "bottom")


# --- the release's protobuf wire format, written by hand from the .proto ---------------------

def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _f(field: int, value: float) -> bytes:      # float: wire type 5, little-endian fixed32
    return _varint(field << 3 | 5) + struct.pack("<f", value)


def _v(field: int, value: int) -> bytes:        # int32 / enum: wire type 0
    return _varint(field << 3) + _varint(value)


def _m(field: int, payload: bytes) -> bytes:    # string / message: wire type 2
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _bbox(b: dict) -> bytes:
    return b"".join(_f(i, b[k]) for i, k in enumerate(BOX_KEYS, 1))


def encode_detections(d: dict) -> bytes:
    """model.detections.Detections as data/README.md gives it, encoded without our code."""
    out = _m(1, d["video_id"].encode()) + _v(2, d["frame_number"])
    for h in d["hands"]:
        out += _m(3, _m(1, _bbox(h["bbox"])) + _f(2, h["score"]) + _v(3, h["state_value"])
                  + _m(4, _f(1, h["object_offset"]["x"]) + _f(2, h["object_offset"]["y"]))
                  + _v(5, h["side_value"]))
    for o in d["objects"]:
        out += _m(4, _m(1, _bbox(o["bbox"])) + _f(2, o["score"]))
    return out


def f32(x):
    return float(np.float32(x))


def test_real_frame_reads_back_from_a_pickle_of_protobuf_messages():
    data = pickle.dumps([b""] * 13403 + [encode_detections(REAL)], protocol=2)
    messages = hoa.load_pickle(data)
    assert len(messages) == 13404
    vid, frame = hoa.parse_detections(messages[13403])   # index i = frame i + 1
    assert vid == "P01_09" and frame.frame == 13404
    for got, want in zip(frame.hands, REAL["hands"]):
        assert got.side == want["side"].lower() and got.state == "P"
        assert got.score == f32(want["score"])
        assert got.box == tuple(f32(want["bbox"][k]) for k in BOX_KEYS)
        assert got.offset == (f32(want["object_offset"]["x"]), f32(want["object_offset"]["y"]))
    assert [o.box for o in frame.objects] == [tuple(f32(o["bbox"][k]) for k in BOX_KEYS) for o in REAL["objects"]]
    assert [o.score for o in frame.objects] == [f32(o["score"]) for o in REAL["objects"]]
    # our own messages serialise to bytes the hand-written encoder's reader agrees with
    assert hoa.parse_detections(hoa.serialize_detections(vid, frame)) == (vid, frame)


def official_rule(d: dict, hand_t=0.5, obj_t=0.5) -> dict[int, int]:
    """FrameDetections.get_hand_object_interactions, restated with numpy on the JSON."""
    idx = [i for i, o in enumerate(d["objects"]) if o["score"] >= obj_t]
    centres = np.array([[(d["objects"][i]["bbox"]["left"] + d["objects"][i]["bbox"]["right"]) / 2,
                         (d["objects"][i]["bbox"]["top"] + d["objects"][i]["bbox"]["bottom"]) / 2] for i in idx])
    out = {}
    for j, h in enumerate(d["hands"]):
        if h["state_value"] == 0 or h["score"] <= hand_t:
            continue
        b = h["bbox"]
        p = np.array([(b["left"] + b["right"]) / 2 + h["object_offset"]["x"], (b["top"] + b["bottom"]) / 2 + h["object_offset"]["y"]])
        out[j] = idx[int(np.argmin(((centres - p) ** 2).sum(-1)))]
    return out


def test_real_frame_matched_as_the_official_rule():
    _, frame = hoa.parse_detections(encode_detections(REAL))
    matched = hoa.match(frame, 0.5, 0.5)
    assert {i: h.object_index for i, h in enumerate(matched.hands)} == official_rule(REAL) == {0: 0, 1: 1}
    # raising the object threshold over object 1's score leaves object 0 for both hands
    assert [h.object_index for h in hoa.match(frame, 0.5, 0.9).hands] == [0, 0] == list(official_rule(REAL, 0.5, 0.9).values())
    assert hoa.match(frame, 0.999, 0.5).hands == ()  # both hands score under 0.999: dropped


def test_a_corrupt_pickle_is_an_error_record(tmp_path):
    (tmp_path / "P04_02.pkl").write_bytes(b"\x80\x04garbage")
    line = json.dumps({"schema": 1, "id": "P04_02_3", "video_id": "P04_02", "start": 1.0, "stop": 2.0})
    proc = run_tool("leap-contact", "--hoa", tmp_path, input=line + "\n")
    (r,) = records(proc.stdout)
    assert proc.returncode == 0 and r["error"]["stage"] == "contact"
    assert r["error"]["message"].startswith(f"{tmp_path / 'P04_02.pkl'}: not a hand-object detections pickle (")


def test_pickle_with_code_is_refused():
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))
    with pytest.raises(pickle.UnpicklingError, match="unexpected object builtins.print"):
        hoa.load_pickle(pickle.dumps([Evil()]))


def with_state(d: dict, **states) -> dict:
    """A copy of the real frame with hand states changed, e.g. left=0 (NO_CONTACT)."""
    d = json.loads(json.dumps(d))
    for h in d["hands"]:
        if h["side"].lower() in states:
            h["state_value"] = states[h["side"].lower()]
    return d


def test_hoa_pickles_through_the_cli(tmp_path):
    # P01_09 at 60 fps; clip frames 13380-13560 (223.0-226.0 s). Both hands hold their objects
    # until frame 13440; the left hand lets go from 13441; the right flickers to no contact for
    # frames 13500-13505 (0.1 s, under --min-duration) and holds on.
    msgs = [b""] * 13600
    for n in range(13380, 13561):
        d = REAL if n <= 13440 else with_state(REAL, left=0)
        if 13500 <= n <= 13505:
            d = with_state(REAL, left=0, right=0)
        msgs[n - 1] = encode_detections({**d, "frame_number": n})
    (tmp_path / "P01").mkdir()
    (tmp_path / "P01" / "P01_09.pkl").write_bytes(pickle.dumps(msgs, protocol=4))
    obj0 = [REAL["objects"][0]["bbox"][k] for k in BOX_KEYS]
    obj1 = [REAL["objects"][1]["bbox"][k] for k in BOX_KEYS]
    detect = {"source": {"tool": "leap-detect", "version": "0"}, "objects": ["board:chopping", "knife"],
              "frames": [{"t": t, "boxes": [[v + 0.01 for v in obj0], obj1, [0.0, 0.0, 0.1, 0.1]],
                          "nouns": ["board:chopping", "knife", "tap"], "scores": [0.9, 0.8, 0.7]}
                         for t in (0.0, 1.0, 2.0, 3.0)]}
    clip = {"schema": 1, "id": "P01_09_100", "video_id": "P01_09", "start": 223.0, "stop": 226.0,
            "start_frame": 13380, "stop_frame": 13560, "detect": detect}
    other = {"schema": 1, "id": "P02_01_1", "video_id": "P02_01", "start": 1.0, "stop": 2.0}
    proc = run_tool("leap-contact", "--hoa", tmp_path, "--fps", "native",
                    input=json.dumps(clip) + "\n" + json.dumps(other) + "\n")
    assert proc.returncode == 0, proc.stderr
    out, missing = records(proc.stdout)
    rec.validate(out)
    rec.validate(missing)
    c = out["contact"]
    assert c["holding_at_start"] == {"left": "board:chopping", "right": "knife"}
    assert c["events"] == [{"t": round(13441 / 60 - 223.0, 3), "hand": "left", "kind": "release",
                            "object": "board:chopping"}]
    assert len(c["frames"]) == 181 and c["unnamed"] == 0
    first = c["frames"][0]
    assert first["t"] == 0.0 and [h["side"] for h in first["hands"]] == ["left", "right"]
    assert first["hands"][1]["object_box"] == pytest.approx(obj1, abs=1e-4)
    assert c["source"]["hoa"].endswith("P01/P01_09.pkl") and c["source"]["names"] == "leap-detect"
    assert missing["contact"]["missing"].startswith("no hand-object detections P02_01.pkl under")
    # a pickle whose list is shifted by one frame is refused, not read one frame off (frame
    # 13380 reads the empty message before the first one; 13386, 10 fps later, gives it away)
    (tmp_path / "P01" / "P01_09.pkl").write_bytes(pickle.dumps([b""] + msgs, protocol=4))
    proc = run_tool("leap-contact", "--hoa", tmp_path, input=json.dumps(clip) + "\n")
    assert records(proc.stdout)[0]["error"]["message"] == (
        f"{tmp_path / 'P01' / 'P01_09.pkl'}: list index 13385 holds frame 13385, expected 13386 (index i = frame i + 1)")
    (tmp_path / "P01" / "P01_09.pkl").write_bytes(pickle.dumps(msgs, protocol=4))
    # at 10 fps (every 6th frame) the release is seen at frame 13446
    proc = run_tool("leap-contact", "--hoa", tmp_path, input=json.dumps(clip) + "\n")
    c10 = records(proc.stdout)[0]["contact"]
    assert [(e["t"], e["kind"]) for e in c10["events"]] == [(round(13446 / 60 - 223.0, 3), "release")]
    assert len(c10["frames"]) == 31
    # with no leap-detect boxes the contacts stay unnamed, and say so
    bare = {k: v for k, v in clip.items() if k != "detect"}
    proc = run_tool("leap-contact", "--hoa", tmp_path, input=json.dumps(bare) + "\n")
    cb = records(proc.stdout)[0]["contact"]
    assert cb["holding_at_start"] == {"left": None, "right": None}
    assert cb["events"] == [{"t": round(13446 / 60 - 223.0, 3), "hand": "left", "kind": "release", "object": None}]
    # left holds in 11 of the 31 frames read (13380-13440), right in 30 (not 13500, in the flicker)
    assert cb["unnamed"] == 11 + 30 and cb["source"]["names"] is None


def raw_rows(n: int, holding: bool):
    """Detector-demo arrays (pixels of 456x256) for one frame: the right hand at
    (100, 100)-(160, 180), its offset pointing at the cup (250, 90)-(310, 150) when holding."""
    hx, hy = 130.0, 140.0
    cx, cy = 280.0, 120.0
    dx, dy = cx - hx, cy - hy
    mag = float(np.hypot(dx, dy))
    hand = [100, 100, 160, 180, 0.98, 3 if holding else 0, mag / 10000, dx / mag, dy / mag, 1]
    objs = [[250, 90, 310, 150, 0.9, 0, 0, 0, 0, 0], [20, 20, 60, 60, 0.95, 0, 0, 0, 0, 0]]
    return np.array([hand], np.float32), np.array(objs, np.float32)


def test_synthetic_grab_release_and_flicker_from_raw_arrays(tmp_path):
    # P02_01 at 60 fps, clip 10.0-14.0 s = frames 600-840. The right hand grabs at 11.0 s
    # (frame 660), releases at 12.5 s (frame 750); frames 780-785 (0.1 s) flicker to contact.
    folder = tmp_path / "P02" / "P02_01"
    folder.mkdir(parents=True)
    for n in range(600, 841):
        holding = 660 <= n < 750 or 780 <= n <= 785
        hand, objs = raw_rows(n, holding)
        np.savez(folder / f"frame_{n:010d}.npz", hand_dets=hand, obj_dets=objs)
    cup = [250 / 456, 90 / 256, 310 / 456, 150 / 256]
    detect = {"source": {"tool": "leap-detect", "version": "0"}, "objects": ["cup"],
              "frames": [{"t": t / 2, "boxes": [cup], "nouns": ["cup"], "scores": [0.9]} for t in range(9)]}
    clip = {"schema": 1, "id": "P02_01_7", "video_id": "P02_01", "start": 10.0, "stop": 14.0, "detect": detect}
    proc = run_tool("leap-contact", "--hoa-raw", tmp_path, "--fps", "native", input=json.dumps(clip) + "\n")
    assert proc.returncode == 0, proc.stderr
    c = records(proc.stdout)[0]["contact"]
    rec.validate(records(proc.stdout)[0])
    assert c["holding_at_start"] == {"left": None, "right": None}
    assert c["events"] == [{"t": 1.0, "hand": "right", "kind": "grab", "object": "cup"},
                           {"t": 2.5, "hand": "right", "kind": "release", "object": "cup"}]
    grabbed = next(f for f in c["frames"] if f["t"] == 1.5)["hands"][0]
    assert grabbed["state"] == "P" and grabbed["object_box"] == pytest.approx(cup, abs=1e-4)
    # a minimum shorter than the flicker lets it through
    proc = run_tool("leap-contact", "--hoa-raw", tmp_path, "--fps", "native", "--min-duration", "0.05",
                    input=json.dumps(clip) + "\n")
    kinds = [(e["t"], e["kind"]) for e in records(proc.stdout)[0]["contact"]["events"]]
    assert kinds == [(1.0, "grab"), (2.5, "release"), (3.0, "grab"), (3.1, "release")]


def test_events_pure():
    frames = []
    for i in range(120):                 # 30 fps, 4 s
        t = i / 30
        holding = 1.0 <= t < 2.5 or 3.0 <= t < 3.1
        # an unnamed stretch inside the hold takes the neighbours' noun, not a new object
        noun = None if 1.5 <= t < 1.6 else "cup"
        frames.append(ContactFrame(t, (HandContact("right", "P" if holding else "N", object=noun if holding else None),)))
    start, events = contact.events(frames, 0.25)
    assert start == {"left": None, "right": None}
    assert events == [Event(1.0, "right", "grab", "cup"), Event(2.5, "right", "release", "cup")]
    # the same frames as a sparse source: every frame counts
    _, sparse = contact.events(frames, 0.25, dense=False)
    assert [(e.t, e.kind, e.object) for e in sparse][:3] == [(1.0, "grab", "cup"), (1.5, "release", "cup"), (1.5, "grab", None)]
    # switching objects without a free frame: release and grab at the same time
    sw = [ContactFrame(i / 10, (HandContact("left", "P", object="cup" if i < 10 else "plate"),)) for i in range(20)]
    assert contact.events(sw, 0.25) == ({"left": "cup", "right": None},
                                        [Event(1.0, "left", "release", "cup"), Event(1.0, "left", "grab", "plate")])


def test_name_objects_by_iou_with_the_nearest_detect_frame():
    h = HandContact("left", "P", object_box=(0.1, 0.1, 0.3, 0.3))
    det = [{"t": 0.0, "boxes": [[0.1, 0.1, 0.3, 0.3]], "nouns": ["pan"], "scores": [1]},
           {"t": 1.0, "boxes": [[0.12, 0.1, 0.3, 0.3], [0.5, 0.5, 0.6, 0.6]], "nouns": ["lid", "tap"], "scores": [1, 1]},
           {"t": 5.0, "boxes": [], "nouns": [], "scores": []}]
    named, unnamed = contact.name_objects([ContactFrame(0.4, (h,)), ContactFrame(0.6, (h,)), ContactFrame(3.0, (h,))], det)
    assert [f.hands[0].object for f in named] == ["pan", "lid", None] and unnamed == 1
    assert contact.iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)


def narration_clips():
    def seconds(ts):
        h, m, s = ts.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    for r in csv.DictReader((CONTACT / "P03_22_narrations.csv").open()):
        yield {"schema": 1, "id": r["narration_id"], "video_id": r["video_id"],
               "start": seconds(r["start_timestamp"]), "stop": seconds(r["stop_timestamp"]),
               "start_frame": int(r["start_frame"]), "stop_frame": int(r["stop_frame"]),
               "narration": r["narration"], "verb": r["verb"], "noun": r["noun"],
               "verb_class": int(r["verb_class"]), "noun_class": int(r["noun_class"])}


def test_visor_contact_on_a_real_video_against_its_narrations():
    clips = list(narration_clips())
    proc = run_tool("leap-contact", "--visor", VISOR_DIR, input="".join(json.dumps(c) + "\n" for c in clips))
    assert proc.returncode == 0, proc.stderr
    out = {r["id"]: r for r in records(proc.stdout)}
    assert len(out) == 26
    for r in out.values():
        rec.validate(r)
    # every take/grab/pick-up clip whose hands VISOR annotated shows a grab of its own noun...
    taking = [c for c in clips if c["verb"] in ("take", "grab", "pick-up")]
    shows = {c["id"] for c in taking
             if any(e["kind"] == "grab" and e["object"] == ontology.nouns()[c["noun_class"]].key
                    for e in out[c["id"]]["contact"]["events"])}
    assert shows == {"P03_22_3", "P03_22_10", "P03_22_14", "P03_22_19", "P03_22_24", "P03_22_25"}
    # ...except the fork, which VISOR marks as contact with an unannotated object (noun unknown),
    # and the pancakes, where no frame in the clip shows a hand
    assert [(e["kind"], e["object"]) for e in out["P03_22_5"]["contact"]["events"]] == [("grab", None)]
    assert out["P03_22_5"]["contact"]["unnamed"] == 2 and out["P03_22_19"]["contact"]["unnamed"] == 0
    assert out["P03_22_16"]["contact"]["missing"] == "no VISOR frame with a hand in the clip"
    # one annotated frame is evidence: take plate, frame 2862 (21 frames after the start)
    assert out["P03_22_19"]["contact"]["events"] == [
        {"t": round(2862 / 60 - out["P03_22_19"]["start"], 3), "hand": "right", "kind": "grab", "object": "plate"}]
    # the look-back frame before "grab drink" shows the right hand on the fridge
    c10 = out["P03_22_10"]["contact"]
    assert c10["holding_at_start"] == {"left": None, "right": "fridge"}
    assert ("left", "grab", "drink") in [(e["hand"], e["kind"], e["object"]) for e in c10["events"]]
    # putting the drink in the bag: the left hand lets go of it
    assert ("left", "release", "drink") in [(e["hand"], e["kind"], e["object"]) for e in out["P03_22_12"]["contact"]["events"]]


def test_exactly_one_source_and_require(tmp_path):
    proc = run_tool("leap-contact", input="")
    assert proc.returncode == 2 and "give exactly one of --hoa, --hoa-raw, --visor, --model" in proc.stderr
    line = json.dumps({"schema": 1, "id": "P09_01_1", "video_id": "P09_01", "start": 1.0, "stop": 2.0})
    proc = run_tool("leap-contact", "--visor", VISOR_DIR, "--require", input=line + "\n")
    (r,) = records(proc.stdout)
    assert proc.returncode == 0
    assert r["error"] == {"stage": "contact", "message": "missing evidence: no VISOR annotation P09_01.json under "
                          f"{VISOR_DIR} (without --require the clip goes on)"}


def test_onnx_hand_object_model_on_a_generated_video(tmp_path):
    from detect_models import HAND_BOX, YELLOW_BOX, hand_object_detector, lavfi_boxes

    video = lavfi_boxes(tmp_path / "boxes.mkv")
    model = hand_object_detector(tmp_path / "hands.onnx")
    (tmp_path / "hands.json").write_text(json.dumps({
        "name": "hands", "task": "contact",
        "input": {"layout": "NCHW", "dtype": "float32", "color": "RGB", "size": [160, 120]},
        "output": {"hand_dets": "hand_dets", "obj_dets": "obj_dets", "normalized": False}}))
    yellow = [YELLOW_BOX[0] / 160, YELLOW_BOX[1] / 120, YELLOW_BOX[2] / 160, YELLOW_BOX[3] / 120]
    detect = {"source": {"tool": "leap-detect", "version": "0"}, "objects": ["bowl"],
              "frames": [{"t": t / 4, "boxes": [yellow], "nouns": ["bowl"], "scores": [0.9]} for t in range(9)]}
    clip = {"schema": 1, "id": "B_1", "video_id": "B_01", "video": str(video), "start": 0.5, "stop": 2.5,
            "detect": detect}
    proc = run_tool("leap-contact", "--model", model, "--fps", "native", "--batch-size", "4",
                    input=json.dumps(clip) + "\n")
    assert proc.returncode == 0, proc.stderr
    out = records(proc.stdout)[0]
    rec.validate(out)
    c = out["contact"]
    # the red box (hence contact) is shown until 1.1 s of the video: released at 1.2 s = 0.7 s into the clip
    assert c["holding_at_start"] == {"left": None, "right": "bowl"}
    assert c["events"] == [{"t": 0.7, "hand": "right", "kind": "release", "object": "bowl"}]
    assert len(c["frames"]) == 20 and c["source"]["model"] == "hands.onnx"
    first = c["frames"][0]["hands"][0]
    assert first["box"] == pytest.approx([HAND_BOX[0] / 160, HAND_BOX[1] / 120, HAND_BOX[2] / 160, HAND_BOX[3] / 120], abs=1e-4)
    assert first["object_box"] == pytest.approx(yellow, abs=1e-4) and first["state"] == "P"


def test_hand_object_manifest_describes_the_contract():
    from leap_cli.perception import detect

    path = Path(__file__).resolve().parent.parent / "models" / "hand-object-detector" / "manifest.json"
    m = json.loads(path.read_text())
    fields = detect.input_fields(m["input"])
    assert (fields["color"], fields["scale"], fields["mean"]) == ("BGR", 1.0, (102.9801, 115.9465, 122.7717))
    assert {m["output"]["hand_dets"], m["output"]["obj_dets"]} == {"hand_dets", "obj_dets"}
    assert m["output"]["normalized"] is False


def test_a_mistyped_source_folder_is_a_usage_error_not_every_clip_missing(tmp_path):
    line = json.dumps({"schema": 1, "id": "P03_22_0", "video_id": "P03_22", "start": 1.97, "stop": 3.03})
    for flag in ("--hoa", "--hoa-raw", "--visor"):
        proc = run_tool("leap-contact", flag, tmp_path / "no-such-folder", input=line + "\n")
        assert proc.returncode == 2, flag
        assert f"Invalid value for '{flag}': Directory '{tmp_path / 'no-such-folder'}' does not exist." in proc.stderr
        assert proc.stdout == ""


def test_a_corrupt_visor_file_is_an_error_naming_it(tmp_path):
    (tmp_path / "P03_22.json").write_text('{"video_annotations": [\n')
    line = json.dumps({"schema": 1, "id": "P03_22_0", "video_id": "P03_22", "start": 1.97, "stop": 3.03})
    for tool in ("leap-contact", "leap-detect"):
        proc = run_tool(tool, "--visor", tmp_path, input=line + "\n")
        (r,) = records(proc.stdout)
        assert proc.returncode == 0
        assert r["error"]["message"] == (f"{tmp_path / 'P03_22.json'}: not a VISOR annotation file "
                                         "(JSONDecodeError: Expecting value: line 2 column 1 (char 24))")


def test_unreadable_detector_arrays_are_an_error_naming_the_file(tmp_path):
    folder = tmp_path / "P01" / "P01_09"
    folder.mkdir(parents=True)
    np.savez(folder / "frame_0000013386.npz", hand_dets=np.zeros((1, 5), np.float32))  # 5 columns, not 10
    line = json.dumps({"schema": 1, "id": "P01_09_1", "video_id": "P01_09", "start": 223.0, "stop": 224.0})
    proc = run_tool("leap-contact", "--hoa-raw", tmp_path, input=line + "\n")
    (r,) = records(proc.stdout)
    assert proc.returncode == 0
    assert r["error"]["message"] == (f"{folder / 'frame_0000013386.npz'}: not detector arrays "
                                     "(hand_dets row has 5 columns, expected 10)")
    (folder / "frame_0000013380.npz").write_bytes(b"not a zip")
    (r,) = records(run_tool("leap-contact", "--hoa-raw", tmp_path, input=line + "\n").stdout)
    assert r["error"]["message"].startswith(f"{folder / 'frame_0000013380.npz'}: not detector arrays (")


def test_visor_detect_and_contact_on_a_second_real_video():
    # P06_10 (60 fps numbering) from the demo data: the narrations' own clips through
    # leap-clips | leap-detect --visor | leap-contact --visor
    demo = DATA / "demo"
    ids = "P06_10_0,P06_10_28,P06_10_35"
    clips = run_tool("leap-clips", demo / "EPIC_100_validation.sample.csv", "--ids", ids, "-q", check=True)
    det = run_tool("leap-detect", "--visor", demo / "visor", "-q", input=clips.stdout, check=True)
    proc = run_tool("leap-contact", "--visor", demo / "visor", "-q", input=det.stdout, check=True)
    out = {r["id"]: r for r in records(proc.stdout)}
    for r in out.values():
        rec.validate(r)
    pan = out["P06_10_0"]  # pick up pan, 4.54-6.24 s; VISOR frames 308 and 337
    assert [f["t"] for f in pan["detect"]["frames"]] == [round(308 / 60 - 4.54, 3), round(337 / 60 - 4.54, 3)]
    assert pan["detect"]["objects"] == ["lid", "pan", "hob", "pot"]
    assert [(e["t"], e["hand"], e["kind"], e["object"]) for e in pan["contact"]["events"]] == [
        (round(308 / 60 - 4.54, 3), "left", "grab", "pan"), (round(337 / 60 - 4.54, 3), "right", "grab", "lid")]
    board = out["P06_10_28"]["contact"]["events"]  # pick up chopping board (knife in the other hand)
    assert ("left", "grab", "board:chopping") in [(e["hand"], e["kind"], e["object"]) for e in board]
    knife = out["P06_10_35"]["contact"]["events"]  # pick up knife: the left hand is on the drawer
    assert [(e["hand"], e["kind"], e["object"]) for e in knife] == [("left", "grab", "drawer"), ("right", "grab", "knife")]
