"""leap-detect's frame pipeline vs plain ffmpeg decoding the same frames at the same size.

  ffmpeg:   ffmpeg -ss S -t T -i VIDEO -vf fps=F,scale=W:H -f rawvideo -pix_fmt rgb24 /dev/null
  pipeline: leap_cli.media.iter_frames (same window, rate, size) -> prefetch thread ->
            detect.preprocess -> a small ONNX model (pool + conv, batch B) -> outputs

Both decode the same frames of the same video; prints frames per second of each and their
ratio. Target (issue 6): pipeline >= 0.8x ffmpeg. One run of each after a warm-up, interleaved
REPEAT times; the medians are reported.

Usage: python bench/frame_pipeline.py [--video FILE] [--fps N|native] [--size WxH] [--batch B]
With no --video, a 20 s 1280x720 60 fps H.264 test video is made first (not timed).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from leap_cli import media
from leap_cli.options import Rate
from leap_cli.perception import detect, detect_run


def make_video(path: str, seconds: float) -> None:
    subprocess.run([media.ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size=1280x720:rate=60:duration={seconds}", "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "120", path], check=True)


def small_model(path: str, w: int, h: int) -> None:
    """AveragePool 4x4 -> Conv 3->16 (3x3) -> ReLU -> global average pool: [B, 3, H, W] float ->
    [B, 16]. Small on purpose: the bench measures the pipeline around the model."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.1, (16, 3, 3, 3)).astype(np.float32), "w1")]
    nodes = [helper.make_node("AveragePool", ["images"], ["a"], kernel_shape=[4, 4], strides=[4, 4]),  # [B, 3, H/4, W/4]
             helper.make_node("Conv", ["a", "w1"], ["c1"], pads=[1, 1, 1, 1]),                       # [B, 16, H/4, W/4]
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("GlobalAveragePool", ["r1"], ["p"]),                                    # [B, 16, 1, 1]
             helper.make_node("Flatten", ["p"], ["features"])]                                        # [B, 16]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["B", 3, h, w])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", 16])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def run_ffmpeg_devnull(video: str, start: float, stop: float, fps: float | None, w: int, h: int) -> float:
    vf = (f"fps={fps}," if fps else "") + f"scale={w}:{h}"
    cmd = [media.ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-ss", f"{start:.6f}", "-t", f"{stop - start:.6f}",
           "-i", video, "-an", "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", os.devnull]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


def run_pipeline(video, start, stop, fps, w, h, batch, session) -> tuple[float, int]:
    """session None: media.iter_frames alone (decode, pipe, numpy), no prefetch, no model."""
    det = detect.Detector(labels={}, layout="NCHW", dtype="float32", size=(w, h))
    t = time.perf_counter()
    n = 0
    frames_iter = media.iter_frames(video, start, stop, fps=fps, size=(w, h), batch=batch)
    for times, frames in (detect_run.prefetch(frames_iter) if session else frames_iter):
        if session:
            x = detect.preprocess(det, frames)                  # [b, 3, H, W] float32
            session.run(["features"], {"images": x})
        n += len(frames)
    return time.perf_counter() - t, n


def run_model_only(session, w, h, batch, n) -> float:
    """The model alone on n frames of zeros (what the pipeline adds on top of decoding)."""
    x = np.zeros((batch, 3, h, w), np.float32)
    t = time.perf_counter()
    for _ in range(0, n, batch):
        session.run(["features"], {"images": x})
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video")
    ap.add_argument("--fps", default="native")
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    fps = Rate().convert(args.fps, None, None)  # None: every frame
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or os.path.join(tmp, "bench.mp4")
        if not args.video:
            make_video(video, args.seconds)
        model = os.path.join(tmp, "small.onnx")
        small_model(model, w, h)
        from leap_cli import onnx as lonnx

        session = lonnx.session(model)
        p = media.probe(video)
        start, stop = 0.0, p.duration
        run_pipeline(video, start, min(stop, 1.0), fps, w, h, args.batch, session)  # warm-up
        ff, pipe, decode, model_s = [], [], [], []
        frames = None
        for _ in range(args.repeat):
            ff.append(run_ffmpeg_devnull(video, start, stop, fps, w, h))
            seconds, frames = run_pipeline(video, start, stop, fps, w, h, args.batch, session)
            pipe.append(seconds)
            decode.append(run_pipeline(video, start, stop, fps, w, h, args.batch, None)[0])
            model_s.append(run_model_only(session, w, h, args.batch, frames))
    ff_s, pipe_s = statistics.median(ff), statistics.median(pipe)
    dec_s, mod_s = statistics.median(decode), statistics.median(model_s)
    print(f"video {p.width}x{p.height} {p.fps:g} fps, {p.duration:.1f} s; frames at {args.fps} fps scaled to {w}x{h}: {frames}")
    print(f"ffmpeg -> /dev/null        {frames / ff_s:8.1f} frames/s  (median of {args.repeat}: {ff_s:.2f} s)")
    print(f"pipeline (decode+model)    {frames / pipe_s:8.1f} frames/s  (median of {args.repeat}: {pipe_s:.2f} s; "
          f"batch {args.batch}, providers {session.get_providers()})")
    print(f"  of which media.iter_frames alone {frames / dec_s:8.1f} frames/s ({dec_s / ff_s:.2f}x ffmpeg's time); "
          f"the model alone {frames / mod_s:8.1f} frames/s")
    print(f"ratio {ff_s / pipe_s:.2f}x of ffmpeg (target >= 0.8)")
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
