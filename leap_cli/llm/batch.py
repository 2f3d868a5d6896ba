"""The OpenAI Batch API (half price, results within 24 h): submit queries, collect responses.

``submit`` writes the queries not yet cached as a Batch input file (one chat-completions
request per line, ``custom_id`` = the query's cache key), uploads it and starts a batch.
``collect`` downloads the output of a finished batch into the cache, so a normal run over the
same input then finds every answered query there. Both can be run again safely.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterable

from .backends import OpenAIBackend, completion_from
from .cache import Cache, Entry
from .cost import PriceTable
from .query import Query


def request_lines(backend: OpenAIBackend, queries: Iterable[Query], cache: Cache | None) -> list[str]:
    """Batch input lines for the queries the cache does not answer (each key once)."""
    lines, seen = [], set()
    for query in queries:
        old = query.extra.get("legacy_key")
        if query.key in seen or (cache is not None and (cache.get(query.key) is not None or (
                old is not None and cache.get(old) is not None))):
            continue
        seen.add(query.key)
        lines.append(json.dumps({"custom_id": query.key, "method": "POST",
                                 "url": "/v1/chat/completions",
                                 "body": backend.body(query.messages, query.sample,
                                                     query.extra.get("max_tokens"))},
                                ensure_ascii=False, separators=(",", ":")))
    return lines


def submit(backend: OpenAIBackend, lines: list[str]) -> str:
    """Upload the input file and create the batch; returns the batch id."""
    client = backend.client()
    data = ("\n".join(lines) + "\n").encode("utf-8")
    upload = client.files.create(file=("leap-prompt-batch.jsonl", data), purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                  completion_window="24h", metadata={"tool": "leap-prompt"})
    return batch.id


PENDING = ("validating", "in_progress", "finalizing", "cancelling")


@dataclass
class Collected:
    status: str
    filled: int = 0
    failed: int = 0
    counts: str = ""


def collect(backend: OpenAIBackend, cache: Cache, prices: PriceTable, batch_id: str) -> Collected:
    """Put a finished batch's responses into the cache (at the batch price)."""
    client = backend.client()
    batch = client.batches.retrieve(batch_id)
    rc = getattr(batch, "request_counts", None)
    counts = f"{rc.completed}/{rc.total} done, {rc.failed} failed" if rc else ""
    out = Collected(batch.status, counts=counts)
    # An expired or cancelled batch may still hold the answers it finished: keep those.
    if batch.status in PENDING or not batch.output_file_id:
        return out
    text = client.files.content(batch.output_file_id).text
    for raw in text.splitlines():
        if not raw.strip():
            continue
        item = json.loads(raw)
        resp = item.get("response") or {}
        body = resp.get("body") or {}
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            content = None
        if resp.get("status_code") != 200 or content is None:
            out.failed += 1
            continue
        c = completion_from(body.get("usage"), content,
                            finish_reason=(body.get("choices") or [{}])[0].get("finish_reason"))
        cost = prices.cost(backend.model, c.prompt_tokens, c.completion_tokens, c.cached_tokens,
                           batch=True) or 0.0
        cache.put(item["custom_id"], backend.model, backend.endpoint,
                  Entry(content, c.prompt_tokens, c.completion_tokens, c.cached_tokens, cost, 0.0,
                        time.time(), "batch", c.finish_reason))
        out.filled += 1
    return out
