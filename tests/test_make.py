"""The Make reproduction targets: shards chain the stages, a second make does nothing, and a
changed input re-runs only what depends on it."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from pathlib import Path

from conftest import DATA, ROOT, records
from leap_cli import stages

DEMO = DATA / "demo"


def make(*args, check=True, env=None):
    """Run make in the project; with LEAP_MAKE_TRANSCRIPT=FILE each run is appended there."""
    venv = Path(sys.executable).parent.parent
    proc = subprocess.run(["make", "-C", str(ROOT), f"VENV={venv}", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    transcript = os.environ.get("LEAP_MAKE_TRANSCRIPT")
    if transcript:
        shown = " ".join(a for a in args if not a.startswith(("EPIC_CSV=", "SOUNDS=", "VISOR=", "FIELDS=", "--no-")))
        with open(transcript, "a") as f:
            f.write(f"$ {' '.join(f'{k}={v}' for k, v in (env or {}).items())} make {shown}\n{proc.stdout}{proc.stderr}"
                    f"[exit {proc.returncode}]\n\n")
    if check and proc.returncode:
        raise AssertionError(f"make {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def tools_run(proc) -> list[str]:
    """The stage commands make echoed, as 'leap-TOOL[.K]' (K: the shard written)."""
    ran = []
    for line in proc.stdout.splitlines():
        words = line.split()
        if words and words[0].split("/")[-1].startswith("leap-"):
            tool = words[0].split("/")[-1]
            out = next((w for w in words if w.endswith(".part")), "")
            shard = out.split(".")[-3] if out.count(".") >= 3 and out.split(".")[-3].isdigit() else ""
            ran.append(tool + (f".{shard}" if shard else ""))
    return ran


DEMO_SETTINGS = [f"EPIC_CSV={DEMO / 'EPIC_100_validation.sample.csv'}", f"SOUNDS={DEMO / 'EPIC_Sounds_validation.sample.csv'}",
                 f"VISOR={DEMO / 'visor'}", f"FIELDS={DEMO / 'fields'}", "SHARDS=2", "--no-print-directory"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The demo data through make programs once (2 shards); each test works on a copy."""
    out = tmp_path_factory.mktemp("epic") / "out"
    make("-j2", "programs", f"OUT={out}", *DEMO_SETTINGS)
    return out


def copy_of(built, tmp_path) -> list[str]:
    out = tmp_path / "out"
    shutil.copytree(built, out)
    (out / "settings").mkdir(exist_ok=True)
    for stamp in (out / "settings").iterdir():  # the copy keeps the order of the mtimes
        os.utime(stamp, (1, 1))
    return [f"OUT={out}", *DEMO_SETTINGS]


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


def test_a_changed_setting_reruns_that_stage_and_what_follows(built, tmp_path):
    args = copy_of(built, tmp_path)
    out = tmp_path / "out"
    assert make("-q", "programs", *args, check=False).returncode == 0  # the copy is up to date
    plan = make("-n", "programs", *args, "LEAP_MODEL=gpt-4o")  # a dry run writes no stamp...
    assert tools_run(plan) == ["leap-prompt.0", "leap-parse.0", "leap-prompt.1", "leap-parse.1",
                               "leap-merge", "leap-stats"] or sorted(tools_run(plan)) == sorted(
        ["leap-prompt.0", "leap-parse.0", "leap-prompt.1", "leap-parse.1", "leap-merge", "leap-stats"])
    assert make("-q", "programs", *args, check=False).returncode == 0  # ...so nothing changed for real

    ran = make("programs", *args, "PROMPT_FLAGS=--no-cache")  # a prompt flag is a prompt setting too
    assert sorted(tools_run(ran)) == ["leap-merge", "leap-parse.0", "leap-parse.1", "leap-prompt.0",
                                      "leap-prompt.1", "leap-stats"]
    assert (out / "settings" / "prompt").read_text() == "prompt: -m rules --no-cache\n"
    assert "Nothing to be done" in make("programs", *args, "PROMPT_FLAGS=--no-cache").stdout
    assert make("-q", "programs", *args, "PROMPT_FLAGS=--no-cache", check=False).returncode == 0

    videos = tmp_path / "videos"
    videos.mkdir()
    ran = make("programs", *args, "PROMPT_FLAGS=--no-cache", f"VIDEOS={videos}")  # clips onwards
    assert sorted(tools_run(ran)) == sorted(["leap-clips", "leap-merge", "leap-stats"] + [
        f"{t}.{k}" for t in (s.tool for s in stages.pipeline() if s.tool) for k in (0, 1)])
    assert f"--videos {videos}" in ran.stdout
    assert "Nothing to be done" in make("programs", *args, "PROMPT_FLAGS=--no-cache", f"VIDEOS={videos}").stdout


def test_a_deleted_stage_file_is_made_again(built, tmp_path):
    args = copy_of(built, tmp_path)
    out = tmp_path / "out"
    (out / "prompt.1.jsonl").unlink()
    (out / "programs.1.jsonl").unlink()
    ran = make("programs", *args)
    assert tools_run(ran) == ["leap-prompt.1", "leap-parse.1", "leap-merge", "leap-stats"]
    assert len(records((out / "programs.jsonl").read_text())) == 86


def test_retryable_errors_are_run_again_and_only_they(built, tmp_path):
    args = copy_of(built, tmp_path)
    out = tmp_path / "out"
    lines = (out / "prompt.0.jsonl").read_text().splitlines(keepends=True)
    failed = [3, 10, 17]
    injected = list(lines)
    for i in failed:  # what a dead endpoint leaves: the clip's record with a retryable error
        rec = {k: v for k, v in json.loads(lines[i]).items() if k != "prompt"}
        rec["error"] = {"stage": "prompt", "message": "query failed after 7 attempts: connection error",
                        "retryable": True}
        injected[i] = json.dumps(rec, separators=(",", ":")) + "\n"
    (out / "prompt.0.jsonl").write_text("".join(injected))
    time.sleep(0.01)
    os.utime(out / "programs.0.jsonl")
    os.utime(out / "programs.jsonl")  # what follows is newer: only the retryable errors make it stale

    assert make("-q", "programs", *args, check=False).returncode == 1  # not finished
    ran = make("programs", *args)
    assert tools_run(ran) == ["leap-prompt.0", "leap-parse.0", "leap-merge", "leap-stats"]
    again = (out / "prompt.0.jsonl").read_text().splitlines(keepends=True)
    kept = [x for i, x in enumerate(lines) if i not in failed]
    assert again[:len(kept)] == kept  # the other records untouched, in place
    redone = {r["id"]: r["prompt"]["response"] for r in records("".join(again[len(kept):]))}
    assert redone == {r["id"]: r["prompt"]["response"] for r in records("".join(lines[i] for i in failed))}
    merged = records((out / "programs.jsonl").read_text())
    assert len(merged) == 86 and not [r for r in merged if "error" in r]
    assert "Nothing to be done" in make("programs", *args).stdout


def test_every_clip_failing_still_makes_the_programs(built, tmp_path):
    args = copy_of(built, tmp_path)
    out = tmp_path / "out"
    dead = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "LEAP_CACHE": str(tmp_path / "cache.db")}
    ran = make("programs", *args, "LEAP_MODEL=some-model", "PROMPT_FLAGS=--retries 0", env=dead)
    for k in (0, 1):
        n = len(records((out / f"prompt.{k}.jsonl").read_text()))
        assert (f"make: {out}/prompt.{k}.jsonl: {n} of {n} clips failed in leap-prompt "
                f"({n}x query failed after 1 attempts: connection error") in ran.stderr
    assert "leap-stats: no programs among 86 records: figures skipped" in ran.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["clips"], stats["programs"], stats["errors"]) == (86, 0, 86)
    assert len(records((out / "programs.jsonl").read_text())) == 86


def training_settings(built, tmp_path):
    """A copy of the built demo programs, features for every clip, and the make settings of a
    small fit on them (the features backbone, one epoch)."""
    import numpy as np

    args = copy_of(built, tmp_path)
    out, runs, feats = tmp_path / "out", tmp_path / "runs", tmp_path / "features"
    feats.mkdir()
    rng = np.random.default_rng(0)
    for r in records((out / "clips.jsonl").read_text()):
        np.save(feats / f"{r['id']}.npy", (rng.normal(size=8) + 3 * np.eye(8)[r["verb_class"] % 8]).astype(np.float32))
    train = [*args, f"RUNS={runs}", f"VAL_CSV={DEMO / 'EPIC_100_validation.sample.csv'}", "BACKBONE=features",
             "EPOCHS=1", f"FIT_FLAGS=--features {feats} --batch-size 16 --workers 0 --embed-cache {tmp_path / 'emb'}",
             f"PREDICT_FLAGS=--features {feats} --workers 0"]
    return train, runs, feats


def test_training_is_redone_when_the_programs_change(built, tmp_path):
    pytest.importorskip("torch")
    train, runs, feats = training_settings(built, tmp_path)
    env = {"OMP_NUM_THREADS": "1"}
    ran = make(str(runs / "recognition" / "trained"), *train, env=env)
    assert tools_run(ran) == ["leap-clips", "leap-train", "leap-train"]  # val clips, program stage, full
    assert make("-q", str(runs / "recognition" / "trained"), *train, check=False).returncode == 0

    ran = make(str(runs / "recognition" / "trained"), *train, "PARSE_FLAGS=--strict", env=env)  # new programs
    assert tools_run(ran) == ["leap-parse.0", "leap-parse.1", "leap-merge", "leap-stats", "leap-train", "leap-train"]
    for stage in ("recognition-program", "recognition"):
        assert f"make: {runs / stage}/last.pt is older than" in ran.stdout and "training afresh" in ran.stdout
    epochs = [json.loads(x[len("leap-train: "):])["epoch"] for x in ran.stderr.splitlines()
              if x.startswith('leap-train: {"clips_per_s"')]
    assert epochs == [0, 1, 2, 3, 4, 0]  # both networks trained again from epoch 0 (5 + EPOCHS=1)



@pytest.mark.slow  # the wiring is checked fast below, the messages in test_finish_...
def test_predictions_with_errors_are_not_kept(built, tmp_path):
    pytest.importorskip("torch")
    train, runs, feats = training_settings(built, tmp_path)
    env = {"OMP_NUM_THREADS": "1"}
    make(str(runs / "recognition" / "trained"), *train, env=env)
    missing = next(feats.iterdir())
    hidden = missing.rename(tmp_path / missing.name)  # one validation clip cannot be predicted
    metrics = str(runs / "recognition" / "metrics.json")
    failed = make(metrics, *train, check=False, env=env)
    assert failed.returncode != 0
    predictions = runs / "recognition" / "predictions.jsonl"
    assert f"make: {predictions}: 1 of 86 records are errors (1x " in failed.stderr
    assert not predictions.exists() and len(records(Path(f"{predictions}.part").read_text())) == 85
    hidden.rename(missing)
    ran = make(metrics, *train, env=env)  # only that clip is predicted again
    assert [r["id"] for r in records(predictions.read_text())][-1] == missing.stem
    assert 0 <= json.loads(Path(metrics).read_text())["all_action_accuracy_at_1"] <= 100  # over all 86 clips
    assert "is up to date" in make(metrics, *train, env=env).stdout


def test_predict_gets_the_videos_and_keeps_no_file_with_errors(tmp_path):
    out, runs = tmp_path / "out", tmp_path / "runs"
    plan = make("-n", str(runs / "recognition" / "metrics.json"), f"OUT={out}", f"RUNS={runs}", "VIDEOS=/data/epic",
                f"VAL_CSV={DEMO / 'EPIC_100_validation.sample.csv'}", *DEMO_SETTINGS).stdout
    assert not out.exists()  # a dry run writes nothing, not even the settings stamps
    assert f"leap-clips -q --resume -o {out}/val_clips.jsonl.part {DEMO / 'EPIC_100_validation.sample.csv'} --videos /data/epic" in plan
    lines = plan.splitlines()
    at = next(i for i, line in enumerate(lines) if "leap-train predict" in line)
    assert "--videos /data/epic" in lines[at] + lines[at + 1]  # the recipe's continuation line
    assert f"-m leap_cli.finish --strict train {runs}/recognition/predictions.jsonl" in plan


def test_finish_names_the_failures_and_keeps_a_file_with_retryable_ones(tmp_path, capsys):
    from leap_cli.finish import finish

    target = tmp_path / "prompt.0.jsonl"
    lines = [{"id": "a", "prompt": {}},
             {"id": "b", "error": {"stage": "prompt", "message": "rate limited (429)", "retryable": True}},
             {"id": "c", "error": {"stage": "prompt", "message": "rate limited (429)", "retryable": True}},
             {"id": "d", "error": {"stage": "clips", "message": "no video file"}},  # an earlier stage's
             {"id": "e", "error": {"stage": "prompt", "message": "x" * 200}}]
    Path(f"{target}.part").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert finish("prompt", str(target)) == 0
    assert records(target.read_text()) == lines and not Path(f"{target}.part").exists()
    assert capsys.readouterr().err == (f"make: {target}: 3 of 5 clips failed in leap-prompt (2x rate limited (429); "
                                       f"1x {'x' * 159}…); the next make runs the 2 retryable ones again\n")

    predictions = tmp_path / "predictions.jsonl"
    Path(f"{predictions}.part").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert finish("train", str(predictions), strict=True) == 1
    assert not predictions.exists() and records(Path(f"{predictions}.part").read_text()) == lines[:1]
    assert capsys.readouterr().err.startswith(f"make: {predictions}: 4 of 5 records are errors (2x rate limited")
    assert finish("train", str(predictions), strict=True) == 0 and records(predictions.read_text()) == lines[:1]
