"""Render a clip record as the paper's function stub (HIC): a header plus evidence comments.

Only evidence present in the record is rendered; a stage key that is absent or marked
``missing`` contributes nothing (never invented). Times are relative to the clip start, two
decimals; nouns are rendered with ``:`` as ``_`` (``towel:kitchen`` -> ``towel_kitchen``).
"""
from __future__ import annotations

import csv
import keyword
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .. import clip, stages
from ..records import ClipError

WIDTH = 100  # comment lines longer than this wrap onto further comment lines
INDENT = "    "


@dataclass(frozen=True)
class Stub:
    """One clip's stub inside a query: its function name, rendered text and source record;
    ``base``: the name without the suffix that sets it apart from the other clips of its query
    (the answer cache's key holds the stub with that name, so any grouping finds it)."""

    name: str
    text: str
    record: dict
    base: str = ""

    @property
    def key_text(self) -> str:
        return self.text.replace(f"def {self.name}(", f"def {self.base or self.name}(", 1)


@lru_cache(maxsize=1)
def library_names() -> frozenset[str]:
    """Names of library H's examples: no clip's function takes one (the model would be tempted
    to repeat the example, and a copy would pass for the clip's program)."""
    from .. import program

    return frozenset(name for name, _ in program.library())


@lru_cache(maxsize=1)
def sound_phrases() -> dict[str, str]:
    """EPIC-Sounds class name -> the short phrase the prompt uses (44 rows, shipped as data)."""
    text = resources.files("leap_cli").joinpath("data/sound_phrases.csv").read_text("utf-8")
    return {row["class"]: row["phrase"] for row in csv.DictReader(text.splitlines())}


def noun_text(noun: str) -> str:
    """A noun key as the prompt writes it: ``board:chopping`` -> ``board_chopping``."""
    return str(noun).strip().replace(":", "_").replace(" ", "_")


def sound_text(label) -> str | None:
    """The phrase for a sound label; unknown labels pass through; None for unclassified."""
    if label is None or not str(label).strip():
        return None
    label = str(label).strip()
    return sound_phrases().get(label, label)


def t2(x) -> str:
    return f"{float(x):.2f}"


def function_name(narration, used: set[str] | None = None) -> str:
    """snake_case name from a narration, unique among ``used`` (which it updates)."""
    base = re.sub(r"[^0-9a-zA-Z]+", "_", str(narration or "")).strip("_").lower() or "clip"
    if base[0].isdigit():
        base = "clip_" + base
    if keyword.iskeyword(base):
        base += "_"
    name, k = base, 2
    while used is not None and name in used:
        name, k = f"{base}_{k}", k + 1
    if used is not None:
        used.add(name)
    return name


def _present(record: dict, key: str) -> dict | None:
    """The stage value when it exists and is not marked missing."""
    value = record.get(key)
    if not isinstance(value, dict) or value.get("missing"):
        return None
    return value


def _quoted_list(items: list[str]) -> str:
    q = [f'"{s}"' for s in items]
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + " and " + q[-1]


def context_line(record: dict) -> str | None:
    ctx = _present(record, "context")
    if ctx is None:
        return None
    parts = []
    for key, where in (("before", "right before"), ("after", "right after")):
        items = [str(s) for s in ctx.get(key) or [] if str(s).strip()]
        if items:
            if len(items) == 1:
                parts.append(f"The action performed {where} this was {_quoted_list(items)}")
            else:
                parts.append(f"The actions performed {where} this were {_quoted_list(items)}")
    # The paper's wording: the two sentences are joined by ". " with no final full stop.
    return ". ".join(parts) or None


def evidence_lines(record: dict) -> list[str]:
    """The comment lines (without '# ') for the evidence in a record, in the paper's order: the
    narrations around the clip, then each stage's lines (leap_cli/stages.py: ``stub``, ``stub_rank``)."""
    lines = []
    ctx = context_line(record)
    if ctx:
        lines.append(ctx)
    for key, render_value in stages.stub_renderers():
        value = _present(record, key)
        if value is not None:
            lines += render_value(value)
    return lines


def detect_lines(det: dict) -> list[str]:
    return ["objects = [" + ", ".join(noun_text(o) for o in det["objects"]) + "]"] if det.get("objects") else []


def contact_lines(con: dict) -> list[str]:
    lines = []
    hold = con.get("holding_at_start")
    if isinstance(hold, dict):
        held = []
        for hand in ("left", "right"):
            if hold.get(hand) and noun_text(hold[hand]) not in held:
                held.append(noun_text(hold[hand]))
        lines.append(f"Holding {' and '.join(held) if held else 'nothing'} at start.")
    events = sorted(con.get("events") or [], key=lambda e: float(e.get("t", 0)))
    for kind, verb in (("grab", "Grabbed"), ("release", "Released")):
        times: dict[str, list[str]] = {}
        for e in events:
            if e.get("kind") == kind and e.get("object"):
                seen = times.setdefault(noun_text(e["object"]), [])
                if t2(e["t"]) not in seen:  # both hands on one object: one time, said once
                    seen.append(t2(e["t"]))
        for obj, ts in times.items():
            lines.append(f"{verb} {obj} at time(s) {', '.join(ts)}")
    return lines


def slam_lines(slam: dict) -> list[str]:
    return [f"Go to object from time {t2(g['start'])} sec to time {t2(g['stop'])} sec"
            for g in sorted(slam.get("goto") or [], key=lambda g: float(g["start"]))]


def audio_lines(audio: dict) -> list[str]:
    lines = []
    for ev in sorted(audio.get("events") or [], key=lambda e: float(e["start"])):
        phrase = sound_text(ev.get("label"))
        what = f"sound of {phrase}" if phrase else "a sound"
        lines.append(f"Heard {what} at time {t2(ev['start'])} sec to {t2(ev['stop'])} sec")
    return lines


def duration(record: dict) -> float:
    """The clip's length in seconds (its window checked by clip.window); 0 without times."""
    if "start" not in record or "stop" not in record:
        return 0.0
    start, stop = clip.window(record)
    return stop - start


def render(record: dict, name: str) -> str:
    """The stub text for one clip: header line and wrapped evidence comments."""
    out = [f"def {name}(start_t=0, stop_t={t2(duration(record))}):"]
    for line in evidence_lines(record):
        if len(line) <= WIDTH:  # most lines: textwrap is the slowest part of rendering
            out.append(INDENT + "# " + line)
            continue
        out.extend(textwrap.wrap(line, WIDTH, initial_indent=INDENT + "# ",
                                 subsequent_indent=INDENT + "# ", break_long_words=False,
                                 break_on_hyphens=False))
    return "\n".join(out) + "\n"


def stubs_for(records: list[dict], errors: dict[int, Exception] | None = None) -> list[Stub]:
    """Stubs for the clips of one query, with function names unique within it.

    With ``errors``, a record whose evidence cannot be rendered (a malformed event) is left out
    and its position mapped to the error instead of failing the whole query.
    """
    used: set[str] = set(library_names())
    result = []
    for i, rec in enumerate(records):
        narration = rec.get("narration") or rec.get("id")
        name = function_name(narration, used)
        try:
            result.append(Stub(name, render(rec, name), rec, function_name(narration, set(library_names()))))
        except (ClipError, KeyError, TypeError, ValueError, AttributeError) as e:
            if errors is None:
                raise
            errors[i] = e
    return result
