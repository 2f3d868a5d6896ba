"""Program quality without training: leap-stats' quality metrics for prompt configurations.

Runs the demo's evidence stages once over the 86 real demo clips (tests/data/demo: EPIC-100
narrations, EPIC-Sounds events, VISOR objects and contacts of P03_22 and P06_10), then, for each
configuration, leap-prompt [flags] | leap-parse [flags] and prints, per configuration: valid,
consistent, grounding, narration agreement, event coverage, mean length, the violations by kind,
and the requests and tokens leap-prompt reported (a real model's cost beside its gain).

    .venv/bin/python bench/program_quality.py                      # the rules model
    .venv/bin/python bench/program_quality.py --base-url http://127.0.0.1:8080/v1 \\
        --model qwen2.5-coder-1.5b-instruct --clips 6 \\
        --config "plain:" --config "vote:--samples 3 --temperature 0.7|--vote"

A configuration is NAME:PROMPT FLAGS[|PARSE FLAGS]. Outputs stay in --out (default
build/bench_quality) with one response cache, so an interrupted run sends only what is missing
and configurations share what they have in common (sample 0 at a temperature is one answer).
Requests and tokens are those sent in this run (cached answers cost nothing again).
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from leap_cli import stages

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "tests" / "data" / "demo"
BIN = Path(sys.executable).parent
# leap-prompt's summary line, field by field (fields appear only when they apply)
SENT = {"requests_sent": r"(\d+) requests, \d+ cached", "cached": r"(\d+) cached, ",
        "answers_cached": r"(\d+) clips answered from the cache", "follow_ups": r"(\d+) follow-ups",
        "repair_queries": r"(\d+) repair queries", "repairs_cached": r"(\d+) repairs cached", "repaired": r"\((\d+) answers improved\)",
        "http_requests": r"(\d+) HTTP requests", "tokens_in_sent": r"tokens (\d+) in",
        "tokens_in_cached": r"in \((\d+) cached\)", "tokens_out_sent": r"/ (\d+) out"}


def sent(stderr: str) -> dict:
    """What a leap-prompt run sent, from its summary line (fields it does not print: 0)."""
    line = next((ln for ln in stderr.splitlines() if ln.startswith("leap-prompt: model ") and " requests, " in ln), "")
    return {k: int(m.group(1)) if (m := re.search(p, line)) else 0 for k, p in SENT.items()}


def tool(name: str, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / name), *map(str, args)], input=stdin, capture_output=True, text=True,
                          check=True)


def evidence(out: Path) -> Path:
    """The demo clips through every evidence stage (as `make demo`), once."""
    path = out / "evidence.jsonl"
    if not path.exists():
        text = tool("leap-clips", DEMO / "EPIC_100_validation.sample.csv", "-q").stdout
        for stage in stages.pipeline():  # the registry's evidence stages, on their demo-data flags
            if stage.evidence and stage.tool and stage.sample is not None:
                text = tool(stage.tool, *stage.sample_args(str(DEMO)), "-q", stdin=text).stdout
        path.write_text(text, encoding="utf-8")
    return path


def run(name: str, prompt_flags: list[str], parse_flags: list[str], clips: Path, out: Path, common: list[str]) -> dict:
    prompted = subprocess.run([str(BIN / "leap-prompt"), str(clips), "--cache", str(out / "cache.sqlite3"),
                               *common, *prompt_flags], capture_output=True, text=True)
    if prompted.returncode != 0:
        raise SystemExit(f"{name}: leap-prompt failed:\n{prompted.stderr[-2000:]}")
    programs = out / f"{name}.jsonl"
    tool("leap-parse", "-q", "-o", programs, *parse_flags, stdin=prompted.stdout)
    stats = json.loads(tool("leap-stats", programs).stdout)
    # the tokens each clip's answers took (cached or not): the cost of the configuration itself
    usage = [json.loads(x).get("prompt", {}).get("usage") or {} for x in prompted.stdout.splitlines()]
    cost = {"tokens_in_per_clip": round(sum(u.get("prompt_tokens", 0) for u in usage) / max(len(usage), 1)),
            "tokens_out_per_clip": round(sum(u.get("completion_tokens", 0) for u in usage) / max(len(usage), 1))}
    return {"clips": stats["clips"], "programs": stats["programs"], **stats["quality"], **cost,
            **sent(prompted.stderr)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="rules")
    ap.add_argument("--base-url")
    ap.add_argument("--clips", type=int, default=0, help="first N demo clips only (0: all 86)")
    ap.add_argument("--config", action="append", help="NAME:PROMPT FLAGS[|PARSE FLAGS] (repeatable)")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench_quality")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    clips = evidence(a.out)
    if a.clips:
        lines = clips.read_text(encoding="utf-8").splitlines(keepends=True)[: a.clips]
        clips = a.out / f"evidence_{a.clips}.jsonl"
        clips.write_text("".join(lines), encoding="utf-8")
    common = ["-m", a.model, "-j", "1", *(["--base-url", a.base_url] if a.base_url else [])]
    rows = {}
    for spec in a.config or ["plain:"]:
        name, _, flags = spec.partition(":")
        prompt_flags, _, parse_flags = flags.partition("|")
        rows[name] = run(name, shlex.split(prompt_flags), shlex.split(parse_flags), clips, a.out, common)
        print(f"{name}: {json.dumps(rows[name])}", flush=True)
    keys = [k for k in next(iter(rows.values())) if k != "violations_by_kind"]
    width = max(10, *(len(n) for n in rows))
    print(f"{'':<18}" + "".join(f"{n:>{width + 2}}" for n in rows))
    for k in keys:
        cells = []
        for r in rows.values():
            v = r.get(k)
            cells.append("-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v))
        print(f"{k:<18}" + "".join(f"{c:>{width + 2}}" for c in cells))
    for r_name, r in rows.items():
        print(f"violations by kind ({r_name}): {r['violations_by_kind'] or '-'}")


if __name__ == "__main__":
    main()
