"""leap-detect: the ONNX frame path on a generated video, the precomputed sources, the label maps."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA, records, run_tool
from detect_models import BLUE_BOX, YELLOW_BOX, box_detector, lavfi_boxes, lime_box, red_box
from leap_cli import ontology
from leap_cli import records as rec
from leap_cli.perception import detect, visor

DETECT = DATA / "detect"
W, H = 160, 120


def norm(box, w=W, h=H):
    return [box[0] / w, box[1] / h, box[2] / w, box[3] / h]


@pytest.fixture(scope="module")
def boxes_video(tmp_path_factory) -> Path:
    return lavfi_boxes(tmp_path_factory.mktemp("video") / "boxes.mkv")


def clip(video, start=0.5, stop=2.5, **kw):
    return {"schema": 1, "id": "B_1", "video_id": "B_01", "video": str(video), "start": start, "stop": stop, **kw}


@pytest.fixture(scope="module")
def model_a(tmp_path_factory) -> Path:
    """NCHW float RGB, xyxy pixels, no NMS inside (duplicates), labels as English words."""
    folder = tmp_path_factory.mktemp("model_a")
    model = box_detector(folder / "boxes.onnx")
    (folder / "boxes.json").write_text(json.dumps({
        "name": "boxes", "task": "detect",
        "input": {"name": "images", "layout": "NCHW", "dtype": "float32", "color": "RGB",
                  "size": [W, H], "scale": 1 / 255},
        "output": {"boxes": "boxes", "scores": "scores", "classes": "classes",
                   "box_format": "xyxy", "normalized": False, "nms": False},
        "labels": {"0": "tomatoes", "1": "cucumber", "2": "xylophone", "3": "blueberry"}}))
    return model


@pytest.fixture(scope="module")
def model_b(tmp_path_factory) -> Path:
    """TF Object Detection style: NHWC uint8 BGR, batch 1, yxyx normalised, NMS inside,
    float 1-based classes through the EPIC-55 label scheme, a count output, a sha256."""
    folder = tmp_path_factory.mktemp("model_b")
    model = box_detector(folder / "tf.onnx", layout="NHWC", dtype="uint8", color="BGR",
                         box_format="yxyx", normalized=True, class_ids=(2, 5, 7, 8), tf_classes=True, count=True,
                         batch=1, size=(80, 60), duplicates=False)
    from leap_cli.onnx import sha256
    # EPIC-55 nouns 1 (pan), 4 (plate), 6 (bowl), 7 (spoon): model classes 2, 5, 7, 8 with offset 1
    (folder / "manifest.json").write_text(json.dumps({
        "name": "tf", "task": "detect", "sha256": sha256(str(model)),
        "input": {"layout": "NHWC", "dtype": "uint8", "color": "BGR", "size": [80, 60], "batch": 1},
        "output": {"boxes": "boxes", "scores": "scores", "classes": "classes", "count": "num",
                   "box_format": "yxyx", "normalized": True, "nms": True},
        "labels": {"scheme": "epic55", "offset": 1}}))
    return model


def frames_by_t(record):
    return {f["t"]: f for f in record["detect"]["frames"]}


def test_model_frame_path_boxes_thresholds_nms_labels(boxes_video, model_a):
    proc = run_tool("leap-detect", "--model", model_a, "--fps", "5", "--batch-size", "3",
                    input=json.dumps(clip(boxes_video)) + "\n")
    assert proc.returncode == 0, proc.stderr
    (out,) = records(proc.stdout)
    rec.validate(out)
    det = out["detect"]
    assert det["source"]["tool"] == "leap-detect" and det["source"]["sha256"].startswith("sha256:")
    assert det["source"]["fps"] == 5.0 and det["source"]["threshold"] == 0.5
    # 5 fps over 0.5-2.5 s: 10 frames (batches of 3: 3+3+3+1), clip-relative times
    assert [f["t"] for f in det["frames"]] == pytest.approx([0.2 * i for i in range(10)])
    for f in det["frames"]:
        t = 0.5 + f["t"]
        want = {"cucumber": norm(lime_box(t))}
        if red_box(t):
            want["tomato"] = norm(red_box(t))
        # blue (0.4) is under the threshold; yellow's label is no EPIC-100 noun: dropped;
        # the duplicate of every box is gone (per-class NMS), best score first
        assert sorted(f["nouns"]) == sorted(want)
        for box, noun in zip(f["boxes"], f["nouns"]):
            assert box == pytest.approx(want[noun], abs=1e-4)
        assert f["scores"] == sorted(f["scores"], reverse=True)
        assert set(f["scores"]) <= {0.95, 0.9}
    # cucumber in all 10 frames, tomato only while the red box is shown (t < 1.2 s: 4 frames)
    assert det["objects"] == ["cucumber", "tomato"]
    assert det["unmapped"] == 10  # the yellow box in every frame (after NMS: once per frame)
    assert sum("tomato" in f["nouns"] for f in det["frames"]) == 4


def test_lower_threshold_keeps_blue_and_native_rate(boxes_video, model_a):
    proc = run_tool("leap-detect", "--model", model_a, "--fps", "native", "--threshold", "0.3",
                    input=json.dumps(clip(boxes_video, start=1.0, stop=1.5)) + "\n")
    assert proc.returncode == 0, proc.stderr
    det = records(proc.stdout)[0]["detect"]
    assert det["source"]["fps"] == "native"
    assert [f["t"] for f in det["frames"]] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    first = det["frames"][0]
    assert dict(zip(first["nouns"], first["scores"])) == {"tomato": 0.95, "cucumber": 0.9, "blueberry": 0.4}
    assert first["boxes"][first["nouns"].index("blueberry")] == pytest.approx(norm(BLUE_BOX), abs=1e-4)


def test_tf_style_model_resize_batch1_epic55_labels(boxes_video, model_b):
    proc = run_tool("leap-detect", "--model", model_b, "--fps", "5",
                    input=json.dumps(clip(boxes_video, start=0.0, stop=2.0)) + "\n")
    assert proc.returncode == 0, proc.stderr
    det = records(proc.stdout)[0]["detect"]
    assert [f["t"] for f in det["frames"]] == pytest.approx([0.2 * i for i in range(10)])
    for f in det["frames"]:
        want = {"plate": norm(lime_box(f["t"])), "bowl": norm(YELLOW_BOX)}
        if red_box(f["t"]):
            want["pan"] = norm(red_box(f["t"]))
        assert sorted(f["nouns"]) == sorted(want)   # spoon (blue, 0.4) under the threshold
        for box, noun in zip(f["boxes"], f["nouns"]):
            # frames were scaled to 80x60 by ffmpeg: a pixel of slack
            assert box == pytest.approx(want[noun], abs=1 / 80 + 1e-6)
    assert det["objects"] == ["plate", "bowl", "pan"]


def test_frame_times_match_content_at_a_rate_that_does_not_divide(boxes_video, model_a):
    proc = run_tool("leap-detect", "--model", model_a, "--fps", "2",
                    input=json.dumps(clip(boxes_video, start=0.0, stop=1.0)) + "\n")
    frames = records(proc.stdout)[0]["detect"]["frames"]
    assert [f["t"] for f in frames] == [0.0, 0.5]
    for f in frames:
        assert f["boxes"][f["nouns"].index("tomato")] == pytest.approx(norm(red_box(f["t"])), abs=1e-4)


def test_manifest_sha256_mismatch_is_an_error(tmp_path, boxes_video, model_b):
    folder = tmp_path / "m"
    shutil.copytree(model_b.parent, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    proc = run_tool("leap-detect", "--model", folder / "tf.onnx", input=json.dumps(clip(boxes_video)) + "\n")
    assert proc.returncode == 1
    assert "sha256 differs from the manifest's" in proc.stderr


def test_a_broken_video_is_an_error_record_and_the_run_goes_on(tmp_path, boxes_video, model_a):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    lines = [json.dumps(clip(broken, id="X")), "{not json", json.dumps(clip(boxes_video, stop=1.0))]
    proc = run_tool("leap-detect", "--model", model_a, input="\n".join(lines) + "\n")
    assert proc.returncode == 0
    bad, notjson, good = records(proc.stdout)
    assert bad["error"]["stage"] == "detect" and "not a media file" in bad["error"]["message"]
    assert notjson["error"]["line"] == 2
    assert good["detect"]["objects"] == ["tomato", "cucumber"]
    assert "3 in, 3 out, 2 errors" in proc.stderr


def test_exactly_one_source():
    proc = run_tool("leap-detect", "--visor", DETECT, "--detections", "x.jsonl", input="")
    assert proc.returncode == 2
    assert "give exactly one of --model, --visor, --object-labels, --detections (got --visor and --detections)" in proc.stderr
    proc = run_tool("leap-detect", "--visor", DETECT, "--fps", "0", input="")
    assert proc.returncode == 2 and "--fps must be a positive number or 'native'" in proc.stderr


# --- pure pieces -----------------------------------------------------------------------------

def test_postprocess_per_class_scores_background_and_batch1_outputs():
    det = detect.Detector(labels={1: "tomato", 2: "cucumber"}, classes=None, background=0,
                          normalized=False, nms=False)
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 70]], np.float32)   # [N, 4]
    scores = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]], np.float32)  # [N, C]
    ((b, n, s, hands),) = detect.postprocess(det, {"boxes": boxes, "scores": scores}, 1, 100, 100, 0.5, 0.5)
    # column 0 is background: box 0 has no object class over 0.5
    assert n == ["tomato", "cucumber"] and s == pytest.approx([0.8, 0.7])
    assert b[0] == pytest.approx((0.01, 0.01, 0.11, 0.11)) and b[1] == pytest.approx((0.5, 0.5, 0.6, 0.7))


def test_nms_keeps_other_classes_and_distant_boxes():
    b = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], np.float32)
    assert detect.nms(b, np.array([0.5, 0.9, 0.4]), 0.5) == [1, 2]
    assert detect.nms(b, np.array([0.5, 0.9, 0.4]), 0.95) == [1, 0, 2]


def test_preprocess_layouts():
    frames = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)  # [n, H, W, RGB]
    x = detect.preprocess(detect.Detector(labels={}, layout="NCHW", color="BGR",
                                          mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)), frames)
    assert x.shape == (2, 3, 2, 3) and x.dtype == np.float32
    assert x[1, 0, 1, 2] == pytest.approx((frames[1, 1, 2, 2] / 255 - 0.5) / 0.25)
    u = detect.preprocess(detect.Detector(labels={}, layout="NHWC", dtype="uint8"), frames)
    assert u.dtype == np.uint8 and (u == frames).all()


def test_label_maps():
    assert detect.label_map({"scheme": "epic55", "offset": 1})[2] == "pan"
    assert detect.label_map({"scheme": "epic55", "offset": 1})[1] is None  # EPIC-55 0 is 'Nothing'
    assert detect.label_map(["chopping board", "towels", "zzz"]) == {0: "board:chopping", 1: "towel", 2: None}


def test_epic55_label_csv_in_models_matches_the_ontology():
    path = Path(__file__).resolve().parent.parent / "models" / "epic55-faster-rcnn" / "labels.csv"
    labels = detect.label_map("labels.csv", str(path.parent))
    assert len(labels) == 352
    assert all(labels[c.id + 1] == ontology.epic55_to_100(c.id) for c in ontology.epic55_nouns())
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert detect.from_manifest(manifest, str(path.parent)).labels == labels


# --- precomputed sources ---------------------------------------------------------------------

def visor_clip(nid, start, stop):
    return {"schema": 1, "id": nid, "video_id": "P03_22", "start": start, "stop": stop}


def test_visor_boxes_from_polygons_on_a_real_video(tmp_path):
    # VISOR's own layout: train/ and val/ folders; the file is found anywhere under DIR
    root = tmp_path / "visor" / "GroundTruth-SparseAnnotations" / "annotations" / "val"
    root.mkdir(parents=True)
    shutil.copy(DETECT / "visor" / "P03_22.json", root / "P03_22.json")
    lines = [visor_clip("P03_22_0", 1.97, 3.03),   # put bag: frame 122 (60 fps) = 2.033 s
             visor_clip("P03_22_18", 46.17, 47.25),  # open cupboard
             {**visor_clip("P09_01_1", 1.0, 2.0), "video_id": "P09_01"}]
    proc = run_tool("leap-detect", "--visor", tmp_path / "visor", input="".join(json.dumps(r) + "\n" for r in lines))
    assert proc.returncode == 0, proc.stderr
    put_bag, cupboard, absent = records(proc.stdout)
    for r in (put_bag, cupboard, absent):
        rec.validate(r)
    doc = json.loads((DETECT / "visor" / "P03_22.json").read_text())
    frame = next(f for f in doc["video_annotations"] if f["image"]["name"].endswith("0000000122.jpg"))
    bag = next(a for a in frame["annotations"] if a["name"] == "bag")
    xs = [p[0] for poly in bag["segments"] for p in poly]
    ys = [p[1] for poly in bag["segments"] for p in poly]
    (f0,) = put_bag["detect"]["frames"]
    assert f0["t"] == pytest.approx(122 / 60 - 1.97, abs=1e-3)
    i = f0["nouns"].index("bag")
    assert f0["boxes"][i] == pytest.approx([min(xs) / 1920, min(ys) / 1080, max(xs) / 1920, max(ys) / 1080], abs=1e-4)
    assert "hand:right" not in f0["nouns"] and f0["scores"] == [1.0] * len(f0["nouns"])
    assert put_bag["detect"]["objects"][0] == "bag"
    assert "cupboard" in cupboard["detect"]["objects"]
    assert absent["detect"]["missing"].startswith("no VISOR annotation P09_01.json under")
    assert absent["detect"]["frames"] == [] and absent["detect"]["objects"] == []


def test_visor_require_turns_missing_into_an_error():
    line = json.dumps({**visor_clip("P09_01_1", 1.0, 2.0), "video_id": "P09_01"})
    proc = run_tool("leap-detect", "--visor", DETECT / "visor", "--require", input=line + "\n")
    (r,) = records(proc.stdout)
    assert proc.returncode == 0 and r["error"]["message"].startswith("missing evidence: no VISOR annotation")


def test_v2_noun_list_matches_epic100_plus_additions():
    import csv
    rows = list(csv.DictReader((DETECT / "EPIC_100_noun_classes_v2.csv").open()))
    assert len(rows) == 305
    assert all(visor.noun_key(int(r["id"])) == r["key"] for r in rows)


def test_epic55_object_labels(tmp_path):
    csv_file = tmp_path / "EPIC_train_object_labels.csv"
    csv_file.write_text(
        "noun_class,noun,participant_id,video_id,frame,bounding_boxes\n"
        '1,pan,P01,P01_01,90,"[(100, 200, 50, 80)]"\n'              # (top, left, height, width)
        '4,plate,P01,P01_01,90,"[(500, 1000, 100, 300), (0, 0, 10, 10)]"\n'
        "6,bowl,P01,P01_01,120,[]\n"                                  # annotated, not visible
        "4,plate,P01,P01_01,600,[]\n"                                 # outside the clip
        "4,plate,P01,P01_01,abc,[]\n")                                # bad frame number
    line = json.dumps({"schema": 1, "id": "P01_01_0", "video_id": "P01_01", "start": 1.0, "stop": 3.0})
    proc = run_tool("leap-detect", "--object-labels", csv_file, input=line + "\n")
    assert proc.returncode == 0, proc.stderr
    assert f"{csv_file}:6: skipped: cannot read row" in proc.stderr
    det = records(proc.stdout)[0]["detect"]
    rec.validate(records(proc.stdout)[0])
    assert [f["t"] for f in det["frames"]] == pytest.approx([0.5, 1.0])   # frames 90, 120 at 60 fps
    f90, f120 = det["frames"]
    assert f90["nouns"] == ["pan", "plate", "plate"]
    assert f90["boxes"][0] == pytest.approx([200 / 1920, 100 / 1080, 280 / 1920, 150 / 1080], abs=1e-4)
    assert f90["boxes"][1] == pytest.approx([1000 / 1920, 500 / 1080, 1300 / 1920, 600 / 1080], abs=1e-4)
    assert f120 == {"t": 1.0, "boxes": [], "nouns": [], "scores": []}
    assert det["objects"] == ["pan", "plate"]


def test_epic55_malformed_boxes_are_reported_rows_not_a_crash(tmp_path):
    csv_file = tmp_path / "EPIC_train_object_labels.csv"
    csv_file.write_text(
        "noun_class,noun,participant_id,video_id,frame,bounding_boxes\n"
        '20,bag,P01,P01_01,000090,"[(76, 1260, 462, 186)]"\n'     # zero-padded frame, as released
        '20,bag,P01,P01_01,000091,"[(76, 1260, 462)]"\n'          # three numbers
        '20,bag,P01,P01_01,000092,"(76, 1260, 462, 186)"\n'       # a box, not a list of boxes
        "20,bag,P01,P01_01,000093,\"[(76, 'a', 462, 186)]\"\n")  # not a number
    line = json.dumps({"schema": 1, "id": "P01_01_0", "video_id": "P01_01", "start": 1.0, "stop": 3.0})
    proc = run_tool("leap-detect", "--object-labels", csv_file, input=line + "\n")
    assert proc.returncode == 0, proc.stderr
    for n in (3, 4, 5):
        assert (f"{csv_file}:{n}: skipped: cannot read row (bounding_boxes is not a list of "
                "(top, left, height, width))") in proc.stderr
    det = records(proc.stdout)[0]["detect"]
    assert [f["t"] for f in det["frames"]] == [0.5]
    assert det["frames"][0]["boxes"] == [pytest.approx([1260 / 1920, 76 / 1080, 1446 / 1920, 538 / 1080], abs=1e-4)]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_generic_detections(tmp_path, fmt):
    rows = [("V1", 10.5, 0.1, 0.2, 0.3, 0.4, "knives", 0.8), ("V1", 10.5, 0.5, 0.5, 0.9, 0.9, "chopping board", ""),
            ("V1", 11.0, 0.1, 0.2, 0.3, 0.4, "knife", 0.7), ("V1", 11.5, 0.3, 0.2, 0.1, 0.4, "knife", 0.7),
            ("V1", 11.5, 0.1, 0.1, 0.2, 0.2, "spaceship", 0.9), ("V2", 10.5, 0.1, 0.1, 0.2, 0.2, "pan", 0.9)]
    path = tmp_path / f"dets.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps({"video_id": v, "t": t, "box": [a, b, c, d], "noun": n,
                                            **({"score": s} if s != "" else {})}) + "\n"
                                for v, t, a, b, c, d, n, s in rows) + "[1, 2]\n")
    else:
        path.write_text("video_id,t,x1,y1,x2,y2,noun,score\n"
                        + "".join(",".join(map(str, r)) + "\n" for r in rows) + "V1,x,0,0,1,1,pan,1\n")
    line = json.dumps({"schema": 1, "id": "V1_0", "video_id": "V1", "start": 10.0, "stop": 12.0})
    proc = run_tool("leap-detect", "--detections", path, input=line + "\n")
    assert proc.returncode == 0, proc.stderr
    first = 1 if fmt == "jsonl" else 2
    assert f"{path}:{first + 3}: skipped: box must be x1 < x2, y1 < y2 normalised to [0, 1]" in proc.stderr
    assert f"{path}:{first + 4}: skipped: noun 'spaceship' is not an EPIC-100 noun" in proc.stderr
    assert f"{path}:{first + 6}: skipped:" in proc.stderr
    det = records(proc.stdout)[0]["detect"]
    assert [f["t"] for f in det["frames"]] == [0.5, 1.0]
    assert det["frames"][0] == {"t": 0.5, "boxes": [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.9, 0.9]],
                                "nouns": ["knife", "board:chopping"], "scores": [0.8, 1.0]}
    assert det["objects"] == ["knife", "board:chopping"]


def test_a_record_without_a_window_is_an_error_record():
    proc = run_tool("leap-detect", "--visor", DETECT / "visor",
                    input='{"id": "P03_22_0", "video_id": "P03_22", "start": "soon"}\n')
    (r,) = records(proc.stdout)
    assert proc.returncode == 0
    assert r["error"] == {"stage": "detect",
                          "message": "the record needs numeric start and stop (seconds in the video; leap-clips writes them)"}


def test_prefetch_order_errors_and_early_close():
    from leap_cli.perception.detect_run import prefetch

    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("decoder broke")
    it = prefetch(failing())
    assert next(it) == 1
    with pytest.raises(ValueError, match="decoder broke"):
        next(it)

    closed = []

    def source():
        try:
            yield from range(1000)
        finally:
            closed.append(True)  # where media.iter_frames kills ffmpeg
    it = prefetch(source(), depth=2)
    assert next(it) == 0
    it.close()
    assert closed == [True]


def test_threshold_applies_to_generic_detections(tmp_path):
    path = tmp_path / "dets.jsonl"
    path.write_text("".join(json.dumps({"video_id": "V1", "t": 10.5, "box": b, "noun": n, "score": s}) + "\n"
                            for b, n, s in [([0.1, 0.1, 0.2, 0.2], "pan", 0.9), ([0.3, 0.3, 0.4, 0.4], "knife", 0.7),
                                            ([0.5, 0.5, 0.6, 0.6], "tap", 0.3)]))
    line = json.dumps({"schema": 1, "id": "V1_0", "video_id": "V1", "start": 10.0, "stop": 12.0}) + "\n"
    det = records(run_tool("leap-detect", "--detections", path, input=line, check=True).stdout)[0]["detect"]
    assert det["frames"][0]["nouns"] == ["pan", "knife"] and det["source"]["threshold"] == 0.5
    det = records(run_tool("leap-detect", "--detections", path, "--threshold", "0.8", input=line, check=True).stdout)[0]["detect"]
    assert det["frames"][0]["nouns"] == ["pan"] and det["objects"] == ["pan"]


@pytest.mark.parametrize("tool", ["leap-detect", "leap-contact", "leap-audio"])
def test_a_missing_model_file_is_named_as_such(tool, tmp_path):
    proc = run_tool(tool, "--model", tmp_path / "nope.onnx", input="")
    assert proc.returncode in (1, 2)
    assert f"{tmp_path / 'nope.onnx'}: no such model file" in proc.stderr
    assert "manifest" not in proc.stderr


def test_a_video_ffmpeg_cannot_seek_in_is_an_error_not_a_few_mislabelled_frames(model_a):
    # The VLC-muxed EPIC sample: ffmpeg gives 28 of its 527 frames (the rest of the run goes on)
    video = DATA / "demo" / "media" / "epic_sounds.mp4"
    lines = [clip(video, 0.0, 17.6), clip(DATA / "demo" / "media" / "cut_0.mp4", 0.0, 2.0, id="C_1")]
    proc = run_tool("leap-detect", "--model", model_a, "--fps", "native", input="".join(json.dumps(c) + "\n" for c in lines))
    bad, good = records(proc.stdout)
    assert proc.returncode == 0
    assert bad["error"]["message"] == (f"{video}: ffmpeg decoded 28 of the 527 frames of 0.00-17.60 s: it cannot "
                                       "seek in this file (remuxing it, ffmpeg -i IN -c copy OUT, usually mends that)")
    assert len(good["detect"]["frames"]) == 100  # cut_0: 2 s at 50 fps
