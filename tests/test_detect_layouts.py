"""leap-detect with the output layouts real exports have: packed rows, YOLO, SSD anchors, letterbox,
the manifest checked against the model, per-model thresholds, hands, the COCO -> EPIC-100 map.

Generated models (tests/detect_models.py) always; the real networks of ../shared/models when
that folder exists (skipped otherwise)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import records, run_tool
from detect_models import YELLOW_BOX, box_detector, lavfi_boxes, layout_detector, lime_box, red_box
from leap_cli import ontology
from leap_cli import records as rec
from leap_cli.perception import detect, layouts

W, H = 160, 120
REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO.parent / "shared" / "models"
P28_FRAMES = REPO.parent / "shared" / "data" / "epic-fields-code" / "example_data" / "P28_101"


def norm(box, w=W, h=H):
    return [box[0] / w, box[1] / h, box[2] / w, box[3] / h]


@pytest.fixture(scope="module")
def boxes_video(tmp_path_factory) -> Path:
    return lavfi_boxes(tmp_path_factory.mktemp("video") / "boxes.mkv")


def clip(video, start=0.0, stop=1.0, **kw):
    return json.dumps({"schema": 1, "id": "B_1", "video_id": "B_01", "video": str(video),
                       "start": start, "stop": stop, **kw}) + "\n"


LABELS = {"0": "tomatoes", "1": "cucumber", "2": "xylophone", "3": "blueberry"}


def write_manifest(folder: Path, model: Path, **parts) -> Path:
    m = {"name": "test-" + model.stem, "task": "detect",
         "input": {"name": "images", "layout": "NCHW", "dtype": "float32", "size": [W, H]},
         "labels": LABELS, **parts}
    path = folder / (model.stem + ".json")
    path.write_text(json.dumps(m))
    return path


# --- pure decoders ---------------------------------------------------------------------------

def test_decode_packed_and_yolo_both_orders_with_and_without_objectness():
    rows = np.array([[1, 2, 3, 4, 0.9, 7], [5, 6, 7, 8, 0.1, 2]], np.float32)
    b, s, c = layouts.decode_packed(rows)
    assert b.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]] and s.tolist() == pytest.approx([0.9, 0.1]) and c.tolist() == [7, 2]
    # 3 anchors, 2 classes: cx, cy, w, h, class scores
    pred = np.array([[10, 20, 4, 6, 0.8, 0.1], [50, 50, 10, 10, 0.2, 0.7], [0, 0, 2, 2, 0, 0]], np.float32)
    for arr in (pred, pred.T):   # [N, 4+C] and [4+C, N]
        b, s, c = layouts.decode_yolo(arr, num_classes=2)
        assert c is None and b[0].tolist() == [8, 17, 12, 23] and s.shape == (3, 2)
        assert s[1].tolist() == pytest.approx([0.2, 0.7])
    obj = np.concatenate([pred[:, :4], [[0.5], [1.0], [0.0]], pred[:, 4:]], axis=1)
    _, s, _ = layouts.decode_yolo(obj.T, num_classes=2, objectness=True)
    assert s[0].tolist() == pytest.approx([0.4, 0.05]) and s[2].tolist() == [0, 0]
    with pytest.raises(ValueError, match="needs an axis of 7 values, got shape \\[3, 6\\]"):
        layouts.decode_yolo(pred, num_classes=3)


def test_ssd_anchors_mediapipe_palm_grid_and_decoding():
    anchors = layouts.ssd_anchors([[24, 2], [12, 6]])
    assert anchors.shape == (2016, 2)
    # first cell of the 24x24 layer twice, then its second column; the 12x12 layer after 1152
    np.testing.assert_allclose(anchors[:3], [[0.5 / 24, 0.5 / 24]] * 2 + [[1.5 / 24, 0.5 / 24]], rtol=1e-6)
    assert anchors[1152].tolist() == pytest.approx([0.5 / 12, 0.5 / 12])
    assert anchors[-1].tolist() == pytest.approx([11.5 / 12, 11.5 / 12])
    reg = np.zeros((2016, 18), np.float32)
    reg[1152] = [19.2, -9.6, 38.4, 19.2] + [0] * 14      # +0.1, -0.05 of the input; 0.2 x 0.1
    logits = np.full((2016, 1), -10, np.float32)
    logits[1152] = 0
    b, s, c = layouts.decode_ssd(reg, logits, anchors, (192, 192))
    cx, cy = 0.5 / 12 + 0.1, 0.5 / 12 - 0.05
    assert b[1152].tolist() == pytest.approx([cx - 0.1, cy - 0.05, cx + 0.1, cy + 0.05])
    assert s[1152, 0] == pytest.approx(0.5) and s[0, 0] < 1e-4 and c is None


def test_letterbox_geometry_pad_and_mapping_back():
    box = layouts.letterbox(160, 120, 320, 320)
    assert box == layouts.Letterbox(320, 320, 320, 240, 0, 40)
    frames = np.zeros((2, 240, 320, 3), np.uint8)
    padded = layouts.pad(frames + 7, box, 114)
    assert padded.shape == (2, 320, 320, 3) and padded[0, 39, 0, 0] == 114 and padded[0, 40, 0, 0] == 7
    assert padded[0, 280, 0, 0] == 114 and padded[0, 279, 0, 0] == 7
    back = layouts.unletterbox(np.array([[0, 40, 320, 280], [160, 160, 240, 220]], np.float32), box)
    np.testing.assert_allclose(back, [[0, 0, 1, 1], [0.5, 0.5, 0.75, 0.75]], atol=1e-6)


# --- generated models through leap-detect ------------------------------------------------------

def test_packed_rows_through_leap_detect(tmp_path, boxes_video):
    model = layout_detector(tmp_path / "packed.onnx", "packed")
    write_manifest(tmp_path, model, output={"layout": "packed", "detections": "detections",
                                             "normalized": False, "nms": True})
    proc = run_tool("leap-detect", "--model", model, "--fps", "5", input=clip(boxes_video))
    assert proc.returncode == 0, proc.stderr
    (out,) = records(proc.stdout)
    rec.validate(out)
    for f in out["detect"]["frames"]:
        want = {"cucumber": norm(lime_box(f["t"]))}
        if red_box(f["t"]):
            want["tomato"] = norm(red_box(f["t"]))
        assert dict(zip(f["nouns"], f["boxes"])) == {k: pytest.approx(v, abs=1e-4) for k, v in want.items()}
    assert out["detect"]["source"]["manifest"] == "test-packed"
    # xylophone (yellow, 0.8) is no EPIC-100 noun: named with its count, per clip and at the end
    assert out["detect"]["source"]["unmapped"] == {"xylophone": 5} and out["detect"]["unmapped"] == 5
    assert "labels with no EPIC-100 noun (boxes dropped): xylophone 5" in proc.stderr


@pytest.mark.parametrize("objectness,attrs_first", [(False, True), (True, False)])
def test_yolo_letterboxed_boxes_map_back_to_the_frame(tmp_path, boxes_video, objectness, attrs_first):
    """The model sees the 160x120 frames scaled into 320x320 with grey bands above and below;
    its boxes (pixels of the padded input, cx cy w h) must come back as boxes of the frame."""
    model = layout_detector(tmp_path / "yolo.onnx", "yolo", size=(320, 320), objectness=objectness,
                            attrs_first=attrs_first)
    write_manifest(tmp_path, model, input={"name": "images", "layout": "NCHW", "dtype": "float32",
                                            "size": [320, 320], "resize": "letterbox"},
                   output={"layout": "yolo", "predictions": "output0", "objectness": objectness}, threshold=0.85)
    proc = run_tool("leap-detect", "--model", model, "--fps", "5", input=clip(boxes_video))
    assert proc.returncode == 0, proc.stderr
    det = records(proc.stdout)[0]["detect"]
    assert det["source"]["threshold"] == 0.85          # the manifest's: yellow (0.8) and blue under it
    for f in det["frames"]:
        want = {"cucumber": norm(lime_box(f["t"]))}
        if red_box(f["t"]):
            want["tomato"] = norm(red_box(f["t"]))
        # scaled x2 by ffmpeg: a (scaled) pixel of slack
        assert dict(zip(f["nouns"], f["boxes"])) == {k: pytest.approx(v, abs=1 / 160) for k, v in want.items()}


def test_hand_classes_go_to_detect_hands_never_objects(tmp_path, boxes_video):
    model = box_detector(tmp_path / "hands.onnx", normalized=False)
    write_manifest(tmp_path, model, output={"boxes": "boxes", "scores": "scores", "classes": "classes",
                                             "normalized": False, "nms": False},
                   labels={"0": "tomato", "1": "hand", "2": "hand", "3": "blueberry"},
                   names={"1": "left palm", "2": "right palm"}, hands=[1, 2])
    det = records(run_tool("leap-detect", "--model", model, "--fps", "5", input=clip(boxes_video), check=True).stdout)[0]["detect"]
    assert det["objects"] == ["tomato"]
    assert all("hand" not in f["nouns"] for f in det["frames"])
    first = [h for h in det["hands"] if h["t"] == 0.0]
    assert [(h["label"], h["score"]) for h in first] == [("left palm", 0.9), ("right palm", 0.8)]
    assert first[0]["box"] == pytest.approx(norm(lime_box(0.0)), abs=1e-4)
    assert first[1]["box"] == pytest.approx(norm(YELLOW_BOX), abs=1e-4)


def test_warning_when_candidates_existed_but_none_passed(tmp_path, boxes_video):
    model = box_detector(tmp_path / "low.onnx", normalized=False)
    write_manifest(tmp_path, model, output={"boxes": "boxes", "scores": "scores", "classes": "classes",
                                             "normalized": False}, threshold=0.99)
    proc = run_tool("leap-detect", "--model", model, "--fps", "5", input=clip(boxes_video))
    assert proc.returncode == 0 and records(proc.stdout)[0]["detect"]["objects"] == []
    assert "B_1: the model found 40 candidates (best score 0.950) but none at or over the threshold 0.99" in proc.stderr
    proc = run_tool("leap-detect", "--model", model, "--fps", "5", "--threshold", "0.5", input=clip(boxes_video))
    det = records(proc.stdout)[0]["detect"]
    assert det["source"]["threshold"] == 0.5 and det["objects"] and "none at or over" not in proc.stderr


@pytest.mark.parametrize("change,message", [
    ({"name": "image"}, "input.name 'image': the model's inputs are images"),
    ({"dtype": "uint8"}, "input.dtype 'uint8': the model's images takes float32"),
    ({"layout": "NHWC"}, "input.layout 'NHWC': the model's images is [1, 3, 120, 160] (axis 3 is 160, not 3 channels)"),
    ({"size": [320, 240]}, "input.size [320, 240]: the model's images takes 160x120 (w x h)"),
    ({"batch": 4}, "input.batch 4: the model's images takes batches of 1"),
])
def test_manifest_checked_against_the_model_at_start(tmp_path, boxes_video, change, message):
    model = box_detector(tmp_path / "m.onnx", batch=1)
    manifest = write_manifest(tmp_path, model, output={"boxes": "boxes", "scores": "scores", "classes": "classes"},
                              input={"name": "images", "layout": "NCHW", "dtype": "float32", "size": [W, H], **change})
    proc = run_tool("leap-detect", "--model", model, input=clip(boxes_video) * 3)
    assert proc.returncode == 2 and proc.stdout == ""          # one usage error, no record
    assert proc.stderr.count(message) == 1 and str(manifest) in proc.stderr, proc.stderr


def test_wrong_output_name_is_a_usage_error(tmp_path, boxes_video):
    model = box_detector(tmp_path / "m.onnx")
    write_manifest(tmp_path, model, output={"boxes": "boxes", "scores": "score", "classes": "classes"})
    proc = run_tool("leap-detect", "--model", model, input=clip(boxes_video))
    assert proc.returncode == 2 and "output score: the model's outputs are boxes, scores, classes" in proc.stderr


def test_what_the_manifest_omits_comes_from_the_model(tmp_path, boxes_video):
    """No input name, dtype, layout or size: the model's own (NHWC uint8 80x60, batch 1)."""
    model = box_detector(tmp_path / "tf.onnx", layout="NHWC", dtype="uint8", size=(80, 60), batch=1,
                         normalized=True, duplicates=False)
    (tmp_path / "tf.json").write_text(json.dumps({
        "labels": LABELS, "input": {},
        "output": {"boxes": "boxes", "scores": "scores", "classes": "classes", "normalized": True, "nms": True}}))
    proc = run_tool("leap-detect", "--model", model, "--fps", "5", input=clip(boxes_video))
    assert proc.returncode == 0, proc.stderr
    f = records(proc.stdout)[0]["detect"]["frames"][0]
    assert dict(zip(f["nouns"], f["boxes"])) == {"tomato": pytest.approx(norm(red_box(0)), abs=1 / 80),
                                                  "cucumber": pytest.approx(norm(lime_box(0)), abs=1 / 80)}


# --- the COCO -> EPIC-100 map ----------------------------------------------------------------

def test_coco_map_is_complete_and_every_noun_is_an_epic100_key():
    labels = detect.coco_labels()
    assert len(labels) == 80 and labels[0][0] == "person" and labels[79][0] == "toothbrush"
    keys = {n.key for n in ontology.nouns()}
    assert all(noun in keys for _, noun in labels if noun)
    m = dict(labels)
    # the ones a name lookup gets wrong or misses (issue 14), checked by hand
    assert m["dining table"] == "top" and m["cell phone"] == "phone" and m["laptop"] == "computer"
    assert m["refrigerator"] == "fridge" and m["wine glass"] == "glass" and m["remote"] == "control:remote"
    for unmapped in ("bench", "hot dog", "sports ball", "person", "toilet", "donut"):
        assert m[unmapped] is None, unmapped
    assert detect.label_map({"scheme": "coco"})[60] == "top"
    assert detect.label_names({"scheme": "coco"})[61] == "toilet"
    text = (REPO / "leap_cli" / "data" / "coco_to_epic100.csv").read_text()
    assert [int(r["id"]) for r in csv.DictReader(text.splitlines())] == list(range(80))


# --- the real networks (../shared/models; skipped in a user's clone) ---------------------------

real = pytest.mark.skipif(not SHARED_MODELS.is_dir() or not P28_FRAMES.is_dir(),
                          reason="../shared/models or the EPIC Fields example frames are absent")

REAL = {  # shared model file -> manifest in models/
    "coco-centernet/model.onnx": "coco-centernet/manifest.json",
    "handtrack/model.onnx": "handtrack/manifest.json",
    "mediapipe-palm/palm_detection_full.onnx": "mediapipe-palm/palm_detection_full.json",
    "mediapipe-palm/palm_decoded.onnx": "mediapipe-palm/palm_decoded.json",
}


@pytest.fixture(scope="module")
def p28_video(tmp_path_factory) -> Path:
    """The 8 EPIC Fields example frames of P28_101 (frames 80-115, every 5th) as a 12 fps video."""
    import subprocess

    from leap_cli.media import ffmpeg_exe

    path = tmp_path_factory.mktemp("p28") / "p28.mkv"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-framerate", "12", "-pattern_type", "glob",
                    "-i", str(P28_FRAMES / "frame_*.jpg"), "-c:v", "ffv1", str(path)], check=True)
    return path


def run_real(model: str, video: Path, *args):
    proc = run_tool("leap-detect", "--model", SHARED_MODELS / model, "--manifest", REPO / "models" / REAL[model],
                    "--fps", "native", *args,
                    input=json.dumps({"schema": 1, "id": "P28_101_x", "video_id": "P28_101", "video": str(video),
                                      "start": 0.0, "stop": 0.67}) + "\n")
    assert proc.returncode == 0, proc.stderr
    (out,) = records(proc.stdout)
    assert "error" not in out, out["error"]
    rec.validate(out)
    return out["detect"], proc.stderr


@real
@pytest.mark.parametrize("model", sorted(REAL))
def test_every_real_model_runs_end_to_end(p28_video, model):
    det, _ = run_real(model, p28_video, "--threshold", "0.2")
    assert len(det["frames"]) == 8 and det["source"]["sha256"].startswith("sha256:")
    assert det["source"]["manifest"] == json.loads((REPO / "models" / REAL[model]).read_text())["name"]


@real
def test_real_centernet_packed_rows_coco_labels(p28_video):
    det, err = run_real("coco-centernet/model.onnx", p28_video)
    assert det["source"]["threshold"] == 0.3 and "bottle" in det["objects"]
    det, err = run_real("coco-centernet/model.onnx", p28_video, "--threshold", "0.5")
    assert det["objects"] == [] and "but none at or over the threshold 0.5" in err


@real
def test_real_hand_detectors_find_the_right_hand_visor_marks(p28_video):
    """VISOR marks the right hand of P28_101 at frame 126 at x 1159-1389, y 792-1080 of 1920x1080
    (0.60-0.72, 0.73-1.0); the last example frame (115) is 0.18 s before it."""
    for model in ("handtrack/model.onnx", "mediapipe-palm/palm_detection_full.onnx"):
        det, _ = run_real(model, p28_video)
        assert det["objects"] == [] and det["unmapped"] == 0
        last = [h for h in det["hands"] if h["t"] == pytest.approx(0.583)]
        assert len(last) == 1, (model, det["hands"])
        x1, y1, x2, y2 = last[0]["box"]
        assert 0.55 < (x1 + x2) / 2 < 0.75 and 0.7 < (y1 + y2) / 2 < 0.95, (model, last)


@real
def test_real_palm_raw_head_decoded_here_equals_the_graph_decoded_variant(p28_video):
    raw, _ = run_real("mediapipe-palm/palm_detection_full.onnx", p28_video, "--threshold", "0.1")
    decoded, _ = run_real("mediapipe-palm/palm_decoded.onnx", p28_video, "--threshold", "0.1")
    assert raw["hands"] and len(raw["hands"]) == len(decoded["hands"])
    for a, b in zip(raw["hands"], decoded["hands"]):
        assert a["t"] == b["t"] and a["box"] == pytest.approx(b["box"], abs=2e-4)
        assert a["score"] == pytest.approx(b["score"], abs=2e-4)


@real
@pytest.mark.parametrize("hands", ["handtrack/model.onnx", "mediapipe-palm/palm_detection_full.onnx"])
def test_real_hand_models_through_leap_contact(p28_video, hands):
    det = run_tool("leap-detect", "--model", SHARED_MODELS / "coco-centernet/model.onnx", "--manifest",
                   REPO / "models/coco-centernet/manifest.json", "--fps", "native",
                   input=json.dumps({"schema": 1, "id": "P28_101_x", "video_id": "P28_101", "video": str(p28_video),
                                     "start": 0.0, "stop": 0.67}) + "\n", check=True).stdout
    proc = run_tool("leap-contact", "--model", SHARED_MODELS / hands, "--manifest", REPO / "models" / REAL[hands],
                    "--fps", "native", input=det)
    assert proc.returncode == 0 and "0 errors" in proc.stderr, proc.stderr
    (out,) = records(proc.stdout)
    rec.validate(out)
    c = out["contact"]
    assert c["source"]["contact"] == "overlap" and len(c["frames"]) == 8
    # the right hand (VISOR, frame 126) is seen in the last frame, on the right
    assert [h["side"] for h in c["frames"][-1]["hands"]] == ["right"]


@real
def test_real_yolov8_format_fixture_letterboxed(tmp_path, p28_video):
    """The YOLOv8 export ([B, 4+18, N], no objectness, no NMS; AGPL: a format fixture only, so its
    manifest lives here, not in models/): it runs on real frames letterboxed to 320x320."""
    manifest = tmp_path / "yolo.json"
    manifest.write_text(json.dumps({
        "name": "yolov8-format", "input": {"name": "images", "layout": "NCHW", "dtype": "float32",
                                           "size": [320, 320], "resize": "letterbox"},
        "output": {"layout": "yolo", "predictions": "output0", "nms": False},
        "labels": [f"class {k}" for k in range(18)], "threshold": 0.01}))
    proc = run_tool("leap-detect", "--model", SHARED_MODELS / "yolov8-format/320n.onnx", "--manifest", manifest,
                    "--fps", "native", input=json.dumps({"schema": 1, "id": "P28_101_x", "video_id": "P28_101",
                                                         "video": str(p28_video), "start": 0.0, "stop": 0.67}) + "\n")
    assert proc.returncode == 0, proc.stderr
    (out,) = records(proc.stdout)
    assert "error" not in out and len(out["detect"]["frames"]) == 8
    assert out["detect"]["objects"] == [] and out["detect"]["unmapped"] > 0   # its classes are no EPIC nouns


def test_normalized_omitted_is_decided_from_the_boxes():
    det = detect.Detector(labels={0: "cup"}, normalized=None, nms=True)
    scores, classes = np.array([[0.9]], np.float32), np.array([[0]])
    ((b, _, _, _),) = detect.postprocess(det, {"boxes": np.array([[[0.1, 0.2, 0.3, 0.4]]], np.float32),
                                               "scores": scores, "classes": classes}, 1, 100, 50, 0.5, 0.5)
    assert b == [pytest.approx((0.1, 0.2, 0.3, 0.4))]
    ((b, _, _, _),) = detect.postprocess(det, {"boxes": np.array([[[10, 10, 30, 40]]], np.float32),
                                               "scores": scores, "classes": classes}, 1, 100, 50, 0.5, 0.5)
    assert b == [pytest.approx((0.1, 0.2, 0.3, 0.8))]
