"""The prompt stage: group clips into queries, ask (cache first), split, follow up, account.

``Prompter.transform`` takes clip records and yields, per record and in input order, the record
with ``prompt`` added or a ClipError. Queries run on ``jobs`` threads; at most ``2 * jobs``
groups are in memory at once, so inputs of any length stream through.
"""
from __future__ import annotations

import collections
import threading
import time
import queue
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Iterator

from ..records import ClipError, source
from . import query as q
from . import repair as fix
from .backends import BackendError, Completion
from .cache import Answer, Cache, Entry, clip_key, query_key
from .cost import PriceTable
from .stub import Stub, stubs_for


SHARED = ("prompt_tokens", "completion_tokens", "cached_tokens", "cost")  # split among a query's clips


class OverBudget(Exception):
    """The --max-cost budget is spent: the query is not sent."""

    retryable = True  # a later run with a larger --max-cost may go on (--resume asks again)


@dataclass
class Found:
    """A function answered for a clip: source, the response key it came from, the round that
    asked it, whether it came from the cache, the clip's share of usage, what was repaired."""

    text: str
    key: str
    round: int
    cached: bool
    share: dict
    warnings: list
    finish_reason: str | None = None
    repair: dict | None = None           # --repair: what was sent back, what came, which was kept


@dataclass
class _Tally:
    """One group's progress: shares, answers found, kept for repair, reasons, failures."""

    share: dict
    found: dict = field(default_factory=dict)
    fallback: dict = field(default_factory=dict)
    why: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)


@dataclass
class Ledger:
    """Run totals, shared by the worker threads."""

    max_cost: float | None = None
    spent: float = 0.0
    requests: int = 0
    cache_hits: int = 0                  # whole responses found in the cache
    answers_cached: int = 0              # clips answered from the cache without a query
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    follow_ups: int = 0
    repairs: int = 0                     # repair queries asked (whole responses cached included)
    repairs_cached: int = 0              # repaired answers found in the cache (no query)
    repaired: int = 0                    # answers replaced by a better repaired one
    unpriced: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self) -> None:
        with self.lock:
            if self.max_cost is not None and self.spent >= self.max_cost:
                raise OverBudget(f"budget --max-cost ${self.max_cost:g} reached "
                                 f"(${self.spent:.4f} spent): not queried")

    def add(self, c: Completion, cost: float) -> None:
        with self.lock:
            self.requests += 1
            self.spent += cost
            self.prompt_tokens += c.prompt_tokens
            self.completion_tokens += c.completion_tokens
            self.cached_tokens += c.cached_tokens

    def summary(self, model: str, http_requests: int | None = None) -> str:
        """One line: queries answered, HTTP attempts (retries and failures too), tokens, cost."""
        http = "" if http_requests is None else f", {http_requests} HTTP requests"
        cost = (f"cost unknown (no price for {', '.join(sorted(self.unpriced))}: give one with "
                "--prices FILE)" if self.unpriced else f"cost ${self.spent:.4f}")
        repair = (f", {self.repairs} repair queries, {self.repairs_cached} repairs cached "
                  f"({self.repaired} answers improved)") if self.repairs or self.repairs_cached else ""
        return (f"leap-prompt: model {model}: {self.requests} requests, {self.cache_hits} cached, "
                f"{self.answers_cached} clips answered from the cache, "
                f"{self.follow_ups} follow-ups{repair}{http}, tokens {self.prompt_tokens} in "
                f"({self.cached_tokens} cached) / {self.completion_tokens} out, {cost}")


@dataclass
class Prompter:
    backend: object                      # RulesBackend or OpenAIBackend
    prices: PriceTable
    cache: Cache | None = None
    batch_size: int = 35
    jobs: int = 1
    follow_ups: int = 2
    sample: int = 0                      # index of the first sample (a new cache entry per index)
    samples: int = 1                     # --samples K: K answers per clip (temperature > 0)
    retriever: object | None = None      # exemplars.Retriever (--exemplars K), else the fixed H
    echo: bool = False                   # ask the model to repeat the stubs' evidence comments
    repair: int = 0                      # --repair N: rounds of sending back checker violations
    nouns: object | None = None          # program.Nouns for the repair checks (made when needed)
    ledger: Ledger = field(default_factory=Ledger)
    library: str = ""

    # ----- one query -------------------------------------------------------------------------
    def keyed(self, query: q.Query, sample: int | None = None) -> q.Query:
        """The query with its sample index, cache key and, without --max-tokens, its own
        completion limit (sized from its stubs; the key without it finds caches written before
        there was one)."""
        b = self.backend
        query.sample = self.sample if sample is None else sample
        query.key = query_key(b.model, b.endpoint, b.params, query.messages, query.sample)
        if b.cacheable and getattr(b, "max_tokens", 0) is None:
            limit = q.completion_limit(query.stubs, self.echo)
            query.extra.update(max_tokens=limit, legacy_key=query.key)
            query.key = query_key(b.model, b.endpoint, {**b.params, "max_tokens": limit},
                                  query.messages, query.sample)
        return query

    def ask(self, query: q.Query) -> tuple[Entry, bool]:
        """The response entry for a query and whether it came from the cache."""
        use_cache = self.cache is not None and self.backend.cacheable
        if use_cache:
            hit = self.cache.get(query.key)
            if hit is None and query.extra.get("legacy_key"):
                hit = self.cache.get(query.extra["legacy_key"])
            if hit is not None:
                with self.ledger.lock:
                    self.ledger.cache_hits += 1
                return hit, True
        if self.backend.cacheable:
            self.ledger.admit()
        c = self.backend.complete(query)
        cost = self.prices.cost(self.backend.model, c.prompt_tokens, c.completion_tokens,
                                c.cached_tokens)
        if cost is None:
            self.ledger.unpriced.add(self.backend.model)
            cost = 0.0
        entry = Entry(c.text, c.prompt_tokens, c.completion_tokens, c.cached_tokens, cost,
                      c.duration, time.time(), "chat", c.finish_reason)
        if use_cache:
            self.cache.put(query.key, self.backend.model, self.backend.endpoint, entry)
        if self.backend.cacheable:
            self.ledger.add(c, cost)
        return entry, False

    # ----- one clip's answer -----------------------------------------------------------------
    def answer_key(self, stub: Stub, sample: int, chosen, repair: str | None = None) -> str:
        b = self.backend
        return clip_key(b.model, b.endpoint, b.params, q.prompt_hash(self.echo, chosen),
                        stub.key_text, sample, [n for n, _ in chosen] if chosen else None, repair)

    def cached_answer(self, stub: Stub, sample: int, chosen, repair: str | None = None) -> "Found | None":
        """The clip's answer from the cache, if one is there and still usable (else re-asked)."""
        if self.cache is None or not self.backend.cacheable:
            return None
        a = self.cache.answer(self.answer_key(stub, sample, chosen, repair))
        if a is None:
            return None
        text = q.renamed(a.source, a.function, stub.name)
        if q.verdict(text, self.backend.cacheable)[0] is not None:
            return None
        with self.ledger.lock:
            if repair:
                self.ledger.repairs_cached += 1
            else:
                self.ledger.answers_cached += 1
        return Found(text, a.response_key, 0, True, a.share, a.warnings)

    def store(self, stub: Stub, f: "Found", sample: int, chosen, repair: str | None = None) -> None:
        if self.cache is not None and self.backend.cacheable:
            self.cache.put_answer(self.answer_key(stub, sample, chosen, repair),
                                  Answer(stub.name, f.text, f.key, f.share, f.warnings))

    # ----- one group of clips ----------------------------------------------------------------
    def run_group(self, records: list[dict]) -> list[dict | ClipError]:
        """Per sample: each clip's answer from the cache, else from a query for the clips not
        cached, then follow-ups for the functions still missing or broken (each round in halves
        of what its query left); one result per record, in order."""
        broken: dict[int, Exception] = {}
        stubs = stubs_for(records, broken)
        chosen = self.retriever.pick([s.record for s in stubs]) if self.retriever and stubs else None
        share = {s.name: collections.Counter() for s in stubs}
        tallies = [self._answers(stubs, self.sample + k, chosen, share) for k in range(self.samples)]
        for k, t in enumerate(tallies):
            for round_ in range(1, self.repair + 1):
                if not self._repair(stubs, round_, t, self.sample + k, chosen):
                    break
        results = iter([self._result(s, tallies, share[s.name], chosen) for s in stubs])
        return [_no_stub(broken[i]) if i in broken else next(results) for i in range(len(records))]

    def _answers(self, stubs: list[Stub], sample: int, chosen, share: dict) -> "_Tally":
        """One sample's answers, failures and reasons."""
        t = _Tally(share)
        for s in stubs:
            hit = self.cached_answer(s, sample, chosen)
            if hit is not None:
                t.found[s.name] = hit
        groups = [[s for s in stubs if s.name not in t.found]]
        for round_ in range(self.follow_ups + 1):
            groups = [g for g in groups if g]
            if not groups:
                break
            later = []
            for group in groups:
                left = self.ask_group(group, round_, t, sample, chosen)
                half = (len(left) + 1) // 2
                later += [left[:half], left[half:]] if len(left) > 1 else [left]
            groups = later
        return t

    def ask_group(self, group: list[Stub], round_: int, t: "_Tally", sample: int, chosen) -> list[Stub]:
        """One query for ``group``; the stubs its answer leaves unusable (``t`` is updated)."""
        query = self.keyed(q.build(group, round_, self.echo, chosen, t.why), sample)
        query.extra["echo"] = self.echo
        if round_:
            with self.ledger.lock:
                self.ledger.follow_ups += 1
        try:
            entry, cached = self.ask(query)
        except (BackendError, OverBudget) as e:
            t.failed.update({s.name: e for s in group})
            return []
        for s in group:  # each clip asked in a query carries an equal share of it
            t.share[s.name].update({k: getattr(entry, k) / len(group) for k in SHARED})
        try:
            parts, notes = q.split_noted(entry.response)
        except (RecursionError, MemoryError):  # a hostile answer: every function is missing
            parts, notes = {}, []
        cut = list(parts)[-1] if entry.finish_reason == "length" and parts else None
        # Functions under names not asked for, as many as the stubs left out: renamed, in order.
        strays = [n for n in parts if n not in {s.name for s in group}]
        absent = [s for s in group if s.name not in parts]
        renames = dict(zip((s.name for s in absent), strays)) if len(strays) == len(absent) else {}
        left = []
        for s in group:
            old = renames.get(s.name, s.name)
            warnings = list(notes)
            text = parts.get(old)
            if text is not None and old != s.name:
                text = q.renamed(text, old, s.name)
                warnings.append(f"renamed function {old} to {s.name}")
            reason, repairable = (q.TRUNCATED, False) if old == cut else \
                q.verdict(text, self.backend.cacheable)
            f = Found(text, query.key, round_, cached, dict(t.share[s.name]), warnings,
                      entry.finish_reason)
            if reason is None:
                t.found[s.name] = f
                self.store(s, f, sample, chosen)
                continue
            t.why[s.name] = reason
            if repairable:
                t.fallback[s.name] = f
            else:
                t.fallback.pop(s.name, None)
            left.append(s)
        return left

    def _repair(self, stubs: list[Stub], round_: int, t: "_Tally", sample: int, chosen) -> bool:
        """One round of --repair: each found answer that the checker faults is sent back with its
        violations (cached repairs first, one query for the rest) and replaced by the repaired
        answer when that ranks higher. Whether any answer was sent back (else no further round)."""
        if self.nouns is None:
            from ..program import Nouns

            self.nouns = Nouns()
        todo = []
        for s in stubs:
            f = t.found.get(s.name)
            program = fix.judge(s, f.text, self.nouns) if f is not None else None
            if fix.faults(program) and (f.repair is None or f.repair["kept"] == "repaired"):
                todo.append((s, f, program, fix.key_of(s, f.text, program)))
        if not todo:
            return False
        got = {s.name: self.cached_answer(s, sample, chosen, key) for s, _, _, key in todo}
        ask = [(s, f.text, p) for s, f, p, _ in todo if got[s.name] is None]
        if ask:
            query = self.keyed(fix.build(ask, round_, self.echo, chosen), sample)
            with self.ledger.lock:
                self.ledger.repairs += 1
            try:
                entry, cached = self.ask(query)
                parts, notes = q.split_noted(entry.response)
            except (BackendError, OverBudget, RecursionError, MemoryError):
                parts, notes, entry = {}, [], None  # the answers found stand
            for s, f, p, key in todo:
                text = parts.get(s.name)
                if got[s.name] is None and text is not None and q.verdict(text)[0] is None:
                    share = {k: f.share.get(k, 0) + getattr(entry, k) / len(ask) for k in SHARED}
                    got[s.name] = Found(text, query.key, f.round, cached, share, list(notes),
                                        entry.finish_reason)
                    self.store(s, got[s.name], sample, chosen, key)
        for s, f, before, _ in todo:
            new = got[s.name]
            after = fix.judge(s, new.text, self.nouns) if new is not None else None
            kept = "repaired" if fix.rank(after) > fix.rank(before) else "original"
            mark = {"round": round_, "violations_before": len(before["violations"]),
                    "violations_after": None if after is None else len(after["violations"]),
                    "kept": kept, "key": new.key if new is not None else None}
            if kept == "repaired":
                new.repair = mark
                new.warnings = f.warnings + new.warnings + [
                    f"self-repair {round_}: {mark['violations_before']} checker violations -> "
                    f"{mark['violations_after']}, kept the repaired answer"]
                t.found[s.name] = new
                with self.ledger.lock:
                    self.ledger.repaired += 1
            else:
                f.repair = mark
                f.share = new.share if new is not None else f.share  # the try was paid for too
        return True

    def _result(self, stub: Stub, tallies: list["_Tally"], share, chosen) -> dict | ClipError:
        hits = [t.found.get(stub.name) or t.fallback.get(stub.name) for t in tallies]
        hit = next((h for h in hits if h is not None), None)  # the first sample that answered
        t = tallies[0]
        if hit is None:
            failure = t.failed.get(stub.name)
            if failure is not None:  # the endpoint failed (retryable) or refused the query
                return ClipError(str(failure), retryable=getattr(failure, "retryable", False))
            return ClipError(f"function {stub.name}: {t.why.get(stub.name, q.MISSING)} in the "
                             f"model's answer after {self.follow_ups} follow-up queries")
        t = tallies[hits.index(hit)]
        warnings = list(hit.warnings)
        if stub.name not in t.found:
            warnings.append(f"kept an answer that is {t.why[stub.name]} for leap-parse to repair")
        if hit.repair is not None or hit.cached and not hit.round and hit.share:
            share = hit.share  # from the cache, or repaired: the answer's own share, all queries
        out = dict(stub.record)
        library = self.library if chosen is None else q.library_hash(chosen)
        out["prompt"] = {
            "source": source("prompt", model=self.backend.model, endpoint=self.backend.endpoint,
                             library=library),
            "function": stub.name, "model": self.backend.model, "cache_key": hit.key,
            "response": q.with_evidence(stub, hit.text),
            "usage": {k: round(share.get(k, 0), 2) for k in ("prompt_tokens", "completion_tokens",
                                                              "cached_tokens")},
            # unknown, not $0, for a model the price table lacks
            "cost": round(share.get("cost", 0), 8) if self.priced() else None,
            "cached": hit.cached, "follow_up": hit.round,
        }
        if hit.finish_reason:
            out["prompt"]["finish_reason"] = hit.finish_reason
        if hit.repair is not None:
            out["prompt"]["repair"] = hit.repair
        if warnings:
            out["prompt"]["warnings"] = warnings
        if chosen is not None:
            out["prompt"]["exemplars"] = [name for name, _ in chosen]
        if self.samples > 1:  # every sample that answered, first the one in `response`
            out["prompt"]["samples"] = [q.with_evidence(stub, h.text) for h in hits if h is not None]
            out["prompt"]["sample_keys"] = [h.key for h in hits if h is not None]
        served = getattr(self.backend, "served", ())
        if len(served) == 1 and not hit.cached:
            out["prompt"]["response_model"] = next(iter(served))  # what the server says it ran
        return out

    def priced(self) -> bool:
        """Whether the price table knows the model (an unknown one is noted for the summary)."""
        if not self.backend.cacheable or self.prices.price(self.backend.model) is not None:
            return True  # the offline model is free
        with self.ledger.lock:
            self.ledger.unpriced.add(self.backend.model)
        return False

    # ----- the stream ------------------------------------------------------------------------
    def groups(self, placed: Iterator[tuple[dict, tuple[int, list]]]) -> Iterator[tuple[set[int], list[dict]]]:
        """Records in groups of batch_size, each with the indexes in it of clips only there to
        make up the query (their results are not wanted).

        ``placed``: (record, (its index among all the input's clips, the clips of its query
        already in the output before it)); a --resume run's records are placed so (see
        llm.resume_lines): a group never crosses a multiple of batch_size and holds the already
        written clips again, so the resumed run forms exactly the queries of the run it
        continues and finds them in the cache."""
        group: list[dict] = []
        fill: set[int] = set()
        slot = None
        for r, (pos, before) in placed:
            if group and (len(group) == self.batch_size or pos // self.batch_size != slot):
                yield fill, group
                group, fill = [], set()
            fill.update(range(len(group), len(group) + len(before)))
            group.extend(before)
            group.append(r)
            slot = pos // self.batch_size
        if group:
            yield fill, group

    def transform(self, records: Iterator[dict], places: Iterator | None = None) -> Iterator[dict | ClipError]:
        """One result per record, in input order; at most 2 * jobs groups held at once.
        ``places``: each record's place in the run it resumes, in turn (else its own index)."""
        groups = self.groups(zip(records, places) if places is not None else numbered(records))
        window = max(1, 2 * self.jobs)
        pool = _DaemonPool(max(1, self.jobs))
        pending: collections.deque = collections.deque()
        try:
            while True:
                while len(pending) < window:
                    item = next(groups, None)
                    if item is None:
                        break
                    fill, group = item
                    pending.append((fill, pool.submit(self.run_group, group)))
                if not pending:
                    return
                fill, future = pending.popleft()
                yield from (r for i, r in enumerate(future.result()) if i not in fill)
        finally:
            for _, future in pending:  # stopped early: queries not yet started are not sent
                future.cancel()
            pool.close()

    def queries(self, records: Iterator[dict], missing: bool = False) -> Iterator[q.Query]:
        """The first query of each group (for --dry-run and the Batch API); ``missing``: for
        the group's clips without a cached answer only (the query a run would send)."""
        for _, group in self.groups(numbered(records)):
            stubs = stubs_for(group, {})
            chosen = self.retriever.pick([s.record for s in stubs]) if self.retriever and stubs else None
            if missing:
                stubs = [s for s in stubs if self.cached_answer(s, self.sample, chosen) is None]
            if not stubs:
                continue
            query = self.keyed(q.build(stubs, 0, self.echo, chosen))
            query.extra["echo"] = self.echo
            yield query


def numbered(records: Iterator[dict]) -> Iterator[tuple[dict, tuple[int, list]]]:
    """Records placed by their own index, nothing written before them (a run from the start)."""
    return ((r, (i, [])) for i, r in enumerate(records))


def _no_stub(e: Exception) -> ClipError:
    """The error of a clip that could not become a stub (a bad window says so itself)."""
    return e if isinstance(e, ClipError) else ClipError(f"malformed evidence, no stub: {type(e).__name__}: {e}")


class _DaemonPool:
    """Worker threads that never hold up the exit: after Ctrl-C, a broken pipe or a fatal error
    the process ends at once instead of waiting for queries in flight (ThreadPoolExecutor's
    threads are joined at exit). Unstarted work is dropped; nothing half-done is cached."""

    def __init__(self, n: int):
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(n):
            threading.Thread(target=self._work, daemon=True).start()
        self.n = n

    def _work(self) -> None:
        while True:
            item = self.tasks.get()
            if item is None:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 - handed to the reader of the future
                future.set_exception(e)

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        self.tasks.put((future, fn, args))
        return future

    def close(self) -> None:
        for _ in range(self.n):
            self.tasks.put(None)
