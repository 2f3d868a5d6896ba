"""Training and evaluation for LEAP: backbones, program head, losses, data, training loop, metrics.

Only the modules that need torch import it (uniformerv2, model, losses, data, distributed,
checkpoint, train, predict, embed); `config` and `inputs` are torch-free so `leap-train --help`
starts fast, `metrics` is numpy-only so `leap-eval` does.
"""

LOSSES = ("T", "PC", "CE")
# The backbone registry's names (uniformerv2.SPECS, and precomputed features), torch-free for the CLI.
BACKBONES = ("uniformerv2-l14", "uniformerv2-b16", "tiny", "features")


def parse_losses(text) -> tuple:
    """'T+PC+CE' or 'T,PC' -> ('T', 'PC', 'CE'): the ablation rows of the paper's tables."""
    if isinstance(text, (tuple, list)):
        return tuple(text)
    names = tuple(x.strip().upper() for x in text.replace("+", ",").split(",") if x.strip())
    bad = [x for x in names if x not in LOSSES]
    if bad or not names:
        raise ValueError(f"unknown {', '.join(bad) or 'empty list'}; use a subset of T, PC, CE")
    return names
