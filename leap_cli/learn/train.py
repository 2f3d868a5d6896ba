"""The training loop (`leap-train fit`), in the order it runs: config, data, model, optimiser,
loop, checkpoint.

One config (learn/config.py); AdamW with a linear warm-up and cosine decay (per step); gradient
clipping; bf16 autocast on CUDA; DistributedDataParallel from torchrun's environment (NCCL on
GPUs, gloo on CPU) with I/O on rank 0 only; atomic checkpoints every epoch holding model,
optimiser, schedule, config, epoch and best metric (learn/checkpoint.py). Randomness is a
function of (seed, epoch, rank, clip), so `--resume` after an interrupted run ends with the same
weights as an uninterrupted one. Validation and prediction: learn/predict.py.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch

from leap_cli.learn import LOSSES, checkpoint, losses
from leap_cli.learn.config import TrainConfig
from leap_cli.learn.data import ClipDataset, program_of, read_records, usable
from leap_cli.learn.distributed import Dist, all_sum, barrier, setup, teardown, world_size
from leap_cli.learn.inputs import fingerprint
from leap_cli.learn.model import LeapNet, autocast, context_tokens, load_pretrained
from leap_cli.learn.predict import evaluate


def fit(cfg: TrainConfig, resume: bool = False) -> dict:
    """Train; returns the last epoch's metrics. Files in cfg.out: config.json, last.pt, best.pt,
    metrics.jsonl, pretrained.json (the key report when --pretrained is given)."""
    check_batch_size(cfg)
    d = setup()
    # data, and the widths it gives the network
    train_recs, val_recs = read_data(cfg, d)
    table = prepare_embeddings(train_recs + val_recs, cfg, d)
    if cfg.model.backbone == "features" and not cfg.model.feature_dim:
        cfg.model.feature_dim = feature_dim(cfg, train_recs)
    # the run to continue (refused when it is another one), and this run's config
    last, inputs = os.path.join(cfg.out, "last.pt"), fingerprint(cfg)
    state = checkpoint.resume_state(last, cfg, inputs, log if d.main else lambda _: None) if resume else None
    if d.main:
        write_config(cfg)
    # model, optimiser, batches, schedule
    model = build_model(cfg, d, fresh=state is None)
    ctx_net = context_network(cfg, model, d)
    optimizer = make_optimizer(model, cfg)
    dataset = ClipDataset(train_recs, table, cfg.model.embed_dim, cfg.data(context=ctx_net is not None),
                          train=True, seed=cfg.seed)
    loader = make_loader(dataset, cfg, d)
    scheduler = make_scheduler(optimizer, cfg, len(loader))
    start, best, metrics = checkpoint.restore(state, model, optimizer, scheduler)  # finished: its last metrics
    metrics_path = os.path.join(cfg.out, "metrics.jsonl")
    if d.main:
        keep_metrics(metrics_path, start)
    ddp = wrap(model, cfg, d)
    # the loop: one epoch, its validation, its checkpoint
    for epoch in range(start, end_epoch(cfg, start)):
        metrics = train_epoch(ddp, ctx_net, loader, optimizer, scheduler, cfg, d, epoch)
        if val_recs:
            metrics.update(evaluate(model, ctx_net, val_recs, table, cfg.model.embed_dim, cfg, d))
        improved = best is None or score(metrics, cfg) > best
        best = score(metrics, cfg) if improved else best
        if d.main:
            save(checkpoint.snapshot(model, optimizer, scheduler, cfg, epoch, best, metrics, inputs),
                 cfg.out, improved, metrics_path)
        barrier(d)
    teardown(d)
    return metrics


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- config

def check_batch_size(cfg: TrainConfig) -> None:
    world = world_size()
    if cfg.batch_size < 1 or cfg.batch_size % world:
        raise ValueError(f"--batch-size {cfg.batch_size} is the global batch: it must be a positive multiple "
                         f"of the {world} processes")


def write_config(cfg: TrainConfig) -> None:
    os.makedirs(cfg.out, exist_ok=True)
    log("leap-train config: " + json.dumps(dataclasses.asdict(cfg), sort_keys=True))
    with open(os.path.join(cfg.out, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=2, sort_keys=True)


def end_epoch(cfg: TrainConfig, start: int) -> int:
    return cfg.epochs if not cfg.stop_after else min(cfg.epochs, start + cfg.stop_after)


# ---------------------------------------------------------------- data

def read_data(cfg: TrainConfig, d: Dist) -> tuple[list[dict], list[dict]]:
    """The usable training and validation records; the others reported (rank 0) and left out."""
    train_recs, problems = read_records(cfg.programs, cfg.videos)
    val_recs, vproblems = read_records(cfg.val, cfg.videos) if cfg.val else ([], [])
    train_recs, bad = usable(train_recs, cfg.data(context=False))
    val_recs, vbad = usable(val_recs, cfg.data(context=False))
    if d.main:
        for p in problems + vproblems + bad + vbad:
            log(f"leap-train: skipped {p}")
    if not train_recs:
        raise ValueError("no usable training records")
    return train_recs, val_recs


def prepare_embeddings(records: list[dict], cfg: TrainConfig, d: Dist) -> dict:
    """Embeddings of every pre-condition sentence (rank 0 computes, the others read the cache);
    their width becomes cfg.model.embed_dim."""
    if "PC" not in cfg.active_losses:
        return {}
    from leap_cli.learn.embed import embed

    sentences = sorted({(program_of(r) or {}).get("precondition_sentence") or "" for r in records if program_of(r)})
    cache = cfg.embed_cache or os.path.join(cfg.out, "embeddings")
    if d.main:
        table = embed(sentences, cache, cfg.embedder)
    barrier(d)
    if not d.main:
        table = embed(sentences, cache, cfg.embedder)  # all cached now: no model is loaded
    if table:
        cfg.model.embed_dim = len(next(iter(table.values())))
    return table


def feature_dim(cfg: TrainConfig, records: list[dict]) -> int:
    from leap_cli.learn.data import load_features

    return int(load_features(cfg.features, records[0]["id"]).shape[-1])


def make_loader(dataset: ClipDataset, cfg: TrainConfig, d: Dist):
    """Shuffled batches; the sampler is the same permutation of (seed, epoch) for any world size,
    so 1 process with batch B sees the same global batches as W processes with B / W each."""
    from torch.utils.data import DataLoader, DistributedSampler

    from leap_cli.learn.data import EpochSampler

    sampler = DistributedSampler(dataset, d.world, d.rank, shuffle=True, seed=cfg.seed, drop_last=True)
    return DataLoader(dataset, batch_size=cfg.batch_size // d.world, sampler=EpochSampler(sampler),
                      num_workers=cfg.workers, pin_memory=d.device.type == "cuda", drop_last=True,
                      persistent_workers=cfg.workers > 0, prefetch_factor=4 if cfg.workers > 0 else None)


# ---------------------------------------------------------------- model

def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_model(cfg: TrainConfig, d: Dist, fresh: bool) -> LeapNet:
    """The network on this rank's device; identical initial weights on every rank. A fresh run
    starts from --pretrained (its key report logged and in OUT/pretrained.json)."""
    seed_all(cfg.seed)
    model = LeapNet(cfg.model)
    if cfg.pretrained and fresh:
        report = load_pretrained(model, cfg.pretrained, cfg.trust_checkpoint)
        if d.main:
            log(f"leap-train: loaded {report['loaded']} tensors from {cfg.pretrained} ({report['format']}); "
                f"missing {len(report['missing'])}, unexpected {len(report['unexpected'])}, "
                f"shape mismatch {len(report['shape_mismatch'])}, inflated {len(report['inflated'])}")
            with open(os.path.join(cfg.out, "pretrained.json"), "w") as f:
                json.dump(report, f, indent=2)
    return model.to(d.device)


def context_network(cfg: TrainConfig, model: LeapNet, d: Dist) -> LeapNet | None:
    """--context: the frozen program-stage network whose tokens of neighbouring clips are added."""
    if not cfg.context:
        return None
    ctx_net, _, _ = checkpoint.load_model(cfg.context)
    if ctx_net.backbone.dim != model.backbone.dim:
        raise ValueError(f"--context network has token width {ctx_net.backbone.dim}, this one {model.backbone.dim}")
    return ctx_net.to(d.device).eval().requires_grad_(False)


def wrap(model: LeapNet, cfg: TrainConfig, d: Dist) -> torch.nn.Module:
    """DistributedDataParallel over the ranks (the model itself in one process)."""
    if d.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    unused = set(cfg.active_losses) != set(LOSSES)  # heads without a loss get no gradient
    return DDP(model, device_ids=[d.local] if d.device.type == "cuda" else None, find_unused_parameters=unused)


# ---------------------------------------------------------------- optimiser and schedule

def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # no weight decay on biases, norms, embeddings and tokens (1-D tensors)
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to min_ratio at `total` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    total, warm = steps_per_epoch * cfg.epochs, int(round(cfg.warmup * steps_per_epoch))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, warm, cfg.min_lr / cfg.lr))


# ---------------------------------------------------------------- loop

def train_epoch(ddp, ctx_net, loader, optimizer, scheduler, cfg: TrainConfig, d: Dist, epoch: int) -> dict:
    """One pass over the batches; the epoch's metrics (mean losses, learning rate, speed)."""
    loader.dataset.set_epoch(epoch)
    loader.sampler.set_epoch(epoch)
    batches = iter(loader)  # (re)starting workers may draw from the global RNG: seed after it
    seed_all(cfg.seed + 1000 * epoch + d.rank)  # randomness of (seed, epoch, rank) only -> exact resume
    ddp.train()
    t0, seen, sums = time.time(), 0, {}
    for batch in _progress(batches, d, epoch, len(loader)):
        batch = {k: v.to(d.device, non_blocking=True) for k, v in batch.items()}
        with autocast(d.device, cfg.amp):
            with torch.no_grad():
                ctx = context_tokens(ctx_net, batch, d.device) if ctx_net is not None else None
            loss, parts = compute_losses(ddp(batch["input"], ctx), batch, cfg, d)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(ddp.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        seen += len(batch["index"]) * d.world
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v
    n_steps = max(1, len(loader))
    return {"epoch": epoch, "step": (epoch + 1) * len(loader), "lr": scheduler.get_last_lr()[0],
            "train_loss": sum(sums.values()) / n_steps, **{f"train_loss_{k}": v / n_steps for k, v in sums.items()},
            "clips_per_s": seen / max(1e-9, time.time() - t0)}


def compute_losses(model_out: dict, batch: dict, cfg: TrainConfig, d: Dist) -> tuple[torch.Tensor, dict]:
    """The enabled losses, each a mean over the global batch (exact under DDP)."""
    parts = {}
    if "T" in cfg.active_losses:
        parts["T"] = losses.program_loss(model_out["step_verbs"], model_out["step_objects"], batch["verbs"],
                                         batch["objects"], batch["n_steps"], cfg.containment)
    if "PC" in cfg.active_losses:
        parts["PC"] = losses.precondition_loss(model_out["pc"], batch["embedding"], batch["has_program"])
    if "CE" in cfg.active_losses:
        parts["CE"] = losses.action_loss(model_out["verb"], model_out["noun"], batch["verb_class"],
                                         batch["noun_class"])
    total = model_out["verb"].new_zeros((), dtype=torch.float32)
    logged = {}
    for name, (s, n) in parts.items():
        count = all_sum(d, n.detach().float()).clamp(min=1)
        total = total + s / count * d.world  # DDP averages gradients over ranks
        logged[name] = (all_sum(d, s.detach().float()) / count).item()
    return total, logged


def score(metrics: dict, cfg: TrainConfig) -> float:
    """What best.pt is the best of: --val action top-1 (anticipation: action mean top-5 recall;
    --stage program: S-Verb), without --val minus the training loss."""
    key = ("val_s_verb" if cfg.stage == "program" else
           "val_action_mt5r" if cfg.task == "anticipation" else "val_action_top1")
    return metrics.get(key, -metrics["train_loss"])


def _progress(batches, d: Dist, epoch: int, total: int):
    if not d.main or not sys.stderr.isatty():
        return batches
    from tqdm import tqdm

    return tqdm(batches, total=total, desc=f"epoch {epoch}", unit="batch", leave=False, file=sys.stderr)


# ---------------------------------------------------------------- checkpoint

def save(ckpt: dict, out: str, improved: bool, metrics_path: str) -> None:
    """best.pt (when improved), the metrics row, then last.pt: killed before last.pt, a resumed
    run redoes this epoch and rewrites the others."""
    if improved:
        checkpoint.save_atomic(ckpt, os.path.join(out, "best.pt"))
    with open(metrics_path, "a") as f:
        f.write(json.dumps(ckpt["metrics"], sort_keys=True) + "\n")
    checkpoint.save_atomic(ckpt, os.path.join(out, "last.pt"))
    log("leap-train: " + json.dumps(ckpt["metrics"], sort_keys=True))


def keep_metrics(path: str, start_epoch: int) -> None:
    """Keep the metrics rows of the epochs before `start_epoch`: a fresh run starts an empty file,
    a resumed one drops the rows of epochs it is about to redo (written before an interruption)."""
    rows = []
    if start_epoch > 0 and os.path.isfile(path):
        with open(path) as f:
            rows = [line for line in f if line.strip() and json.loads(line).get("epoch", 0) < start_epoch]
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.writelines(rows)
    os.replace(tmp, path)
