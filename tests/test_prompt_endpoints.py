"""leap-prompt against dead, unnamed, unpriced, failing and leaky endpoints (tests/prompt_server.py)."""
from __future__ import annotations

import json
import socket
import time

import pytest

from conftest import records
from leap_cli.llm import backends
from prompt_server import Server
from test_prompt import KEY, clips, prompt  # noqa: F401 - clips is a fixture


@pytest.fixture(scope="module")
def few(clips, tmp_path_factory):
    """Six of the sample clips (two queries at --batch-size 3)."""
    path = tmp_path_factory.mktemp("few") / "few.jsonl"
    path.write_text("".join(clips.read_text().splitlines(keepends=True)[:6]))
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("model", [["-m", "gpt-4o"], []])
def test_dead_endpoint_ends_the_run_at_once_naming_the_url(few, tmp_path, model):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    t0 = time.monotonic()
    proc = prompt(few, "--base-url", url, *model, "-q", cache=tmp_path / "c.sqlite3")
    assert time.monotonic() - t0 < 30  # seconds, not the minutes of six backed-off retries
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (f"Error: FatalBackendError: cannot reach {url}: connection refused "
                           "(is the server running? check --base-url or OPENAI_BASE_URL)\n")


def test_model_named_by_the_server_and_its_unknown_cost(few, tmp_path):
    s = Server(models=("qwen-local",)).start()
    try:
        proc = prompt(few, "--base-url", s.url, "--batch-size", "3", cache=tmp_path / "c.sqlite3")
    finally:
        s.stop()
    assert proc.returncode == 0, proc.stderr
    out = records(proc.stdout)
    assert {r["prompt"]["model"] for r in out} == {"qwen-local"}
    assert {r["prompt"]["response_model"] for r in out} == {"qwen-local"}
    assert {r["prompt"]["cost"] for r in out} == {None}  # unknown, never a made-up $0
    assert len(s.log) == 2
    assert "leap-prompt: model qwen-local (the one " + s.url + " serves)" in proc.stderr
    assert "cost unknown (no price for qwen-local: give one with --prices FILE)" in proc.stderr
    assert "$0" not in proc.stderr


def test_a_server_with_several_models_needs_m(few, tmp_path):
    s = Server(models=("a", "b")).start()
    try:
        proc = prompt(few, "--base-url", s.url, cache=tmp_path / "c.sqlite3")
        budget = prompt(few, "--base-url", s.url, "--max-cost", "1", "-m", "a", cache=tmp_path / "c.sqlite3")
    finally:
        s.stop()
    assert proc.returncode == 1 and proc.stderr == f"Error: FatalBackendError: {s.url} serves 2 models (a, b): name one with -m\n"
    assert budget.returncode == 2 and "--max-cost: no price for model a; give one with --prices FILE" in budget.stderr
    assert s.log == []


def test_server_failures_are_retryable_and_resume_asks_again(few, tmp_path):
    out = tmp_path / "out.jsonl"
    s = Server(fault_rate=1.0, faults=("500",)).start()
    try:
        failed = prompt(few, "-o", out, "--batch-size", "3", "--retries", "1", "--base-url", s.url, "-m", "gpt-4o",
                        "--backoff", "0.01", cache=tmp_path / "c.sqlite3")
    finally:
        s.stop()
    assert failed.returncode == 0, failed.stderr
    errors = records(out.read_text())
    assert len(errors) == 6 and all(r["error"]["retryable"] is True for r in errors)
    assert errors[0]["error"]["message"] == f"query failed after 2 attempts: 500 from {s.url.split('/')[2]}"
    # every HTTP attempt is counted: 2 queries x 2 attempts
    assert "leap-prompt: model gpt-4o: 0 requests, 0 cached, 0 clips answered from the cache, 0 follow-ups, 4 HTTP requests," in failed.stderr
    assert "6 retryable: the same command with --resume tries them again" in failed.stderr
    healthy = Server().start()
    try:
        again = prompt(few, "-o", out, "--resume", "--batch-size", "3", "--base-url", healthy.url, "-m", "gpt-4o",
                       cache=tmp_path / "c.sqlite3")
    finally:
        healthy.stop()
    assert again.returncode == 0, again.stderr
    done = records(out.read_text())
    assert len(done) == 6 and all("prompt" in r for r in done) and len(healthy.log) == 2


def test_error_text_from_the_server_never_carries_the_key(few, tmp_path):
    errors = tmp_path / "errors.jsonl"
    s = Server(fault_rate=1.0, faults=("400echo",)).start()
    try:
        proc = prompt(few, "--errors", errors, "-v", "--base-url", s.url, "-m", "gpt-4o", cache=tmp_path / "c.sqlite3")
    finally:
        s.stop()
    assert s.log[0]["authorization"] == f"Bearer {KEY}"  # the server did see it...
    everything = proc.stdout + proc.stderr + errors.read_text()
    assert KEY not in everything and "NEVER-WRITE" not in everything  # ...nothing we write does
    out = records(proc.stdout)
    assert "Authorization: Bearer ***" in out[0]["error"]["message"]
    assert "retryable" not in out[0]["error"]  # a 400 is the same answer next time


def test_gate_narrows_after_timeouts():
    g = backends.Gate(4)
    assert [g.narrow(), g.narrow(), g.narrow()] == [2, 1, None]
