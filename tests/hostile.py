"""Hostile input for every tool (issue 12): the kinds of line that ended runs, and a checker.

Used by tests/test_fuzz.py (hypothesis mixes these with good records and random bytes) and by
anyone measuring before/after: ``python tests/hostile.py`` runs every kind through every tool.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from leap_cli import stages

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "tests" / "data" / "demo"
BIN = Path(os.environ.get("LEAP_BIN") or Path(sys.executable).parent)  # LEAP_BIN: measure another install

# Each filter: its arguments (offline sources) and the stage whose output it reads; the stages
# in pipeline order with their demo-data arguments (leap_cli/stages.py).
STAGES = [s for s in stages.pipeline() if s.tool and s.sample is not None]
STAGE_TOOLS = [s.tool for s in STAGES]
FILTERS = {"leap-clips": ([], None)}
for before, stage in zip(["leap-clips", *STAGE_TOOLS], STAGES):
    FILTERS[stage.tool] = (stage.sample_args(str(DEMO)), before)
    if stage.key == "audio":
        FILTERS["leap-audio/video"] = ([], "leap-clips")  # the media path: `video` is opened
FILTERS["leap-merge"] = ([], STAGE_TOOLS[-1])
CLIPS = ["P03_22_3", "P03_22_4", "P03_22_5", "P06_10_1", "P06_10_2"]


def command(name: str) -> list[str]:
    return [str(BIN / name.split("/")[0]), *FILTERS[name][0]]


def good_records() -> dict[str, list[str]]:
    """Real records for each filter's input: the demo pipeline's stages on a few EPIC clips."""
    out: dict[str, list[str]] = {}
    text = subprocess.run([str(BIN / "leap-clips"), str(DEMO / "EPIC_100_validation.sample.csv"), "-q",
                           "--ids", ",".join(CLIPS)], capture_output=True, text=True, check=True).stdout
    out["leap-clips"] = [json.dumps({k: r[k] for k in ("id", "video", "start", "stop", "narration")})
                         for r in map(json.loads, text.splitlines())]
    stage_out = {"leap-clips": text}
    for name in STAGE_TOOLS:
        src = FILTERS[name][1]
        out[name] = stage_out[src].splitlines()
        stage_out[name] = subprocess.run(command(name) + ["-q"], input=stage_out[src], capture_output=True,
                                         text=True, check=True).stdout
    out["leap-audio/video"] = out["leap-audio"]
    out["leap-merge"] = stage_out[STAGE_TOOLS[-1]].splitlines()
    return out


def _with(good: str, **fields) -> str:
    return json.dumps({**json.loads(good), **fields})


def _raw(good: str, key: str, literal: str) -> str:
    """The good record with one field's value replaced by literal JSON text (NaN, huge numbers)."""
    record = json.loads(good)
    record[key] = "@@"
    return json.dumps(record).replace('"@@"', literal)


def hostile_lines(good: str) -> dict[str, str]:
    """The kinds of line that ended runs (issue 12), built around one good record (a JSON line)."""
    rid = json.loads(good)["id"]
    deep = "[" * 5000 + "]" * 5000
    return {
        "surrogate": _with(good, id=rid + "-s", narration="@@").replace('"@@"', '"bad \\ud83d"'),
        "surrogate in id": '{"id": "x\\udc00", "start": 1, "stop": 2}',
        "nesting 100000": "[" * 100000,
        "nested field": _raw(good, "extra", deep).replace(f'"{rid}"', f'"{rid}-deep"', 1),
        "int 5000 digits": _raw(good, "start", "9" * 5000),
        "time 400 digits": _raw(_raw(good, "stop", "9" * 401), "start", "1" * 400),
        "stop 1e12": _with(good, stop=1e12),
        "start 1e400": _raw(good, "start", "1e400"),
        "start NaN": _raw(good, "start", "NaN"),
        "stop Infinity": _raw(good, "stop", "Infinity"),
        "start after stop": _with(good, start=50.0, stop=10.0),
        "negative start": _with(good, start=-5.0),
        "start a string": _with(good, start="soon"),
        "start true": _with(good, start=True),
        "video 1": _with(good, video=1),
        "video 2": _with(good, video=2),
        "video list": _with(good, video=["a.mp4"]),
        "video missing file": _with(good, video="/nonexistent/P01_01.MP4"),
        "video_id list": _with(good, video_id=[1]),
        "participant dict": _with(good, participant_id={"p": 1}),
        "narration int": _with(good, narration=5),
        "context int": _with(good, context=5),
        "audio str": _with(good, audio="x"),
        "slam list": _with(good, slam=[1]),
        "detect bad": _with(good, detect={"frames": "bad", "source": 1}),
        "contact int": _with(good, contact=5),
        "prompt bad": _with(good, prompt={"response": 5, "function": []}),
        "program str": _with(good, program="x"),
        "id int": _with(good, id=5),
        "id list": _with(good, id=[]),
        "id empty": _with(good, id=""),
        "id newline": _with(good, id="a\nb"),
        "id huge": _with(good, id="i" * 100_000),
        "cr inside": good.replace(", ", ",\r ", 3),
        "form feed": "\x0c",
        "fs char": "\x1c",
        "us char": "\x1f",
        "nbsp": "\xa0",
        "line separator": "\u2028",
        "not an object": "[1, 2]",
        "null": "null",
        "number": "12",
        "trailing garbage": good + " x",
        "bom mid-file": "\ufeff" + _with(good, id=rid + "-bom"),
        "invalid utf-8": '{"id": "u8", "narration": "\udcff\udcfe"}',  # written as raw bytes ff fe
        "huge line": _with(good, id=rid + "-huge", narration="n" * 2_000_000),
        "earlier error": json.dumps({"id": rid + "-e", "error": {"stage": "audio", "message": "broken"}}),
        "error not a dict": json.dumps({"id": None, "error": "x"}),
        "empty object": "{}",
    }


def as_bytes(lines: list[str]) -> bytes:
    # surrogateescape: the "invalid utf-8" kind writes its \udcff as the raw byte 0xff.
    return "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")


BLANK = set(" \t\r\n")


def expected_records(data: bytes) -> int:
    """One record per line that is not blank (nothing but spaces, tabs, CR)."""
    return sum(1 for line in data.split(b"\n") if line and not set(line.decode("latin-1")) <= BLANK)


def _strict(name: str):
    raise ValueError(f"{name} in output: not strict JSON")


def check_run(name: str, data: bytes, tmp: Path, timeout: float = 120) -> list[str]:
    """Run one filter on data; the broken promises (empty when every one held)."""
    path = tmp / "in.jsonl"
    path.write_bytes(data)
    args = command(name) + [str(path), "-q"]
    if name == "leap-merge":  # two files side by side: the same records twice must merge
        args.append(str(path))
    if name == "leap-clips":
        args = command(name) + [str(path), "-q"]
    try:
        proc = subprocess.run(args, capture_output=True, timeout=timeout, cwd=tmp,
                              env={**os.environ, "LEAP_CACHE": str(tmp / "cache.sqlite3")})
    except subprocess.TimeoutExpired:
        return [f"{name}: no end within {timeout} s"]
    problems = []
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        problems.append(f"{name}: exit {proc.returncode}: {err.strip()[-400:]}")
    if "Traceback" in err:
        problems.append(f"{name}: traceback: {err[-600:]}")
    out = proc.stdout.split(b"\n")
    if out and out[-1] == b"":
        out.pop()
    want = expected_records(data)
    if name == "leap-merge":
        want = None  # merge joins by id: checked below as one record per distinct input id
    elif len(out) != want:
        problems.append(f"{name}: {len(out)} records out for {want} in ({want - len(out)} lost)")
    for raw in out:
        try:
            rec = json.loads(raw.decode("utf-8"), parse_constant=_strict)
            assert isinstance(rec, dict) and "id" in rec, "not a record"
        except (ValueError, AssertionError) as e:
            problems.append(f"{name}: bad output line {raw[:120]!r}: {e}")
            break
    return problems


def main() -> None:
    """Every kind through every filter, one run per kind: counts for the closing note."""
    import tempfile

    goods = good_records()
    tried = aborted = lost = 0
    for name in FILTERS:
        good = goods[name][0]
        for kind, line in hostile_lines(good).items():
            lines = goods[name][:2] + [line] + goods[name][2:]
            data = as_bytes(lines)
            with tempfile.TemporaryDirectory() as tmp:
                problems = check_run(name, data, Path(tmp))
            tried += 1
            if problems:
                aborted += any("exit" in p or "no end" in p for p in problems)
                lost += sum(max(0, int(p.split("(")[-1].split()[0])) for p in problems if p.endswith("lost)"))
                print(f"{name} [{kind}]: " + " | ".join(p.replace("\n", " ")[:300] for p in problems))
    print(f"cases tried {tried}, runs aborted (non-zero exit or hang) {aborted}, records lost {lost}")


if __name__ == "__main__":
    main()
