"""Token prices (shipped as data, overridable by a file) and the cost of one response."""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    cached_input: float | None
    output: float


@dataclass
class PriceTable:
    models: dict[str, Price]
    batch_discount: float = 0.5

    def price(self, model: str) -> Price | None:
        """Exact model name, else the longest table key that prefixes it (``gpt-4o-2024-08-06``)."""
        if model in self.models:
            return self.models[model]
        best = max((k for k in self.models if model.startswith(k)), key=len, default=None)
        return self.models[best] if best else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int,
             cached_tokens: int = 0, batch: bool = False) -> float | None:
        """Dollars for one response; None when the table has no price for the model."""
        p = self.price(model)
        if p is None:
            return None
        cached = min(cached_tokens, prompt_tokens)
        cached_rate = p.input if p.cached_input is None else p.cached_input
        dollars = ((prompt_tokens - cached) * p.input + cached * cached_rate
                   + completion_tokens * p.output) / 1e6
        return dollars * (self.batch_discount if batch else 1.0)


def _parse(data: dict) -> tuple[dict[str, Price], float | None]:
    models = {}
    for name, row in (data.get("models") or {}).items():
        models[name] = Price(float(row["input"]),
                             None if row.get("cached_input") is None else float(row["cached_input"]),
                             float(row["output"]))
    return models, data.get("batch_discount")


def load(path: str | None = None) -> PriceTable:
    """The shipped table, with the entries of ``path`` (same JSON format) replacing its own."""
    shipped = json.loads(resources.files("leap_cli").joinpath("data/prices.json").read_text("utf-8"))
    models, discount = _parse(shipped)
    if path:
        with open(path, encoding="utf-8") as f:
            extra_models, extra_discount = _parse(json.load(f))
        models.update(extra_models)
        discount = extra_discount if extra_discount is not None else discount
    return PriceTable(models, float(discount if discount is not None else 0.5))
