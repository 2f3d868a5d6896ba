"""ffmpeg: probe, frames at a rate, audio as float32. Streams through pipes, no temporary images.

The system ``ffmpeg`` is used when on PATH, else the binary the ``imageio-ffmpeg`` package ships,
so ``pip install leap-cli`` alone is enough. Probing parses ``ffmpeg -i`` (no ffprobe needed).
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .records import ClipError


class MediaError(ClipError):
    """The media file for a clip is missing, unreadable, or lacks the requested window."""


class NoAudio(MediaError):
    """The file has no audio stream (missing evidence, not a broken file)."""


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The ffmpeg binary: $LEAP_FFMPEG, the one on PATH, else imageio-ffmpeg's."""
    exe = os.environ.get("LEAP_FFMPEG") or shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MediaError("no ffmpeg: install it, or `pip install imageio-ffmpeg`") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Probe:
    duration: float  # seconds; inf when the file does not say
    width: int | None
    height: int | None
    fps: float | None
    has_video: bool
    has_audio: bool
    audio_rate: int | None


def _check_file(path: str) -> None:
    if not path:
        raise MediaError("the record has no video path (leap-clips --videos DIR fills it)")
    if not os.path.isfile(path):
        raise MediaError(f"{path}: no such file")


def parse_probe(text: str) -> Probe:
    """Read duration and streams from ``ffmpeg -i`` output (the part ffprobe would give)."""
    m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text)
    # "Duration: N/A" (a recording written to a pipe or stopped mid-way) is unknown, not zero: inf
    # lets every window through to the decoder, which finds where the frames end.
    duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else float("inf")
    video = re.search(r"Stream #\S+.*?: Video: (.*)", text)
    audio = re.search(r"Stream #\S+.*?: Audio: (.*)", text)
    width = height = fps = rate = None
    if video:
        size = re.search(r"\b(\d{2,5})x(\d{2,5})\b", video[1])
        if size:
            width, height = int(size[1]), int(size[2])
        # The rate ffmpeg decodes a stream at (its tbr, r_frame_rate), not the average "fps": a
        # variable-rate video comes out at tbr, and frame times computed from the average drift
        # past the window. ffmpeg's own guess takes the average when tbr is absurd (> 210).
        rates = {}
        for unit in ("fps", "tbr"):
            found = re.search(rf"([\d.]+)(k?) {unit}", video[1])
            if found:
                rates[unit] = float(found[1]) * (1000 if found[2] else 1)
        fps = rates.get("tbr") or rates.get("fps")
        if fps and fps > 210 and rates.get("fps", 70) < 70:
            fps = rates["fps"]
        # A phone video stored sideways: ffmpeg turns its frames upright, so they come out with
        # width and height swapped against the stream's coded size.
        turn = re.search(r"rotation of (-?[\d.]+) degrees", text[video.end():])
        if width and turn and round(float(turn[1])) % 180 == 90:
            width, height = height, width
    if audio:
        hz = re.search(r"(\d+) Hz", audio[1])
        rate = int(hz[1]) if hz else None
    return Probe(duration, width, height, fps, bool(video), bool(audio), rate)


@functools.lru_cache(maxsize=64)
def _probe(path: str, mtime: float, size: int) -> Probe:
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path],
                          capture_output=True, text=True, errors="replace")
    text = proc.stderr
    if "Invalid data found" in text or not re.search(r"Stream #\S+.*?: (Video|Audio):", text):
        reason = text.strip().splitlines()[-1] if text.strip() else "ffmpeg could not read it"
        raise MediaError(f"{path}: not a media file ffmpeg can read ({reason})")
    return parse_probe(text)


def probe(path: str) -> Probe:
    """Duration, size, frame rate and streams of a media file (cached per process)."""
    _check_file(path)
    st = os.stat(path)
    return _probe(os.path.abspath(path), st.st_mtime, st.st_size)


def _window(p: Probe, path: str, start: float, stop: float) -> tuple[float, float]:
    if start < 0 or stop <= start:
        raise MediaError(f"{path}: bad window {start:.3f}-{stop:.3f} s")
    if start >= p.duration:
        raise MediaError(f"{path}: window {start:.2f}-{stop:.2f} s is outside the video "
                         f"(duration {p.duration:.2f} s)")
    return start, min(stop, p.duration)


def _out_size(p: Probe, size) -> tuple[int, int]:
    """(width, height) for size = None (native), (w, h), or an int short side (aspect kept, even)."""
    if size is None:
        return p.width, p.height
    if isinstance(size, int):
        scale = size / min(p.width, p.height)
        return max(2, round(p.width * scale / 2) * 2), max(2, round(p.height * scale / 2) * 2)
    return int(size[0]), int(size[1])


def frame_command(path: str, start: float, stop: float, fps: float | None, width: int, height: int) -> list[str]:
    """The ffmpeg command line that writes the window's frames as raw RGB to stdout."""
    import ffmpeg

    # -ss before -i: fast keyframe seek, then exact decoding to the requested time.
    stream = ffmpeg.input(path, ss=f"{start:.6f}", t=f"{stop - start:.6f}")
    # Timestamps from 0 at the window start, and fps=...:round=up so the frame kept for slot k is
    # the first one at or after k/fps: the default keeps the last one of each slot, a frame that
    # is up to one output period later than the time reported for it.
    video = stream.video.filter("setpts", "PTS-STARTPTS")
    if fps:
        video = video.filter("fps", fps=fps, round="up")
    video = video.filter("scale", width, height)
    out = ffmpeg.output(video, "pipe:", format="rawvideo", pix_fmt="rgb24", an=None)
    return out.global_args("-nostdin", "-loglevel", "error").compile(cmd=ffmpeg_exe())


def iter_frames(path: str, start: float, stop: float, fps: float | None = None, size=None,
                batch: int = 32) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Decode a window in batches: (times [n] float64 seconds in the video, frames [n, H, W, 3] uint8 RGB).

    fps=None keeps every frame (the paper's native rate). Only one batch is in memory at a time.
    """
    p = probe(path)
    if not p.has_video:
        raise MediaError(f"{path}: no video stream")
    start, stop = _window(p, path, start, stop)
    width, height = _out_size(p, size)
    step = 1.0 / (fps or p.fps or 30.0)
    frame_bytes = width * height * 3
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(frame_command(path, start, stop, fps, width, height),
                                stdout=subprocess.PIPE, stderr=err, bufsize=frame_bytes * 4)
        count = 0
        try:
            while True:
                data = proc.stdout.read(frame_bytes * batch)
                n = len(data) // frame_bytes
                if n:
                    frames = np.frombuffer(data[: n * frame_bytes], np.uint8).reshape(n, height, width, 3)
                    yield start + (count + np.arange(n)) * step, frames
                    count += n
                if len(data) < frame_bytes * batch:
                    break
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
        if code not in (0, -9):
            err.seek(0)
            raise MediaError(f"{path}: ffmpeg failed decoding frames ({err.read().decode(errors='replace').strip()[-300:]})")
    if count == 0:
        raise MediaError(f"{path}: no frames decoded in {start:.2f}-{stop:.2f} s")
    expected = (stop - start) * (fps or p.fps or 0.0)
    if count < 0.5 * expected:
        # ffmpeg's input-side seek fails in some MP4s (the VLC-muxed EPIC sample gives 28 of 527
        # frames); the frames it did give would carry the wrong times.
        raise MediaError(f"{path}: ffmpeg decoded {count} of the {expected:.0f} frames of "
                         f"{start:.2f}-{stop:.2f} s: it cannot seek in this file "
                         "(remuxing it, ffmpeg -i IN -c copy OUT, usually mends that)")


def frames(path: str, start: float, stop: float, fps: float | None = None, size=None) -> tuple[np.ndarray, np.ndarray]:
    """All frames of a short window at once: (times [N], frames [N, H, W, 3] uint8)."""
    parts = list(iter_frames(path, start, stop, fps, size))
    return np.concatenate([t for t, _ in parts]), np.concatenate([f for _, f in parts])


def jpeg(path: str, t: float, width: int = 320, quality: int = 5) -> bytes:
    """The frame at or just after ``t`` seconds as a JPEG ``width`` pixels wide (aspect kept);
    ``quality`` is ffmpeg's -q:v (2 best .. 31 worst)."""
    _check_file(path)
    cmd = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-ss", f"{max(t, 0.0):.6f}", "-i", path,
           "-frames:v", "1", "-vf", f"scale={int(width)}:-2", "-q:v", str(int(quality)),
           "-f", "image2pipe", "-c:v", "mjpeg", "pipe:"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode or not proc.stdout.startswith(b"\xff\xd8"):
        raise MediaError(f"{path}: no frame at {t:.2f} s ({proc.stderr.decode(errors='replace').strip()[-300:]})")
    return proc.stdout


def audio(path: str, start: float, stop: float, rate: int = 24000) -> np.ndarray:
    """The window's audio as float32 mono at ``rate`` Hz, shape [samples]."""
    p = probe(path)
    if not p.has_audio:
        raise NoAudio(f"{path}: no audio stream")
    start, stop = _window(p, path, start, stop)
    samples = _decode_audio(path, start, stop, rate, seek_input=True)
    if len(samples) < (stop - start - 0.1) * rate:
        # Some files (a broken index: the VLC-muxed EPIC sample) give nothing, or only the window's
        # last part, from an input-side seek: decode from the start and seek on the output side
        # instead (slower, always exact).
        samples = _decode_audio(path, start, stop, rate, seek_input=False)
    return samples


def _decode_audio(path: str, start: float, stop: float, rate: int, seek_input: bool) -> np.ndarray:
    import ffmpeg

    window = {"ss": f"{start:.6f}", "t": f"{stop - start:.6f}"}
    stream = ffmpeg.input(path, **window) if seek_input else ffmpeg.input(path)
    out_args = {} if seek_input else window
    cmd = (ffmpeg.output(stream.audio, "pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=rate, **out_args)
           .global_args("-nostdin", "-loglevel", "error").compile(cmd=ffmpeg_exe()))
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise MediaError(f"{path}: ffmpeg failed decoding audio ({proc.stderr.decode(errors='replace').strip()[-300:]})")
    return np.frombuffer(proc.stdout, np.float32).copy()
