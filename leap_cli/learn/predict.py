"""A trained network's outputs for clip records: validation metrics during a fit (`evaluate`)
and per-clip prediction records (`leap-train predict`, `Predictor`). Inference only, no_grad."""
from __future__ import annotations

import os

import numpy as np
import torch

from leap_cli.learn.checkpoint import load_model
from leap_cli.learn.config import TrainConfig
from leap_cli.learn.data import ClipDataset, program_of
from leap_cli.learn.distributed import Dist, gather, world_size
from leap_cli.learn.model import autocast, context_tokens, decode_steps


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
    parts = gather(d, part)
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

    def __init__(self, checkpoint: str, batch_size: int = TrainConfig.batch_size,
                 workers: int = TrainConfig.workers, context: str | None = None, features: str | None = None,
                 all_records: list[dict] | None = None, videos: str | None = None):
        if world_size() > 1:  # every rank would write the same output
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
