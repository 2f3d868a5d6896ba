"""What a fit was trained on, so ``--resume`` continues only the same run (torch-free).

A checkpoint records its inputs: the content (sha256) of every --programs and --val file and
of the --context checkpoint, and the settings that shape the training (task, stage, schedule,
losses...). ``--resume`` on other inputs would continue, or for a finished run silently skip,
a run that is not this one: it is refused, naming what differs and the remedy. Locations
(--out, --videos, --features, the embedding cache), --workers, amp and --epochs may change
(a larger --epochs trains a finished run on).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os

# TrainConfig fields that are not the run's identity: where things are, how fast, how long.
FREE = frozenset({"programs", "val", "out", "context", "features", "videos", "model", "epochs", "workers",
                  "amp", "pretrained", "trust_checkpoint", "embed_cache", "stop_after"})


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def fingerprint(cfg) -> dict:
    """The inputs of a fit: files by content (named by basename), settings by value."""
    def files(paths):
        return [{"file": os.path.basename(p), "sha256": file_digest(p)} for p in paths or ()]

    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in FREE}
    return {"programs": files(cfg.programs), "val": files(cfg.val),
            "context": files([cfg.context] if cfg.context else []), "settings": settings}


def differences(saved: dict, now: dict) -> list[str]:
    """What differs between the inputs a checkpoint recorded and this run's, in words."""
    out = []
    for key, what in (("programs", "--programs"), ("val", "--val"), ("context", "--context")):
        if [f["sha256"] for f in saved.get(key, [])] != [f["sha256"] for f in now[key]]:
            there = ", ".join(f["file"] for f in saved.get(key, [])) or "none"
            here = ", ".join(f["file"] for f in now[key]) or "none"
            out.append(f"{what} {here} differ from the {there} it was trained on" if there != "none" or here == "none"
                       else f"{what} {here} given, none when it was trained")
    theirs = saved.get("settings", {})
    for k, v in now["settings"].items():
        if k in theirs and theirs[k] != v:
            out.append(f"{k} {theirs[k]!r} there, {v!r} now")
    return out


def resume_refusal(last: str, saved: dict | None, now: dict) -> str | None:
    """The error for resuming ``last`` on other inputs (None: the same run, or nothing recorded)."""
    if saved is None:
        return None
    diff = differences(saved, now)
    if not diff:
        return None
    return (f"--resume: {last} was trained on other inputs ({'; '.join(diff)}); to train afresh on these, "
            f"run without --resume (it replaces {os.path.basename(last)} and best.pt in that folder) or give "
            "another --out; to continue that run, give the inputs it was trained on")
