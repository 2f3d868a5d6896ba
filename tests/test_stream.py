"""The record stream every tool shares: bad input, error modes, shards, ids, resume, pipes, Ctrl-C."""
from __future__ import annotations

import gzip
import json
import signal
import subprocess
import time

import click
import pytest
from click.testing import CliRunner

from conftest import EPIC_SAMPLE, records, run_tool, tool
from leap_cli.options import Tool, finish, stage_options
from leap_cli.records import ClipError, source
from leap_cli.stream import run, shard_of


@click.command(cls=Tool)
@stage_options
@click.option("--bad", multiple=True)
def echo(opts, bad):
    """Test stage: adds an `echo` key; ids in --bad fail."""

    def fn(record):
        if record["id"] in bad:
            raise ClipError(f"cannot echo {record['id']}")
        return {**record, "echo": {"source": source("echo")}}

    finish(run(opts, "echo", fn))


GOOD = [{"id": f"c{i}", "start": i, "stop": i + 1} for i in range(6)]


def jsonl(recs) -> str:
    return "".join(json.dumps(r) + "\n" for r in recs)


def invoke(*args, input=None):
    return CliRunner().invoke(echo, list(args), input=input, catch_exceptions=False)


def test_every_line_gives_one_output_in_order():
    text = jsonl(GOOD[:2]) + "not json\n" + "[1, 2]\n" + '{"no": "id"}\n' + jsonl(GOOD[2:3])
    res = invoke(input=text)
    assert res.exit_code == 0
    out = records(res.stdout)
    assert [r["id"] for r in out] == ["c0", "c1", None, None, None, "c2"]
    assert "echo" in out[0] and "echo" in out[5]
    errors = [r["error"] for r in out[2:5]]
    assert errors[0]["file"] == "<stdin>" and errors[0]["line"] == 3
    assert errors[0]["message"].startswith("not JSON (")
    assert errors[1] == {"stage": "echo", "message": "not a JSON object (a list)", "file": "<stdin>", "line": 4}
    assert errors[2]["message"] == "no 'id' (a clip record needs a string id)"
    assert "echo: 6 in, 6 out, 3 errors" in res.stderr


def test_clip_error_becomes_error_record_and_earlier_errors_pass_through():
    earlier = {"id": "old", "error": {"stage": "audio", "message": "broken"}}
    res = invoke("--bad", "c1", input=jsonl([GOOD[0], earlier, GOOD[1]]))
    out = records(res.stdout)
    assert out[1] == earlier  # untouched
    assert out[2]["error"] == {"stage": "echo", "message": "cannot echo c1"}
    assert "echo" not in out[2]
    assert res.exit_code == 0


def test_on_error_fail_stops_with_status_1(tmp_path):
    res = invoke("--bad", "c1", "--on-error", "fail", input=jsonl(GOOD))
    assert res.exit_code == 1
    assert [r["id"] for r in records(res.stdout)] == ["c0"]
    assert "error: c1: cannot echo c1" in res.stderr


def test_on_error_skip_reports_on_stderr_and_errors_file(tmp_path):
    errors = tmp_path / "errors.jsonl"
    res = invoke("--bad", "c1", "--on-error", "skip", "--errors", str(errors), input=jsonl(GOOD[:3]))
    assert res.exit_code == 0
    assert [r["id"] for r in records(res.stdout)] == ["c0", "c2"]
    assert "error: c1: cannot echo c1" in res.stderr
    assert "(1 skipped)" in res.stderr
    assert records(errors.read_text())[0]["error"]["message"] == "cannot echo c1"


def test_shards_partition_without_overlap_or_gap():
    many = [{"id": f"P01_01_{i}", "start": 0, "stop": 1} for i in range(200)] 
    text = jsonl(many) + "garbage\n"
    seen = []
    for k in range(4):
        out = records(invoke("--shard", f"{k}/4", "-q", input=text).stdout)
        seen += [r["id"] or "bad" for r in out]
        assert all(shard_of(r["id"], 4) == k for r in out if r["id"])
    assert sorted(seen) == sorted([r["id"] for r in many] + ["bad"])
    assert shard_of("P01_01_12", 4) == int(__import__("hashlib").sha1(b"P01_01_12").hexdigest()[:8], 16) % 4


@pytest.mark.parametrize("value, message", [("4/4", "need 0 <= K < N"), ("a/b", "expected K/N")])
def test_bad_shard_is_a_usage_error(value, message):
    res = CliRunner().invoke(echo, ["--shard", value], input="")
    assert res.exit_code == 2 and message in res.output


def test_ids_selects_clips():
    out = records(invoke("--ids", "c1,c4", "--ids", "c5", input=jsonl(GOOD)).stdout)
    assert [r["id"] for r in out] == ["c1", "c4", "c5"]


def test_ids_not_in_the_input_are_reported_even_under_q():
    res = invoke("--ids", "c1,c9,P01_01_12", "-q", input=jsonl(GOOD))
    assert [r["id"] for r in records(res.stdout)] == ["c1"]
    assert res.stderr == "echo: --ids not in the input: P01_01_12, c9\n"


def test_resume_skips_done_ids_and_repairs_a_torn_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(jsonl([{**GOOD[0], "echo": {}}, {**GOOD[1], "echo": {}}]) + '{"id": "c2", "ech')
    res = invoke("-o", str(out), "--resume", input=jsonl(GOOD))
    assert res.exit_code == 0
    ids = [r["id"] for r in records(out.read_text())]
    assert ids == ["c0", "c1", "c2", "c3", "c4", "c5"]
    assert "echo: 4 in, 4 out, 0 errors" in res.stderr


def test_resume_of_a_gzip_output_killed_half_way(tmp_path):
    # A killed run leaves a gzip stream without its end; resuming must keep every complete line
    # and leave a file that reads back whole (appending to the torn stream would hide the rest).
    out = tmp_path / "out.jsonl.gz"
    whole = gzip.compress(jsonl([{**r, "echo": {}} for r in GOOD[:3]]).encode())
    out.write_bytes(whole[:-12])
    res = invoke("-o", str(out), "--resume", input=jsonl(GOOD))
    assert res.exit_code == 0
    with gzip.open(out, "rt") as f:
        ids = [r["id"] for r in records(f.read())]
    assert ids[-3:] == ["c3", "c4", "c5"] and sorted(ids) == [f"c{i}" for i in range(6)]
    res = invoke("-o", str(out), "--resume", input=jsonl(GOOD))
    assert "echo: 0 in, 0 out, 0 errors" in res.stderr


def test_resume_writes_an_unreadable_line_error_once(tmp_path):
    out = tmp_path / "out.jsonl"
    text = jsonl(GOOD[:2]) + "not json\n" + jsonl(GOOD[2:4])
    invoke("-o", str(out), input=text)
    res = invoke("-o", str(out), "--resume", input=text)
    assert "echo: 0 in, 0 out, 0 errors" in res.stderr
    assert [r["id"] for r in records(out.read_text())] == ["c0", "c1", None, "c2", "c3"]


def test_resume_needs_output():
    res = CliRunner().invoke(echo, ["--resume"], input="")
    assert res.exit_code == 2 and "--resume needs -o FILE" in res.output


def test_gzip_and_file_inputs(tmp_path):
    gz = tmp_path / "in.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write(jsonl(GOOD[:2]))
    plain = tmp_path / "in.jsonl"
    plain.write_text("\n" + jsonl(GOOD[2:3]) + "oops\n")
    out = records(invoke(str(gz), str(plain), "-q").stdout)
    assert [r["id"] for r in out] == ["c0", "c1", "c2", None]
    assert out[3]["error"]["file"] == str(plain) and out[3]["error"]["line"] == 3


def test_missing_input_file_is_one_clear_error(tmp_path):
    res = CliRunner().invoke(echo, [str(tmp_path / "nope.jsonl")])
    assert res.exit_code == 1
    assert "nope.jsonl: cannot open (No such file or directory)" in res.output


def test_broken_pipe_ends_quietly():
    # leap-clips writes far more than `head` reads.
    clips = subprocess.Popen([tool("leap-clips"), str(EPIC_SAMPLE), str(EPIC_SAMPLE), str(EPIC_SAMPLE)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.run(["head", "-n", "1"], stdin=clips.stdout, capture_output=True)
    clips.stdout.close()
    err = clips.stderr.read().decode()
    clips.wait()
    assert len(head.stdout.splitlines()) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_ctrl_c_exits_130_without_traceback():
    proc = subprocess.Popen([tool("leap-clips"), "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    time.sleep(1.0)  # it is now blocked reading stdin
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert b"Traceback" not in err


def test_output_that_is_also_an_input_is_refused_before_it_is_emptied(tmp_path):
    f = tmp_path / "clips.jsonl"
    f.write_text(jsonl(GOOD))
    res = CliRunner().invoke(echo, [str(f), "-o", f"{tmp_path}/./clips.jsonl"])
    assert res.exit_code == 2 and f"-o {tmp_path}/./clips.jsonl is also an input" in res.output
    assert f.read_text() == jsonl(GOOD)


def test_stdin_mixed_with_files_in_the_order_given_and_only_once(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text(jsonl(GOOD[:1]))
    out = records(invoke(str(f), "-", str(f), input=jsonl(GOOD[1:3])).stdout)
    assert [r["id"] for r in out] == ["c0", "c1", "c2", "c0"]
    res = CliRunner().invoke(echo, ["-", str(f), "-"], input="")
    assert res.exit_code == 2 and "'-' (stdin) can be given once" in res.output


def test_resume_with_skip_does_not_report_an_error_twice(tmp_path):
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    args = ["-o", str(out), "--errors", str(errors), "--on-error", "skip", "--bad", "c2", "-q"]
    invoke(*args, input=jsonl(GOOD[:4]))
    res = invoke(*args, "--resume", input=jsonl(GOOD))
    assert [r["id"] for r in records(out.read_text())] == ["c0", "c1", "c3", "c4", "c5"]
    assert [r["id"] for r in records(errors.read_text())] == ["c2"]
    assert "c2" not in res.stderr
