"""Token prices (shipped as data, overridable by a file) and the cost of one response."""
from __future__ import annotations

import json
import math
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


class PriceError(ValueError):
    """A price table that cannot be used (the message names the file and the entry)."""


def _rate(value, where: str) -> float:
    """A price: a finite number >= 0 (a negative or NaN price would make any budget meaningless)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        raise PriceError(f"{where}: {value!r} is not a price (a finite number >= 0)")
    return float(value)


def _parse(data, origin: str) -> tuple[dict[str, Price], float | None]:
    if not isinstance(data, dict) or not isinstance(data.get("models") or {}, dict):
        raise PriceError(f"{origin}: expected {{\"models\": {{NAME: {{\"input\": ..., \"output\": ...}}}}}}")
    models = {}
    for name, row in (data.get("models") or {}).items():
        where = f"{origin}: model {name}"
        if not isinstance(row, dict) or "input" not in row or "output" not in row:
            raise PriceError(f"{where}: needs \"input\" and \"output\" (US dollars per million tokens)")
        cached = row.get("cached_input")
        models[name] = Price(_rate(row["input"], f"{where} input"),
                             None if cached is None else _rate(cached, f"{where} cached_input"),
                             _rate(row["output"], f"{where} output"))
    discount = data.get("batch_discount")
    if discount is not None:
        discount = _rate(discount, f"{origin}: batch_discount")
    return models, discount


def load(path: str | None = None) -> PriceTable:
    """The shipped table, with the entries of ``path`` (same JSON format) replacing its own."""
    shipped = json.loads(resources.files("leap_cli").joinpath("data/prices.json").read_text("utf-8"))
    models, discount = _parse(shipped, "shipped prices")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise PriceError(f"{path}: not a JSON price table ({e})") from None
        extra_models, extra_discount = _parse(data, path)
        models.update(extra_models)
        discount = extra_discount if extra_discount is not None else discount
    return PriceTable(models, float(discount if discount is not None else 0.5))
