"""A content-addressed SQLite cache of model responses, safe for many processes at once.

Key: ``sha256:`` + sha256 of the canonical JSON (sorted keys, no spaces) of the query's model,
endpoint host, parameters, messages and, when the temperature is above 0, the sample index.
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
)
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
                conn.execute(_SCHEMA)
            except sqlite3.DatabaseError as e:  # not SQLite, or damaged: say which file
                raise ClipError(f"{self.path}: not a usable response cache ({e}); move it away or "
                                "give --cache another file") from None
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Entry | None:
        row = self._conn().execute(
            "SELECT response, prompt_tokens, completion_tokens, cached_tokens, cost, duration, "
            "created, via FROM responses WHERE key = ?", (key,)).fetchone()
        return Entry(*row) if row else None

    def put(self, key: str, model: str, endpoint: str, entry: Entry) -> None:
        # INSERT OR IGNORE: another process that answered the same query first wins; both agree.
        self._conn().execute(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, model, endpoint, entry.response, entry.prompt_tokens, entry.completion_tokens,
             entry.cached_tokens, entry.cost, entry.duration, entry.created or time.time(),
             entry.via))

    def keys(self) -> set[str]:
        return {k for (k,) in self._conn().execute("SELECT key FROM responses")}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
