"""The clip record: schema version, provenance, missing evidence, errors, JSON Schema.

One JSON object per line, one line per clip, keyed by ``id`` (docs/DESIGN.md section 3). Every stage
copies the record and adds its own key; errors are recorded, never dropped.
"""
from __future__ import annotations

import functools

from . import __version__

SCHEMA_VERSION = 1


class ClipError(Exception):
    """Something is broken for one clip: the record becomes an error record, the run goes on.

    ``retryable``: a failure a re-run may fix (a model endpoint refused, timed out, rate-limited
    or out of budget); its record says so and ``--resume`` processes the clip again.
    """

    def __init__(self, message: str = "", retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


def source(stage: str, **details) -> dict:
    """Provenance for a stage key: the tool, its version and what the evidence came from."""
    return {"tool": f"leap-{stage}", "version": __version__, **details}


def missing(reason: str, require: bool = False, **empty) -> dict:
    """A stage value for evidence a source lacks: not an error unless ``--require`` asks so."""
    if require:
        raise ClipError(f"missing evidence: {reason} (without --require the clip goes on)")
    return {"missing": reason, **empty}


def error_record(record: dict | None, stage: str, message: str, retryable: bool = False, **where) -> dict:
    """The record with ``error`` added; ``where`` (file, line) locates input that had no id;
    ``retryable`` marks a failure that ``--resume`` tries again."""
    out = dict(record) if record else {"schema": SCHEMA_VERSION, "id": None}
    out["error"] = {"stage": stage, "message": message, **where}
    if retryable:
        out["error"]["retryable"] = True
    return out


def schema() -> dict:
    """The record JSON Schema: the base file (leap-clips' fields) plus each registered stage's
    fragment under its key (leap_cli/stages.py)."""
    from . import stages

    return _schema(stages.generation())


@functools.lru_cache(maxsize=4)
def _schema(generation: int) -> dict:
    import json
    from importlib import resources

    from . import stages

    base = json.loads((resources.files("leap_cli") / "schema" / "record.schema.json").read_text())
    for stage in stages.pipeline():
        part = stage.fragment()
        if part is not None:
            base["properties"][stage.key] = part
    return base


@functools.lru_cache(maxsize=4)
def _validator(generation: int):
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    cls.check_schema(schema())
    return cls(schema())


def validate(record: dict) -> None:
    """Raise ``jsonschema.ValidationError`` when the record breaks the schema (needs jsonschema)."""
    from . import stages

    error = next(iter(_validator(stages.generation()).iter_errors(record)), None)
    if error is not None:
        raise error
