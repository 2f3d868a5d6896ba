"""leap-detect's clip runners: where detect.py's pure logic meets files, ffmpeg and onnxruntime.

Each source is built once per process (model session, parsed annotation files) and then called
once per clip record; it returns the value of the record's ``detect`` key.
"""
from __future__ import annotations

import dataclasses
import os
import queue
import sys
import threading
from typing import Callable, Iterable, Iterator

from .. import clip, media, records, stages
from ..onnx import ModelError
from . import detect, layouts, visor

DEFAULT_FPS = 4.0
MAX_PROBLEMS_SHOWN = 10


def prefetch(items: Iterable, depth: int = 2) -> Iterator:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    Decoding (ffmpeg writing into a pipe, numpy reading it) then overlaps with the model: the
    kernel's pipe buffer (64 KiB) holds less than one frame, so without a reader ffmpeg would
    stall for as long as each batch runs."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        it = iter(items)
        try:
            for item in it:
                if not put((None, item)):
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            put((e, None))
        finally:
            close = getattr(it, "close", None)
            if close:
                close()  # a generator's finally (ffmpeg killed) runs in this thread
            put((None, end))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            err, item = q.get()
            if err is not None:
                raise err
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class OnnxModel:
    """A model file, its manifest and an onnxruntime session (built once)."""

    def __init__(self, path: str, manifest: str | None = None):
        from .. import onnx

        if not os.path.isfile(path):
            raise ModelError(f"{path}: no such model file")
        self.path = path
        self.manifest_file = onnx.manifest_path(path, manifest)
        self.manifest = onnx.load_manifest(path, manifest)
        self.base_dir = os.path.dirname(os.path.abspath(self.manifest_file))
        self.session = onnx.session(os.path.abspath(path))
        self.sha256 = onnx.sha256(path)

    def runner(self, input_name: str | None, outputs: list[str]) -> Callable:
        name = input_name or self.session.get_inputs()[0].name
        known = {o.name for o in self.session.get_outputs()}
        absent = [o for o in outputs if o not in known]
        if absent:
            raise ModelError(f"{self.path}: no output named {', '.join(absent)} (the model has "
                             f"{', '.join(sorted(known))}; fix the manifest's output names)")

        def run(x):
            return dict(zip(outputs, self.session.run(outputs, {name: x})))
        return run


def model_frames(record: dict, det: detect.Detector, fps: float | None, batch: int):
    """The clip's frames, decoded once at the model's size (letterbox: the size inside the
    padding, from the video's aspect), in batches, prefetched."""
    start, stop = clip.window(record)
    path = record.get("video") or ""
    size = det.size
    if det.resize == "letterbox":
        p = media.probe(path)
        box = layouts.letterbox(p.width, p.height, *det.size)
        size = (box.inner_w, box.inner_h)
    return prefetch(media.iter_frames(path, start, stop, fps=fps, size=size, batch=batch))


def checked_detector(m: OnnxModel) -> detect.Detector:
    """The manifest's detector, checked against the model's own input and outputs at start (a
    mismatch: onnx.ManifestMismatch naming the field); what the manifest omits, from the model."""
    from .. import onnx

    try:
        det = detect.from_manifest(m.manifest, m.base_dir)
    except (detect.ManifestError, OSError, ValueError) as e:
        raise ModelError(f"{m.manifest_file}: {e}") from None
    inp = m.manifest.get("input", {})
    filled = onnx.check_io(m.session, m.manifest_file, inp.get("name"), inp.get("dtype"),
                           inp.get("layout") and det.layout, det.size, inp.get("batch"), det.output_names())
    return dataclasses.replace(det, **{k: v for k, v in filled.items() if k in ("input_name", "size", "batch")
                                       or inp.get(k) is None})


def model_source(model: str, manifest: str | None, fps: float | None, threshold: float | None,
                 nms_iou: float, batch: int, totals: detect.Stats | None = None):
    """A model on each clip's frames. ``threshold`` None: the manifest's (else 0.5). ``totals``
    gathers the run's counts (unmapped labels by name) for the summary."""
    m = OnnxModel(model, manifest)
    det = checked_detector(m)
    run = m.runner(det.input_name, det.output_names())
    threshold = threshold if threshold is not None else det.threshold if det.threshold is not None else 0.5
    src = records.source("detect", model=os.path.basename(model), manifest=det.name or os.path.basename(m.manifest_file),
                         sha256=m.sha256, fps="native" if fps is None else fps, threshold=threshold)
    batch = max(batch, det.batch or 1)

    def for_clip(record: dict, require: bool) -> dict:
        stats = detect.Stats()
        frames = detect.run_detector(det, model_frames(record, det, fps, batch), run,
                                     clip.window(record)[0], threshold, nms_iou, stats)
        if totals is not None:
            totals.add(stats)
        if stats.candidates and not stats.passed:
            print(f"{record.get('id')}: the model found {stats.candidates} candidates (best score "
                  f"{stats.best:.3f}) but none at or over the threshold {threshold}", file=sys.stderr)
        out = {**value(src, frames), "unmapped": sum(stats.unmapped.values())}
        if stats.unmapped:
            out["source"] = {**src, "unmapped": dict(stats.unmapped.most_common())}
        if det.hands:
            out["hands"] = detect.hand_records(frames)
        return out
    return for_clip


def unmapped_summary(totals: detect.Stats) -> str | None:
    """The run's dropped model labels by name, most first (stderr, at the end)."""
    if not totals.unmapped:
        return None
    return "labels with no EPIC-100 noun (boxes dropped): " + ", ".join(
        f"{name} {n}" for name, n in totals.unmapped.most_common())


def value(src: dict, frames: list[detect.FrameDetections]) -> dict:
    return {"source": src, "objects": detect.objects(frames), "frames": [f.record() for f in frames]}


def _empty(src: dict, reason: str, require: bool) -> dict:
    return {"source": src, **stages.get("detect").missing_value(reason, require)}


def visor_source(root: str):
    def for_clip(record: dict, require: bool) -> dict:
        vid = record.get("video_id") or ""
        try:
            path, annotated = visor.video(root, vid)
        except FileNotFoundError as e:
            return _empty(records.source("detect", visor=root), str(e), require)
        src = records.source("detect", visor=path)
        frames = detect.visor_frames(annotated, vid, *clip.window(record))
        if not frames:
            return _empty(src, "no VISOR annotated frame in the clip", require)
        return value(src, frames)
    return for_clip


def rows_source(path: str, kind: str, threshold: float = 0.0):
    """--object-labels (kind 'epic55') or --detections (kind 'generic'): read once, indexed;
    boxes scoring under ``threshold`` left out (human labels score 1)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise records.ClipError(f"{path}: cannot read ({e.strerror})") from None
    problems = detect.Problems()
    reader = detect.epic55_rows if kind == "epic55" else detect.generic_rows
    by_video = detect.index_rows(r for r in reader(text, path, problems) if r.score >= threshold)
    report(problems)
    src = records.source("detect", **{"object_labels" if kind == "epic55" else "detections": path},
                         **({"threshold": threshold} if kind == "generic" else {}))

    def for_clip(record: dict, require: bool) -> dict:
        vid = record.get("video_id") or ""
        if vid not in by_video:
            return _empty(src, f"no rows for video {vid} in {path}", require)
        frames = detect.rows_frames(by_video[vid], *clip.window(record))
        if not frames:
            return _empty(src, f"no annotated frame of {vid} in the clip", require)
        return value(src, frames)
    return for_clip


def report(problems: detect.Problems) -> None:
    """Rows a reader skipped go to stderr as FILE:LINE: reason (the first few, then a count)."""
    for file, line, reason in problems.items[:MAX_PROBLEMS_SHOWN]:
        print(f"{file}:{line}: skipped: {reason}", file=sys.stderr)
    if len(problems.items) > MAX_PROBLEMS_SHOWN:
        print(f"... {len(problems.items) - MAX_PROBLEMS_SHOWN} more rows skipped", file=sys.stderr)
