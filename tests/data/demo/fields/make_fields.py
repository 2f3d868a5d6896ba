"""SYNTHETIC camera poses for the demo videos P03_22 and P06_10, in the EPIC Fields format.

The real EPIC Fields files of these videos are not at hand (and tens of MB each), so the demo
ships poses made up here, labelled as such in every file ("synthetic" member) and in README.md.
They are not measurements. They are made from the clips' narrations only: each clip is
done at the kitchen fixture it names (fridge, cupboard, sink, hob, bin...; otherwise where the
camera already is), and between two clips at different fixtures the camera walks there, from
0.8 s before the second clip starts to 0.7 s into it. Standing, it sways a few centimetres and
turns its head; every pose has a little jitter. Frames are registered at 10 Hz (every 6th
frame at 60 fps) over the span of the clips.

Run from the repository root to rewrite P03_22.json and P06_10.json (deterministic):
    python tests/data/demo/fields/make_fields.py
"""
from __future__ import annotations

import csv
import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
CSV = os.path.join(HERE, "..", "EPIC_100_validation.sample.csv")
FPS, STEP = 60, 6
# Fixture positions in metres (x right, z forward; the camera at eye height y = 1.6).
PLACES = {"fridge": (3.0, 0.0), "cupboard": (0.0, 2.0), "sink": (0.0, 0.0), "tap": (0.0, 0.0),
          "dishwasher": (0.6, -0.4), "hob": (1.4, 0.0), "cooker": (1.4, 0.0), "pan": (1.4, 0.0),
          "bin": (2.2, 2.4), "drawer": (0.8, 0.3), "counter": (0.6, 0.0)}
WORDS = ("fridge", "cupboard", "dishwasher", "sink", "tap", "cooker", "pan", "bin", "drawer", "counter")
NOTE = ("SYNTHETIC poses made by tests/data/demo/fields/make_fields.py from the clips' narrations "
        "(walks between the fixtures they name); not EPIC Fields measurements")


def seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def place_of(narration: str, current):
    for word in WORDS:
        if word in narration.split():
            return PLACES[word]
    return current


def track(clips):
    """(t0, t1, from, to) walks and the times spanned, from clips sorted by start."""
    walks, here = [], PLACES["counter"]
    for start, stop, narration in clips:
        there = place_of(narration, here)
        if there != here:
            walks.append((start - 0.8, start + 0.7, here, there))
        here = there
    return walks


def centre(t, walks, rng):
    x, z = PLACES["counter"]
    for t0, t1, a, b in walks:
        if t >= t1:
            x, z = b
        elif t > t0:
            u = (t - t0) / (t1 - t0)
            u = u * u * (3 - 2 * u)  # smooth start and stop
            x, z = a[0] + u * (b[0] - a[0]), a[1] + u * (b[1] - a[1])
            break
        else:
            break
    sway = 0.03 * math.sin(2 * math.pi * 0.3 * t)
    return (x + sway + rng.gauss(0, 0.004), 1.6 + 0.01 * math.sin(2 * math.pi * 1.7 * t) + rng.gauss(0, 0.003),
            z + rng.gauss(0, 0.004))


def pose(c, yaw):
    """COLMAP world-to-camera [qw, qx, qy, qz, tx, ty, tz] of a camera at c turned by yaw about y."""
    qw, qy = math.cos(yaw / 2), math.sin(yaw / 2)
    # R of the quaternion (qw, 0, qy, 0): rotation about y; t = -R c
    r = ((1 - 2 * qy * qy, 0, 2 * qw * qy), (0, 1, 0), (-2 * qw * qy, 0, 1 - 2 * qy * qy))
    t = [-sum(r[i][j] * c[j] for j in range(3)) for i in range(3)]
    return [round(qw, 6), 0.0, round(qy, 6), 0.0, *(round(v, 5) for v in t)]


def write(video: str, clips) -> str:
    rng = random.Random(video)
    clips.sort()
    walks = track(clips)
    first, last = int(max(0.0, clips[0][0] - 2) * FPS), int((clips[-1][1] + 2) * FPS)
    images = {}
    for frame in range(first - first % STEP + STEP, last, STEP):
        t = frame / FPS
        yaw = 0.4 * math.sin(2 * math.pi * 0.05 * t) + rng.gauss(0, 0.01)
        images[f"frame_{frame:010d}.jpg"] = pose(centre(t, walks, rng), yaw)
    points = [[x, 0.9, z, 200, 190, 180] for x, z in PLACES.values()]
    doc = {"synthetic": NOTE, "camera": {"model": "OPENCV", "width": 456, "height": 256,
                                         "params": [230.0, 230.0, 228.0, 128.0, 0.0, 0.0, 0.0, 0.0]},
           "images": images, "points": points}
    path = os.path.join(HERE, f"{video}.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    return path


def main() -> None:
    by_video: dict[str, list] = {}
    with open(CSV, newline="") as f:
        for row in csv.DictReader(f):
            by_video.setdefault(row["video_id"], []).append(
                (seconds(row["start_timestamp"]), seconds(row["stop_timestamp"]), row["narration"]))
    for video, clips in sorted(by_video.items()):
        print(write(video, clips))


if __name__ == "__main__":
    main()
