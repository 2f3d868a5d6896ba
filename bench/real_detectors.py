"""The real detectors of ../shared/models through leap-detect (and the hand ones through
leap-contact) on real EPIC frames, beside VISOR's ground truth.

Frames: the 8 EPIC Fields example frames of P28_101 (frames 80-115, every 5th, 456x256) as a
12 fps video; for speed the same frames looped to LOOPS x 8 frames. Per model:
* end to end: leap-detect (hand models also leap-contact, objects from CenterNet) as processes
  on the 8 frames: error records (target 0), objects / hands found;
* speed, in process, every frame of the looped video: the pipeline (media.iter_frames ->
  prefetch -> preprocess -> model -> decoding of its layout) vs plain ffmpeg decoding the same
  frames at the same size to /dev/null plus the model alone on as many inputs; target: pipeline
  time <= (ffmpeg + model) / 0.8. Medians of REPEAT interleaved runs.
VISOR annotates P28_101 at frame 126 (0.18 s after the last example frame): its boxes are printed.

Usage: python bench/real_detectors.py [--models DIR] [--loops 50] [--repeat 3]
"""
from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from leap_cli import media
from leap_cli.perception import detect, detect_run, layouts

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FRAMES = SHARED / "data/epic-fields-code/example_data/P28_101"
VISOR_BOXES = SHARED / "data/derived/visor_sparse_boxes.train_side_videos.csv"
MODELS = [  # (model under --models, manifest in models/, is a hand detector)
    ("coco-centernet/model.onnx", "coco-centernet/manifest.json", False),
    ("handtrack/model.onnx", "handtrack/manifest.json", True),
    ("mediapipe-palm/palm_detection_full.onnx", "mediapipe-palm/palm_detection_full.json", True),
    ("mediapipe-palm/palm_decoded.onnx", "mediapipe-palm/palm_decoded.json", True),
    ("yolov8-format/320n.onnx", None, False),   # AGPL format fixture: manifest written below, not in models/
]
YOLO_MANIFEST = {"name": "yolov8-format", "input": {"name": "images", "layout": "NCHW", "dtype": "float32",
                                                    "size": [320, 320], "resize": "letterbox"},
                 "output": {"layout": "yolo", "predictions": "output0", "nms": False},
                 "labels": [f"class {k}" for k in range(18)], "threshold": 0.25}


def manifest_path(manifest: str | None, tmp: str) -> str:
    if manifest:
        return str(REPO / "models" / manifest)
    path = os.path.join(tmp, "yolov8.json")
    with open(path, "w") as f:
        json.dump(YOLO_MANIFEST, f)
    return path


def make_videos(tmp: str, loops: int) -> tuple[str, str]:
    short, long = os.path.join(tmp, "p28.mkv"), os.path.join(tmp, "p28_loop.mkv")
    ff = media.ffmpeg_exe()
    subprocess.run([ff, "-y", "-loglevel", "error", "-framerate", "12", "-pattern_type", "glob", "-i",
                    str(FRAMES / "frame_*.jpg"), "-c:v", "ffv1", short], check=True)
    subprocess.run([ff, "-y", "-loglevel", "error", "-stream_loop", str(loops - 1), "-i", short, "-c", "copy", long],
                   check=True)
    return short, long


def clip_line(video: str, stop: float) -> str:
    return json.dumps({"schema": 1, "id": "P28_101_bench", "video_id": "P28_101", "video": video,
                       "start": 0.0, "stop": stop}) + "\n"


def tool(name: str, *args, input: str) -> tuple[list[dict], str]:
    exe = os.path.join(os.path.dirname(sys.executable), name)
    proc = subprocess.run([exe, *map(str, args)], input=input, capture_output=True, text=True)
    return [json.loads(x) for x in proc.stdout.splitlines() if x.strip()], proc.stderr


def visor_truth() -> list[str]:
    if not VISOR_BOXES.is_file():
        return ["(VISOR boxes file absent)"]
    out = []
    with open(VISOR_BOXES, newline="") as f:
        for r in csv.DictReader(f):
            if r["video_id"] == "P28_101" and r["frame_number"] == "126":
                box = [float(r[k]) / d for k, d in (("x_min", 1920), ("y_min", 1080), ("x_max", 1920), ("y_max", 1080))]
                out.append(f"{r['name']} [{', '.join(f'{max(0.0, v):.2f}' for v in box)}]"
                           + (" in contact" if r["in_contact_object"] else ""))
    return out


def end_to_end(models: Path, short: str, tmp: str) -> None:
    line = clip_line(short, 0.67)
    objects_record, err = tool("leap-detect", "--model", models / MODELS[0][0], "--manifest", REPO / "models" / MODELS[0][1],
                               "--fps", "native", input=line)
    for model, manifest, hands in MODELS:
        recs, err = tool("leap-detect", "--model", models / model, "--manifest", manifest_path(manifest, tmp),
                         "--fps", "native", input=line)
        errors = sum("error" in r for r in recs)
        det = recs[0].get("detect", {}) if recs else {}
        nouns = collections.Counter(n for f in det.get("frames", []) for n in f["nouns"])
        last = [h for h in det.get("hands", []) if abs(h["t"] - 0.583) < 1e-3]
        print(f"{model}: leap-detect {len(recs)} records, {errors} errors; threshold {det.get('source', {}).get('threshold')}; "
              f"boxes {dict(nouns.most_common())}; hands {len(det.get('hands', []))} in 8 frames, "
              f"last frame {[h['box'] for h in last]}")
        warn = [x for x in err.splitlines() if "none at or over" in x or "no EPIC-100 noun" in x]
        for x in warn:
            print(f"    stderr: {x}")
        if hands:
            recs, err = tool("leap-contact", "--model", models / model, "--manifest", REPO / "models" / manifest,
                             "--fps", "native", input="".join(json.dumps(r) + "\n" for r in objects_record))
            errors = sum("error" in r for r in recs)
            c = recs[0].get("contact", {}) if recs else {}
            states = collections.Counter(f"{h['side']}:{h['state']}" for f in c.get("frames", []) for h in f["hands"])
            print(f"    leap-contact {len(recs)} records, {errors} errors; hand-frames {dict(states)}; events {c.get('events')}")


def ffmpeg_devnull(video: str, stop: float, w: int, h: int) -> float:
    cmd = [media.ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-ss", "0", "-t", f"{stop:.6f}", "-i", video,
           "-an", "-vf", f"scale={w}:{h}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", os.devnull]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


def speed(models: Path, long: str, repeat: int, batch: int, tmp: str) -> None:
    p = media.probe(long)
    record = {"video": long, "start": 0.0, "stop": p.duration}
    for model, manifest, _ in MODELS:
        m = detect_run.OnnxModel(str(models / model), manifest_path(manifest, tmp))
        det = detect_run.checked_detector(m)
        run = m.runner(det.input_name, det.output_names())
        size = det.size
        if det.resize == "letterbox":
            box = layouts.letterbox(p.width, p.height, *det.size)
            size = (box.inner_w, box.inner_h)
        w, h = size if isinstance(size, tuple) else (p.width, p.height)
        b = max(batch, det.batch or 1)
        pipe, ff, alone, n = [], [], [], 0
        sample = next(iter(media.iter_frames(long, 0.0, 0.5, size=size, batch=det.batch or 1)))[1]
        x, _, _, _ = detect.model_input(det, sample[: det.batch or 1])
        for _ in range(repeat):
            t = time.perf_counter()
            frames = detect.run_detector(det, detect_run.model_frames(record, det, None, b), run, 0.0,
                                         det.threshold or 0.5, 0.5)
            pipe.append(time.perf_counter() - t)
            n = len(frames)
            ff.append(ffmpeg_devnull(long, p.duration, w, h))
            t = time.perf_counter()
            for _ in range(0, n, len(x)):
                run(x)
            alone.append(time.perf_counter() - t)
        pipe_s, ff_s, mod_s = (statistics.median(v) for v in (pipe, ff, alone))
        print(f"{model}: {n} frames at {w}x{h}: pipeline {n / pipe_s:6.1f} frames/s; ffmpeg alone {n / ff_s:6.1f}, "
              f"model alone {n / mod_s:6.1f}; (ffmpeg + model) / pipeline = {(ff_s + mod_s) / pipe_s:.2f} (target >= 0.8)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=SHARED / "models")
    ap.add_argument("--loops", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    if not args.models.is_dir() or not FRAMES.is_dir():
        sys.exit(f"needs {args.models} and {FRAMES}")
    from leap_cli import onnx

    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, providers {onnx.providers()}")
    print("VISOR P28_101 frame 126:", "; ".join(visor_truth()))
    with tempfile.TemporaryDirectory() as tmp:
        short, long = make_videos(tmp, args.loops)
        end_to_end(args.models, short, tmp)
        speed(args.models, long, args.repeat, args.batch, tmp)
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
