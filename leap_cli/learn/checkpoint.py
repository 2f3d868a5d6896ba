"""Checkpoint files: written atomically, read as tensors and plain data only.

``torch.load(weights_only=True)`` everywhere: a checkpoint is data, and a file that needs
pickled code or objects to load (a crafted ``last.pt`` could run a command) is refused with a
clear error, never unpickled. LEAP writes state dicts, numbers, strings, lists and dicts only.
"""
from __future__ import annotations

import os
import pickle

import torch


class CheckpointError(ValueError):
    """A checkpoint that cannot be read safely, or is not a LEAP checkpoint."""


def save_atomic(obj, path: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, path)  # readers see the old or the new file, never half of one


def load(path: str) -> dict:
    """A LEAP checkpoint's dict (model, config, epoch, ...); CheckpointError when it is not one."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [line.strip() for line in str(e).splitlines()]
        detail = next((line for line in lines if "global" in line.lower() and "weights only" not in line.lower()), None)
        if detail is None:  # torch's safe unpickler met bytes that are no pickle at all
            raise CheckpointError(f"{path}: not a checkpoint ({next((x for x in lines if 'Unsupported' in x), 'unreadable')})") from None
        raise CheckpointError(f"{path}: refused: it holds pickled objects other than tensors and plain data "
                              f"(loading it could run code); {detail}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "empty"
        raise CheckpointError(f"{path}: not a checkpoint ({type(e).__name__}: {first})") from None
    if not isinstance(obj, dict) or "model" not in obj or "config" not in obj:
        raise CheckpointError(f"{path}: not a LEAP checkpoint (no model and config; leap-train fit writes them)")
    return obj
