"""leap-show --html on a big program set: write time, page size, and open time in headless Chromium.

The set is the demo's programs (build/demo/programs.jsonl, `make demo`) repeated under new ids
to N clips (default 60,200: 700 copies of the 86 demo clips, about the paper's 58,000). Open time
is what the page's own script records when it has drawn the table (``data-open-ms``: from
navigation start, so the file read and parse are in it) and, with a clip in the URL's hash,
when that clip's packed section is in the document (``data-clip-ms``). Without Chromium (Debian:
apt-get install chromium) only the write time and size are printed.

    python bench/show_html.py [--n 60200] [--programs build/demo/programs.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def open_ms(chromium: str, page: Path, hash_: str, work: Path, budget: int = 0) -> dict:
    """The page's data-open-ms / data-clip-ms after loading it in a fresh profile."""
    profile = tempfile.mkdtemp(dir=work)
    extra = [f"--virtual-time-budget={budget}"] if budget else []
    dom = subprocess.run([chromium, *FLAGS, *extra, f"--user-data-dir={profile}", "--dump-dom",
                          page.as_uri() + hash_], capture_output=True, text=True, timeout=300).stdout
    body = re.search(r"<body[^>]*>", dom)
    return {k: int(v) for k, v in re.findall(r'data-(open|clip)-ms="(\d+)"', body.group(0) if body else "")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60200)
    ap.add_argument("--programs", default="build/demo/programs.jsonl")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    base = [json.loads(line) for line in open(args.programs, encoding="utf-8")]
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src, page = work / "set.jsonl", work / "set.html"
        with open(src, "w", encoding="utf-8") as f:
            for i in range(args.n):
                r = base[i % len(base)]
                f.write(json.dumps({**r, "id": f"{r['id']}_r{i // len(base)}"}) + "\n")
        t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        subprocess.run([str(bin_dir / "leap-show"), str(src), "--html", str(page)], check=True,
                       stderr=subprocess.DEVNULL)
        wall, cpu = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - c0
        print(f"clips: {args.n}  jsonl: {src.stat().st_size / 1e6:.1f} MB  html: {page.stat().st_size / 1e6:.1f} MB")
        print(f"write: {wall:.1f} s wall, {cpu:.1f} s CPU ({args.n / wall:,.0f} clips/s)")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if not chromium:
            print("open: chromium not installed (apt-get install chromium)")
            return
        last = base[-1]["id"] + f"_r{(args.n - 1) // len(base)}"
        opens = [open_ms(chromium, page, "", work)["open"] for _ in range(args.repeat)]
        clip = [open_ms(chromium, page, f"#clip-{last}", work, budget=20000).get("clip") for _ in range(args.repeat)]
        print(f"open (table drawn): {min(opens)} ms best, {max(opens)} ms worst of {args.repeat}")
        if any(clip):
            print(f"open with #clip-{last} (its packed section unpacked and shown): "
                  f"{min(c for c in clip if c)} ms best of {args.repeat}")
        else:
            print("sections are plain HTML in the page (nothing packed)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
