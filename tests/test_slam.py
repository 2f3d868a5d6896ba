"""leap-slam: EPIC Fields poses -> walking intervals (slam.goto), generic pose files, missing
evidence. The pose files are written in exactly the EPIC Fields format from trajectories whose
walking intervals are known."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import records, run_tool
from leap_cli import epic
from leap_cli.commands import slam as slam_cmd
from leap_cli.perception import slam
from leap_cli.records import validate

# Walks (start, stop, from, to) in metres; the wearer stands (head moving a little) in between.
WALKS = [(10.0, 13.0, (0, 0, 0), (3, 0, 0)), (17.0, 19.5, (3, 0, 0), (0.5, 0, 0)),
         (30.0, 33.0, (0.5, 0, 0), (1.5, 2.0, 0))]
DURATION = 60.0


def centre_at(t: np.ndarray) -> np.ndarray:
    """Camera centre [n, 3] at times t: standing with head bob and sway, walking at constant speed."""
    pos = np.tile(np.array(WALKS[0][2], float), (len(t), 1))
    for a, b, p, q in WALKS:
        f = np.clip((t - a) / (b - a), 0, 1)[:, None]
        pos = np.where((t >= a)[:, None], np.array(p) + f * (np.array(q) - np.array(p)), pos)
    bob = np.stack([0.03 * np.sin(2 * np.pi * 0.4 * t), 0.02 * np.cos(2 * np.pi * 0.3 * t),
                    0.02 * np.sin(2 * np.pi * 1.1 * t)], 1)
    return pos + bob + np.random.default_rng(0).normal(0, 0.004, (len(t), 3))


def yaw_quaternions(yaw: np.ndarray) -> np.ndarray:
    """World-to-camera rotations turning about the vertical (y) axis: [n, 4] (w, x, y, z)."""
    return np.stack([np.cos(yaw / 2), 0 * yaw, np.sin(yaw / 2), 0 * yaw], 1)


def write_fields(path, frames, centres, quats, scale=1.0, points_first=False, shuffle=False):
    """An EPIC Fields JSON: camera, images {frame_%010d.jpg: [qw, qx, qy, qz, tx, ty, tz]}, points.

    COLMAP convention: X_cam = R X_world + t, so t = -R c for camera centre c.
    """
    c = np.asarray(centres) * scale
    t = -np.einsum("nij,nj->ni", slam.quaternion_matrices(quats), c)
    items = [(f"frame_{f:010d}.jpg", [*q, *tt]) for f, q, tt in zip(frames, quats.tolist(), t.tolist())]
    if shuffle:
        random.Random(0).shuffle(items)
    points = [[*(np.array([x, 1.0, -x]) * scale).tolist(), 200, 180, 160] for x in np.linspace(-1, 4, 300)]
    camera = {"model": "OPENCV", "width": 456, "height": 256, "params": [230.0, 230.0, 228.0, 128.0, 0.01, -0.02, 0.0, 0.0]}
    doc = {"points": points, "camera": camera, "images": dict(items)} if points_first else \
        {"camera": camera, "images": dict(items), "points": points}
    path.write_text(json.dumps(doc))
    return path


def registered(fps: float, step: int, drop=None):
    """Registered frame numbers (every ``step``-th frame), their times, minus a dropped time range."""
    frames = np.arange(step, int(DURATION * fps), step)
    times = frames / fps
    if drop is not None:
        keep = ~((times > drop[0]) & (times < drop[1]))
        frames, times = frames[keep], times[keep]
    return frames, times


def fields_dir(tmp_path, video="P01_01", fps=60, step=6, scale=1.0, yaw=None, drop=None, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    frames, times = registered(fps, step, drop)
    yaw = 0.3 * np.sin(2 * np.pi * 0.2 * times) if yaw is None else yaw(times)
    write_fields(tmp_path / f"{video}.json", frames, centre_at(times), yaw_quaternions(yaw), scale, **kw)
    return tmp_path


def clip(cid, start, stop, video="P01_01") -> dict:
    return {"schema": 1, "id": cid, "video_id": video, "participant_id": video.split("_")[0],
            "start": start, "stop": stop}


def run(directory, clips, *args):
    proc = run_tool("leap-slam", "--fields", directory, *args,
                    input="".join(json.dumps(c) + "\n" for c in clips))
    assert proc.returncode == 0, proc.stderr
    out = records(proc.stdout)
    for r in out:
        validate(r)
    return out


def intervals(rec) -> list[tuple[float, float]]:
    return [(g["start"], g["stop"]) for g in rec["slam"]["goto"]]


def assert_close(got, want, tol=0.1):
    assert len(got) == len(want), (got, want)
    for (s, e), (ws, we) in zip(got, want):
        assert abs(s - ws) <= tol and abs(e - we) <= tol, (got, want)


# --- walking ---

def test_walk_stand_walk_within_a_tenth_of_a_second(tmp_path):
    d = fields_dir(tmp_path)
    a, b, c = run(d, [clip("a", 8.0, 22.0), clip("b", 11.0, 12.5), clip("c", 20.0, 29.0)])
    assert a["slam"]["source"] == {"tool": "leap-slam", "version": a["slam"]["source"]["version"], "fields": "P01_01.json"}
    assert_close(intervals(a), [(2.0, 5.0), (9.0, 11.5)])
    assert intervals(b) == [(0.0, 1.5)]  # inside one walk: the whole clip
    assert intervals(c) == [] and "missing" not in c["slam"]  # standing only


def test_fifty_fps_numbering_for_extension_videos(tmp_path):
    d = fields_dir(tmp_path, video="P01_101", fps=50, step=5)
    (a,) = run(d, [clip("a", 8.0, 22.0, video="P01_101")])
    assert_close(intervals(a), [(2.0, 5.0), (9.0, 11.5)])
    assert epic.frame_rate("P01_101", None) == 50 and epic.frame_rate("P01_01", None) == 60 and epic.frame_rate("clip7", None) is None


def test_head_rotation_alone_is_not_walking(tmp_path):
    # Turning the head +-80 degrees twice a second moves t = -R c a lot, the centre not at all.
    d = fields_dir(tmp_path, yaw=lambda t: 1.4 * np.sin(2 * np.pi * 2 * t))
    a, b = run(d, [clip("a", 20.0, 29.5), clip("b", 0.0, 9.5)])
    assert intervals(a) == [] and intervals(b) == []
    (walk,) = run(d, [clip("w", 8.0, 15.0)])  # the same file still shows its walk
    assert_close(intervals(walk), [(2.0, 5.0)])


@pytest.mark.parametrize("scale", [0.013, 250.0])
def test_scale_invariance(tmp_path, scale):
    clips = [clip("a", 8.0, 22.0), clip("b", 28.0, 40.0)]
    base = run(fields_dir(tmp_path / "one"), clips)
    scaled = run(fields_dir(tmp_path / "two", scale=scale), clips)
    for r, s in zip(base, scaled):
        np.testing.assert_allclose(intervals(s), intervals(r), atol=1e-3)
    assert_close(intervals(base[1]), [(2.0, 5.0)])


def test_unregistered_gap_is_not_motion(tmp_path):
    # The whole third walk (30-33 s) failed to register: before it the wearer is at one place,
    # after it at another, but nothing says how or when they moved.
    d = fields_dir(tmp_path, drop=(29.8, 33.2))
    (a,) = run(d, [clip("a", 26.0, 38.0)])
    assert intervals(a) == [] and "missing" not in a["slam"]


def test_short_gaps_and_dropped_frames(tmp_path):
    # 0.6 s missing inside the first walk: still one walk
    (a,) = run(fields_dir(tmp_path / "gap", drop=(11.2, 11.8)), [clip("a", 8.0, 16.0)])
    assert_close(intervals(a), [(2.0, 5.0)])
    # a fifth of all registrations missing at random, in random key order, points first
    frames, times = registered(60, 6)
    keep = np.random.default_rng(3).random(len(frames)) > 0.2
    frames, times = frames[keep], times[keep]
    d = tmp_path / "sparse"
    d.mkdir()
    write_fields(d / "P01_01.json", frames, centre_at(times), yaw_quaternions(0 * times),
                 points_first=True, shuffle=True)
    (b,) = run(d, [clip("b", 8.0, 22.0)])
    assert_close(intervals(b), [(2.0, 5.0), (9.0, 11.5)])


def test_swaying_at_a_counter_goes_nowhere(tmp_path):
    # 20-29 s: stepping back and forth by 50 cm (peak 0.6 m/s, as fast as a slow walk), no goto
    frames, times = registered(60, 6)
    c = centre_at(times)
    sway = (times > 20) & (times < 29)
    c[sway, 2] += 0.25 - 0.25 * np.cos(2 * np.pi * 0.4 * (times[sway] - 20))
    write_fields(tmp_path / "P01_01.json", frames, c, yaw_quaternions(0 * times))
    a, w = run(tmp_path, [clip("a", 19.8, 29.5), clip("w", 8.0, 22.0)])
    assert intervals(a) == []
    assert_close(intervals(w), [(2.0, 5.0), (9.0, 11.5)])


def test_isolated_misregistrations_are_not_walks(tmp_path):
    frames, times = registered(60, 6)
    c = centre_at(times)
    for k in (50, 90, 230, 231):  # 5 s, 9 s, 23 s (two in a row): poses 2 m off
        c[k] += [2.0, 0.0, -1.0]
    write_fields(tmp_path / "P01_01.json", frames, c, yaw_quaternions(0 * times))
    a, b = run(tmp_path, [clip("a", 0.0, 9.8), clip("b", 20.0, 29.5)])
    assert intervals(a) == [] and intervals(b) == []
    (w,) = run(tmp_path, [clip("w", 8.0, 22.0)])
    assert_close(intervals(w), [(2.0, 5.0), (9.0, 11.5)])


# --- missing evidence and errors ---

def test_outside_registered_range_and_no_file_are_missing(tmp_path):
    d = fields_dir(tmp_path)
    out = run(d, [clip("a", 100.0, 105.0), clip("b", 8.0, 22.0, video="P01_02")])
    assert out[0]["slam"] == {"source": out[0]["slam"]["source"], "goto": [],
                              "missing": "no registered frames in the clip window 100.00-105.00 s "
                                         "(P01_01.json registers 0.10-59.90 s, 0 inside)"}
    assert out[1]["slam"]["goto"] == [] and out[1]["slam"]["missing"] == f"no EPIC Fields file for P01_02 in {d}"
    proc = run_tool("leap-slam", "--fields", d, "--require",
                    input=json.dumps(clip("a", 100.0, 105.0)) + "\n" + json.dumps(clip("b", 1, 2, video="P01_02")) + "\n")
    a, b = records(proc.stdout)
    assert proc.returncode == 0 and "2 errors" in proc.stderr
    assert a["error"]["stage"] == "slam" and a["error"]["message"].startswith("missing evidence: no registered frames")
    assert b["error"]["message"] == f"missing evidence: no EPIC Fields file for P01_02 in {d} (without --require the clip goes on)"


def test_broken_file_is_an_error(tmp_path):
    (tmp_path / "P01_03.json").write_text('{"camera": {}, "images": {"frame_0000000001.jpg": [1, 0, 0')
    (tmp_path / "P01_04.json").write_text('{"camera": {}, "images": {"frame_0000000001.jpg": [1, 0, 0, 0]}}')
    out = run(tmp_path, [clip("a", 0, 1, video="P01_03"), clip("b", 0, 1, video="P01_04")])
    assert out[0]["error"]["message"].startswith(f"{tmp_path / 'P01_03.json'}: not an EPIC Fields file")
    assert "bad images entry 'frame_0000000001.jpg'" in out[1]["error"]["message"]
    proc = run_tool("leap-slam", "--fields", tmp_path, input='{"id": "c", "video_id": "P01_03", "start": "soon", "stop": 2}')
    (c,) = records(proc.stdout)  # (not a valid record: start must be a number)
    assert c["error"]["message"] == "start 'soon' is not a number of seconds"
    (c,) = run(tmp_path, [{"schema": 1, "id": "c", "start": 1, "stop": 2}])
    assert c["error"]["message"] == "the record has no video_id (poses are found by video)"
    proc = run_tool("leap-slam", "--fields", tmp_path, "--fps", "30", input="")
    assert proc.returncode == 0
    proc = run_tool("leap-slam", input="")
    assert proc.returncode == 2 and "give exactly one of --fields, --poses" in proc.stderr


def test_each_video_is_parsed_once(tmp_path, monkeypatch):
    d = fields_dir(tmp_path)
    fields_dir(tmp_path, video="P01_101", fps=50, step=5)
    calls = []
    real = slam.read_epic_fields
    monkeypatch.setattr(slam, "read_epic_fields", lambda path, fps: calls.append(path) or real(path, fps))
    clips = [clip(f"a{i}", 5.0 * i, 5.0 * i + 4) for i in range(6)] + \
            [clip(f"b{i}", 5.0 * i, 5.0 * i + 4, video="P01_101") for i in range(4)]
    result = CliRunner().invoke(slam_cmd.cli, ["--fields", str(d), "-q"],
                                input="".join(json.dumps(c) + "\n" for c in clips))
    assert result.exit_code == 0, result.output
    assert len(records(result.stdout)) == 10
    assert [p.rsplit("/", 1)[1] for p in calls] == ["P01_01.json", "P01_101.json"]
    assert "not grouped" not in result.stderr
    # interleaved videos still work; each file is re-read, and stderr says why, once
    calls.clear()
    mixed = [clip("a", 1, 2), clip("b", 1, 2, video="P01_101"), clip("c", 1, 2, video="P01_02")] * 2
    result = CliRunner().invoke(slam_cmd.cli, ["--fields", str(d)], input="".join(json.dumps(c) + "\n" for c in mixed))
    assert [r["slam"].get("missing", "") == "" for r in records(result.stdout)] == [True, True, False] * 2
    assert len(calls) == 4 and result.stderr.count("P01_01.json read again: the input is not grouped by video") == 1


# --- generic pose files ---

def test_generic_poses_csv_and_jsonl(tmp_path):
    _, times = registered(60, 6)
    c = centre_at(times)
    csv_file = tmp_path / "poses.csv"
    csv_file.write_text("video_id,t,x,y,z\n" + "".join(f"cam7,{t:.4f},{x},{y},{z}\n" for t, (x, y, z) in zip(times, c)))
    q = yaw_quaternions(0.5 * np.sin(times))
    tr = -np.einsum("nij,nj->ni", slam.quaternion_matrices(q), c * 40)
    jsonl = tmp_path / "poses.jsonl"
    jsonl.write_text("".join(json.dumps({"video_id": "cam7", "t": t, "qw": a[0], "qx": a[1], "qy": a[2], "qz": a[3],
                                         "tx": b[0], "ty": b[1], "tz": b[2]}) + "\n"
                             for t, a, b in zip(times.tolist(), q.tolist(), tr.tolist())))
    text = json.dumps(clip("a", 8.0, 22.0, video="cam7")) + "\n" + json.dumps(clip("z", 1, 2, video="cam8")) + "\n"
    for f in (csv_file, jsonl):
        proc = run_tool("leap-slam", "--poses", f, input=text)
        a, z = records(proc.stdout)
        validate(a)
        assert a["slam"]["source"]["poses"] == f.name
        assert_close(intervals(a), [(2.0, 5.0), (9.0, 11.5)])
        assert z["slam"]["missing"] == f"no poses for cam8 in {f.name}"
    bad = tmp_path / "bad.csv"
    bad.write_text("video_id,t,x\ncam7,0.1,3\n")
    proc = run_tool("leap-slam", "--poses", bad, input=text)
    assert proc.returncode == 2 and "bad.csv:2: need video_id, t and either x, y, z" in proc.stderr


def test_camera_centres_from_colmap_poses():
    q = yaw_quaternions(np.array([np.pi / 2]))
    # rotation by 90 degrees about y, camera at (1, 2, 3): t = -R c
    r = slam.quaternion_matrices(q)[0]
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 0, -1], atol=1e-12)
    t = -r @ np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(slam.camera_centres(np.array([[*q[0], *t]])), [[1, 2, 3]], atol=1e-12)
