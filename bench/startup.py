"""Start-up cost of a light tool: `leap-clips --help` vs `python -c "import click"`.

Both run as whole processes, interleaved, many times; prints the medians and their ratio.
Target (issue 2): ratio <= 1.3.   Usage: python bench/startup.py [RUNS]
"""
import os
import statistics
import subprocess
import sys
import time

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
bindir = os.path.dirname(sys.executable)
tool = [os.path.join(bindir, "leap-clips"), "--help"]
base = [sys.executable, "-c", "import click"]


def once(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


for cmd in (tool, base):  # warm the page cache
    once(cmd)
times = {"tool": [], "base": []}
for _ in range(runs):
    times["tool"].append(once(tool))
    times["base"].append(once(base))
t, b = statistics.median(times["tool"]), statistics.median(times["base"])
print(f"leap-clips --help        median {t * 1000:6.1f} ms over {runs} runs")
print(f'python -c "import click" median {b * 1000:6.1f} ms')
print(f"ratio {t / b:.2f} (target <= 1.3)")
