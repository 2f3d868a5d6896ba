"""Every shell example in README.md whose inputs exist in tests/data runs as written.

The README's file names (EPIC_100_train.csv, visor/, clips.jsonl, ...) are staged in a work
folder from tests/data (and the intermediate files from running the tools on it); each command
is then run there by bash, unchanged. A command whose input is not in tests/data (videos, model
weights, a trained network, an LLM endpoint) is skipped, and says which input it lacks.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, ROOT, records, tool

DEMO = DATA / "demo"
# README name -> what stands for it (a file or folder of tests/data)
STAGED = {
    "EPIC_100_train.csv": DATA / "epic" / "EPIC_100_train.sample.csv",
    "EPIC_100_validation.csv": DEMO / "EPIC_100_validation.sample.csv",
    "EPIC_Sounds_train.csv": DEMO / "EPIC_Sounds_validation.sample.csv",
    "EPIC_Sounds_validation.csv": DEMO / "EPIC_Sounds_validation.sample.csv",
    "epic-fields": DEMO / "fields",
    "visor": DEMO / "visor",
    "VISOR/annotations": DEMO / "visor",
    "VISOR/GroundTruth-SparseAnnotations/annotations": DEMO / "visor",
}
OUTPUT_FLAGS = {"-o", "--output", "--png", "--errors", "--out", "--html", "--cache", "--embed-cache", ">", "2>"}
NEEDS_NETWORK = ("OPENAI_API_KEY=", "--base-url", "--batch ")
PATHLIKE = re.compile(r"(/|\.(csv|jsonl|json|onnx|pt|pth|pyth|mp4|MP4|py|npy|pkl|gz)$)")


def examples() -> list[str]:
    """The commands of the README's ```sh blocks, continuation lines joined, comments cut."""
    text = (ROOT / "README.md").read_text()
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line:
                out.append(line)
    return out


def missing_input(command: str, work: Path) -> str | None:
    """Why the command cannot run here (the input it lacks), or None."""
    if command.startswith(("make ", "sbatch ")):
        return "make and cluster runs: tests/test_make.py"
    if any(n in command for n in NEEDS_NETWORK):
        return "an LLM endpoint or key"
    if "$" in command:
        return "a shell variable set by an earlier, skipped command"
    words = shlex.split(command.replace("|", " | ").replace("&", " & "))
    for before, word in zip([""] + words, words):
        if before in OUTPUT_FLAGS or word.startswith("http") or not PATHLIKE.search(word):
            continue
        if "*" in word:
            if not list(work.glob(word)):
                return word
        elif not (work / os.path.expanduser(word)).exists():
            return word
    return None


def run(command: str, work: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The README's inputs staged from tests/data, and the files its examples read."""
    work = tmp_path_factory.mktemp("readme")
    for name, source in STAGED.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, work / name)

    def tools(*stages, stdin=None):
        text = stdin
        for name, *args in stages:
            text = subprocess.run([tool(name), *args], input=text, capture_output=True, text=True,
                                  check=True, cwd=work).stdout
        return text

    clips = tools(("leap-clips", "EPIC_100_train.csv")) + tools(("leap-clips", "EPIC_100_validation.csv"))
    (work / "clips.jsonl").write_text(clips)
    evidence = tools(("leap-audio", "--annotations", "EPIC_Sounds_train.csv"), ("leap-slam", "--fields", "epic-fields"),
                     ("leap-detect", "--visor", "visor"), stdin=clips)
    (work / "detect.jsonl").write_text(evidence)
    evidence = tools(("leap-contact", "--visor", "visor"), stdin=evidence)
    (work / "evidence.jsonl").write_text(evidence)
    prompted = tools(("leap-prompt", "-m", "rules", "--no-cache"), stdin=evidence)
    (work / "prompted.jsonl").write_text(prompted)
    for k in range(2):
        (work / f"programs.{k}.jsonl").write_text(tools(("leap-parse", "--shard", f"{k}/2"), stdin=prompted))
    (work / "programs.jsonl").write_text(tools(("leap-parse",), stdin=prompted))
    (work / "response.py").write_text(next(r for r in records(prompted) if "prompt" in r)["prompt"]["response"])
    return work


def test_every_readme_example_with_inputs_in_tests_data_runs(work):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LEAP_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["LEAP_CACHE"] = str(work / "cache.db")
    ran, skipped = [], {}
    for command in examples():
        why = missing_input(command, work)
        if why is None and shutil.which(shlex.split(command)[0], path=env["PATH"]) is None and "=" not in shlex.split(command)[0]:
            why = f"{shlex.split(command)[0]} is not installed"
        if why:
            skipped[command] = why
            continue
        proc = run(command, work, env)
        assert proc.returncode == 0, f"README example failed ({proc.returncode}): {command}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, command
        ran.append(command)
    print("\nran:", *ran, "\nskipped:", *(f"{c}  [{w}]" for c, w in skipped.items()), sep="\n  ")
    # The pipeline from the annotation releases runs as written, and so do the stages' examples.
    assert any(c.startswith("leap-clips EPIC_100_train.csv | leap-audio --annotations") for c in ran)
    for name in ("leap-clips", "leap-audio", "leap-detect", "leap-contact", "leap-prompt", "leap-parse",
                 "leap-merge", "leap-stats", "leap-show"):
        assert any(c.startswith(name) for c in ran), f"no {name} example ran"
    assert len(ran) >= 15
    # The headline pipeline needs videos and exported models; it names every source flag.
    first = examples()[2]
    assert first.startswith("leap-clips") and "leap-detect --model" in first and "leap-contact --hoa" in first
    assert all(re.search(fr"leap-{s} --", first) for s in ("audio", "slam", "detect", "contact"))


def test_the_annotation_pipeline_gives_a_program_per_clip(work):
    command = next(c for c in examples() if c.startswith("leap-clips EPIC_100_train.csv | leap-audio --annotations"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "LEAP_CACHE": str(work / "c.db")}
    (work / "programs.jsonl").unlink()
    assert run(command, work, env).returncode == 0
    out = records((work / "programs.jsonl").read_text())
    clips = records(subprocess.run([tool("leap-clips"), "EPIC_100_train.csv"], cwd=work, capture_output=True,
                                   text=True, check=True).stdout)
    assert [r["id"] for r in out] == [r["id"] for r in clips]
    assert sum("program" in r for r in out) >= 0.9 * len(out)
