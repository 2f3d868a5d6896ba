"""Checkpoint files: what they hold, written atomically, read as tensors and plain data only,
and continued by --resume only when they are the same run.

``torch.load(weights_only=True)`` everywhere: a checkpoint is data, and a file that needs
pickled code or objects to load (a crafted ``last.pt`` could run a command) is refused with a
clear error, never unpickled. LEAP writes state dicts, numbers, strings, lists and dicts only:
model, optimiser, schedule, config, epoch, best metric, last metrics and the run's inputs.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
from typing import Callable

import torch

from leap_cli.learn.config import TrainConfig, config_from_dict
from leap_cli.learn.inputs import resume_refusal


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


def load_model(path: str):
    """A trained network from a checkpoint, plus its config and the checkpoint's dict."""
    from leap_cli.learn.model import LeapNet

    ckpt = load(path)
    cfg = config_from_dict(ckpt["config"])
    model = LeapNet(cfg.model)
    model.load_state_dict(ckpt["model"])
    return model, cfg, ckpt


def snapshot(model, optimizer, scheduler, cfg: TrainConfig, epoch: int, best, metrics: dict, inputs: dict) -> dict:
    """What a checkpoint holds after ``epoch`` (``restore`` reads it back)."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "config": dataclasses.asdict(cfg), "epoch": epoch, "best": best, "metrics": metrics, "inputs": inputs}


def restore(state: dict | None, model, optimizer, scheduler) -> tuple[int, float | None, dict]:
    """Load a snapshot into the run: (first epoch to train, best score so far, the last metrics)."""
    if state is None:
        return 0, None, {}
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state["epoch"] + 1, state.get("best"), state.get("metrics", {})


def resume_state(last: str, cfg: TrainConfig, inputs: dict, note: Callable[[str], None]) -> dict | None:
    """The snapshot --resume continues (None: no ``last``, a fresh start), once it is known to
    be this run: the same network, trained on the same inputs (else ValueError with the remedy)."""
    if not os.path.isfile(last):
        note(f"leap-train: no {last} to resume from; starting afresh")
        return None
    state = load(last)
    theirs, ours = state["config"]["model"], dataclasses.asdict(cfg.model)
    if theirs != ours:
        diff = ", ".join(f"{k} {theirs.get(k)!r} there, {v!r} now" for k, v in ours.items() if theirs.get(k) != v)
        raise ValueError(f"--resume: {last} holds another network ({diff}); give the same options or another --out")
    refusal = resume_refusal(last, state.get("inputs"), inputs)
    if refusal:
        raise ValueError(refusal)
    if "inputs" not in state:
        note(f"leap-train: {last} does not record what it was trained on (an older version): resumed unchecked")
    if state["epoch"] + 1 >= cfg.epochs:
        note(f"leap-train: {last} has trained all {cfg.epochs} epochs on these inputs: nothing to train "
             "(a larger --epochs trains on)")
    return state
