"""leap-prompt --repair: answers the checker faults go back with their violations, the better kept."""
from __future__ import annotations

from conftest import records, run_tool
from prompt_server import Server
from test_prompt import clips, prompt  # noqa: F401 - fixture

# Two clips with evidence (their first object: the noun) and one with a narration only.
IDS = ("--ids", "P01_01_1,P01_01_3,P01_01_0", "--batch-size", "3")


def parsed(stdout: str) -> list[dict]:
    return records(run_tool("leap-parse", input=stdout, check=True).stdout)


def test_faulted_answers_go_back_once_by_default_and_the_better_is_kept(clips, tmp_path):
    s = Server(script=["ok", "grounded"]).start()  # cup programs, then grounded repairs
    cache = tmp_path / "c.sqlite3"
    try:
        proc = prompt(clips, *IDS, server=s, cache=cache, repair=None)
        assert proc.returncode == 0, proc.stderr
        assert len(s.log) == 2 and [r["outcome"] for r in s.log] == ["ok", "grounded"]
        sent = s.log[1]["messages_tail"]
        assert s.log[1]["stubs"] == s.log[0]["stubs"] == ["open_door", "turn_on_light", "open_fridge_2"]
        assert "so that none of them remains.\n\n# Violations in open_door:\n" in sent  # every one faulted
        assert "#   - step 1 grasp(cup): no evidence or narration names cup\n" in sent
        out = records(proc.stdout)
        marks = [r["prompt"]["repair"] for r in out]
        # turn_on_light's repair grasps the light (a switch: cannot be held): invalid, so not kept
        assert [m["kept"] for m in marks] == ["repaired", "original", "repaired"]
        assert [(m["violations_before"], m["violations_after"]) for m in marks] == [(2, 0), (2, 1), (2, 0)]
        assert {m["round"] for m in marks} == {1} and len({m["key"] for m in marks}) == 1  # one query
        assert [r["prompt"]["cache_key"] == m["key"] for r, m in zip(out, marks)] == [True, False, True]
        assert ["cup" in r["prompt"]["response"] for r in out] == [False, True, False]
        assert [r["prompt"].get("warnings", ["-"])[-1] for r in out] == [
            "self-repair 1: 2 checker violations -> 0, kept the repaired answer", "-",
            "self-repair 1: 2 checker violations -> 0, kept the repaired answer"]
        assert "1 repair queries, 0 repairs cached (2 answers improved)" in proc.stderr
        programs = [r["program"] for r in parsed(proc.stdout)]
        assert [p["consistent"] for p in programs] == [True, False, True]
        assert [p["steps"][0]["objects"] for p in programs] == [["cupboard"], ["cup"], ["fridge"]]  # door: EPIC class cupboard
        assert "leap-prompt: self-repair 1: 2 checker violations -> 0, kept the repaired answer" \
            in programs[0]["warnings"]

        again = prompt(clips, *IDS[:2], "--batch-size", "2", server=s, cache=cache, repair=None)
        assert again.returncode == 0 and len(s.log) == 2, again.stderr  # all from the cache
        assert "3 clips answered from the cache, 0 follow-ups, 0 repair queries, 3 repairs cached " \
            "(2 answers improved)" in again.stderr
        assert [r["prompt"]["response"] for r in records(again.stdout)] == \
            [r["prompt"]["response"] for r in out]
        assert [r["prompt"]["repair"] for r in records(again.stdout)] == marks
    finally:
        s.stop()


def test_a_repair_no_better_keeps_the_first_answer_and_is_not_asked_again(clips, tmp_path):
    with_repair = Server().start()  # the repair answers are the same cup programs
    try:
        proc = prompt(clips, *IDS, "--repair", "3", server=with_repair, cache=tmp_path / "c.sqlite3")
        assert proc.returncode == 0, proc.stderr
        assert len(with_repair.log) == 2  # round 2 and 3: nothing was improved to send back
        out = records(proc.stdout)
        assert {r["prompt"]["repair"]["kept"] for r in out} == {"original"}
        assert all(r["prompt"]["repair"]["violations_after"] == r["prompt"]["repair"]["violations_before"]
                   for r in out)
        assert all("self-repair" not in " ".join(r["prompt"].get("warnings", [])) for r in out)
        assert "1 repair queries, 0 repairs cached (0 answers improved)" in proc.stderr
        # the clips' usage adds up to both queries' (each clip holds its share of each)
        total = int(proc.stderr.split("tokens ")[1].split(" in")[0])
        assert abs(sum(r["prompt"]["usage"]["prompt_tokens"] for r in out) - total) <= 1
    finally:
        with_repair.stop()


def test_repair_0_sends_nothing_back_and_the_rules_model_refuses_it(clips, tmp_path):
    s = Server().start()
    try:
        proc = prompt(clips, *IDS, server=s, cache=tmp_path / "c.sqlite3")  # the helper's --repair 0
        assert proc.returncode == 0 and len(s.log) == 1, proc.stderr
        assert all("repair" not in r["prompt"] for r in records(proc.stdout))
        assert "repair queries" not in proc.stderr
    finally:
        s.stop()
    rules = prompt(clips, "-m", "rules", "--repair", "1", cache=tmp_path / "c.sqlite3")
    assert rules.returncode == 2
    assert "Error: --repair: the rules model's programs already pass the checker" in rules.stderr
