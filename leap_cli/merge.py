"""Join stage outputs that ran side by side, and put shard outputs back into clip-list order."""
from __future__ import annotations

import gc
from typing import Iterable, Iterator

from .stream import Line


def merge_records(parts: list[tuple[str, dict]]) -> tuple[dict, str | None]:
    """One record from the same clip's records in several files; the conflict found, if any.

    Keys are unioned. A key whose values differ between files is a conflict (the stages were
    run on different inputs, or one was re-run with other settings); an ``error`` in any part is
    kept, since that clip is broken whatever the other stages found.
    """
    merged: dict = {}
    origin: dict[str, str] = {}
    conflict = None
    for name, record in parts:
        for key, value in record.items():
            if key == "error":
                merged.setdefault("error", value)
            elif key not in merged:
                merged[key], origin[key] = value, name
            elif merged[key] != value and conflict is None:
                conflict = f"conflicting values for key {key!r} in {origin[key]} and {name}"
    return merged, conflict


def merge(inputs: dict[str, Iterable[Line]], order: list[str] | None = None,
          order_file: str = "--order") -> tuple[list[Line], dict[str, str]]:
    """Merged Lines (records by id; unreadable lines kept as they are) and conflicts by id.

    Output order: the ``order`` ids when given (an id no input has becomes a problem line, so a
    shard that never ran shows up), else the order of first appearance across the inputs.
    """
    # Every record is held until the end: the cycle collector would rescan the growing heap again
    # and again (a third of the run time on 60,000 programs), and parsed JSON has no cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _merge(inputs, order, order_file)
    finally:
        if collecting:
            gc.enable()


def _merge(inputs, order, order_file):
    parts: dict[str, list[tuple[str, dict]]] = {}
    first_seen: list[str] = []
    bad: list[Line] = []
    for name, lines in inputs.items():
        for line in lines:
            if line.record is None or not line.record.get("id"):
                bad.append(line)
                continue
            rid = line.record["id"]
            if rid not in parts:
                parts[rid] = []
                first_seen.append(rid)
            parts[rid].append((name, line.record))
    out, conflicts = [], {}
    for number, rid in enumerate(order if order is not None else first_seen, 1):
        if rid not in parts:
            out.append(Line(order_file, number, record={"id": rid}, problem=f"clip {rid} is in no input (a shard missing?)"))
            continue
        record, conflict = merge_records(parts.pop(rid))
        if conflict:
            conflicts[rid] = conflict
        out.append(Line("", number, record=record))
    if order is not None:
        for rid, rest in parts.items():  # ids outside the clip list: keep them, never drop
            record, conflict = merge_records(rest)
            if conflict:
                conflicts[rid] = conflict
            out.append(Line("", 0, record=record))
    return out + bad, conflicts


def ids_in(lines: Iterator[Line]) -> list[str]:
    """The clip ids of a clip list (JSONL records), in order."""
    return [line.record["id"] for line in lines if line.record is not None and line.record.get("id")]
