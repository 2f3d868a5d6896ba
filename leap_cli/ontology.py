"""The EPIC-KITCHENS-100 ontology (97 verbs, 300 nouns), EPIC-55 nouns, and the 8 sub-action verbs.

Lookups accept the forms that appear in narrations, detector label maps and LLM output: the class
key (``board:chopping``), an instance synonym (``tap:water`` -> ``tap``), the prompt's rendering
(``towel_kitchen``), English word order (``chopping board``) and simple plurals. A word that none
of these reach returns ``None``: callers report it, nothing is guessed.
"""
from __future__ import annotations

import ast
import csv
import functools
import re
from dataclasses import dataclass

N_VERBS, N_NOUNS = 97, 300  # EPIC-100's verb and noun classes (ids 0..96, 0..299)

# The paper's sub-action verbs; the index is the sub-action verb id (docs/DESIGN.md section 3).
SUBACTIONS = ("nothing", "grasp", "release", "move", "use", "position", "goto", "wait")
MAX_STEPS = 9  # sub-actions of a program at most: the paper's n < 10

_SUBACTION_ALIASES = {
    "grab": "grasp", "take": "grasp", "pick": "grasp", "pick_up": "grasp", "pickup": "grasp",
    "hold": "grasp", "get": "grasp", "lift": "grasp",
    "put": "release", "put_down": "release", "place": "release", "drop": "release",
    "let_go": "release", "leave": "release",
    "carry": "move", "transfer": "move", "bring": "move", "pour": "move", "shift": "move",
    "operate": "use", "apply": "use", "turn": "use", "press": "use", "push": "use", "pull": "use",
    "cut": "use", "stir": "use",
    "put_on": "position", "align": "position", "place_on": "position", "set": "position",
    "arrange": "position", "insert": "position",
    "go": "goto", "go_to": "goto", "walk": "goto", "walk_to": "goto", "move_to": "goto",
    "approach": "goto", "reach": "goto", "navigate": "goto",
    "idle": "wait", "pause": "wait", "sleep": "wait",
    "none": "nothing", "noop": "nothing", "no_op": "nothing", "do_nothing": "nothing",
}


@dataclass(frozen=True)
class Class:
    id: int
    key: str
    instances: tuple[str, ...]
    category: str


def _read(name: str) -> list[dict]:
    from importlib import resources  # here, not at import: leap-train --help needs only MAX_STEPS

    text = (resources.files("leap_cli") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _classes(name: str) -> tuple[Class, ...]:
    return tuple(
        Class(int(r["id"]), r["key"], tuple(ast.literal_eval(r["instances"])), r["category"])
        for r in _read(name)
    )


@functools.lru_cache(maxsize=None)
def verbs() -> tuple[Class, ...]:
    """EPIC-100 verb classes, index = class id."""
    return _classes("epic100/EPIC_100_verb_classes.csv")


@functools.lru_cache(maxsize=None)
def nouns() -> tuple[Class, ...]:
    """EPIC-100 noun classes, index = class id."""
    return _classes("epic100/EPIC_100_noun_classes.csv")


def _index(classes: tuple[Class, ...]) -> dict[str, Class]:
    # Keys win over instances; among instances the lower class id wins (a few instances repeat).
    table: dict[str, Class] = {}
    for c in classes:
        for inst in c.instances:
            table.setdefault(inst, c)
    for c in classes:
        table[c.key] = c
    return table


@functools.lru_cache(maxsize=None)
def _noun_index() -> dict[str, Class]:
    return _index(nouns())


@functools.lru_cache(maxsize=None)
def _verb_index() -> dict[str, Class]:
    return _index(verbs())


def singulars(word: str) -> list[str]:
    """Candidate singulars of an English plural, most likely first (``knives`` -> knife, knive)."""
    out = []
    for suffix, repl in (("ies", "y"), ("ives", "ife"), ("ves", "f"), ("oes", "o"), ("ches", "ch"),
                         ("shes", "sh"), ("sses", "ss"), ("xes", "x"), ("es", "e"), ("s", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 1 and not word.endswith("ss"):
            out.append(word[: -len(suffix)] + repl)
    return out or [word]


def _noun_forms(word: str) -> list[str]:
    w = re.sub(r"\s+", " ", word.strip().lower().strip("\"'`"))
    forms = [w, w.replace("_", ":")]
    parts = [p for p in re.split(r"[ _:\-]+", w) if p]
    if len(parts) > 1:
        # "chopping board" -> "board:chopping": EPIC keys put the head noun first.
        forms += [":".join(parts), ":".join(parts[-1:] + parts[:-1]), ":".join(reversed(parts))]
    if parts:
        for one in singulars(parts[-1]):
            forms += [":".join(parts[:-1] + [one]), ":".join([one] + parts[:-1])]
        forms += [":".join([one] + parts[1:]) for one in singulars(parts[0])]
        forms.append("-".join(parts))
    return forms


def noun(word: str) -> Class | None:
    """The EPIC-100 noun class a word names, or None."""
    if not word:
        return None
    index = _noun_index()
    for form in _noun_forms(word):
        if form in index:
            return index[form]
    return None


def noun_key(word: str) -> str | None:
    c = noun(word)
    return c.key if c else None


def noun_id(word: str) -> int | None:
    c = noun(word)
    return c.id if c else None


def verb(word: str) -> Class | None:
    """The EPIC-100 verb class a word names (``turn on``, ``pick-up``, ``washing``...), or None."""
    if not word:
        return None
    w = re.sub(r"[\s_]+", "-", word.strip().lower())
    index = _verb_index()
    forms = [w, *singulars(w)]
    if w.endswith("ing") and len(w) > 5:  # washing, wiping, cutting (the doubled consonant)
        stem = w[:-3]
        forms += [stem, stem + "e"] + ([stem[:-1]] if stem[-1] == stem[-2] else [])
    for form in forms:
        if form in index:
            return index[form]
    return None


def verb_key(word: str) -> str | None:
    c = verb(word)
    return c.key if c else None


def verb_id(word: str) -> int | None:
    c = verb(word)
    return c.id if c else None


def subaction(word: str) -> str | None:
    """One of SUBACTIONS for a sub-action name or a common alias (``pick_up`` -> grasp), or None."""
    w = re.sub(r"[\s\-]+", "_", (word or "").strip().lower())
    if w in SUBACTIONS:
        return w
    return _SUBACTION_ALIASES.get(w)


@functools.lru_cache(maxsize=None)
def epic55_nouns() -> tuple[Class, ...]:
    """EPIC-55 noun classes (the EPIC-55 object detector's 352 labels plus 0 'Nothing')."""
    return tuple(
        Class(int(r["noun_id"]), r["class_key"], tuple(ast.literal_eval(r["nouns"])), "")
        for r in _read("epic55/EPIC_noun_classes.csv")
    )


@functools.lru_cache(maxsize=None)
def _epic55_map() -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for c in epic55_nouns():
        found = None
        if c.id != 0:  # 0 is "Nothing", not an object
            for form in (c.key, *c.instances):
                found = noun_key(form)
                if found:
                    break
        out[c.id] = found
    return out


def epic55_to_100(epic55_id: int) -> str | None:
    """The EPIC-100 noun key for an EPIC-55 noun class id, or None when EPIC-100 has no match."""
    return _epic55_map().get(int(epic55_id))
