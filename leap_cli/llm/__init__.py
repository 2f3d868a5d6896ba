"""Clip stubs, queries, model backends (OpenAI-compatible, offline rules), cache and cost.

Nothing here imports ``openai`` at module level: the light path (rules model, cache hits,
--dry-run) never loads it.
"""
from __future__ import annotations

import collections
import os
from typing import Callable, Iterator

from .backends import OpenAIBackend, RulesBackend
from .cache import Cache, default_path
from .cost import load as load_prices
from .engine import Ledger, Prompter

DEFAULT_MODEL = "gpt-4o"


def choose_backend(model: str | None, base_url: str | None, note: Callable[[str], None],
                   log: Callable[[str], None], **params) -> OpenAIBackend | RulesBackend:
    """The backend for the flags/environment; the offline rules model without key and URL."""
    if model == "rules":
        return RulesBackend()
    if model is None and not base_url and not os.environ.get("OPENAI_API_KEY"):
        note("leap-prompt: no OPENAI_API_KEY and no --base-url: using the offline 'rules' model")
        return RulesBackend()
    # With --base-url and no -m the server says which model it serves (asked when first needed).
    return OpenAIBackend(model or (None if base_url else DEFAULT_MODEL), base_url, log=log, **params)


def make_prompter(backend, *, cache_path: str | None, no_cache: bool, prices: str | None,
                  max_cost: float | None, exemplars: int | None = None, **kw) -> Prompter:
    from . import query

    if exemplars is not None:
        from .exemplars import Retriever

        kw["retriever"] = Retriever(exemplars)
    cache = None
    if not no_cache and backend.cacheable:
        cache = Cache(cache_path or default_path())
    return Prompter(backend, load_prices(prices), cache, ledger=Ledger(max_cost=max_cost),
                    library=query.library_hash(), **kw)


def dry_run(prompter: Prompter, records) -> Iterator[str]:
    """The full text of every first query (what --dry-run prints)."""
    for i, q in enumerate(prompter.queries(records), 1):
        parts = [f"=== query {i}: {len(q.stubs)} clips, {q.key}"]
        parts += [f"--- {m['role']}\n{m['content']}" for m in q.messages]
        yield "\n".join(parts) + "\n"


def submit_batch(prompter: Prompter, records) -> tuple[str | None, int]:
    """Start an OpenAI batch with the queries the cache lacks: (batch id or None, queries)."""
    from . import batch

    lines = batch.request_lines(prompter.backend, prompter.queries(records, missing=True),
                               prompter.cache)
    return (batch.submit(prompter.backend, lines) if lines else None), len(lines)


def resume_lines(opts, prompter: Prompter):
    """(input lines, places) for a ``--resume -o FILE`` run: in turn, each remaining clip's index
    among all the input's clips and the clips of its query already written before it, so that
    its queries are the killed run's queries (found in the cache), even for a query cut off half
    way. A clip's place is known once its line is read: pair them as the records come
    (``zip(records, places)``, records first)."""
    from ..stream import read_lines, resumed, selected

    done = resumed(opts, "prompt")
    found: collections.deque = collections.deque()
    size = prompter.batch_size

    def lines():
        index, written = 0, []
        for line in read_lines(opts.inputs):
            if line.record is not None and "error" not in line.record and selected(line, opts, set()):
                if index % size == 0:
                    written = []  # a new query
                if line.record["id"] in done:
                    written.append(line.record)
                else:
                    found.append((index, written))
                    written = []
                index += 1
            yield line

    def places():
        while True:  # never empty here: each record's line, read first, put its place
            yield found.popleft()

    return lines(), places()
