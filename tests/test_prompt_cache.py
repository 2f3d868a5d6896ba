"""leap-prompt's per-clip answer cache: any grouping of cached clips sends nothing; old caches hit."""
from __future__ import annotations

import json
import sqlite3

from conftest import records
from prompt_server import Server
from test_prompt import clips, prompt, server  # noqa: F401 - fixtures

SEND = ["--follow-ups", "0"]


def body(r: dict) -> str:
    """A clip's function below its def line (its name depends on the other clips of its query)."""
    head, rest = r["prompt"]["response"].split("\n", 1)
    assert head.startswith(f"def {r['prompt']['function']}(")
    return rest


def lines(path):
    return path.read_text().splitlines(keepends=True)


def test_resharding_rebatching_reordering_and_subsets_send_nothing(clips, tmp_path, server):
    cache = tmp_path / "c.sqlite3"
    full = prompt(clips, "--batch-size", "5", server=server, cache=cache)
    assert full.returncode == 0, full.stderr
    n = len(server.log)
    assert n == 10
    want = {r["id"]: body(r) for r in records(full.stdout)}
    every = lines(clips)
    shards = [every[k::2] for k in range(2)] + [every[k::3] for k in range(3)]
    shards += [every[::-1], every[7:19]]  # reversed, a subset
    for k, (shard, size) in enumerate(zip(shards, (7, 7, 3, 3, 3, 35, 4))):
        path = tmp_path / f"shard{k}.jsonl"
        path.write_text("".join(shard))
        proc = prompt(path, "--batch-size", str(size), server=server, cache=cache)
        assert proc.returncode == 0, proc.stderr
        got = records(proc.stdout)
        assert len(got) == len(shard) and all("error" not in r for r in got)
        assert {r["id"]: body(r) for r in got} == {r["id"]: want[r["id"]] for r in got}
        assert all(r["prompt"]["cached"] for r in got)
        assert f"0 requests, 0 cached, {len(shard)} clips answered from the cache" in proc.stderr
    assert len(server.log) == n  # 0 requests for every shard


def test_partly_cached_query_asks_only_for_the_missing_stubs(clips, tmp_path, server):
    cache = tmp_path / "c.sqlite3"
    every = lines(clips)
    part = tmp_path / "part.jsonl"
    part.write_text("".join(every[:20:2]))  # 10 of the first 20 clips
    assert prompt(part, server=server, cache=cache).returncode == 0
    first = records(prompt(part, server=server, cache=cache).stdout)
    wanted = tmp_path / "twenty.jsonl"
    wanted.write_text("".join(every[:20]))
    proc = prompt(wanted, server=server, cache=cache)
    assert proc.returncode == 0, proc.stderr
    assert len(server.log) == 2
    asked = server.log[-1]["stubs"]
    out = records(proc.stdout)
    assert asked == [r["prompt"]["function"] for r in out[1::2]]  # exactly the 10 not cached
    assert [r["prompt"]["cached"] for r in out] == [True, False] * 10
    assert [body(r) for r in out[::2]] == [body(r) for r in first]
    assert "1 requests, 0 cached, 10 clips answered from the cache" in proc.stderr


def test_a_cache_from_before_the_answer_table_is_read_not_paid_again(clips, tmp_path, server):
    """A cache of whole responses only (the schema before this one, keyed without the default
    completion limit) still answers identical queries, and gains the answers table."""
    cache = tmp_path / "c.sqlite3"
    from leap_cli import llm

    backend = llm.choose_backend("gpt-4o", server.url, print, print)
    p = llm.make_prompter(backend, cache_path=str(cache), no_cache=False, prices=None, max_cost=None)
    p.cache.close()
    first = prompt(clips, server=server, cache=cache)
    assert first.returncode == 0 and len(server.log) == 2
    queries = list(p.queries(records(clips.read_text())))
    db = sqlite3.connect(cache)
    rows = {k: row for k, *row in db.execute("SELECT key, model, endpoint, response, prompt_tokens, "
                                            "completion_tokens, cached_tokens, cost, duration, "
                                            "created, via FROM responses")}
    db.executescript("DROP TABLE answers; DROP TABLE responses; CREATE TABLE responses ("
                     "key TEXT PRIMARY KEY, model TEXT NOT NULL, endpoint TEXT NOT NULL, "
                     "response TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens "
                     "INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, cost REAL NOT NULL, "
                     "duration REAL NOT NULL, created REAL NOT NULL, via TEXT NOT NULL)")
    for query in queries:  # the old key: no max_tokens in the parameters
        db.execute("INSERT INTO responses VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                   (query.extra["legacy_key"], *rows[query.key]))
    db.commit()
    db.close()
    again = prompt(clips, server=server, cache=cache)
    assert again.returncode == 0, again.stderr
    assert len(server.log) == 2 and "0 requests, 2 cached, 0 clips answered" in again.stderr
    assert [r["prompt"]["response"] for r in records(again.stdout)] == \
        [r["prompt"]["response"] for r in records(first.stdout)]
    # Migrated: the answers are now per clip, so another batch size still sends nothing.
    third = prompt(clips, "--batch-size", "6", server=server, cache=cache)
    assert len(server.log) == 2 and "50 clips answered from the cache" in third.stderr
    columns = [r[1] for r in sqlite3.connect(cache).execute("PRAGMA table_info(responses)")]
    assert columns[-1] == "finish_reason"


def test_a_truncated_answer_never_finishes_its_last_function(clips, tmp_path):
    s = Server(script=["length"]).start()
    try:
        proc = prompt(clips, "--ids", "P01_01_0,P01_01_1,P01_01_2", server=s, cache=tmp_path / "c.sqlite3")
        assert proc.returncode == 0, proc.stderr
        out = records(proc.stdout)
        assert [r["prompt"]["follow_up"] for r in out] == [0, 0, 1]
        assert [r["prompt"]["finish_reason"] for r in out] == ["length", "length", "stop"]
        assert [r["stubs"] for r in s.log] == [["open_door", "turn_on_light", "close_door"], ["close_door"]]
        assert "close_door: cut off at the completion limit" in s.log[1]["messages_tail"]
        # No --max-tokens: a completion limit sized from the stubs (256 + 2 * 254 a stub).
        assert [r["params"]["max_tokens"] for r in s.log] == [256 + 3 * 508, 256 + 508]
    finally:
        s.stop()


def test_echoed_stubs_and_library_copies_are_missing_and_asked_again(clips, tmp_path):
    s = Server(script=["echo", "copy", "copy"]).start()
    try:
        proc = prompt(clips, "--ids", "P01_01_0,P01_01_1", "--follow-ups", "1", server=s,
                      cache=tmp_path / "c.sqlite3")
        assert proc.returncode == 0, proc.stderr
        out = records(proc.stdout)
        assert [r["error"]["message"] for r in out] == [
            f"function {n}: a copy of library example put_plate in the model's answer after 1 follow-up queries"
            for n in ("open_door", "turn_on_light")]
        # round 1 says what was wrong (no body) and asks in halves
        assert [r["stubs"] for r in s.log] == [["open_door", "turn_on_light"], ["open_door"], ["turn_on_light"]]
        assert "(open_door: no body)" in s.log[1]["messages_tail"]
        again = prompt(clips, "--ids", "P01_01_0,P01_01_1", "--follow-ups", "2", server=s,
                       cache=tmp_path / "c.sqlite3")
        out = records(again.stdout)
        assert [r["prompt"]["follow_up"] for r in out] == [2, 2] and len(s.log) == 5
        assert "(open_door: a copy of library example put_plate)" in s.log[3]["messages_tail"]
    finally:
        s.stop()


def test_follow_up_rounds_differ_and_say_what_was_wrong():
    from leap_cli.llm import query, stub

    stubs = stub.stubs_for([{"id": "a", "narration": "put plate", "start": 0, "stop": 1}])
    assert stubs[0].name == "put_plate_2"  # never a library example's name
    one = query.build(stubs, 1, why={"put_plate_2": query.NO_BODY})
    two = query.build(stubs, 2, why={"put_plate_2": query.TRUNCATED})
    assert one.messages != two.messages != query.build(stubs, 0).messages
    assert "# Follow-up 2. These functions were not usable in your previous answer " \
           "(put_plate_2: cut off at the completion limit)." in two.messages[-1]["content"]


def test_repairs_are_warnings_that_leap_parse_counts(clips, tmp_path):
    s = Server(script=["prose"]).start()
    try:
        proc = prompt(clips, "--ids", "P01_01_0,P01_01_2", server=s, cache=tmp_path / "c.sqlite3")
        out = records(proc.stdout)
        assert [r["prompt"]["warnings"] for r in out] == [["code taken from markdown fences"]] * 2
        from conftest import run_tool

        parsed = run_tool("leap-parse", "--summary", "-o", tmp_path / "p.jsonl",
                          input="".join(json.dumps(r) + "\n" for r in out))
        progs = records((tmp_path / "p.jsonl").read_text())
        assert len(progs) == 2
        assert all(p["program"]["warnings"][0] == "leap-prompt: " + out[0]["prompt"]["warnings"][0] for p in progs)
        assert "recovered (with warnings): 2" in parsed.stdout
    finally:
        s.stop()


def test_renamed_functions_are_matched_in_order_and_said(clips, tmp_path):
    s = Server(script=["renamed"]).start()
    try:
        proc = prompt(clips, "--ids", "P01_01_0,P01_01_1", server=s, cache=tmp_path / "c.sqlite3")
        out = records(proc.stdout)
        assert len(s.log) == 1 and [r["prompt"]["function"] for r in out] == ["open_door", "turn_on_light"]
        assert [r["prompt"]["warnings"] for r in out] == [["renamed function clip_0 to open_door"],
                                                         ["renamed function clip_1 to turn_on_light"]]
        assert out[1]["prompt"]["response"].startswith("def turn_on_light(start_t=0, stop_t=")
    finally:
        s.stop()


def test_an_unusable_cached_answer_is_asked_again(clips, tmp_path, server):
    cache = tmp_path / "c.sqlite3"
    assert prompt(clips, "--ids", "P01_01_0", server=server, cache=cache).returncode == 0
    db = sqlite3.connect(cache)
    db.execute("UPDATE answers SET source = 'def open_door(start_t=0, stop_t=1):\n    # nothing\n'")
    db.execute("DELETE FROM responses")  # (else the whole response answers the same query)
    db.commit()
    db.close()
    proc = prompt(clips, "--ids", "P01_01_0", server=server, cache=cache)
    assert proc.returncode == 0 and len(server.log) == 2, proc.stderr
    assert "1 requests, 0 cached, 0 clips answered from the cache" in proc.stderr
    assert "release(" in records(proc.stdout)[0]["prompt"]["response"]


def test_batch_submit_leaves_out_clips_already_answered(clips, tmp_path, server):
    cache = tmp_path / "c.sqlite3"
    part = tmp_path / "part.jsonl"
    part.write_text("".join(lines(clips)[:10]))
    assert prompt(part, "--batch-size", "5", server=server, cache=cache).returncode == 0
    again = prompt("--batch", "submit", "--batch-size", "7", part, server=server, cache=cache)
    assert again.returncode == 0 and not again.stdout and "already cached" in again.stderr
    more = prompt("--batch", "submit", "--batch-size", "7", clips, server=server, cache=cache)
    assert more.stdout == "batch_1\n"
    asked = [json.loads(x) for x in next(iter(server.files.values())).decode().splitlines()]
    from prompt_server import stubs_in

    assert sum(len(stubs_in(x["body"]["messages"])) for x in asked) == 40  # the 40 not answered
