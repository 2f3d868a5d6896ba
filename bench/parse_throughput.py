"""leap-parse throughput against a bare json.loads + ast.parse loop over the same JSONL.

Both run as whole processes (start-up included) over N generated programs: library H's programs
with other nouns, a share of them damaged the way LLM output is (fences, prose, tabs, unquoted
names, truncation). The default share, 10%, is what leap-parse meets after leap-prompt, which
hands each record its own function cut out of the batch response (fences and truncation then
touch only the last of 35 functions); --damaged 0.25 is a stress mix. Target (issue 3): leap-parse >= 0.4x the bare loop's throughput. CPU time
is printed beside wall time: on a shared machine the wall clock measures the neighbours too.

    python bench/parse_throughput.py [--n 10000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE = """
import ast, json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    record = json.loads(line)
    try:
        ast.parse(record["prompt"]["response"])
    except SyntaxError:
        pass
    n += 1
print(n)
"""

NOUNS = ["cup", "plate", "knife", "spoon", "bowl", "pan", "lid", "sponge", "glass", "onion", "carrot",
         "tap", "fridge", "drawer", "cupboard", "board_chopping", "towel_kitchen", "faucet", "stove", "spork"]


def damage(text: str, rng: random.Random, share: float) -> str:
    """One of the ways generated text goes wrong (each a quarter of ``share``), or none."""
    kind = rng.random() / share if share > 0 else 1.0
    if kind < 0.25:
        return "Here is the program:\n```python\n" + text + "```\nHope this helps."
    if kind < 0.50:
        return text.replace("    ", "\t", 2)
    if kind < 0.75:
        return re.sub(r'"([a-z_]+)"', r"\1", text)  # unquoted names
    if kind < 1.0:
        return text[: rng.randint(len(text) // 2, len(text) - 1)]  # truncated
    return text


def generate(n: int, share: float = 0.10, seed: int = 0) -> list[str]:
    from leap_cli.program import library

    rng = random.Random(seed)
    programs = [src for _, src in library()]
    out = []
    for i in range(n):
        src = rng.choice(programs)
        names = sorted(set(re.findall(r'"([a-z_]+)"', src)))
        swap = {a: rng.choice(NOUNS) for a in rng.sample(names, k=min(2, len(names)))}
        src = re.sub(r'"([a-z_]+)"', lambda m: f'"{swap.get(m.group(1), m.group(1))}"', src)
        name = re.match(r"def (\w+)", src).group(1)
        record = {"schema": 1, "id": f"P01_01_{i}", "video_id": "P01_01", "start": 1.0, "stop": 4.0,
                  "narration": name.replace("_", " "),
                  "prompt": {"function": name, "model": "bench", "cache_key": None,
                             "response": damage(src, rng, share), "cost": 0.0, "cached": False, "follow_up": 0}}
        out.append(json.dumps(record))
    return out


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the child) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    ap.add_argument("--damaged", type=float, default=0.10,
                    help="share of damaged responses (fences, tabs, unquoted names, truncation)")
    args = ap.parse_args()
    tool = Path(sys.executable).with_name("leap-parse")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "programs.jsonl")
        Path(data).write_text("\n".join(generate(args.n, args.damaged)) + "\n")
        bare = [timed([sys.executable, "-c", BARE, data]) for _ in range(args.repeat)]
        leap = [timed([str(tool), "-q", "-o", os.devnull, data]) for _ in range(args.repeat)]
    print(f"programs: {args.n}, {args.damaged:.0%} damaged (fastest of {args.repeat} runs; "
          "CPU = user + system time of the process)")
    for name, runs in (("bare json.loads + ast.parse", bare), ("leap-parse", leap)):
        wall, cpu = min(w for w, _ in runs), min(c for _, c in runs)
        print(f"{name:28} wall {wall:6.2f} s ({args.n / wall:8,.0f}/s)   CPU {cpu:6.2f} s ({args.n / cpu:8,.0f}/s)")
    wall = min(w for w, _ in bare) / min(w for w, _ in leap)
    cpu = min(c for _, c in bare) / min(c for _, c in leap)
    print(f"leap-parse / bare throughput: wall {wall:.2f}x, CPU {cpu:.2f}x (target >= 0.40x)")

if __name__ == "__main__":
    main()
