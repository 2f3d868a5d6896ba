"""Training and evaluation for LEAP: backbones, program head, losses, data, training loop, metrics.

Only the modules that need torch import it (uniformerv2, model, losses, data, train, embed);
`metrics` is numpy-only so `leap-eval` starts fast.
"""
