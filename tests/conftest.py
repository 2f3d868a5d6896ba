"""Shared test helpers: paths, running the real console scripts, small media made with ffmpeg."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
BIN = Path(sys.executable).parent
EPIC_SAMPLE = DATA / "epic" / "EPIC_100_train.sample.csv"


def tool(name: str) -> str:
    """Path of an installed console script (the venv that runs the tests)."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed: pip install -e . (it is registered in pyproject.toml)")
    return str(path)


def run_tool(name: str, *args, input: str | bytes | None = None, check: bool = False, **kw):
    """Run a console script as a whole process; returns CompletedProcess with text output."""
    if isinstance(input, bytes):
        input = input.decode()
    proc = subprocess.run([tool(name), *map(str, args)], input=input, capture_output=True, text=True,
                          env={**os.environ, **kw.pop("env", {})}, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} exited {proc.returncode}: {proc.stderr}")
    return proc


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def make_video(path: Path, seconds: float = 3.0, size: str = "160x120", rate: int = 25,
               audio: bool = True, source: str = "testsrc2") -> Path:
    """A short video from ffmpeg's lavfi sources (with a 440 Hz tone when audio)."""
    from leap_cli.media import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
           f"{source}=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}:sample_rate=48000"]
    cmd += ["-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-shortest", str(path)]
    subprocess.run(cmd, check=True)
    return path


@pytest.fixture(scope="session")
def lavfi_video(tmp_path_factory) -> Path:
    """3 s, 160x120, 25 fps test pattern with a 440 Hz tone."""
    return make_video(tmp_path_factory.mktemp("media") / "pattern.mp4")
