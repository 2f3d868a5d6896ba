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
