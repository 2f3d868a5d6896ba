"""leap-prompt against a real model: how many demo clips get a program that parses and passes
the checker, at what cost; then the same clips re-sharded and re-batched, which must send nothing.

    ../shared/tools/local-llm/start.sh            # prints http://127.0.0.1:8080/v1
    .venv/bin/python bench/prompt_real.py --base-url http://127.0.0.1:8080/v1 --clips 24 \\
        --batch-size 4 [--prompt "--repair 0"] [--prompt "--samples 3 --temperature 0.7" --parse --vote]

Prints, for the first --clips demo clips (the demo's evidence stages run once): clips, with a
program (a prompt.response), parsed, valid, consistent, requests, HTTP requests, repair queries,
tokens in/out, wall time; then, per re-run as 2 and as 3 shards at another batch size, the
requests sent (target 0). Outputs and the response cache stay in --out (default
build/bench_prompt_real, with prompted.jsonl and shards_N.jsonl): a second run of the same command answers from the cache.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import time
from pathlib import Path

from program_quality import BIN, ROOT, evidence, sent, tool


def prompt(clips: Path, cache: Path, flags: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    t = time.perf_counter()
    p = subprocess.run([str(BIN / "leap-prompt"), str(clips), "--cache", str(cache), *flags],
                       capture_output=True, text=True)
    if p.returncode not in (0, 1):
        raise SystemExit(f"leap-prompt failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p, time.perf_counter() - t


def outcome(prompted: str, flags: list[str]) -> dict:
    """Counts over leap-prompt's records, parsed by leap-parse (errors kept as records)."""
    parsed = subprocess.run([str(BIN / "leap-parse"), "-q", "--on-error", "record", *flags], input=prompted,
                            capture_output=True, text=True).stdout
    recs = [json.loads(x) for x in parsed.splitlines()]
    progs = [r["program"] for r in recs if "program" in r]
    return {"clips": len(recs), "with_program": sum("response" in (r.get("prompt") or {}) for r in recs),
            "parsed": len(progs), "valid": sum(p["valid"] for p in progs),
            "consistent": sum(p.get("consistent", False) for p in progs),
            "repaired": sum((r.get("prompt") or {}).get("repair", {}).get("kept") == "repaired" for r in recs)}


def answers(records: str) -> dict:
    """Clip id -> its response (or error message): what a re-run must reproduce."""
    out = {}
    for r in map(json.loads, records.splitlines()):
        out[r["id"]] = (r.get("prompt") or {}).get("response") or r.get("error", {}).get("message")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--model", help="default: the one the server lists")
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--prompt", default="", help="more leap-prompt flags, e.g. \"--repair 0\"")
    ap.add_argument("--parse", default="", help="leap-parse flags, e.g. --vote")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench_prompt_real")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    lines = evidence(a.out).read_text(encoding="utf-8").splitlines(keepends=True)[: a.clips]
    clips = a.out / f"evidence_{a.clips}.jsonl"
    clips.write_text("".join(lines), encoding="utf-8")
    cache = a.out / "cache.sqlite3"
    common = ["--base-url", a.base_url, "-j", "1", *(["-m", a.model] if a.model else []),
              *shlex.split(a.prompt)]
    p, wall = prompt(clips, cache, ["--batch-size", str(a.batch_size), *common])
    (a.out / "prompted.jsonl").write_text(p.stdout, encoding="utf-8")
    (a.out / "prompted.log").write_text(p.stderr, encoding="utf-8")
    row = {**outcome(p.stdout, shlex.split(a.parse)), **{k: v for k, v in sent(p.stderr).items() if k != "cached"},
           "wall_s": round(wall, 1)}
    print(json.dumps(row), flush=True)
    for n, size in ((2, a.batch_size + 1), (3, max(1, a.batch_size - 1))):
        shards = [prompt(clips, cache, ["--batch-size", str(size), "--shard", f"{k}/{n}", *common])[0]
                  for k in range(n)]
        requests = sum(sent(s.stderr)["requests_sent"] for s in shards)
        again = "".join(s.stdout for s in shards)
        (a.out / f"shards_{n}.jsonl").write_text(again, encoding="utf-8")
        before, now = answers(p.stdout), answers(again)
        differ = sorted(k for k in before if before[k] != now.get(k))
        print(f"re-run as {n} shards at --batch-size {size}: {requests} requests, "
              f"answers {'the same' if not differ else 'different for ' + ', '.join(differ)}", flush=True)


if __name__ == "__main__":
    main()
