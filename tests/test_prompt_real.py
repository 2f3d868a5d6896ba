"""Opt-in: leap-prompt | leap-parse against a real OpenAI-compatible server.

Skipped unless LEAP_TEST_BASE_URL names one, e.g. the local model
(``../shared/tools/local-llm/start.sh`` prints http://127.0.0.1:8080/v1). Two demo clips with
real EPIC evidence, one query; a second run is answered from the cache.
"""
from __future__ import annotations

import json
import os
import re
import urllib.request

import pytest

from conftest import DATA, records, run_tool

URL = os.environ.get("LEAP_TEST_BASE_URL")
pytestmark = pytest.mark.skipif(not URL, reason="set LEAP_TEST_BASE_URL to a real OpenAI-compatible server")


def test_a_real_model_answers_and_the_answers_parse(tmp_path):
    with urllib.request.urlopen(URL.rstrip("/") + "/models", timeout=10) as r:
        served = [m["id"] for m in json.load(r)["data"]]
    demo = DATA / "demo"
    clips = run_tool("leap-clips", demo / "EPIC_100_validation.sample.csv", "-q", check=True).stdout
    clips = "".join(clips.splitlines(keepends=True)[:2])
    evidence = run_tool("leap-contact", "--visor", demo / "visor", "-q", check=True,
                        input=run_tool("leap-detect", "--visor", demo / "visor", "-q", input=clips, check=True).stdout).stdout
    env = {"OPENAI_BASE_URL": URL, "LEAP_CACHE": str(tmp_path / "c.sqlite3"), "LEAP_MODEL": ""}
    args = ("--batch-size", "2", "-j", "1", "--timeout", "1200")
    first = run_tool("leap-prompt", *args, input=evidence, env=env)
    assert first.returncode == 0, first.stderr
    out = records(first.stdout)
    assert len(out) == 2
    answered = [r for r in out if "prompt" in r]
    assert answered, first.stderr  # a model that answers nothing usable fails here
    assert all(r["prompt"]["model"] == served[0] and r["prompt"]["cost"] is None for r in answered)
    assert re.search(r"model \S+: [1-9]\d* requests", first.stderr), first.stderr
    parsed = records(run_tool("leap-parse", "-q", input=first.stdout).stdout)
    assert len(parsed) == 2 and any("program" in r and r["program"]["steps"] for r in parsed)

    again = run_tool("leap-prompt", *args, input=evidence, env=env)
    assert again.returncode == 0 and ": 0 requests" in again.stderr, again.stderr
    assert [r.get("prompt", {}).get("response") for r in records(again.stdout)] == \
        [r.get("prompt", {}).get("response") for r in out]
