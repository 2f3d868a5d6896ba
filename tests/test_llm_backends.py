"""Backend pieces without a server: Retry-After bounds, secret scrubbing, price-table checks."""
from __future__ import annotations

import email.utils
import json
import time

import httpx2 as httpx
import openai
import pytest

from leap_cli.llm import backends, cost
from leap_cli.llm.backends import BackendError, OpenAIBackend, retry_after, scrub
from leap_cli.llm.query import Query

KEY = "sk-test-NEVER-WRITE-THIS-77aa"


@pytest.mark.parametrize("headers, wait", [
    ({"retry-after": "2.5"}, 2.5),
    ({"retry-after-ms": "250"}, 0.25),
    ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),   # a bad ms value falls back to seconds
    ({"retry-after": "soon"}, None),                          # neither seconds nor a date: ignored
    ({"retry-after": "Mon, 99 Foo 2026 99:99:99 GMT"}, None),
    ({"retry-after": "nan"}, None), ({"retry-after": "inf"}, None), ({"retry-after-ms": "nan"}, None),
    ({"retry-after": "-5"}, 0.0),
    ({"retry-after": "86400"}, backends.RETRY_AFTER_MAX),     # capped
    ({}, None), (None, None),
])
def test_retry_after_is_bounded(headers, wait):
    assert retry_after(headers) == wait


def test_retry_after_date_and_cap():
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after({"retry-after": later}) <= 30
    assert retry_after({"retry-after": later}, cap=5.0) == 5.0
    assert OpenAIBackend("m", timeout=7.0).retry_cap == 7.0
    assert OpenAIBackend("m").retry_cap == backends.RETRY_AFTER_MAX


def test_scrub_removes_key_and_bearer_tokens(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    text = f'bad key {KEY}; header "Authorization: Bearer abc.DEF-123" and bearer\txyz'
    assert scrub(text) == 'bad key ***; header "Authorization: Bearer ***" and Bearer ***'


def _status_error(cls, status: int, body: str, headers=None):
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    response = httpx.Response(status, request=request, headers=headers or {}, text=body)
    return cls(body, response=response, body=None)


class _Client:
    """Raises the given errors in turn from chat.completions.create."""

    def __init__(self, errors):
        self.errors = list(errors)
        self.chat = self
        self.completions = self

    def create(self, **body):
        raise self.errors.pop(0)


def test_server_error_text_is_scrubbed_and_retry_after_garbage_ignored(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    logged, slept = [], []
    b = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", retries=2, backoff=0.5,
                      sleep=slept.append, log=logged.append)
    b._client = _Client([
        _status_error(openai.RateLimitError, 429, "slow down", {"retry-after": "whenever"}),
        _status_error(openai.RateLimitError, 429, "slow down", {"retry-after": "86400"}),
        _status_error(openai.BadRequestError, 400, f"invalid request with key {KEY} (Bearer {KEY})"),
    ])
    with pytest.raises(BackendError) as e:
        b.complete(Query([{"role": "user", "content": "x"}], []))
    assert KEY not in str(e.value) and "400 from 127.0.0.1:9" in str(e.value)
    assert "invalid request with key *** (Bearer ***)" in str(e.value)
    assert e.value.retryable is False      # a 4xx: the same query would be refused again
    assert 0.25 <= slept[0] <= 0.75          # garbage Retry-After: our own backoff
    assert slept[1] == backends.RETRY_AFTER_MAX
    assert len(logged) == 2


@pytest.mark.parametrize("row, message", [
    ({"input": -1, "output": 1}, "model m input: -1 is not a price (a finite number >= 0)"),
    ({"input": 1, "output": float("nan")}, "model m output: nan is not a price"),
    ({"input": 1, "output": "2"}, "model m output: '2' is not a price"),
    ({"input": 1, "output": 2, "cached_input": -0.5}, "model m cached_input: -0.5 is not a price"),
    ({"input": 1}, 'model m: needs "input" and "output"'),
])
def test_bad_price_tables_are_refused(tmp_path, row, message):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"models": {"m": row}}))
    with pytest.raises(cost.PriceError) as e:
        cost.load(str(path))
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)


def test_price_table_that_is_not_json(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{models")
    with pytest.raises(cost.PriceError, match="not a JSON price table"):
        cost.load(str(path))
    path.write_text(json.dumps({"models": {"m": {"input": 1, "output": 2}}, "batch_discount": -1}))
    with pytest.raises(cost.PriceError, match="batch_discount: -1 is not a price"):
        cost.load(str(path))
    assert cost.load(None).price("gpt-4o") is not None      # the shipped table passes its own checks


def test_unreachable_only_for_refused_or_unknown_hosts():
    import socket

    def chained(inner):
        try:
            try:
                raise inner
            except OSError as e:
                raise RuntimeError("connect") from e
        except RuntimeError as outer:
            return outer

    assert backends._unreachable(chained(ConnectionRefusedError(111, "refused"))) == "connection refused"
    assert backends._unreachable(chained(socket.gaierror(-2, "unknown"))) == "unknown host"
    assert backends._unreachable(chained(ConnectionResetError(104, "reset"))) is None


def test_hostile_answers_are_missing_functions_from_any_thread():
    from concurrent.futures import ThreadPoolExecutor

    from leap_cli.llm import query

    deep = "def f(start_t=0, stop_t=1):\n    return " + "(" * 100_000 + ")" * 100_000 + "\n"
    good = "def f(start_t=0, stop_t=1):\n    grasp('cup')\n"
    assert query.parses(deep) is False and query.parses("def f():\n    # only a comment\n") is False
    with ThreadPoolExecutor(8) as pool:  # parsing is serialised (SystemError on 3.11 otherwise)
        got = list(pool.map(query.parses, [good, deep, "def f(:\n"] * 40))
    assert got == [True, False, False] * 40
