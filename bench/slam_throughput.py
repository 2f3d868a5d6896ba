"""leap-slam clips per second on a 100k-frame EPIC Fields file, 1,000 clips (issue 5).

Writes a synthetic EPIC Fields JSON in the official format (100,000 registered frames of a
60 fps video, i.e. 27.8 minutes, every frame registered, plus a point cloud so the file has the
size of a real one), then runs the installed `leap-slam` on 1,000 clips of that video as one
process, and reports wall time, clips/s, the parse time of the file alone and the process's
peak memory.   Usage: python bench/slam_throughput.py [FRAMES] [CLIPS] [POINTS]
"""
import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from leap_cli.perception import slam

frames_n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
clips_n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
points_n = int(sys.argv[3]) if len(sys.argv) > 3 else 300_000
fps = 60.0
rng = np.random.default_rng(0)

work = tempfile.mkdtemp(prefix="leap-slam-bench-")
atexit.register(shutil.rmtree, work, True)
frames = np.arange(1, frames_n + 1)
t = frames / fps
# A wearer who stands 6-20 s, then walks 1-4 s to another spot of a 4 x 3 m kitchen, and so on.
pos, spot, k = np.zeros((frames_n, 3)), np.zeros(3), 0
while k < frames_n:
    stand = int(rng.uniform(6, 20) * fps)
    pos[k:k + stand] = spot
    k += stand
    target = np.array([rng.uniform(0, 4), 0.0, rng.uniform(0, 3)])
    walk = int(np.linalg.norm(target - spot) / 1.0 * fps) + 1
    f = np.linspace(0, 1, walk)[:, None]
    pos[k:k + walk] = (spot + f * (target - spot))[: max(0, min(walk, frames_n - k))]
    k, spot = k + walk, target
pos += rng.normal(0, 0.005, pos.shape) * 2.3  # jitter; then an arbitrary SfM scale:
yaw = 0.8 * np.sin(t * 0.7)
q = np.stack([np.cos(yaw / 2), 0 * yaw, np.sin(yaw / 2), 0 * yaw], 1)
tr = -np.einsum("nij,nj->ni", slam.quaternion_matrices(q), pos * 2.3)
path = os.path.join(work, "P01_01.json")
with open(path, "w") as fh:
    fh.write('{"camera": {"model": "OPENCV", "width": 456, "height": 256, "params": [230, 230, 228, 128, 0, 0, 0, 0]}, "images": {')
    fh.write(", ".join(f'"frame_{f:010d}.jpg": [{a[0]!r}, {a[1]!r}, {a[2]!r}, {a[3]!r}, {b[0]!r}, {b[1]!r}, {b[2]!r}]'
                       for f, a, b in zip(frames.tolist(), q.tolist(), tr.tolist())))
    fh.write('}, "points": ')
    json.dump(np.round(np.hstack([rng.uniform(-1, 5, (points_n, 3)), rng.integers(0, 255, (points_n, 3))]), 4).tolist(), fh)
    fh.write("}")
size_mb = os.path.getsize(path) / 1e6

starts = np.sort(rng.uniform(0, t[-1] - 10, clips_n))
clips = os.path.join(work, "clips.jsonl")
with open(clips, "w") as fh:
    for i, s in enumerate(starts):
        fh.write(json.dumps({"schema": 1, "id": f"P01_01_{i}", "video_id": "P01_01", "start": round(float(s), 2),
                             "stop": round(float(s + rng.uniform(1, 8)), 2)}) + "\n")

t0 = time.perf_counter()
slam.read_epic_fields(path, fps)
parse = time.perf_counter() - t0

tool = os.path.join(os.path.dirname(sys.executable), "leap-slam")
t0 = time.perf_counter()
out = subprocess.run([tool, "--fields", work, "-q", clips], capture_output=True, text=True, check=True).stdout
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
recs = [json.loads(line) for line in out.splitlines()]
walks = sum(len(r["slam"]["goto"]) for r in recs)
print(f"EPIC Fields file: {frames_n} frames, {points_n} points, {size_mb:.1f} MB; parse alone {parse:.2f} s")
print(f"leap-slam: {len(recs)} clips in {wall:.2f} s (process, parse included) = {len(recs) / wall:.0f} clips/s; "
      f"{(wall - parse) * 1000 / len(recs):.2f} ms/clip after the parse; peak RSS {peak:.0f} MB; {walks} walks found")
