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
from leap_cli.stream import StreamOptions, run, run_many, shard_of


@click.command(cls=Tool)
@stage_options
@click.option("--bad", multiple=True)
@click.option("--flaky", multiple=True)
def echo(opts, bad, flaky):
    """Test stage: adds an `echo` key; ids in --bad fail, ids in --flaky fail retryably."""

    def fn(record):
        if record["id"] in bad:
            raise ClipError(f"cannot echo {record['id']}")
        if record["id"] in flaky:
            raise ClipError(f"echo server busy for {record['id']}", retryable=True)
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


@pytest.mark.parametrize("name", ["leap-clips", "leap-parse"])
def test_ctrl_c_at_any_moment_exits_130_without_traceback(name):
    # From start-up imports to blocked reading stdin. The first ~20-40 ms (more under load),
    # before the package's first line runs, are the interpreter's own start-up (site, .pth files).
    for moment in (0.25, 0.4, 0.6, 1.0):
        proc = subprocess.Popen([tool(name), "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        time.sleep(moment)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert (moment, proc.returncode) == (moment, 130)
        assert b"Traceback" not in err and b"KeyboardInterrupt" not in err


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


def test_retryable_errors_are_marked_summarised_under_q_and_retried_by_resume(tmp_path):
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    args = ["-o", str(out), "--errors", str(errors), "-q", "--bad", "c3"]
    res = invoke(*args, "--flaky", "c1", "--flaky", "c4", input=jsonl(GOOD))
    assert res.exit_code == 0
    recs = records(out.read_text())
    assert recs[1]["error"] == {"stage": "echo", "message": "echo server busy for c1", "retryable": True}
    assert recs[3]["error"] == {"stage": "echo", "message": "cannot echo c3"}  # not retryable
    assert res.stderr == ("echo: 6 in, 6 out, 3 errors (2 retryable: the same command with --resume "
                          "tries them again)\n")
    res = invoke(*args, "--resume", "--flaky", "c4", input=jsonl(GOOD))  # c1 now works, c4 still fails
    assert res.exit_code == 0
    recs = records(out.read_text())
    assert sorted(r["id"] for r in recs) == [f"c{i}" for i in range(6)]  # one record per clip
    by_id = {r["id"]: r for r in recs}
    assert "echo" in by_id["c1"] and "error" not in by_id["c1"]
    assert by_id["c3"]["error"]["message"] == "cannot echo c3"  # non-retryable: done, not re-run
    assert by_id["c4"]["error"]["retryable"] is True
    assert res.stderr.startswith("echo: 2 in, 2 out, 1 errors (1 retryable")
    assert sorted(r["id"] for r in records(errors.read_text())) == ["c3", "c4"]
    res = invoke(*args, "--resume", input=jsonl(GOOD))
    assert res.stderr == "" and all("error" not in r for r in records(out.read_text()) if r["id"] != "c3")


def test_retryable_errors_of_an_earlier_stage_are_passed_through_not_retried(tmp_path):
    out = tmp_path / "out.jsonl"
    earlier = {"id": "x", "error": {"stage": "prompt", "message": "timeout", "retryable": True}}
    invoke("-o", str(out), input=jsonl([earlier]))
    res = invoke("-o", str(out), "--resume", input=jsonl([earlier]))
    assert "echo: 0 in, 0 out" in res.stderr and records(out.read_text()) == [earlier]


def test_resume_with_errors_file_is_exact_after_a_kill(tmp_path):
    # kill -9: the --errors file (flushed per record) holds c2's error, the buffered -o not yet.
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    out.write_text(jsonl([{**GOOD[0], "echo": {}}, {**GOOD[1], "echo": {}}]))
    errors.write_text(jsonl([{**GOOD[2], "error": {"stage": "echo", "message": "cannot echo c2"}}]))
    res = invoke("-o", str(out), "--errors", str(errors), "--resume", "--bad", "c2", input=jsonl(GOOD))
    assert res.exit_code == 0 and "echo: 4 in, 4 out, 1 errors" in res.stderr
    assert [r["id"] for r in records(out.read_text())] == ["c0", "c1", "c2", "c3", "c4", "c5"]
    assert [r["id"] for r in records(errors.read_text())] == ["c2"]  # once


def test_errors_file_that_is_the_output_or_an_input_is_refused(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text(jsonl(GOOD))
    res = CliRunner().invoke(echo, [str(f), "-o", str(tmp_path / "o.jsonl"), "--errors", f"{tmp_path}/./o.jsonl"])
    assert res.exit_code == 2 and f"--errors {tmp_path}/./o.jsonl is the -o file" in res.output
    res = CliRunner().invoke(echo, [str(f), "--errors", str(f)])
    assert res.exit_code == 2 and f"--errors {f} is also an input" in res.output
    assert f.read_text() == jsonl(GOOD)


def test_resume_of_a_gz_output_that_is_not_gzip_is_refused_and_kept(tmp_path):
    out = tmp_path / "out.jsonl.gz"
    out.write_text(jsonl(GOOD[:2]))
    res = invoke("-o", str(out), "--resume", input=jsonl(GOOD))
    assert res.exit_code == 1
    assert f"{out}: --resume: not a gzip file although its name ends in .gz" in res.output
    assert out.read_text() == jsonl(GOOD[:2])


def test_gzip_errors_file_resumes(tmp_path):
    out, errors = tmp_path / "out.jsonl.gz", tmp_path / "errors.jsonl.gz"
    args = ["-o", str(out), "--errors", str(errors), "--bad", "c1", "-q"]
    invoke(*args, input=jsonl(GOOD[:3]))
    res = invoke(*args, "--resume", input=jsonl(GOOD))
    assert res.exit_code == 0
    with gzip.open(errors, "rt") as f:
        assert [r["id"] for r in records(f.read())] == ["c1"]


def test_unreadable_lines_are_remembered_by_resolved_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.jsonl").write_text(jsonl(GOOD[:1]) + "not json\n")
    invoke("./x.jsonl", "-o", "out.jsonl")
    res = invoke("x.jsonl", "-o", "out.jsonl", "--resume")
    assert "echo: 0 in, 0 out, 0 errors" in res.stderr
    assert [r["id"] for r in records((tmp_path / "out.jsonl").read_text())] == ["c0", None]


def test_a_duplicate_id_is_handled_the_same_with_and_without_resume(tmp_path):
    text = jsonl([GOOD[0], GOOD[1], GOOD[0]])
    plain = records(invoke(input=text).stdout)
    assert [r["id"] for r in plain] == ["c0", "c1", "c0"]
    out = tmp_path / "out.jsonl"
    out.write_text(jsonl(plain[:1]))  # killed after the first record
    invoke("-o", str(out), "--resume", input=text)
    assert records(out.read_text()) == plain
    res = invoke("-o", str(out), "--resume", input=text)
    assert "echo: 0 in, 0 out" in res.stderr


@pytest.mark.parametrize("on_error, status", [("record", 0), ("skip", 0), ("fail", 1)])
def test_run_many_returns_the_exit_status_from_the_counts(on_error, status, capsys):
    opts = StreamOptions(on_error=on_error, quiet=True, tool="t")
    lines = [__import__("leap_cli.stream", fromlist=["Line"]).Line("f", 1, record=dict(GOOD[0]))]
    code = run_many(opts, "t", lambda recs: (ClipError("no") for _ in recs), lines=lines)
    assert code == status
    assert capsys.readouterr().err.endswith("t: 1 in, %d out, 1 errors%s\n" % (
        on_error == "record", " (1 skipped)" if on_error == "skip" else ""))


def test_hostile_lines_each_give_one_error_record_and_the_run_goes_on():
    good = jsonl(GOOD[:1])
    hostile = ['{"id": "s", "narration": "bad \\ud83d"}', "[" * 100000, '{"id": "n", "start": ' + "9" * 5000 + "}",
               '{"id": "nan", "start": NaN}', '{"id": "big", "start": 1e400}', "\x0c", "\x1c", "\x1f", "\xa0"]
    text = good + "".join(h + "\n" for h in hostile) + "\n \t\r\n" + jsonl(GOOD[1:2])
    res = invoke(input=text)
    assert res.exit_code == 0
    out = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} written")) for line in res.stdout.splitlines()]
    assert [r["id"] for r in out] == ["c0"] + [None] * 4 + ["big"] + [None] * 4 + ["c1"]  # the blank line: nothing
    messages = [r["error"]["message"] for r in out[1:-1]]
    assert messages[0] == "not text: a lone surrogate escape (\\ud83d) is no Unicode character"
    assert messages[1] == "not a clip record (nested too deeply)"
    assert messages[2].startswith("not JSON (Exceeds the limit (4300 digits) for integer string conversion")
    assert messages[3] == "not JSON (NaN is not JSON (strict JSON has no NaN or Infinity))"
    assert messages[4] == ("the record cannot be written as strict JSON: "
                           "Out of range float values are not JSON compliant")
    assert all(m.startswith("not JSON (Expecting value") for m in messages[5:])
    assert [r["error"]["line"] for r in out[1:5]] == [2, 3, 4, 5]


def test_a_cr_inside_a_line_is_whitespace_not_a_line_break():
    text = '{"id": "c0",\r "start": 0,\r\n "stop": 1}\n'.replace("\r\n", "\r")
    out = records(invoke(input=text + jsonl(GOOD[1:2])).stdout)
    assert [r["id"] for r in out] == ["c0", "c1"] and "error" not in out[0]


def test_a_truncated_gz_input_is_one_error_naming_the_file_and_the_next_input_is_read(tmp_path):
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(jsonl(GOOD[:4]).encode())[:-30])
    plain = tmp_path / "next.jsonl"
    plain.write_text(jsonl(GOOD[5:]))
    res = invoke(str(gz), str(plain))
    assert res.exit_code == 0
    out = records(res.stdout)
    assert out[-1]["id"] == "c5"
    err = out[-2]["error"]
    assert err["file"] == str(gz) and err["message"].endswith(
        "the compressed file is cut short (truncated .gz: a killed or partial copy)")
