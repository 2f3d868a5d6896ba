"""The stage registry: one descriptor per pipeline stage, in pipeline order.

Everything outside a stage's own code that needs to know the stages loops over this list: the
record schema (records.schema), the stub's evidence comments (llm/stub.py), leap-show's timeline
(show.py), the evidence checker (program/checker.py), the tests' pipeline and the Makefile chain
(``python -m leap_cli.stages``). Adding a stage is its module under perception/, its command, and
one ``register(Stage(...))`` here (README: "Contributing: adding a stage").

Torch-free and cheap to import: renderers are named as "module:function" and imported on first
use, so importing the registry loads neither the prompt wording nor the timeline code.
"""

import sys
from typing import Callable, NamedTuple, Union

from .records import missing

Renderer = Union[str, Callable, None]  # "package.module:function", the function, or none


class Stage(NamedTuple):
    """One stage: its record key and what the rest of the toolkit does with that key's value.

    ``stub(value) -> [comment line]``: the evidence lines the stub gets from a value that is
    present (not ``missing``), placed by ``stub_rank`` among the other stages' lines (the paper's
    order). ``lanes(value) -> [(row name, [(start, stop, label)])]``: leap-show's timeline rows,
    placed by ``lane_rank``; called with ``{}`` for the row names of a stage not run or missing.
    ``empty``: the fields a ``missing`` value still carries (the schema requires them);
    ``missing``: the reasons it writes in ``missing`` instead of evidence, ``{name}`` standing
    for a part that varies (leap-show shows them; tests/test_pipeline.py holds the stage to them).
    ``sample``: the tool's arguments on the bundled demo data (tests/data/demo), ``{demo}`` standing
    for that folder; None: the stage does not run offline there.
    """

    key: str
    tool: str | None                 # the console script ("leap-slam"); None: no tool of its own
    summary: str                     # what the key holds, one line
    schema: str | dict | None = None  # fragment: a file under leap_cli/schema/, or the fragment
    evidence: bool = True            # perception evidence (before the prompt), grounds programs
    stub: Renderer = None
    stub_rank: int = 100
    lanes: Renderer = None
    lane_rank: int = 100
    empty: dict = {}
    missing: tuple = ()
    sample: tuple | None = None

    def missing_value(self, reason: str, require: bool = False) -> dict:
        """The stage value for evidence a source lacks (records.missing with this stage's fields)."""
        return missing(reason, require, **self.empty)

    def explains(self, reason: str) -> bool:
        """Whether ``reason`` is one of the stage's ``missing`` reasons."""
        import re

        return any(re.fullmatch(re.sub(r"\\\{\w+\\\}", ".+", re.escape(m)), reason, re.S) for m in self.missing)

    def fragment(self) -> dict | None:
        """The stage's JSON Schema fragment (read from leap_cli/schema/ when named by file)."""
        if not isinstance(self.schema, str):
            return self.schema
        import json
        from importlib import resources

        return json.loads((resources.files("leap_cli") / "schema" / self.schema).read_text())

    def sample_args(self, demo: str) -> list[str]:
        return [a.replace("{demo}", demo) for a in self.sample or ()]


_STAGES: list[Stage] = []
_generation = [0]  # bumped on every change: the caches below (and records.schema) key on it
_cache: dict = {}


def register(stage: Stage, after: str | None = None) -> Stage:
    """Add a stage after the stage ``after`` (default: after the last evidence stage, before the
    prompt); a key registered already is an error."""
    if any(s.key == stage.key for s in _STAGES):
        raise ValueError(f"stage {stage.key!r} is registered already")
    if after is None:
        at = max((i + 1 for i, s in enumerate(_STAGES) if s.evidence), default=0) if stage.evidence else len(_STAGES)
    else:
        at = [s.key for s in _STAGES].index(after) + 1
    _STAGES.insert(at, stage)
    _changed()
    return stage


def unregister(key: str) -> None:
    """Remove a stage (tests that register a toy one)."""
    _STAGES[:] = [s for s in _STAGES if s.key != key]
    _changed()


def _changed() -> None:
    _generation[0] += 1
    _cache.clear()


def generation() -> int:
    return _generation[0]


def pipeline() -> tuple[Stage, ...]:
    """Every stage, in pipeline order."""
    return tuple(_STAGES)


def get(key: str) -> Stage:
    for stage in _STAGES:
        if stage.key == key:
            return stage
    raise KeyError(f"no stage {key!r} is registered")


def keys() -> tuple[str, ...]:
    """The record keys, in pipeline order."""
    return tuple(s.key for s in _STAGES)


def _cached(name: str, make: Callable):
    if name not in _cache:
        _cache[name] = make()
    return _cache[name]


def evidence_keys() -> frozenset[str]:
    """The keys of the perception stages (a record with none of them has no evidence)."""
    return _cached("evidence", lambda: frozenset(s.key for s in _STAGES if s.evidence))


def stub_renderers() -> tuple[tuple[str, Callable], ...]:
    """(key, stub renderer) of the stages that render into the stub, in the stub's order."""
    return _cached("stub", lambda: tuple((s.key, resolve(s.stub)) for s in _ranked("stub_rank") if s.stub))


def lane_renderers() -> tuple[tuple[str, Callable], ...]:
    """(key, timeline renderer) of the stages with timeline rows, in display order."""
    return _cached("lanes", lambda: tuple((s.key, resolve(s.lanes)) for s in _ranked("lane_rank") if s.lanes))


def _ranked(field: str) -> list[Stage]:
    return sorted(_STAGES, key=lambda s: getattr(s, field))  # stable: ties keep pipeline order


def resolve(ref: Renderer) -> Callable | None:
    """A renderer: the function itself, or the one "package.module:function" names."""
    if ref is None or callable(ref):
        return ref
    import importlib

    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


# ---------------------------------------------------------------------------------------------
# The stages, in pipeline order (leap-clips, which makes the records, is not one: its fields are
# the base schema, leap_cli/schema/record.schema.json).

register(Stage(
    "audio", "leap-audio", "sound events (EPIC-Sounds classes), seconds from the clip start",
    schema="audio.json", stub="leap_cli.llm.stub:audio_lines", stub_rank=40,
    lanes="leap_cli.show:sound_lanes", lane_rank=10, empty={"events": []},
    missing=("{video}: no audio stream", "no EPIC-Sounds annotations for {video_id} in {file}"),
    sample=("--annotations", "{demo}/EPIC_Sounds_validation.sample.csv")))
register(Stage(
    "slam", "leap-slam", "walking intervals (the paper's goto) from camera poses",
    schema="slam.json", stub="leap_cli.llm.stub:slam_lines", stub_rank=30,
    lanes="leap_cli.show:walk_lanes", lane_rank=20, empty={"goto": []},
    missing=("no EPIC Fields file for {video_id} in {dir}", "no poses for {video_id} in {file}",
             "{file} has no registered frames", "no registered frames in the clip window {window} s ({why})"),
    sample=("--fields", "{demo}/fields")))
register(Stage(
    "detect", "leap-detect", "objects seen (EPIC-100 nouns), per sampled frame and for the clip",
    schema="detect.json", stub="leap_cli.llm.stub:detect_lines", stub_rank=10,
    lanes="leap_cli.show:object_lanes", lane_rank=40, empty={"objects": [], "frames": []},
    missing=("no VISOR annotated frame in the clip", "no rows for video {video_id} in {file}",
             "no annotated frame of {video_id} in the clip", "no VISOR annotation {video_id}.json under {dir}"),
    sample=("--visor", "{demo}/visor")))
register(Stage(
    "contact", "leap-contact", "hand-object contacts: held at the start, grabs and releases",
    schema="contact.json", stub="leap_cli.llm.stub:contact_lines", stub_rank=20,
    lanes="leap_cli.show:hand_lanes", lane_rank=30,
    empty={"events": [], "frames": [], "holding_at_start": {"left": None, "right": None}},
    missing=("no VISOR frame with a hand in the clip", "no frame decoded"),
    sample=("--visor", "{demo}/visor")))
register(Stage(
    "prompt", "leap-prompt", "the LLM's answer for the clip's stub (and its model, cost, cache key)",
    schema="prompt.json", evidence=False, sample=("-m", "rules", "--no-cache")))
register(Stage(
    "program", "leap-parse", "the parsed action program: steps, pre-conditions, violations",
    schema="program.json", evidence=False, sample=()))


def main(argv: list[str]) -> int:
    """``python -m leap_cli.stages [keys|tools]``: the stage keys or tools in pipeline order, one a
    line (``evidence`` before either: the perception stages only)."""
    what = [a for a in argv if a != "evidence"]
    chosen = [s for s in _STAGES if s.evidence or "evidence" not in argv]
    if what not in ([], ["keys"], ["tools"]):
        print("usage: python -m leap_cli.stages [evidence] [keys|tools]", file=sys.stderr)
        return 2
    print("\n".join(s.tool if what == ["tools"] else s.key for s in chosen if what != ["tools"] or s.tool))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
