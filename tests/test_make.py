"""The Make reproduction targets: shards chain the stages, a second make does nothing, and a
changed input re-runs only what depends on it."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import DATA, ROOT, records

DEMO = DATA / "demo"


def make(*args, check=True):
    venv = Path(sys.executable).parent.parent
    return subprocess.run(["make", "-C", str(ROOT), f"VENV={venv}", *args], capture_output=True, text=True,
                          check=check)


def test_sharded_pipeline_is_incremental(tmp_path):
    sounds = tmp_path / "sounds.csv"
    sounds.write_text((DEMO / "EPIC_Sounds_validation.sample.csv").read_text())
    visor = tmp_path / "visor"
    shutil.copytree(DEMO / "visor", visor)
    args = [f"OUT={tmp_path / 'out'}", f"EPIC_CSV={DEMO / 'EPIC_100_validation.sample.csv'}", f"SOUNDS={sounds}",
            f"VISOR={visor}", f"FIELDS={DEMO}", "SHARDS=2", "--no-print-directory"]
    make("-j2", "programs", *args)
    out = tmp_path / "out"
    programs = records((out / "programs.jsonl").read_text())
    clips = records((out / "clips.jsonl").read_text())
    assert [r["id"] for r in programs] == [r["id"] for r in clips] and len(clips) == 86
    assert sum("program" in r for r in programs) >= 80
    assert (out / "stats.json").exists() and not list(out.glob("*.part"))

    assert make("-q", "programs", *args, check=False).returncode == 0  # up to date: nothing to do

    time.sleep(1.1)  # a newer mtime than the outputs
    os.utime(next(visor.rglob("*.json")))  # a file inside a source directory changed
    plan = make("-n", "programs", *args).stdout
    assert "leap-detect" in plan and "leap-contact" in plan and "leap-merge" in plan
    assert "leap-audio" not in plan and "leap-slam" not in plan

    os.utime(sounds)
    plan = make("-n", "programs", *args).stdout
    assert "leap-audio" in plan and "leap-parse" in plan and "leap-merge" in plan
    assert "leap-clips" not in plan  # the clip list does not depend on the sounds


def test_a_killed_stage_continues_but_not_from_a_stale_part(tmp_path):
    sounds = tmp_path / "sounds.csv"
    sounds.write_text((DEMO / "EPIC_Sounds_validation.sample.csv").read_text())
    out = tmp_path / "out"
    args = [f"OUT={out}", f"EPIC_CSV={DEMO / 'EPIC_100_validation.sample.csv'}", f"SOUNDS={sounds}",
            "SHARDS=1", "--no-print-directory"]
    make(str(out / "clips.jsonl"), *args)
    first = records((out / "clips.jsonl").read_text())[0]
    marked = json.dumps({**first, "audio": {"events": [], "note": "from the killed run"}}) + "\n"
    (out / "audio.0.jsonl.part").write_text(marked)  # a killed run's output, newer than its inputs
    make(str(out / "audio.0.jsonl"), *args)
    audio = records((out / "audio.0.jsonl").read_text())
    assert audio[0]["audio"].get("note") == "from the killed run" and len(audio) == 86  # continued
    (out / "audio.0.jsonl").unlink()
    (out / "audio.0.jsonl.part").write_text(marked)
    time.sleep(1.1)
    os.utime(sounds)  # the sounds were fixed after the kill: the part is stale
    make(str(out / "audio.0.jsonl"), *args)
    audio = records((out / "audio.0.jsonl").read_text())
    assert "note" not in audio[0]["audio"] and len(audio) == 86


def test_demo_sets_up_only_the_light_tools_and_writes_the_page(tmp_path):
    venv = tmp_path / "venv"
    plan = subprocess.run(["make", "-C", str(ROOT), "-n", "demo", f"VENV={venv}", "--no-print-directory"],
                          capture_output=True, text=True, check=True).stdout
    pip = [line for line in plan.splitlines() if "pip install" in line]
    assert len(pip) == 1 and '-e ".[plot]"' in pip[0] and "torch" not in plan and "train" not in pip[0]
    assert 'PYTHONWARNINGS="ignore:Editable installation"' in pip[0]  # setuptools' box stays out
    assert f"{venv}/bin/leap-show build/demo/programs.jsonl --html build/demo/programs.html" in plan
    # after a full install (its stamp newer than pyproject.toml) the demo installs nothing more
    venv.mkdir()
    (venv / ".installed").touch()
    done = subprocess.run(["make", "-C", str(ROOT), f"{venv}/.demo", f"VENV={venv}", "--no-print-directory"],
                          capture_output=True, text=True, check=True)
    assert done.stdout == "" and (venv / ".demo").exists() and not (venv / "bin").exists()
    assert (venv / "share" / "man" / "man1" / "leap-show.1").resolve() == ROOT / "man" / "leap-show.1"
