"""Model backends: any OpenAI-compatible endpoint, and the offline ``rules`` model.

The API key comes from ``OPENAI_API_KEY`` only: it is never a flag, never logged, never cached.
The ``openai`` package is imported when a remote backend is first built, not at start-up.
"""
from __future__ import annotations

import email.utils
import math
import os
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from . import rules
from .cache import endpoint_host
from .query import Query


# Connecting has its own short budget: --timeout is for the answer (time in the server's queue
# included), and a port that accepts nothing must not hold a query for --timeout seconds.
CONNECT_TIMEOUT = 10.0


class BackendError(Exception):
    """A query failed for good (after retries): its clips become error records, ``retryable``
    when a later run may succeed (timeouts, connection errors, 429, 5xx), not for a 4xx."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class FatalBackendError(Exception):
    """Every query would fail the same way (bad key, unknown model): stop the run."""


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    duration: float = 0.0
    attempts: int = 1
    finish_reason: str | None = None  # "length": cut off by the completion limit


class RulesBackend:
    """The offline deterministic model (no key, no network, nothing to cache)."""

    model = rules.MODEL
    endpoint = "offline"
    cacheable = False
    params: dict = {}

    def complete(self, query: Query) -> Completion:
        t0 = time.perf_counter()
        text = rules.respond(query.stubs, echo=bool(query.extra.get("echo")))
        return Completion(text, duration=time.perf_counter() - t0)


RETRY_AFTER_MAX = 60.0  # seconds: a server asking for longer (86400) waits this long, then retries


def retry_after(headers, cap: float = RETRY_AFTER_MAX) -> float | None:
    """Seconds a 429/503 asks us to wait (retry-after-ms, Retry-After seconds or HTTP date), at
    most ``cap``; None (our own backoff) for a value that is none of these, NaN or negative."""
    if headers is None:
        return None
    wait = None
    ms = headers.get("retry-after-ms")
    if ms:
        wait = _seconds(ms, 1000)
    value = headers.get("retry-after")
    if wait is None and value:
        wait = _seconds(value, 1)
        if wait is None:
            try:
                when = email.utils.parsedate_to_datetime(value)
                wait = when.timestamp() - time.time() if when else None
            except (TypeError, ValueError, OverflowError, IndexError):
                wait = None
    return None if wait is None else min(cap, max(0.0, wait))


def _seconds(text: str, per_second: float) -> float | None:
    try:
        value = float(text) / per_second
    except (TypeError, ValueError):
        return None
    return value if value == value and value != float("inf") else None  # NaN / inf: ignored


_BEARER = re.compile(r"Bearer\s+[^\s\"',;)\]}]+", re.I)


def scrub(text: str) -> str:
    """Server text with the API key and any ``Bearer ...`` token replaced by ``***`` (error bodies
    sometimes echo the request's Authorization header)."""
    key = os.environ.get("OPENAI_API_KEY")
    if key and len(key) >= 4:
        text = text.replace(key, "***")
    return _BEARER.sub("Bearer ***", text)


class Gate:
    """At most ``limit`` requests in flight; halved (down to 1) after a timeout, so a server that
    answers one request at a time stops timing out requests that only waited in its queue."""

    def __init__(self, limit: int):
        self.limit, self.busy = max(1, limit), 0
        self.cond = threading.Condition()

    def __enter__(self):
        with self.cond:
            self.cond.wait_for(lambda: self.busy < self.limit)
            self.busy += 1

    def __exit__(self, *exc):
        with self.cond:
            self.busy -= 1
            self.cond.notify_all()

    def narrow(self) -> int | None:
        """Halve the limit; the new limit, or None when it was 1 already."""
        with self.cond:
            if self.limit == 1:
                return None
            self.limit = max(1, self.limit // 2)
            return self.limit


@dataclass
class OpenAIBackend:
    """Chat completions on an OpenAI-compatible endpoint, with retries, backoff and jitter.

    ``model`` None: the one model the server lists at /v1/models (asked when first needed)."""

    name: str | None
    base_url: str | None = None
    temperature: float = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    retries: int = 6
    timeout: float = 600.0
    backoff: float = 1.0        # first wait in seconds; doubles per attempt, with jitter
    backoff_max: float = 60.0
    jobs: int = 1               # requests in flight at most (narrowed after timeouts)
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] = field(default=lambda message: None)
    cacheable = True

    def __post_init__(self):
        self.endpoint = endpoint_host(self.base_url)
        self._client = None
        self._reached = False  # an answer came back once: later refusals are the server's hiccups
        self.gate = Gate(self.jobs)
        self.http_requests = 0      # every HTTP attempt, retries and failures included
        self.served: set[str] = set()  # the model names the responses gave
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        if self.name is None:
            self.name = self.listed_model()
        return self.name

    @property
    def url(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

    @property
    def params(self) -> dict:
        """The request parameters that change an answer (part of the cache key)."""
        p = {"temperature": self.temperature}
        if self.max_tokens is not None:
            p["max_tokens"] = self.max_tokens
        if self.seed is not None:
            p["seed"] = self.seed
        return p

    @property
    def retry_cap(self) -> float:
        """The longest Retry-After honoured: RETRY_AFTER_MAX, or --timeout when shorter."""
        return min(RETRY_AFTER_MAX, self.timeout)

    def client(self):
        if self._client is None:
            import openai

            key = os.environ.get("OPENAI_API_KEY")
            if not key and not self.base_url:
                raise FatalBackendError("no OPENAI_API_KEY in the environment (set it, or use "
                                        "--base-url for a local server, or -m rules)")
            # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one.
            timeout = openai.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT))
            self._client = openai.OpenAI(api_key=key or "unused", base_url=self.base_url,
                                         timeout=timeout, max_retries=0)
        return self._client

    def listed_model(self) -> str:
        """The model a server without -m serves: the only one its /v1/models lists."""
        import openai

        try:
            self._count()
            ids = sorted(m.id for m in self.client().models.list())
        except openai.APIConnectionError as e:
            raise FatalBackendError(self._cannot_reach(_unreachable(e))) from None
        except openai.APIError as e:
            raise FatalBackendError(f"cannot list the models of {self.url} ({_short(e)}): "
                                    "name one with -m") from None
        if len(ids) != 1:
            raise FatalBackendError(f"{self.url} serves {len(ids)} models"
                                    + (f" ({', '.join(ids[:10])})" if ids else "")
                                    + ": name one with -m")
        self.log(f"leap-prompt: model {ids[0]} (the one {self.url} serves)")
        return ids[0]

    def body(self, messages: list[dict], sample: int = 0, max_tokens: int | None = None) -> dict:
        """The chat-completions request body (also the Batch API's line body); sample k of a
        --seed run is sent seed + k (the same seed would give the same answer); ``max_tokens``:
        the query's own completion limit, used when --max-tokens is not given."""
        body = {"model": self.model, "messages": messages, **self.params}
        if max_tokens is not None and self.max_tokens is None:
            body["max_tokens"] = max_tokens
        if sample and self.seed is not None:
            body["seed"] = self.seed + sample
        return body

    def complete(self, query: Query) -> Completion:
        import openai

        client = self.client()
        last = "no attempt"
        for attempt in range(self.retries + 1):
            wait = None
            t0 = time.perf_counter()
            try:
                with self.gate:
                    self._count()
                    resp = client.chat.completions.create(
                        **self.body(query.messages, query.sample, query.extra.get("max_tokens")))
                text = resp.choices[0].message.content if resp.choices else None
                if text is None:
                    raise ValueError("response without message content")
                self._reached = True
                if getattr(resp, "model", None):
                    with self._lock:
                        self.served.add(str(resp.model))
                return completion_from(resp.usage, text, time.perf_counter() - t0, attempt + 1,
                                       resp.choices[0].finish_reason)
            except openai.RateLimitError as e:
                last, wait = "429 rate limited", retry_after(e.response.headers, self.retry_cap)
            except openai.APIStatusError as e:
                if e.status_code in (401, 403):
                    raise FatalBackendError(f"{e.status_code} from {self.endpoint}: the key was "
                                            "refused (check OPENAI_API_KEY)") from None
                if e.status_code == 404:
                    raise FatalBackendError(f"404 from {self.endpoint}: unknown model "
                                            f"{self.model!r} or wrong --base-url") from None
                if e.status_code < 500 and e.status_code not in (408, 409):
                    raise BackendError(f"{e.status_code} from {self.endpoint}: {_short(e)}",
                                       retryable=False) from None
                last = f"{e.status_code} from {self.endpoint}"
                wait = retry_after(e.response.headers, self.retry_cap)
            except openai.APITimeoutError:
                last = f"timeout after {self.timeout:g} s"
                narrowed = self.gate.narrow()
                if narrowed:
                    self.log(f"leap-prompt: {self.endpoint} timed out: at most {narrowed} "
                             "requests in flight from now on")
            except openai.APIConnectionError as e:
                last = f"connection error ({_short(e)})"
                if attempt and not self._reached and _unreachable(e):
                    raise FatalBackendError(self._cannot_reach(_unreachable(e))) from None
            except (openai.APIResponseValidationError, ValueError, KeyError, IndexError,
                    AttributeError, TypeError) as e:
                last = f"bad response ({type(e).__name__})"
            if attempt == self.retries:
                break
            if wait is None:  # (a Retry-After is already capped; --timeout bounds it too)
                wait = min(self.backoff_max, self.backoff * 2 ** attempt) * (0.5 + random.random())
            self.log(f"leap-prompt: {last}; retry {attempt + 1}/{self.retries} in {wait:.2f} s")
            self.sleep(wait)
        raise BackendError(f"query failed after {self.retries + 1} attempts: {last}", retryable=True)

    def _count(self) -> None:
        with self._lock:
            self.http_requests += 1

    def _cannot_reach(self, reason: str | None) -> str:
        return (f"cannot reach {self.base_url or 'the OpenAI API'}: {reason or 'connection error'} "
                "(is the server running? check --base-url or OPENAI_BASE_URL)")


def completion_from(usage, text: str, duration: float = 0.0, attempts: int = 1,
                    finish_reason: str | None = None) -> Completion:
    """A Completion from a chat-completions usage object or dict."""
    def get(obj, name, default=0):
        if obj is None:
            return default
        return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)

    details = get(usage, "prompt_tokens_details", None)
    return Completion(text, int(get(usage, "prompt_tokens") or 0),
                      int(get(usage, "completion_tokens") or 0),
                      int(get(details, "cached_tokens") or 0), duration, attempts,
                      finish_reason if isinstance(finish_reason, str) else None)


def _unreachable(e: BaseException) -> str | None:
    """'connection refused' / 'unknown host' when that is what is under a connection error (not a
    reset mid-answer, which a retry may fix), else None."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, socket.gaierror):
            return "unknown host"
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def _short(e: Exception) -> str:
    text = scrub(str(getattr(e, "message", None) or e))
    return text if len(text) < 200 else text[:200] + "..."
