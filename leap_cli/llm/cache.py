"""A content-addressed SQLite cache of model answers, safe for many processes at once.

Two tables. ``answers`` holds each clip's function, keyed by what determines it: model, endpoint
host, sampling parameters (not the completion limit: a finished answer does not depend on it),
the hash of the prompt text every query shares (instructions, dialect, library H), the clip's
stub text, the sample index when the temperature is above 0, the exemplars shown (--exemplars)
and, for a self-repair, the answer sent back with its violations. So any re-sharding, re-batching, reordering or subset of the same clips is answered
from it. ``responses`` logs each whole model response for provenance (tokens, cost, finish
reason), keyed by ``sha256:`` + sha256 of the canonical JSON (sorted keys, no spaces) of the
query's model, endpoint host, parameters, messages (and sample index): an identical query is
found there too, which is how caches written before ``answers`` existed keep answering.
WAL mode plus a busy timeout lets ``xargs -P`` processes read and write the same file; each
response is committed as soon as it arrives, so a killed run re-sends no completed query.
The API key is never part of a key or a row.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlparse

from ..records import ClipError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    response TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    duration REAL NOT NULL,
    created REAL NOT NULL,
    via TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    source TEXT NOT NULL,
    response_key TEXT NOT NULL,
    share TEXT NOT NULL,
    warnings TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def default_path() -> str:
    """$LEAP_CACHE, else the user cache dir (XDG_CACHE_HOME or ~/.cache)/leap/prompt.sqlite3."""
    if os.environ.get("LEAP_CACHE"):
        return os.environ["LEAP_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "leap", "prompt.sqlite3")


def endpoint_host(base_url: str | None) -> str:
    """The host (and port) a query goes to: part of the key, never the path's secrets."""
    if not base_url:
        return "api.openai.com"
    u = urlparse(base_url if "//" in base_url else "//" + base_url)
    if not u.hostname:
        return "unknown"
    # hostname and port only: user:password@ in a proxy URL must never reach a key or a record
    return u.hostname + (f":{u.port}" if u.port else "")


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def query_key(model: str, endpoint: str, params: dict, messages: list[dict], sample: int = 0) -> str:
    body = {"model": model, "endpoint": endpoint, "params": params, "messages": messages}
    if (params.get("temperature") or 0) > 0:
        body["sample"] = sample  # several samples at a temperature are different queries
    return "sha256:" + hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def clip_key(model: str, endpoint: str, params: dict, prompt: str, stub: str, sample: int = 0,
             exemplars: list[str] | None = None, repair: str | None = None) -> str:
    """The key of one clip's answer: ``prompt`` is the shared prompt text's hash, ``stub`` the
    clip's stub text; ``exemplars`` (names of the examples shown, when chosen per clip);
    ``repair`` (--repair: the hash of the answer sent back and its violations)."""
    body = {"kind": "answer", "model": model, "endpoint": endpoint, "prompt": prompt, "stub": stub,
            "params": {k: v for k, v in params.items() if k != "max_tokens"}}
    if (params.get("temperature") or 0) > 0:
        body["sample"] = sample
    if exemplars:
        body["exemplars"] = list(exemplars)
    if repair:
        body["repair"] = repair
    return "sha256:" + hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


@dataclass
class Answer:
    """One clip's function as cached: its name when asked, source, the response it came from,
    the clip's share of that response's usage, and what leap-prompt repaired in it."""

    function: str
    source: str
    response_key: str
    share: dict
    warnings: list


@dataclass
class Entry:
    response: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: float
    duration: float
    created: float
    via: str
    finish_reason: str | None = None  # None: not recorded (caches written before it was)


class Cache:
    """Get and put responses by key; one connection per thread (sqlite3 objects are not shared)."""

    def __init__(self, path: str):
        self.path = path
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self._local = threading.local()
        self._conn()  # create the file and table now: a bad path fails before any query

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
                conn.execute("PRAGMA busy_timeout=60000")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(responses)")}
                if "finish_reason" not in columns:  # a cache from before: migrate in place
                    try:
                        conn.execute("ALTER TABLE responses ADD COLUMN finish_reason TEXT")
                    except sqlite3.OperationalError:  # another process added it first
                        pass
            except sqlite3.DatabaseError as e:  # not SQLite, or damaged: say which file
                raise ClipError(f"{self.path}: not a usable response cache ({e}); move it away or "
                                "give --cache another file") from None
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Entry | None:
        row = self._conn().execute(
            "SELECT response, prompt_tokens, completion_tokens, cached_tokens, cost, duration, "
            "created, via, finish_reason FROM responses WHERE key = ?", (key,)).fetchone()
        return Entry(*row) if row else None

    def put(self, key: str, model: str, endpoint: str, entry: Entry) -> None:
        # INSERT OR IGNORE: another process that answered the same query first wins; both agree.
        self._conn().execute(
            "INSERT OR IGNORE INTO responses (key, model, endpoint, response, prompt_tokens, "
            "completion_tokens, cached_tokens, cost, duration, created, via, finish_reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, model, endpoint, entry.response, entry.prompt_tokens, entry.completion_tokens,
             entry.cached_tokens, entry.cost, entry.duration, entry.created or time.time(),
             entry.via, entry.finish_reason))

    def answer(self, key: str) -> Answer | None:
        row = self._conn().execute("SELECT function, source, response_key, share, warnings "
                                   "FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return Answer(row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4]))
        except ValueError:  # a damaged row is a miss: asked again, then replaced
            return None

    def put_answer(self, key: str, answer: Answer) -> None:
        # REPLACE: a row found unusable on reading is overwritten by the new answer.
        self._conn().execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, answer.function, answer.source, answer.response_key, canonical(answer.share),
             canonical(answer.warnings), time.time()))

    def keys(self) -> set[str]:
        return {k for (k,) in self._conn().execute("SELECT key FROM responses")}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
