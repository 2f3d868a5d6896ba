"""The training loop (`leap-train fit`) and prediction (`leap-train predict`).

One config dataclass; AdamW with a linear warm-up and cosine decay (per step); gradient
clipping; bf16 autocast on CUDA; DistributedDataParallel from torchrun's environment (NCCL on
GPUs, gloo on CPU) with I/O on rank 0 only; atomic checkpoints every epoch holding model,
optimiser, schedule, config, epoch and best metric. Randomness is a function of (seed, epoch,
rank, clip), so `--resume` after an interrupted run ends with the same weights as an
uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist

from leap_cli.learn import LOSSES, checkpoint, losses, parse_losses
from leap_cli.learn.data import ClipDataset, DataConfig, program_of, read_records
from leap_cli.learn.inputs import fingerprint, resume_refusal
from leap_cli.learn.model import LeapNet, ModelConfig, decode_steps, load_pretrained
from leap_cli.learn.uniformerv2 import SPECS


@dataclass
class TrainConfig:
    programs: list = field(default_factory=list)   # training records (JSONL)
    val: list = field(default_factory=list)        # validation records (JSONL)
    out: str = "run"
    task: str = "recognition"
    stage: str = "full"                            # "program": program losses only (for --context)
    context: str | None = None                     # frozen program-stage checkpoint
    features: str | None = None
    videos: str | None = None                      # fill `video` from an EPIC videos folder
    model: ModelConfig = field(default_factory=ModelConfig)
    crop: int = 0                                  # 0: the backbone's resolution
    short_side: int = 0
    observe: int = 256
    epochs: int = 10
    batch_size: int = 8                            # global, split over the ranks
    lr: float = 1e-4
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    warmup: float = 1.0                            # epochs
    grad_clip: float = 1.0
    seed: int = 0
    workers: int = 4
    losses: tuple = LOSSES
    containment: bool = True
    amp: bool = True                               # bf16 autocast on CUDA
    pretrained: str | None = None
    trust_checkpoint: bool = False
    embedder: str | None = None
    embed_cache: str | None = None                 # default: <out>/embeddings
    stop_after: int = 0                            # testing aid: stop after this many epochs

    def data(self, context: bool) -> DataConfig:
        crop = self.crop or (SPECS[self.model.backbone].resolution if self.model.backbone in SPECS else 0)
        frames = self.model.frames or (SPECS[self.model.backbone].frames if self.model.backbone in SPECS else 1)
        return DataConfig(task=self.task, frames=frames, crop=crop, short_side=self.short_side,
                          observe=self.observe, features=self.features, context=context,
                          max_steps=self.model.max_steps)

    @property
    def active_losses(self) -> tuple:
        return tuple(x for x in self.losses if x != "CE") if self.stage == "program" else tuple(self.losses)


def config_from_options(**kw) -> TrainConfig:
    """TrainConfig from the CLI's flat options (model fields go to ModelConfig)."""
    model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
    model = ModelConfig(**{k: v for k, v in kw.items() if k in model_keys and v is not None})
    rest = {k: v for k, v in kw.items() if k not in model_keys and v is not None}
    if "losses" in rest:
        rest["losses"] = parse_losses(rest["losses"])
    for k in ("programs", "val"):
        rest[k] = list(rest.get(k) or [])
    return TrainConfig(model=model, **rest)


def config_from_dict(d: dict) -> TrainConfig:
    d = dict(d)
    d["model"] = ModelConfig(**d.get("model", {}))
    d["losses"] = tuple(d.get("losses", LOSSES))
    return TrainConfig(**d)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- distributed

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)  # before NCCL starts, so each rank talks from its own GPU
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, local, device)


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def all_sum(d: Dist, t: torch.Tensor) -> torch.Tensor:
    if d.world > 1:
        t = t.clone()
        dist.all_reduce(t)
    return t


# ---------------------------------------------------------------- schedule and optimiser

def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to min_ratio at `total` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # no weight decay on biases, norms, embeddings and tokens (1-D tensors)
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)


# ---------------------------------------------------------------- checkpoints

def load_model(path: str) -> tuple[LeapNet, TrainConfig, dict]:
    """A trained network from a checkpoint, plus its config and the embedding dimension info."""
    ckpt = checkpoint.load(path)
    cfg = config_from_dict(ckpt["config"])
    model = LeapNet(cfg.model)
    model.load_state_dict(ckpt["model"])
    return model, cfg, ckpt


# ---------------------------------------------------------------- one step

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


def context_tokens(ctx_net, batch: dict, device) -> torch.Tensor:
    """Sum of the frozen network's tokens over the valid neighbour windows: [N, D]."""
    x, mask = batch["context"].to(device), batch["context_mask"].to(device)   # [N, K, ...], [N, K]
    N, K = mask.shape
    flat = x.flatten(0, 1)[mask.flatten()]                                    # [M, ...]
    tokens = x.new_zeros(N * K, ctx_net.backbone.dim)
    if len(flat):
        tokens[mask.flatten()] = ctx_net.token(flat).to(tokens.dtype)
    return tokens.view(N, K, -1).sum(dim=1)                                   # [N, D]


def autocast(device: torch.device, enabled: bool):
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


# ---------------------------------------------------------------- fit

def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def prepare_embeddings(records: list[dict], cfg: TrainConfig, d: Dist) -> tuple[dict, int]:
    """Embeddings of every pre-condition sentence (rank 0 computes, the others read the cache)."""
    if "PC" not in cfg.active_losses:
        return {}, cfg.model.embed_dim
    from leap_cli.learn.embed import embed

    sentences = sorted({(program_of(r) or {}).get("precondition_sentence") or "" for r in records if program_of(r)})
    cache = cfg.embed_cache or os.path.join(cfg.out, "embeddings")
    if d.main:
        table = embed(sentences, cache, cfg.embedder)
    barrier(d)
    if not d.main:
        table = embed(sentences, cache, cfg.embedder)  # all cached now: no model is loaded
    dim = len(next(iter(table.values()))) if table else cfg.model.embed_dim
    return table, dim


def _loader(ds, cfg: TrainConfig, d: Dist):
    """Shuffled batches; the sampler is the same permutation of (seed, epoch) for any world size,
    so 1 process with batch B sees the same global batches as W processes with B / W each."""
    from torch.utils.data import DataLoader, DistributedSampler

    from leap_cli.learn.data import EpochSampler

    sampler = DistributedSampler(ds, d.world, d.rank, shuffle=True, seed=cfg.seed, drop_last=True)
    return DataLoader(ds, batch_size=cfg.batch_size // d.world, sampler=EpochSampler(sampler),
                      num_workers=cfg.workers, pin_memory=d.device.type == "cuda", drop_last=True,
                      persistent_workers=cfg.workers > 0, prefetch_factor=4 if cfg.workers > 0 else None), sampler


def feature_dim(cfg: TrainConfig, records: list[dict]) -> int:
    from leap_cli.learn.data import load_features

    x = load_features(cfg.features, records[0]["id"])
    return int(x.shape[-1])


def usable(records: list[dict], cfg: TrainConfig) -> tuple[list[dict], list[str]]:
    """Records whose targets can be built (others reported once here, not mid-epoch in a worker)."""
    from leap_cli import media
    from leap_cli import clip
    from leap_cli.learn.data import load_features, main_window, targets
    from leap_cli.records import ClipError

    dcfg = cfg.data(context=False)
    good, bad = [], []
    for rec in records:
        try:
            clip.window(rec)
            if not cfg.features:
                if not rec.get("video"):
                    raise ClipError("needs video (or --features)")
                if not os.path.isfile(rec["video"]):
                    raise ClipError(f"{rec['video']}: no such file")
                # a window past the video's end would stop training mid-epoch in a worker
                duration = media.probe(rec["video"]).duration  # once per video (cached)
                a, b = main_window(rec, dcfg)
                if b > a and a >= duration:
                    raise ClipError(f"its window {a:.2f}-{b:.2f} s starts after the end of {rec['video']} "
                                    f"({duration:.2f} s)")
            else:  # read once here: a NaN would train to a NaN loss, a broken file stop an epoch
                load_features(cfg.features, rec["id"])
            targets(rec, {}, 1, cfg.model.max_steps)
            good.append(rec)
        except (ClipError, KeyError, TypeError, ValueError) as e:
            bad.append(f"{rec['id']}: {e}")
    return good, bad


def fit(cfg: TrainConfig, resume: bool = False) -> dict:
    """Train; returns the last epoch's metrics. Files in cfg.out: config.json, last.pt, best.pt,
    metrics.jsonl, pretrained.json (the key report when --pretrained is given)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.batch_size < 1 or cfg.batch_size % world:
        raise ValueError(f"--batch-size {cfg.batch_size} is the global batch: it must be a positive multiple "
                         f"of the {world} processes")
    d = setup_distributed()
    train_recs, problems = read_records(cfg.programs, cfg.videos)
    val_recs, vproblems = read_records(cfg.val, cfg.videos) if cfg.val else ([], [])
    if d.main:
        for p in problems + vproblems:
            log(f"leap-train: skipped {p}")
    train_recs, bad = usable(train_recs, cfg)
    val_recs, vbad = usable(val_recs, cfg)
    if d.main:
        for p in bad + vbad:
            log(f"leap-train: skipped {p}")
    if not train_recs:
        raise ValueError("no usable training records")
    if d.main:
        os.makedirs(cfg.out, exist_ok=True)
    table, embed_dim = prepare_embeddings(train_recs + val_recs, cfg, d)
    cfg.model.embed_dim = embed_dim
    if cfg.model.backbone == "features" and not cfg.model.feature_dim:
        cfg.model.feature_dim = feature_dim(cfg, train_recs)
    last = os.path.join(cfg.out, "last.pt")
    state = checkpoint.load(last) if resume and os.path.isfile(last) else None
    if state is not None and state["config"]["model"] != dataclasses.asdict(cfg.model):
        theirs, ours = state["config"]["model"], dataclasses.asdict(cfg.model)
        diff = ", ".join(f"{k} {theirs.get(k)!r} there, {v!r} now" for k, v in ours.items() if theirs.get(k) != v)
        raise ValueError(f"--resume: {last} holds another network ({diff}); give the same options or another --out")
    inputs = fingerprint(cfg)
    if state is not None:
        refusal = resume_refusal(last, state.get("inputs"), inputs)
        if refusal:
            raise ValueError(refusal)
        if "inputs" not in state and d.main:
            log(f"leap-train: {last} does not record what it was trained on (an older version): resumed unchecked")
    if resume and state is None and d.main:
        log(f"leap-train: no {last} to resume from; starting afresh")
    if d.main:
        log("leap-train config: " + json.dumps(dataclasses.asdict(cfg), sort_keys=True))
        with open(os.path.join(cfg.out, "config.json"), "w") as f:
            json.dump(dataclasses.asdict(cfg), f, indent=2, sort_keys=True)

    _seed_all(cfg.seed)  # identical initial weights on every rank
    model = LeapNet(cfg.model)
    if cfg.pretrained and state is None:
        report = load_pretrained(model, cfg.pretrained, cfg.trust_checkpoint)
        if d.main:
            log(f"leap-train: loaded {report['loaded']} tensors from {cfg.pretrained} ({report['format']}); "
                f"missing {len(report['missing'])}, unexpected {len(report['unexpected'])}, "
                f"shape mismatch {len(report['shape_mismatch'])}, inflated {len(report['inflated'])}")
            with open(os.path.join(cfg.out, "pretrained.json"), "w") as f:
                json.dump(report, f, indent=2)
    model.to(d.device)
    ctx_net = None
    if cfg.context:
        ctx_net, _, _ = load_model(cfg.context)
        if ctx_net.backbone.dim != model.backbone.dim:
            raise ValueError(f"--context network has token width {ctx_net.backbone.dim}, this one {model.backbone.dim}")
        ctx_net.to(d.device).eval().requires_grad_(False)

    optimizer = make_optimizer(model, cfg)
    dcfg = cfg.data(context=ctx_net is not None)
    train_ds = ClipDataset(train_recs, table, embed_dim, dcfg, train=True, seed=cfg.seed)
    loader, sampler = _loader(train_ds, cfg, d)
    steps_per_epoch = len(loader)
    total = steps_per_epoch * cfg.epochs
    warm = int(round(cfg.warmup * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total, warm, cfg.min_lr / cfg.lr))
    start_epoch, best = 0, None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best = state["epoch"] + 1, state.get("best")
        if start_epoch >= cfg.epochs and d.main:
            log(f"leap-train: {last} has trained all {cfg.epochs} epochs on these inputs: nothing to train "
                "(a larger --epochs trains on)")
    metrics_path = os.path.join(cfg.out, "metrics.jsonl")
    if d.main:
        keep_metrics(metrics_path, start_epoch)
    ddp = model
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        unused = set(cfg.active_losses) != set(LOSSES)  # heads without a loss get no gradient
        ddp = DDP(model, device_ids=[d.local] if d.device.type == "cuda" else None, find_unused_parameters=unused)

    metrics = state.get("metrics", {}) if state is not None else {}  # a finished run: its last epoch's
    end_epoch = cfg.epochs if not cfg.stop_after else min(cfg.epochs, start_epoch + cfg.stop_after)
    for epoch in range(start_epoch, end_epoch):
        train_ds.set_epoch(epoch)
        sampler.set_epoch(epoch)
        batches = iter(loader)  # (re)starting workers may draw from the global RNG: seed after it
        # randomness of this epoch depends on (seed, epoch, rank) only -> exact resume
        _seed_all(cfg.seed + 1000 * epoch + d.rank)
        model.train()
        t0, seen, sums = time.time(), 0, {}
        for batch in _progress(batches, d, epoch, len(loader)):
            batch = {k: v.to(d.device, non_blocking=True) for k, v in batch.items()}
            with autocast(d.device, cfg.amp):
                ctx = None
                if ctx_net is not None:
                    with torch.no_grad():
                        ctx = context_tokens(ctx_net, batch, d.device)
                out = ddp(batch["input"], ctx)
                loss, parts = compute_losses(out, batch, cfg, d)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            seen += len(batch["index"]) * d.world
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
        n_steps = max(1, steps_per_epoch)
        metrics = {"epoch": epoch, "step": (epoch + 1) * steps_per_epoch, "lr": scheduler.get_last_lr()[0],
                   "train_loss": sum(sums.values()) / n_steps,
                   **{f"train_loss_{k}": v / n_steps for k, v in sums.items()},
                   "clips_per_s": seen / max(1e-9, time.time() - t0)}
        if val_recs:
            metrics.update(evaluate(model, ctx_net, val_recs, table, embed_dim, cfg, d))
        key = ("val_s_verb" if cfg.stage == "program" else
               "val_action_mt5r" if cfg.task == "anticipation" else "val_action_top1")
        score = metrics.get(key, -metrics["train_loss"])
        improved = best is None or score > best
        best = score if improved else best
        if d.main:
            ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "config": dataclasses.asdict(cfg),
                    "epoch": epoch, "best": best, "metrics": metrics, "inputs": inputs}
            # last.pt last: killed before it, a resumed run redoes this epoch and rewrites the others
            if improved:
                checkpoint.save_atomic(ckpt, os.path.join(cfg.out, "best.pt"))
            with open(metrics_path, "a") as f:
                f.write(json.dumps(metrics, sort_keys=True) + "\n")
            checkpoint.save_atomic(ckpt, last)
            log("leap-train: " + json.dumps(metrics, sort_keys=True))
        barrier(d)
    return metrics


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


def _progress(batches, d: Dist, epoch: int, total: int):
    if not d.main or not sys.stderr.isatty():
        return batches
    from tqdm import tqdm

    return tqdm(batches, total=total, desc=f"epoch {epoch}", unit="batch", leave=False, file=sys.stderr)


# ---------------------------------------------------------------- evaluation and prediction

@torch.no_grad()
def run_model(model, ctx_net, batch: dict, device, amp: bool) -> dict:
    with autocast(device, amp):
        ctx = context_tokens(ctx_net, batch, device) if ctx_net is not None else None
        return model(batch["input"].to(device), ctx)


@torch.no_grad()
def evaluate(model, ctx_net, records, table, embed_dim, cfg: TrainConfig, d: Dist) -> dict:
    """Validation metrics (every rank scores records[rank::world], rank 0 gathers):
    top-1 verb/noun/action (anticipation: also mean top-5 recall) and, with L_T, S-Verb /
    Obj (A) / Obj (B)."""
    from torch.utils.data import DataLoader, Subset

    from leap_cli.learn import metrics as M

    model.eval()
    ds = ClipDataset(records, table, embed_dim, cfg.data(context=ctx_net is not None), train=False)
    mine = Subset(ds, list(range(d.rank, len(records), d.world)))
    part = {"index": [], "verb": [], "noun": [], "steps": []}
    for batch in DataLoader(mine, batch_size=max(1, cfg.batch_size // d.world), num_workers=cfg.workers):
        out = run_model(model, ctx_net, batch, d.device, cfg.amp)
        part["index"] += batch["index"].tolist()
        part["verb"] += list(out["verb"].float().cpu().numpy())
        part["noun"] += list(out["noun"].float().cpu().numpy())
        part["steps"] += decode_steps(out["step_verbs"], out["step_objects"])
    parts = [part]
    if d.world > 1:
        parts = [None] * d.world
        dist.all_gather_object(parts, part)
    model.train()
    order = np.argsort([i for p in parts for i in p["index"]])
    vs = np.stack([x for p in parts for x in p["verb"]])[order]
    ns = np.stack([x for p in parts for x in p["noun"]])[order]
    steps = [s for p in parts for s in p["steps"]]
    steps = [steps[k] for k in order]
    v = np.array([r.get("verb_class") if r.get("verb_class") is not None else -1 for r in records])
    n = np.array([r.get("noun_class") if r.get("noun_class") is not None else -1 for r in records])
    res = {}
    labelled = (v >= 0) & (n >= 0)
    if labelled.any():
        r = M.recognition(vs[labelled], ns[labelled], v[labelled], n[labelled], [""] * int(labelled.sum()),
                          M.Split(frozenset(), frozenset(), frozenset()))
        res.update({"val_verb_top1": r["all_verb_accuracy_at_1"], "val_noun_top1": r["all_noun_accuracy_at_1"],
                    "val_action_top1": r["all_action_accuracy_at_1"]})
        if cfg.task == "anticipation":  # EPIC ranks anticipation by class-mean top-5 recall
            a = M.anticipation(vs[labelled], ns[labelled], v[labelled], n[labelled], [""] * int(labelled.sum()),
                               M.Split(frozenset(), frozenset(), frozenset()))
            res.update({f"val_{t}_mt5r": a[f"overall_{t}_mt5r"] for t in ("verb", "noun", "action")})
    with_prog = [i for i, rec in enumerate(records) if program_of(rec)]
    if with_prog and "T" in cfg.active_losses:
        p = M.programs([steps[i] for i in with_prog], [program_of(records[i])["steps"] for i in with_prog])
        res.update({"val_s_verb": p["s_verb"], "val_obj_a": p["obj_a"], "val_obj_b": p["obj_b"]})
    return res


def predictions(out: dict, round_to: int = 5) -> list[dict]:
    """Per-clip prediction records from one batch of network outputs."""
    from leap_cli import ontology

    nouns = ontology.nouns()
    steps = decode_steps(out["step_verbs"], out["step_objects"])
    vs, ns = out["verb"].float().cpu().numpy(), out["noun"].float().cpu().numpy()
    res = []
    for i in range(len(vs)):
        prog = [{"verb": ontology.SUBACTIONS[s["verb_id"]], "verb_id": s["verb_id"],
                 "objects": [nouns[o].key for o in s["object_ids"]], "object_ids": s["object_ids"]}
                for s in steps[i]]
        res.append({"verb_scores": [round(float(x), round_to) for x in vs[i]],
                    "noun_scores": [round(float(x), round_to) for x in ns[i]],
                    "program": {"steps": prog}})
    return res


class Predictor:
    """Batches clip records through a trained network: transform(records) -> results in order."""

    def __init__(self, checkpoint: str, batch_size: int = 8, workers: int = 4, context: str | None = None,
                 features: str | None = None, all_records: list[dict] | None = None, videos: str | None = None):
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # every rank would write the same output
            raise ValueError("leap-train predict runs as one process, not under torchrun: for several GPUs "
                             "run one per GPU with --shard K/N and CUDA_VISIBLE_DEVICES=K")
        self.model, self.cfg, ckpt = load_model(checkpoint)
        if features:
            self.cfg.features = features
        self.d = Dist(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.d.device).eval()
        if context and not self.cfg.context:
            raise ValueError(f"{checkpoint} was trained without --context: its classifier never saw context "
                             "tokens, so --context would only add noise")
        ctx_path = context or self.cfg.context
        self.ctx_net = None
        if ctx_path:
            self.ctx_net, _, _ = load_model(ctx_path)
            self.ctx_net.to(self.d.device).eval()
        self.batch_size, self.workers, self.videos = batch_size, workers, videos
        # neighbours for context come from this list (else from the batch itself)
        self.all_records = [self._fill(r, quiet=True) for r in all_records] if all_records else None
        self.source = {"tool": "leap-train", "checkpoint": os.path.abspath(checkpoint), "epoch": ckpt["epoch"]}

    def _fill(self, rec: dict, quiet: bool = False) -> dict:
        if not self.videos:
            return rec
        from leap_cli.clips import find_video
        from leap_cli.records import ClipError

        try:
            return {**rec, "video": find_video(self.videos, rec.get("video_id") or "", rec.get("participant_id"))}
        except ClipError:
            if quiet:
                return rec
            raise

    def __call__(self, records):
        from concurrent.futures import ThreadPoolExecutor

        from leap_cli.records import ClipError

        dcfg = self.cfg.data(context=self.ctx_net is not None)
        pool = ThreadPoolExecutor(max(1, self.workers))  # ffmpeg decodes in subprocesses: threads suffice
        whole = None
        if self.all_records:  # one dataset (and one neighbour order) for the whole input
            whole = ClipDataset(self.all_records, {}, self.cfg.model.embed_dim, dcfg, train=False, labels=False)
            whole_index = {r["id"]: i for i, r in enumerate(self.all_records)}

        def submit(chunk: list[dict]):
            """Start decoding a chunk in the pool: (chunk, futures of items or exceptions)."""
            if whole is not None:
                ds, index = whole, whole_index
            else:
                universe = [self._fill(r, quiet=True) for r in chunk]
                ds = ClipDataset(universe, {}, self.cfg.model.embed_dim, dcfg, train=False, labels=False)
                index = {r["id"]: i for i, r in enumerate(universe)}

            def load(rec):
                try:
                    self._fill(rec)  # a missing video is this clip's error
                    if rec["id"] not in index:
                        raise ClipError(f"{rec['id']}: not among the records given for context")
                    return ds[index[rec["id"]]]
                except Exception as e:  # noqa: BLE001 - one bad clip becomes its error record
                    return e

            return chunk, [pool.submit(load, rec) for rec in chunk]

        def finish(chunk: list[dict], futures):
            items = [f.result() for f in futures]
            good = [it for it in items if not isinstance(it, BaseException)]
            outs = []
            if good:
                batch = {k: torch.stack([g[k] for g in good]) for k in good[0]}
                outs = predictions(run_model(self.model, self.ctx_net, batch, self.d.device, self.cfg.amp))
            it = iter(outs)
            for rec, item in zip(chunk, items):
                yield item if isinstance(item, BaseException) else {"id": rec["id"], **next(it),
                                                                     "source": self.source}

        pending = None
        try:
            # one chunk ahead: the next batch decodes while the network runs on this one
            for chunk in _chunks(records, self.batch_size):
                started = submit(chunk)
                if pending is not None:
                    yield from finish(*pending)
                pending = started
            if pending is not None:
                yield from finish(*pending)
        finally:
            pool.shutdown(cancel_futures=True)


def _chunks(items, n: int):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
