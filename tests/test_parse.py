"""leap-parse through the real console script and in process (CliRunner)."""
import json

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EPIC_SAMPLE, records, run_tool
from leap_cli import records as rec
from leap_cli.commands.parse import cli

WASH = ('def wash_cup(start_t=0, stop_t=3.5):\n    # Holding nothing at start.\n    # 1: get the cup\n'
        '    if not in_hand("cup"):\n        grasp("cup")\n    # 2: rinse it\n'
        '    while not is_clean("cup"):\n        use("cup", "faucet")\n')
BAD = 'def take_milk(start_t=0, stop_t=2):\n    grasp("milk")\n    goto("milk")\n'


def prompt(function, response):
    """A `prompt` value as leap-prompt writes it."""
    return {"source": {"tool": "leap-prompt", "version": "0.1.0"}, "function": function, "model": "rules",
            "cache_key": None, "response": response,
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0},
            "cost": 0.0, "cached": False, "follow_up": 0}


def clip(cid, function, response, **more):
    return json.dumps({"schema": 1, "id": cid, "prompt": prompt(function, response), **more})


def lines(*items):
    return "\n".join(items) + "\n"


def test_pipeline_from_clips_through_the_rules_model(tmp_path):
    clips = run_tool("leap-clips", EPIC_SAMPLE, check=True).stdout
    prompted = run_tool("leap-prompt", "-m", "rules", "--cache", tmp_path / "c.sqlite3", "-q",
                        input=clips, check=True).stdout
    res = run_tool("leap-parse", input=prompted)
    assert res.returncode == 0
    out = records(res.stdout)
    assert [r["id"] for r in out] == [r["id"] for r in records(clips)]
    for r in out:
        rec.validate(r)
        assert "error" not in r, r.get("error")
        assert r["program"]["valid"], (r["narration"], r["program"]["violations"])
        assert r["program"]["name"] == r["prompt"]["function"]
    assert res.stderr == f"leap-parse: {len(out)} in, {len(out)} out, 0 errors\n"


def test_record_gets_its_program():
    res = CliRunner().invoke(cli, ["-q"], input=lines(clip("c1", "wash_cup", WASH)))
    assert res.exit_code == 0
    (r,) = records(res.stdout)
    rec.validate(r)
    p = r["program"]
    assert [(s["verb"], s["objects"], s["object_ids"]) for s in p["steps"]] == [
        ("grasp", ["cup"], [13]), ("use", ["cup", "tap"], [13, 0])]
    assert p["precondition_sentence"] == "if cup not in hand and while cup not clean"
    assert p["source"] == {"tool": "leap-parse", "version": p["source"]["version"], "dialect": 1,
                           "embed_unknown": False}
    assert r["prompt"]["response"] == WASH  # nothing else changes


def test_batch_response_is_split_by_function_name():
    batch = WASH + "\n\n" + BAD
    res = CliRunner().invoke(cli, ["-q"], input=lines(clip("a", "take_milk", batch), clip("b", "wash_cup", batch)))
    a, b = records(res.stdout)
    assert a["program"]["name"] == "take_milk" and b["program"]["name"] == "wash_cup"


def test_holding_at_start_comes_from_the_contact_key():
    src = 'def wash_pan():\n    use("pan", "tap")\n'
    contact = {"source": {"tool": "leap-contact", "version": "0"}, "holding_at_start": {"left": "pan", "right": None},
               "events": []}
    res = CliRunner().invoke(cli, ["-q"], input=lines(clip("h", "wash_pan", src, contact=contact),
                                                      clip("n", "wash_pan", src)))
    held, empty = records(res.stdout)
    assert held["program"]["valid"] is True
    assert empty["program"]["violations"] == [{"step": 0, "verb": "use", "reason": "neither pan nor tap is held",
                                                  "kind": "not-held"}]


def test_every_line_is_accounted_for():
    earlier = json.dumps({"schema": 1, "id": "e", "error": {"stage": "prompt", "message": "quota"}})
    text = lines(clip("ok", "wash_cup", WASH), "not json", json.dumps({"schema": 1, "id": "np"}),
                 earlier, clip("junk", "x", "I cannot do that."))
    res = CliRunner().invoke(cli, [], input=text, prog_name="leap-parse")
    assert res.exit_code == 0
    out = records(res.stdout)
    assert [r["id"] for r in out] == ["ok", None, "np", "e", "junk"]
    assert out[1]["error"] == {"stage": "parse", "message": "not JSON (Expecting value at column 1)",
                               "file": "<stdin>", "line": 2}
    assert out[2]["error"] == {"stage": "parse", "message": "no prompt.response to parse (run leap-prompt first)"}
    assert out[3] == json.loads(earlier)
    assert out[4]["error"]["message"] == "no function definition and no sub-action call in the text"
    for r in out:
        rec.validate(r)
    assert res.stderr == "leap-parse: 5 in, 5 out, 3 errors, 1 earlier errors passed through\n"


def test_strict_turns_invalid_programs_into_errors():
    text = lines(clip("bad", "take_milk", BAD), clip("ok", "wash_cup", WASH))
    res = CliRunner().invoke(cli, ["--strict", "-q"], input=text)
    assert res.exit_code == 0
    bad, ok = records(res.stdout)
    assert bad["error"] == {"stage": "parse", "message":
                            "invalid program: step 1 goto: milk is held, so it is already in the workspace"}
    assert bad["prompt"]["response"] == BAD  # nothing lost
    assert ok["program"]["valid"]
    assert CliRunner().invoke(cli, ["--strict", "--on-error", "fail", "-q"], input=text).exit_code == 1


def test_summary_report(tmp_path):
    text = lines(clip("a", "wash_cup", WASH), clip("b", "take_milk", BAD),
                 clip("c", "take_x", 'def take_x():\n    grasp("spork")\n'), clip("d", "z", "nothing"))
    out = tmp_path / "programs.jsonl"
    res = CliRunner().invoke(cli, ["--summary", "-q", "-o", str(out)], input=text)
    assert res.exit_code == 0
    assert res.stdout == """records: 4
programs parsed: 3
  recovered (with warnings): 0
  invalid (world-state violations): 1
not recoverable: 1
  1 no function definition
errors from earlier stages: 0
quality: valid 66.7%, consistent 66.7%, grounding -, narration_agreement -, event_coverage -
violations by kind: goto-held 1
sub-actions per program: mean 1.67
  1       1 ####################
  2       2 ########################################
  3       0
  4       0
  5       0
  6       0
  7       0
  8       0
  9       0
top verbs: grasp 3, goto 1, use 1
top objects: cup 2, milk 2, spork 1, tap 1
unmapped object names: spork 1
violations by verb: goto 1
"""
    assert len(records(out.read_text())) == 4  # -o still gets the records
    plain = CliRunner().invoke(cli, ["--summary", "-q"], input=text)
    assert plain.stdout == res.stdout  # without -o the report replaces the records


def test_summary_counts_records_passed_through_unparsed(tmp_path):
    # Clips leap-prompt could not answer and unreadable lines are part of the input: a model that
    # fails on many clips must not look perfect in the report.
    failed = json.dumps({"schema": 1, "id": "e", "error": {"stage": "prompt", "message": "budget reached"}})
    text = lines(clip("a", "wash_cup", WASH), failed, "{oops", clip("d", "z", "nothing"))
    res = CliRunner().invoke(cli, ["--summary", "-q"], input=text)
    assert res.exit_code == 0
    assert res.stdout.splitlines()[:8] == [
        "records: 4", "programs parsed: 1", "  recovered (with warnings): 0",
        "  invalid (world-state violations): 0", "not recoverable: 2",
        "  1 no function definition", "  1 not JSON", "errors from earlier stages: 1"]
    assert res.stdout.splitlines()[8] == "  1 leap-prompt"
    # Only this process's share is reported (--ids, --shard, --resume select as the core does).
    res = CliRunner().invoke(cli, ["--summary", "-q", "--ids", "a,d"], input=text)
    assert res.stdout.splitlines()[:7] == [
        "records: 2", "programs parsed: 1", "  recovered (with warnings): 0",
        "  invalid (world-state violations): 0", "not recoverable: 1",
        "  1 no function definition", "errors from earlier stages: 0"]


SUMMARY_INPUT = (clip("a", "wash_cup", WASH), clip("b", "take_milk", BAD),
                 clip("c", "take_x", 'def take_x():\n    grasp("spork")\n'), clip("d", "z", "nothing"))


def test_summary_of_a_resumed_run_covers_the_whole_output(tmp_path):
    # the report is a fold over the output: after --resume it counts the records of the earlier
    # run that -o holds, not just the ones this run added
    text, out = lines(*SUMMARY_INPUT), tmp_path / "programs.jsonl"
    whole = CliRunner().invoke(cli, ["--summary", "-q"], input=text).stdout
    assert CliRunner().invoke(cli, ["-q", "-o", str(out), "--ids", "a,d"], input=text).exit_code == 0
    res = CliRunner().invoke(cli, ["--summary", "-q", "-o", str(out), "--resume"], input=text)
    assert res.exit_code == 0
    assert [r["id"] for r in records(out.read_text())] == ["a", "d", "b", "c"]
    assert res.stdout == whole.replace("records: 4\n", "records: 4 (all that programs.jsonl holds, earlier "
                                       "runs' records too)\n", 1)
    assert res.stdout.splitlines()[1:6] == ["programs parsed: 3", "  recovered (with warnings): 0",
                                            "  invalid (world-state violations): 1", "not recoverable: 1",
                                            "  1 no function definition"]


def test_summary_of_a_resumed_run_counts_the_errors_file_with_on_error_skip(tmp_path):
    # skipped errors live only in --errors: the resumed report counts them; with --on-error record
    # the --errors file is a copy of what -o holds and is not counted twice
    text, out, errs = lines(*SUMMARY_INPUT), tmp_path / "programs.jsonl", tmp_path / "errors.jsonl"
    first = ["-q", "-o", str(out), "--errors", str(errs), "--ids", "a,d"]
    assert CliRunner().invoke(cli, [*first, "--on-error", "skip"], input=text).exit_code == 0
    assert [r["id"] for r in records(out.read_text())] == ["a"] and len(records(errs.read_text())) == 1
    res = CliRunner().invoke(cli, ["--summary", "-q", "-o", str(out), "--errors", str(errs), "--resume",
                                   "--on-error", "skip"], input=text)
    assert res.exit_code == 0
    assert res.stdout.splitlines()[:6] == [
        "records: 4 (all that programs.jsonl and errors.jsonl hold, earlier runs' records too)",
        "programs parsed: 3", "  recovered (with warnings): 0", "  invalid (world-state violations): 1",
        "not recoverable: 1", "  1 no function definition"]
    out.unlink(), errs.unlink()
    assert CliRunner().invoke(cli, first, input=text).exit_code == 0
    assert len(records(out.read_text())) == 2 and len(records(errs.read_text())) == 1
    res = CliRunner().invoke(cli, ["--summary", "-q", "-o", str(out), "--errors", str(errs), "--resume"],
                             input=text)
    assert res.stdout.splitlines()[:6] == [
        "records: 4 (all that programs.jsonl holds, earlier runs' records too)", "programs parsed: 3",
        "  recovered (with warnings): 0", "  invalid (world-state violations): 1", "not recoverable: 1",
        "  1 no function definition"]


def test_summary_counts_what_is_written_skipped_or_fatal(tmp_path):
    text = lines(*SUMMARY_INPUT)
    head = ["records: 4", "programs parsed: 3", "  recovered (with warnings): 0",
            "  invalid (world-state violations): 1", "not recoverable: 1", "  1 no function definition"]
    skip = CliRunner().invoke(cli, ["--summary", "-q", "--on-error", "skip"], input=text)
    assert skip.exit_code == 0 and skip.stdout.splitlines()[:6] == head
    fail = CliRunner().invoke(cli, ["--summary", "-q", "--on-error", "fail"], input=text)
    assert fail.exit_code == 1 and fail.stdout.splitlines()[:6] == head  # d is last: all 4 accounted for
    # --strict: an invalid program is an error record in the output, and counted as one
    strict = CliRunner().invoke(cli, ["--summary", "-q", "--strict"], input=text)
    assert strict.stdout.splitlines()[:8] == [
        "records: 4", "programs parsed: 2", "  recovered (with warnings): 0",
        "  invalid (world-state violations): 0", "not recoverable: 2", "  1 invalid program (--strict)",
        "  1 no function definition", "errors from earlier stages: 0"]


def test_text_mode(tmp_path):
    path = tmp_path / "response.py"
    path.write_text("Here you go:\n```python\n" + WASH + "\n" + BAD + "```\n")
    res = run_tool("leap-parse", "--text", path, "-q")
    assert res.returncode == 0
    a, b = records(res.stdout)
    assert (a["id"], b["id"]) == ("wash_cup", "take_milk")
    assert a["program"]["warnings"] == ["code taken from markdown fences"]
    assert b["program"]["valid"] is False
    for r in (a, b):
        rec.validate(r)
    res = CliRunner().invoke(cli, ["--text", "-", "-q"], input="just words\n")
    (r,) = records(res.stdout)
    assert r["id"] == "<stdin>" and r["error"]["message"] == "no function definition and no sub-action call in the text"


def test_text_and_inputs_together_is_a_usage_error(tmp_path):
    path = tmp_path / "r.py"
    path.write_text(WASH)
    res = run_tool("leap-parse", "--text", path, path)
    assert res.returncode == 2
    assert "give either --text FILE or record files, not both" in res.stderr


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.text(min_size=1, max_size=60).filter(lambda s: s.strip() and "\n" not in s and "\r" not in s),
    st.text(max_size=200).map(lambda t: clip("x", "f", t)),
    st.sampled_from([WASH, BAD, "def f():\n    grasp(cup\n"]).map(lambda t: clip("y", "f", t)),
), min_size=1, max_size=12))
def test_one_output_line_per_input_line(items):
    res = CliRunner().invoke(cli, ["-q"], input=lines(*items))
    assert res.exit_code == 0, res.stderr
    out = [json.loads(line) for line in res.stdout.split("\n") if line]  # not splitlines: U+2028 stays raw
    assert len(out) == len(items)
    assert all(("program" in r) != ("error" in r) for r in out)


def test_light_import_path():
    """leap-parse runs thousands of times under xargs: no heavy module on its import path."""
    import subprocess
    import sys

    code = ("import sys\nfrom click.testing import CliRunner\nfrom leap_cli.commands.parse import cli\n"
            f"res = CliRunner().invoke(cli, ['-q'], input={lines(clip('c1', 'wash_cup', WASH))!r})\n"
            "assert res.exit_code == 0 and '\"program\"' in res.stdout, res.output\n"
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'numpy', 'onnxruntime', 'openai',"
            " 'matplotlib', 'jsonschema') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"


def test_vote_keeps_the_sample_that_agrees_with_the_evidence_and_the_others():
    evidence = {"narration": "take cup", "noun": "cup", "all_nouns": ["cup"], "detect": {"objects": ["cup", "tap"]}}
    a = 'def take_cup():\n    grasp("cup")\n    use("cup", "tap")\n'
    b = 'def take_cup():\n    grasp("cup")\n'
    c = 'def take_cup():\n    grasp("cup")\n    use("cup", "tap")\n    release("cup")\n'
    bad = 'def take_cup():\n    grasp("spork")\n'   # valid, but nothing names a spork
    record = {"schema": 1, "id": "v", **evidence,
              "prompt": {**json.loads(clip("v", "take_cup", bad))["prompt"], "samples": [bad, b, a, c, "junk"]}}
    res = CliRunner().invoke(cli, ["-q", "--vote"], input=json.dumps(record) + "\n")
    assert res.exit_code == 0, res.output
    (out,) = records(res.stdout)
    p = out["program"]
    # a agrees with bad 0, b 1/2, c 2/3: 0.3889; b: 0, 1/2, 1/3: 0.2778; c: 0, 2/3, 1/3: 0.3333
    assert p["vote"] == {"samples": 5, "parsed": 4, "chosen": 2, "agreement": 0.3889,
                         "rule": "evidence first (consistent, then valid, then the rest), then the most "
                                 "agreement with the other samples (mean Jaccard similarity of their sets "
                                 "of sub-actions), then fewer violations, then the lower sample index"}
    assert [s["verb"] for s in p["steps"]] == ["grasp", "use"] and p["consistent"]
    # without --vote: prompt.response (sample 0), and no vote mark
    plain = records(CliRunner().invoke(cli, ["-q"], input=json.dumps(record) + "\n").stdout)[0]["program"]
    assert plain["steps"][0]["objects"] == ["spork"] and "vote" not in plain and not plain["consistent"]
    # no sample recoverable: the first one's error
    none = {**record, "prompt": {**record["prompt"], "samples": ["junk", "more junk"]}}
    err = records(CliRunner().invoke(cli, ["-q", "--vote"], input=json.dumps(none) + "\n").stdout)[0]
    assert err["error"]["message"] == "no function definition and no sub-action call in the text"


def test_vote_with_text_is_a_usage_error(tmp_path):
    f = tmp_path / "r.py"
    f.write_text(WASH)
    res = CliRunner().invoke(cli, ["--vote", "--text", str(f)])
    assert res.exit_code == 2 and "--vote chooses among a record's prompt.samples: not with --text" in res.output


def test_malformed_evidence_is_an_error_record_not_a_crash():
    contact = {"holding_at_start": {"left": None, "right": None},
               "events": [{"t": "soon", "hand": "left", "kind": "grab", "object": "cup"}]}
    res = CliRunner().invoke(cli, ["-q"], input=lines(clip("m", "take_milk", WASH, contact=contact, narration="x")))
    assert res.exit_code == 0
    (out,) = records(res.stdout)
    assert out["error"] == {"stage": "parse",
                            "message": "malformed evidence (ValueError: could not convert string to float: 'soon')"}


def test_text_mode_cuts_each_function_from_the_text_with_the_same_result(tmp_path):
    # --text parses each function from its own lines (linear in the number of functions); the
    # programs, warnings and their line numbers are those of parsing the whole text for it.
    from leap_cli.program.program import parse_program

    text = "\n".join(f"def f{i}():\n    grasp('cup')\n    frobnicate('cup')\n    release('cup')\n" for i in range(30))
    path = tmp_path / "many.py"
    path.write_text(text)
    out = records(run_tool("leap-parse", "--text", path, "-q", check=True).stdout)
    assert [r["id"] for r in out] == [f"f{i}" for i in range(30)]
    for r in out[::7] + out[-1:]:
        whole = parse_program(text, r["id"])
        assert {k: v for k, v in r["program"].items() if k not in ("source", "consistent")} == whole
    assert out[29]["program"]["warnings"] == ["dropped unknown verb 'frobnicate' used as a sub-action (line 148)"]
