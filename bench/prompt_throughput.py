"""leap-prompt throughput: -j 8 against a local server with a fixed latency, and a cached re-run.

Targets (issue 4): with -j 8 and 0.5 s per answer, at least 0.8x of the ideal
(queries x latency / 8); a cached re-run sends zero requests and handles >= 2,000 clips/s.
Both are whole `leap-prompt` processes (start-up included) reading the same JSONL.

    .venv/bin/python bench/prompt_throughput.py [--queries 192] [--cached-clips 10500]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from prompt_server import Server  # noqa: E402

BIN = Path(sys.executable).parent


def clips(n: int) -> str:
    """n clip records with the evidence of the paper's example stub."""
    out = []
    verbs = [("take", 0, "carrot"), ("wash", 2, "pan"), ("open", 3, "fridge"), ("cut", 7, "onion")]
    for i in range(n):
        v, vc, noun = verbs[i % 4]
        out.append(json.dumps({
            "schema": 1, "id": f"P01_01_{i}", "start": 10.0 + i, "stop": 11.0 + i + 0.01 * i,  # unique lengths: no two queries alike
            "narration": f"{v} {noun}", "verb": v, "verb_class": vc, "noun": noun,
            "context": {"before": ["take peppers", "take potatoes"], "after": ["move washing liquid", "take gravy"]},
            "detect": {"objects": [noun, "bowl", "spoon", "cupboard"], "frames": []},
            "contact": {"holding_at_start": {"left": None, "right": None},
                        "events": [{"t": 2.82, "hand": "right", "kind": "grab", "object": noun}]},
            "slam": {"goto": [{"start": 2.57, "stop": 3.77}]},
            "audio": {"events": [{"label": "scrub / scrape / scour / wipe", "start": 0.55, "stop": 0.93}]},
        }))
    return "\n".join(out) + "\n"


def run(path: str, url: str, cache: str, jobs: int) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "LEAP_CACHE": cache}
    t0 = time.perf_counter()
    proc = subprocess.run([str(BIN / "leap-prompt"), path, "--base-url", url, "-m", "gpt-4o",
                           "-j", str(jobs), "-o", os.devnull], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.cpu, run.total = r.ru_utime + r.ru_stime - run.total, r.ru_utime + r.ru_stime
    if proc.returncode:
        sys.exit(proc.stderr)
    return wall, proc


run.cpu = run.total = 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=192)
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--cached-clips", type=int, default=10500)
    a = ap.parse_args()
    server = Server(latency=a.latency).start()
    with tempfile.TemporaryDirectory() as tmp:
        small, big = os.path.join(tmp, "small.jsonl"), os.path.join(tmp, "big.jsonl")
        Path(small).write_text(clips(35 * a.queries))
        t0 = time.time()
        wall, _ = run(small, server.url, os.path.join(tmp, "a.sqlite3"), a.jobs)
        ts = sorted(r["t"] - t0 for r in server.log)
        print(f"first request at {ts[0]:.2f} s, last at {ts[-1]:.2f} s, process ended at {wall:.2f} s; "
              f"leap-prompt CPU {run.cpu:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        ideal = a.queries * a.latency / a.jobs
        assert len(server.log) == a.queries, len(server.log)
        print(f"-j {a.jobs}, {a.queries} queries x {a.latency} s: {wall:.2f} s "
              f"(ideal {ideal:.2f} s) -> {ideal / wall:.2f}x of ideal [target >= 0.8x]")
        steady = ts[-1] - ts[0] + a.latency
        print(f"  without process start-up (first request to last answer): {steady:.2f} s -> "
              f"{ideal / steady:.2f}x of ideal")

        Path(big).write_text(clips(a.cached_clips))
        server.latency = 0.0
        run(big, server.url, os.path.join(tmp, "b.sqlite3"), a.jobs)  # fill the cache
        before = len(server.log)
        best = min(run(big, server.url, os.path.join(tmp, "b.sqlite3"), a.jobs)[0] for _ in range(3))
        sent = len(server.log) - before
        print(f"cached re-run: {a.cached_clips} clips in {best:.2f} s (best of 3, whole process) -> "
              f"{a.cached_clips / best:,.0f} clips/s, {sent} requests [target >= 2,000 clips/s, 0 requests]")
    server.stop()


if __name__ == "__main__":
    main()
