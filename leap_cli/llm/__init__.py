"""Clip stubs, queries, model backends (OpenAI-compatible, offline rules), cache and cost.

Nothing here imports ``openai`` at module level: the light path (rules model, cache hits,
--dry-run) never loads it.
"""
from __future__ import annotations

import os
from typing import Callable

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
    return OpenAIBackend(model or DEFAULT_MODEL, base_url, log=log, **params)


def make_prompter(backend, *, cache_path: str | None, no_cache: bool, prices: str | None,
                  max_cost: float | None, log: Callable[[str], None], **kw) -> Prompter:
    from . import query

    cache = None
    if not no_cache and backend.cacheable:
        cache = Cache(cache_path or default_path())
    return Prompter(backend, load_prices(prices), cache, ledger=Ledger(max_cost=max_cost),
                    library=query.library_hash(), log=log, **kw)
