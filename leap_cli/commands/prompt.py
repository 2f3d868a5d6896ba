"""leap-prompt: clip records -> one generated program per clip (``prompt``), via an LLM or rules."""
from __future__ import annotations

import os
import sys

import click

from .. import llm
from ..llm import batch as batch_api
from ..llm.cost import PriceError
from ..options import Tool, finish, stage_options
from ..stream import read_lines, run_many, selected

_opt = click.option


@click.command(cls=Tool)
@stage_options
@_opt("-m", "--model", envvar="LEAP_MODEL", help="Model name, or 'rules' (offline). [env LEAP_MODEL; "
      f"default: with --base-url the one model the server lists, with a key {llm.DEFAULT_MODEL}, else rules]")
@_opt("--base-url", envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, "
      "proxies). [env OPENAI_BASE_URL] The key is read from OPENAI_API_KEY only.")
@_opt("--temperature", type=float, default=0.0, show_default=True)
@_opt("--max-tokens", type=int, help="Completion token limit per query. [default: sized from the query's stubs]")
@_opt("--seed", type=int, help="Sampling seed sent to the endpoint.")
@_opt("--sample", type=int, default=0, show_default=True, help="Sample index (a new cache entry per index when temperature > 0).")
@_opt("--samples", type=click.IntRange(1), default=1, show_default=True, help="Answers per clip, samples "
      "--sample.. (needs --temperature > 0): prompt.samples, for leap-parse --vote.")
@_opt("--exemplars", type=click.IntRange(1), metavar="K", help="Show the K library programs nearest to the query's "
      "clips (MiniLM, with diversity; needs [train]) instead of all 20: prompt.exemplars. Off by default.")
@_opt("--batch-size", type=click.IntRange(1), default=35, show_default=True, help="Stubs per query (the paper: 35).")
@_opt("-j", "--jobs", type=click.IntRange(1), default=4, show_default=True, help="Queries in flight at once.")
@_opt("--echo", is_flag=True, help="Let the model repeat the stubs' evidence comments (more output tokens).")
@_opt("--follow-ups", type=click.IntRange(0), default=2, show_default=True, help="Follow-up rounds for missing, body-less, truncated or copied functions (each round in halves).")
@_opt("--repair", type=click.IntRange(0), metavar="N", help="Rounds of sending an answer that the checker faults back with its "
      "violations (one query per group; the better answer is kept: prompt.repair). [default: 1, the rules model 0]")
@_opt("--retries", type=click.IntRange(0), default=6, show_default=True, help="Retries per query on 429, 5xx, timeouts, connection errors; a query that still fails "
      "is a retryable error record (--resume asks again). A refused connection or unknown host "
      "ends the run (exit 1).")
@_opt("--backoff", type=float, default=1.0, show_default=True, help="First retry wait in seconds (doubles, with jitter; a server's Retry-After wins, up to 60 s or --timeout).")
@_opt("--timeout", type=float, default=600.0, show_default=True, help="Seconds per answer, time in the server's "
      "queue included (connecting has 10 s; after a timeout fewer requests are sent at once).")
@_opt("--cache", "cache_path", envvar="LEAP_CACHE", metavar="PATH", help="SQLite response cache. [env LEAP_CACHE; default ~/.cache/leap/prompt.sqlite3]")
@_opt("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@_opt("--prices", envvar="LEAP_PRICES", type=click.Path(exists=True, dir_okay=False), help="JSON price table replacing shipped entries. [env LEAP_PRICES]")
@_opt("--max-cost", type=float, metavar="USD", callback=lambda c, p, v: budget(v), help="Start no new query once this much is spent; "
      "the rest become retryable error records (needs a price for the model).")
@_opt("--dry-run", is_flag=True, help="Print the prompts (stdout) instead of calling a model.")
@_opt("--batch", "batch_action", type=click.Choice(["submit", "collect"]), help="OpenAI Batch API: submit the queries (prints the "
      "batch id), or collect ID (the first argument): fill the cache from it and emit the records.")
def cli(opts, model, base_url, batch_action, dry_run, cache_path, no_cache, prices, max_cost, **kw):
    """Ask a model for one action program per clip, up to 35 clip stubs per query.

    Each clip becomes a function stub whose comments carry its evidence; the response is split
    by function name into `prompt.response`. Each clip's answer is cached: a re-run, re-sharded or re-batched, sends nothing.
    --samples K asks K times (sample index in the cache key): `prompt.samples` for leap-parse --vote.

    \b
    Examples:
      leap-prompt clips.jsonl -j 8 > prompted.jsonl
      leap-prompt --ids P01_01_12 --dry-run clips.jsonl
      leap-prompt --samples 3 --temperature 0.7 clips.jsonl | leap-parse --vote > programs.jsonl
      ID=$(leap-prompt --batch submit clips.jsonl); leap-prompt --batch collect $ID clips.jsonl
    """
    note = lambda m: sys.stderr.write(m + "\n")  # noqa: E731 - one write: threads log too
    say = (lambda m: None) if opts.quiet else note  # noqa: E731
    params = {k: kw.pop(k) for k in ("temperature", "max_tokens", "seed", "retries", "backoff", "timeout")}
    backend = llm.choose_backend(model, base_url, say, say, jobs=kw["jobs"], **params)  # notice obeys -q
    exemplars = kw.pop("exemplars")
    check_flags(backend, batch_action, kw["samples"], exemplars, params["temperature"])
    kw["repair"] = repairs(backend, kw["repair"], batch_action)
    try:
        p = llm.make_prompter(backend, cache_path=cache_path, no_cache=no_cache, prices=prices,
                              max_cost=max_cost, exemplars=exemplars, **kw)
    except PriceError as e:
        raise click.BadParameter(str(e), param_hint="--prices") from None
    check_budget(backend, p, batch_action, max_cost)
    if batch_action == "collect":
        collect(opts, backend, p, note)
    if dry_run or batch_action == "submit":
        records = (ln.record for ln in read_lines(opts.inputs)
                   if ln.record and "error" not in ln.record and selected(ln, opts, set()))
        if dry_run:
            sys.stdout.writelines(llm.dry_run(p, records))
        else:
            batch_id, n = llm.submit_batch(p, records)
            print(batch_id or "", end="\n" if batch_id else "")
            note(f"leap-prompt: submitted {n} queries as {batch_id}; then: leap-prompt --batch collect {batch_id} ..."
                 if batch_id else "leap-prompt: every query is already cached; nothing to submit")
        finish(0)
    lines, places = llm.resume_lines(opts, p) if opts.resume and opts.output else (None, None)
    code = run_many(opts, "prompt", lambda records: p.transform(records, places), lines=lines)
    if backend.cacheable:
        say(p.ledger.summary(backend.model, backend.http_requests))
    if p.retriever is not None and p.retriever.loaded:
        # Everything is written (records, cache commits). torch's thread pools can abort the
        # interpreter's teardown beside our daemon query threads ("terminate called without an
        # active exception", exit -6 under load): leave without it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    finish(code)


def budget(value: float | None) -> float | None:
    """--max-cost: a finite number of dollars >= 0 (NaN would never be reached: no limit at all)."""
    if value is not None and not (0 <= value < float("inf")):
        raise click.BadParameter(f"{value!r} is not a budget (a finite number of US dollars >= 0)")
    return value


def check_flags(backend, batch_action, samples, exemplars, temperature) -> None:
    """Flag combinations that cannot do what they say."""
    if samples > 1 and not backend.cacheable:
        raise click.UsageError("--samples: the rules model is deterministic (every sample is the same program)")
    if samples > 1 and not temperature > 0:
        raise click.UsageError("--samples needs --temperature above 0 (at 0 every sample is the same answer)")
    if samples > 1 and batch_action:
        raise click.UsageError("--samples cannot go through --batch: run without --batch")
    if exemplars is not None and not backend.cacheable:
        raise click.UsageError("--exemplars chooses library programs for the prompt; the rules model reads none")


def repairs(backend, n: int | None, batch_action) -> int:
    """--repair rounds: 1 by default for a real model, none for the rules model (its programs
    are consistent with their evidence by construction) or the Batch API (one query per clip)."""
    if n and not backend.cacheable:
        raise click.UsageError("--repair: the rules model's programs already pass the checker")
    if n and batch_action:
        raise click.UsageError("--repair cannot go through --batch: run without --batch, or --repair 0")
    return 0 if not backend.cacheable or batch_action else (1 if n is None else n)


def check_budget(backend, p, batch_action, max_cost) -> None:
    """Flag combinations that would spend money without the limit the user asked for."""
    if max_cost is not None and batch_action == "submit":
        raise click.UsageError("--max-cost cannot bound a Batch API job (it is billed as a whole, "
                               "when done): leave it out, or run without --batch")
    if max_cost is not None and backend.cacheable and p.prices.price(backend.model) is None:
        # Counted as $0, an unpriced model would never reach the budget: no limit at all.
        raise click.UsageError(f"--max-cost: no price for model {backend.model}; "
                               "give one with --prices FILE (US dollars per million tokens)")
    if batch_action and (not backend.cacheable or p.cache is None):
        raise click.UsageError("--batch needs a remote model (OPENAI_API_KEY or --base-url) and the cache")


def collect(opts, backend, p, note) -> None:
    """--batch collect ID: fill the cache from a finished batch (exit 75 while it still runs)."""
    if opts.inputs == ("-",):
        raise click.UsageError("--batch collect needs ID: leap-prompt --batch collect ID [FILE]...")
    batch_id, opts.inputs = opts.inputs[0], opts.inputs[1:] or ("-",)
    got = batch_api.collect(backend, p.cache, p.prices, batch_id)
    note(f"leap-prompt: batch {batch_id} {got.status} {got.counts}: {got.filled} responses cached, {got.failed} failed")
    if got.status in batch_api.PENDING:
        finish(75)  # EX_TEMPFAIL: run the same command again later
    if got.status != "completed":
        raise click.ClickException(f"batch {batch_id} is {got.status}: submit the rest again, or run "
                                   "without --batch (chat API, full price)")
