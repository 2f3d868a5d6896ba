"""Walking from camera poses: EPIC Fields files, generic pose files, the goto detector.

Pure logic, no click. The readers take file paths (they are the parsing layer for the formats
in ../shared/data/README.md); the detector takes arrays.

Walking detection works on camera centres over time:
1. centres on a regular 20 Hz grid, interpolated only between registered poses at most
   ``max_gap`` apart: a longer gap of unregistered frames is unknown, never motion;
2. a moving-average smoothing within each known run (head bob and SfM jitter);
3. speed divided by the video's scale: the SfM scale is arbitrary, so speed is measured in
   "extents per second", the extent being a robust diameter of all the video's camera
   centres (the diagonal of their 2nd-98th percentile box: about the kitchen's size), which
   scales with any global scaling of the translations and so cancels it;
4. hysteresis: an interval starts above ``on`` and lasts while above ``off``; each boundary is
   then moved to where the speed crosses half the interval's median speed (the smoothing
   spreads a step over its window symmetrically, so the half-height point is the step);
5. intervals shorter than ``min_duration`` are dropped (this also removes the two short speed
   spikes a misregistered pose, or a few in a row, makes as it enters and leaves the smoothing
   window), and so are those whose net displacement is under ``min_travel`` extents: swaying
   back and forth at a counter can be fast, but it goes nowhere.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from .runs import true_runs

FRAME_KEY = re.compile(r"frame_(\d+)\.\w+$")


@dataclass
class Trajectory:
    """One video's registered camera poses: times [n] (s, sorted), centres [n, 3], scale."""

    times: np.ndarray
    centres: np.ndarray
    scale: float
    source: str


def video_scale(centres: np.ndarray) -> float:
    """A robust diameter of the space the camera visited (SfM units)."""
    if len(centres) < 2:
        return 0.0
    lo, hi = np.percentile(centres, [2, 98], axis=0)
    return float(np.linalg.norm(hi - lo))


def quaternion_matrices(q: np.ndarray) -> np.ndarray:
    """Rotation matrices [n, 3, 3] of Hamilton quaternions [n, 4] (w, x, y, z), normalised first."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def camera_centres(poses: np.ndarray) -> np.ndarray:
    """COLMAP world-to-camera poses [n, 7] (qw qx qy qz tx ty tz) -> centres -R^T t: [n, 3]."""
    r = quaternion_matrices(poses[:, :4])  # [n, 3, 3]
    return -np.einsum("nji,nj->ni", r, poses[:, 4:7])


# --- EPIC Fields ---

_DECODER = json.JSONDecoder()
_SKIP = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _skip_value(text: str, i: int) -> int:
    """Index just after the JSON value starting at text[i], without building it."""
    if text[i] not in "[{":
        return _DECODER.raw_decode(text, i)[1]
    depth = 0
    for m in _SKIP.finditer(text, i):
        tok = m.group()
        if tok in "[{":
            depth += 1
        elif tok in "]}":
            depth -= 1
            if depth == 0:
                return m.end()
    raise ValueError("unterminated JSON value")


def _images_member(text: str) -> dict:
    """The top-level ``images`` object of an EPIC Fields JSON, skipping ``points`` unparsed.

    The point cloud is most of a file of tens of MB; only the poses are needed.
    """
    ws = re.compile(r"\s*")
    i = ws.match(text, 0).end()
    if text[i:i + 1] != "{":
        raise ValueError("not a JSON object")
    i += 1
    while True:
        i = ws.match(text, i).end()
        if text[i] == "}":
            raise ValueError("no 'images' member")
        key, i = _DECODER.raw_decode(text, i)
        i = ws.match(text, i).end()
        if text[i] != ":":
            raise ValueError(f"expected ':' at character {i}")
        i = ws.match(text, i + 1).end()
        if key == "images":
            value, _ = _DECODER.raw_decode(text, i)
            if not isinstance(value, dict):
                raise ValueError("'images' is not an object")
            return value
        i = ws.match(text, _skip_value(text, i)).end()
        if text[i] == ",":
            i += 1


def read_epic_fields(path: str, fps: float) -> Trajectory:
    """An EPIC Fields per-video JSON -> its registered camera centres, by time (frame / fps).

    Raises ValueError (with the reason) for a file that is not in the EPIC Fields format.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        images = _images_member(text)
    except (ValueError, IndexError) as e:
        raise ValueError(f"{path}: not an EPIC Fields file ({e})") from None
    del text
    frames = np.empty(len(images), np.int64)
    poses = np.empty((len(images), 7), np.float64)
    for k, (name, pose) in enumerate(images.items()):
        m = FRAME_KEY.search(name)
        if not m or not isinstance(pose, list) or len(pose) != 7:
            raise ValueError(f"{path}: bad images entry {name!r} (want frame_%010d.jpg: [qw, qx, qy, qz, tx, ty, tz])")
        frames[k] = int(m.group(1))
        poses[k] = pose
    del images
    order = np.argsort(frames, kind="stable")
    frames, poses = frames[order], poses[order]
    centres = camera_centres(poses) if len(poses) else np.zeros((0, 3))
    # EPIC frames are 1-based; frame n is at n / fps seconds, the convention of the annotation
    # files (start_frame = floor(start * fps)).
    return Trajectory(frames / fps, centres, video_scale(centres), os.path.basename(path))


# --- generic pose files ---

POSE_COLUMNS = ("video_id", "t")


def _pose_row(row: dict, where: str) -> tuple[str, float, list[float]]:
    try:
        vid, t = str(row["video_id"]), float(row["t"])
        if all(row.get(k) not in (None, "") for k in ("x", "y", "z")):
            return vid, t, [float(row["x"]), float(row["y"]), float(row["z"])]
        pose = np.array([[float(row[k]) for k in ("qw", "qx", "qy", "qz", "tx", "ty", "tz")]])
        return vid, t, camera_centres(pose)[0].tolist()
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: need video_id, t and either x, y, z (camera centre) or "
                         f"qw, qx, qy, qz, tx, ty, tz (world-to-camera); {type(e).__name__}: {e}") from None


def read_poses(path: str) -> dict[str, Trajectory]:
    """A generic pose file (CSV with a header, or JSONL) -> one Trajectory per video.

    Each row: ``video_id``, ``t`` (seconds in the video), and the camera centre ``x, y, z`` in
    any world frame and scale, or a COLMAP world-to-camera pose ``qw qx qy qz tx ty tz``.
    """
    rows: dict[str, list] = {}
    name = os.path.basename(path)
    with open(path, encoding="utf-8", newline="") as f:
        if path.endswith((".jsonl", ".json", ".ndjson")):
            records = ((n, json.loads(line)) for n, line in enumerate(f, 1) if line.strip())
        else:
            records = enumerate(csv.DictReader(f), 2)
        for n, row in records:
            if not isinstance(row, dict):
                raise ValueError(f"{name}:{n}: not a JSON object")
            vid, t, c = _pose_row(row, f"{name}:{n}")
            rows.setdefault(vid, []).append((t, *c))
    out = {}
    for vid, r in rows.items():
        a = np.array(sorted(r), dtype=np.float64)  # [n, 4]
        out[vid] = Trajectory(a[:, 0], a[:, 1:4], video_scale(a[:, 1:4]), name)
    return out


# --- walking detection ---

@dataclass(frozen=True)
class WalkParams:
    """Walking detector settings (speeds in video extents per second, times in seconds)."""

    grid_hz: float = 20.0
    max_gap: float = 1.0  # registered poses further apart than this: unknown in between
    smooth_s: float = 0.5  # moving-average window on positions
    on: float = 0.12  # an interval starts above this normalised speed ...
    off: float = 0.06  # ... and lasts while above this one
    min_duration: float = 0.5
    min_travel: float = 0.15  # net displacement over the interval, in video extents
    margin: float = 1.0  # context read on each side of the clip, so boundaries are not cut
    min_clipped: float = 0.2  # a detected interval's part inside the clip must be this long


@dataclass
class Goto:
    """Result for one clip: intervals (relative seconds) or the reason there is no evidence."""

    intervals: list[dict] = field(default_factory=list)
    missing: str | None = None


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average of [m, 3] with edge-shrunk windows (no zero bias at the ends)."""
    if n <= 1 or len(x) < 2:
        return x
    c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    i = np.arange(len(x))
    lo, hi = np.maximum(i - n // 2, 0), np.minimum(i + n // 2 + 1, len(x))
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


def _grid(times: np.ndarray, centres: np.ndarray, t0: float, t1: float, p: WalkParams):
    """Positions on a regular grid over [t0, t1]: (grid times [m], positions [m, 3] NaN = unknown)."""
    g = t0 + np.arange(int(math.floor((t1 - t0) * p.grid_hz)) + 1) / p.grid_hz
    pos = np.full((len(g), 3), np.nan)
    if len(times) == 0:
        return g, pos
    j = np.searchsorted(times, g, side="right")  # times[j-1] <= g < times[j]
    exact = (j > 0) & np.isclose(times[np.maximum(j - 1, 0)], g, atol=1e-9)
    inside = (j > 0) & (j < len(times))
    jj = np.clip(j, 1, len(times) - 1)
    left, right = times[jj - 1], times[jj]
    ok = inside & (right - left <= p.max_gap)
    w = np.where(ok, (g - left) / np.where(right > left, right - left, 1.0), 0.0)[:, None]
    interp = centres[jj - 1] * (1 - w) + centres[jj] * w
    pos[ok] = interp[ok]
    pos[exact] = centres[np.maximum(j - 1, 0)][exact]
    return g, pos


def _refine(speed: np.ndarray, a: int, b: int) -> tuple[float, float]:
    """Sub-step boundaries of the run speed[a:b]: where it crosses half its median speed."""
    level = 0.5 * float(np.median(speed[a:b]))
    n = len(speed)
    while a > 0 and np.isfinite(speed[a - 1]) and speed[a - 1] > level:
        a -= 1
    while a < b - 1 and speed[a] < level:
        a += 1
    while b < n and np.isfinite(speed[b]) and speed[b] > level:
        b += 1
    while b > a + 1 and speed[b - 1] < level:
        b -= 1

    def cross(i0: int, i1: int) -> float:  # fraction between steps i0 and i1 where level is met
        s0, s1 = speed[i0], speed[i1]
        return 0.5 if not (np.isfinite(s0) and np.isfinite(s1)) or s0 == s1 else \
            float(np.clip((level - s0) / (s1 - s0), 0.0, 1.0))

    start = a - 1 + cross(a - 1, a) if a > 0 else float(a)
    stop = b - 1 + cross(b - 1, b) if b < n else float(b)
    return start, stop


def walking(traj: Trajectory, start: float, stop: float, p: WalkParams = WalkParams()) -> list[tuple[float, float]]:
    """Walking intervals (video seconds) overlapping [start, stop] from a trajectory."""
    if traj.scale <= 0:
        return []
    t0, t1 = start - p.margin, stop + p.margin
    lo, hi = np.searchsorted(traj.times, [t0 - p.max_gap, t1 + p.max_gap])
    g, pos = _grid(traj.times[lo:hi], traj.centres[lo:hi], t0, t1, p)
    known = np.isfinite(pos[:, 0])
    smooth = np.full_like(pos, np.nan)
    n_smooth = max(1, int(round(p.smooth_s * p.grid_hz)))
    for a, b in true_runs(known):
        smooth[a:b] = _smooth(pos[a:b], n_smooth)
    dt = 1.0 / p.grid_hz
    # speed[k]: from grid point k to k+1, NaN when either end is unknown; time of step k: g[k] + dt/2
    speed = np.linalg.norm(np.diff(smooth, axis=0), axis=1) / dt / traj.scale
    finite = np.isfinite(speed)
    above_off = finite & (np.nan_to_num(speed) > p.off)
    out = []
    for a, b in true_runs(above_off):
        if speed[a:b].max() <= p.on:
            continue
        s, e = _refine(np.where(finite, speed, np.nan), a, b)
        ts, te = g[0] + (s + 0.5) * dt, g[0] + (e + 0.5) * dt
        if te - ts < p.min_duration:
            continue
        # Going somewhere ends somewhere else: swaying while working at a counter does not.
        travel = np.linalg.norm(smooth[min(int(e), len(smooth) - 1)] - smooth[int(s)]) / traj.scale
        if not travel >= p.min_travel:
            continue
        ts, te = max(ts, start), min(te, stop)
        if te - ts >= p.min_clipped:
            out.append((ts, te))
    return out


def goto_for_clip(traj: Trajectory, start: float, stop: float, p: WalkParams = WalkParams()) -> Goto:
    """The ``slam.goto`` intervals of a clip (relative seconds), or why there is no evidence."""
    lo, hi = np.searchsorted(traj.times, [start, stop], side="left")
    hi = np.searchsorted(traj.times, stop, side="right")
    if hi - lo < 2:
        if len(traj.times) == 0:
            return Goto(missing=f"{traj.source} has no registered frames")
        span = f"{traj.times[0]:.2f}-{traj.times[-1]:.2f} s"
        return Goto(missing=f"no registered frames in the clip window {start:.2f}-{stop:.2f} s "
                            f"({traj.source} registers {span}, {hi - lo} inside)")
    return Goto(intervals=[{"start": round(float(a - start), 3), "stop": round(float(b - start), 3)}
                           for a, b in walking(traj, start, stop, p)])
