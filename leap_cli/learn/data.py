"""Training data: program records -> targets; clips -> frames (TSN sparse sampling) or features.

Frames: T frames over the clip, one per equal segment (a random time inside each segment in
training, the segment centre otherwise), decoded through leap_cli.media, short-side resized,
cropped (random in training, centre otherwise) and normalised with mean 0.45 / std 0.225 on
[0, 1] -> [3, T, crop, crop]. Features: `DIR/<id>.npy`, [F] or [T, F].

Context windows (the paper's "Full"): recognition, the clips i-2..i+2 of the same video (i
excluded), each re-centred to clip i's length; anticipation, the clips i-2..i, each the
`observe` frames before its end, never after clip i's start - 1 s.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from leap_cli import clip, media
from leap_cli.learn.model import END, N_NOUNS, N_SUB, N_VERBS
from leap_cli.ontology import MAX_STEPS
from leap_cli.records import ClipError

MEAN, STD = 0.45, 0.225
ANTICIPATION_GAP = 1.0  # seconds between the observed window and the action start (EPIC)


@dataclass
class DataConfig:
    task: str = "recognition"        # or "anticipation"
    frames: int = 8
    crop: int = 32
    short_side: int = 0              # 0: crop * 8 / 7 (256 for 224)
    observe: int = 256               # anticipation: frames observed (at the video's frame rate)
    features: str | None = None      # precomputed features folder
    context: bool = False            # also load the neighbour windows
    max_steps: int = MAX_STEPS


def read_records(paths, videos: str | None = None) -> tuple[list[dict], list[str]]:
    """Clip records from JSONL files (`video` filled from `videos` when given);
    returns (records, problems 'file:line: reason')."""
    from leap_cli.stream import read_lines

    records, problems = [], []
    for line in read_lines(paths):
        where, rec = f"{line.file}:{line.line}", line.record
        if line.problem:
            problems.append(f"{where}: {line.problem}")
        elif "error" in rec:
            problems.append(f"{where}: {rec.get('id')}: carries an error from leap-{rec['error'].get('stage')}")
        else:
            if videos:
                from leap_cli.clips import find_video
                try:
                    if not rec.get("video_id"):
                        raise ClipError("no video_id to find its video under --videos")
                    rec = {**rec, "video": find_video(videos, rec["video_id"], rec.get("participant_id"))}
                except ClipError as e:
                    problems.append(f"{where}: {rec['id']}: {e}")
                    continue
            records.append(rec)
    return records, problems


def program_of(rec: dict) -> dict | None:
    prog = rec.get("program")
    if not isinstance(prog, dict) or prog.get("missing") or not isinstance(prog.get("steps"), list):
        return None
    return prog


def targets(rec: dict, embeddings: dict, embed_dim: int, max_steps: int) -> dict:
    """Numpy targets of one clip (program parts zero/END when it has no program)."""
    verbs = np.full(max_steps, END, np.int64)
    objects = np.zeros((max_steps, N_NOUNS), np.float32)
    emb = np.zeros(embed_dim, np.float32)
    prog = program_of(rec)
    n = -1
    if prog is not None:
        steps = prog["steps"][:max_steps]
        for t, step in enumerate(steps):
            v = step.get("verb_id")
            if v is None:  # records that name the verb only
                from leap_cli.ontology import SUBACTIONS

                v = SUBACTIONS.index(step["verb"]) if step.get("verb") in SUBACTIONS else -1
            v = int(v)
            if not 0 <= v < N_SUB:
                raise ClipError(f"{rec['id']}: sub-action verb_id {v} outside 0..{N_SUB - 1}")
            verbs[t] = v
            ids = [int(o) for o in step.get("object_ids") or [] if o is not None and 0 <= int(o) < N_NOUNS]
            for o in ids[:2]:  # soft labels: the step's objects share the mass
                objects[t, o] += 1.0 / len(ids[:2])
        n = len(steps)
        sentence = prog.get("precondition_sentence") or ""
        if embeddings:
            emb = np.asarray(embeddings[sentence], np.float32)
    return {"verbs": verbs, "objects": objects, "n_steps": np.int64(n), "embedding": emb,
            "has_program": np.float32(prog is not None and bool(embeddings)),
            "verb_class": np.int64(class_label(rec, "verb_class", N_VERBS)),
            "noun_class": np.int64(class_label(rec, "noun_class", N_NOUNS))}


def class_label(rec: dict, key: str, n: int) -> int:
    """The record's EPIC class id under ``key``; -1 (no label, left out of the loss) when it has
    none; a ClipError for anything but an integer 0..n-1 (-1 or 500 would train or crash)."""
    value = rec.get(key)
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
        raise ClipError(f"{key} {value!r} is not a class id 0..{n - 1}")
    return value


def segment_times(a: float, b: float, t: int, rng: np.random.Generator | None) -> np.ndarray:
    """TSN sparse sampling: one time per equal segment of [a, b]; random inside it if rng."""
    offsets = rng.random(t) if rng is not None else np.full(t, 0.5)
    return a + (np.arange(t) + offsets) * (b - a) / t


def _fps(rec: dict) -> float:
    p = media.probe(rec["video"])
    return p.fps or 30.0


def main_window(rec: dict, cfg: DataConfig) -> tuple[float, float]:
    start, stop = clip.window(rec)
    if cfg.task == "anticipation":
        end = start - ANTICIPATION_GAP
        return max(0.0, end - cfg.observe / _fps(rec)), end
    return start, stop


def video_order(records: list[dict]) -> dict[int, tuple[list[int], int]]:
    """For each record index: (indices of its video's clips ordered by start, its position)."""
    groups: dict = {}
    for i, r in enumerate(records):
        groups.setdefault(r.get("video_id") or r.get("video"), []).append(i)
    out = {}
    for idx in groups.values():
        idx.sort(key=lambda j: (float(records[j]["start"]), records[j]["id"]))
        for k, j in enumerate(idx):
            out[j] = (idx, k)
    return out


def _neighbours(order, i: int, task: str) -> list[int | None]:
    same, k = order[i]
    deltas = (-2, -1, 0) if task == "anticipation" else (-2, -1, 1, 2)
    return [same[k + d] if 0 <= k + d < len(same) else None for d in deltas]


def context_windows(records: list[dict], order, i: int, cfg: DataConfig) -> list[tuple[float, float] | None]:
    """Windows of the neighbour clips of records[i]; None = no such neighbour / nothing observable."""
    rec = records[i]
    out = []
    if cfg.task == "anticipation":
        limit = float(rec["start"]) - ANTICIPATION_GAP  # nothing after the clip's start - 1 s
        for j in _neighbours(order, i, cfg.task):
            end = min(float(records[j]["stop"]), limit) if j is not None else 0.0
            out.append((max(0.0, end - cfg.observe / _fps(rec)), end) if end > 0 else None)
    else:
        half = (float(rec["stop"]) - float(rec["start"])) / 2  # each as long as clip i
        for j in _neighbours(order, i, cfg.task):
            if j is None:
                out.append(None)
                continue
            c = (float(records[j]["start"]) + float(records[j]["stop"])) / 2
            out.append((max(0.0, c - half), c + half))
    return out


def load_frames(path: str, window: tuple[float, float], cfg: DataConfig, rng) -> np.ndarray:
    """[3, T, crop, crop] float32 for a window; zeros when the window is empty (nothing observable)."""
    a, b = window
    t, crop = cfg.frames, cfg.crop
    if b <= a:
        return np.zeros((3, t, crop, crop), np.float32)
    short = cfg.short_side or round(crop * 8 / 7)
    times = segment_times(a, b, t, rng)
    fps = max(2.0 * t / (b - a), 1.0)  # enough decoded frames that every segment has one near
    native = media.probe(path).fps
    if native:
        fps = min(fps, native)
    got_t, got = media.frames(path, a, b, fps=fps, size=short)         # [n], [n, H, W, 3]
    pick = np.abs(got_t[None, :] - times[:, None]).argmin(axis=1)      # nearest decoded frame
    clip = got[pick]                                                   # [T, H, W, 3]
    H, W = clip.shape[1:3]
    if rng is not None:
        y, x = int(rng.integers(0, H - crop + 1)), int(rng.integers(0, W - crop + 1))
    else:
        y, x = (H - crop) // 2, (W - crop) // 2
    clip = clip[:, y:y + crop, x:x + crop].astype(np.float32) / 255.0
    clip = (clip - MEAN) / STD
    return np.ascontiguousarray(clip.transpose(3, 0, 1, 2))           # [3, T, crop, crop]


def load_features(folder: str, clip_id: str) -> np.ndarray:
    path = os.path.join(folder, f"{clip_id}.npy")
    if not os.path.isfile(path):
        raise ClipError(f"{clip_id}: no features file {path}")
    try:
        x = np.load(path, allow_pickle=False).astype(np.float32)
    except (ValueError, OSError, EOFError, TypeError) as e:  # garbage, a pickle, a cut-short copy
        raise ClipError(f"{path}: not a NumPy .npy array of numbers ({e})") from None
    if not np.isfinite(x).all():
        raise ClipError(f"{path}: {int(np.size(x) - np.isfinite(x).sum())} of {x.size} feature values are NaN or infinite")
    return x


def usable(records: list[dict], cfg: DataConfig) -> tuple[list[dict], list[str]]:
    """Records whose targets can be built, and why each other one cannot (reported once before
    training, not mid-epoch in a worker)."""
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
                a, b = main_window(rec, cfg)
                if b > a and a >= duration:
                    raise ClipError(f"its window {a:.2f}-{b:.2f} s starts after the end of {rec['video']} "
                                    f"({duration:.2f} s)")
            else:  # read once here: a NaN would train to a NaN loss, a broken file stop an epoch
                load_features(cfg.features, rec["id"])
            targets(rec, {}, 1, cfg.max_steps)
            good.append(rec)
        except (ClipError, KeyError, TypeError, ValueError) as e:
            bad.append(f"{rec['id']}: {e}")
    return good, bad


class ClipDataset(torch.utils.data.Dataset):
    """Items: {"input", targets..., "index"} (+ "context" [K, ...], "context_mask" [K])."""

    def __init__(self, records: list[dict], embeddings: dict, embed_dim: int, cfg: DataConfig,
                 train: bool, seed: int = 0, labels: bool = True):
        self.records, self.embeddings, self.embed_dim, self.labels = records, embeddings, embed_dim, labels
        self.cfg, self.train, self.seed, self.epoch = cfg, train, seed, 0
        self.order = video_order(records) if cfg.context else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return len(self.records)

    def _rng(self, i: int, epoch: int, k: int = 0):
        # augmentation depends on (seed, epoch, clip, window) only: any worker count, exact resume
        return np.random.default_rng([self.seed, epoch, i, k]) if self.train else None

    def _input(self, rec: dict, window, rng, neighbour_id: str | None = None):
        if self.cfg.features:
            return load_features(self.cfg.features, neighbour_id or rec["id"])
        return load_frames(rec["video"], window, self.cfg, rng)

    def __getitem__(self, key) -> dict:
        # key: an index, or (index, epoch) from EpochSampler (persistent workers never see set_epoch)
        i, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        rec = self.records[i]
        item = targets(rec, self.embeddings, self.embed_dim, self.cfg.max_steps) if self.labels else {}
        item["index"] = np.int64(i)
        item["input"] = self._input(rec, None if self.cfg.features else main_window(rec, self.cfg), self._rng(i, epoch))
        if self.cfg.context:
            item["context"], item["context_mask"] = self._context(i, epoch, item["input"])
        return {k: torch.as_tensor(v) for k, v in item.items()}

    def _context(self, i: int, epoch: int, like: np.ndarray):
        rec = self.records[i]
        parts, mask = [], []
        if self.cfg.features:
            for j in _neighbours(self.order, i, self.cfg.task):
                nid = self.records[j]["id"] if j is not None else None
                ok = nid is not None and os.path.isfile(os.path.join(self.cfg.features, f"{nid}.npy"))
                parts.append(load_features(self.cfg.features, nid) if ok else np.zeros_like(like))
                mask.append(ok)
        else:
            for k, w in enumerate(context_windows(self.records, self.order, i, self.cfg), 1):
                parts.append(load_frames(rec["video"], w, self.cfg, self._rng(i, epoch, k)) if w else np.zeros_like(like))
                mask.append(w is not None)
        return np.stack(parts), np.asarray(mask)


class EpochSampler(torch.utils.data.Sampler):
    """Yields (index, epoch) from a DistributedSampler so workers can stay alive across epochs."""

    def __init__(self, sampler):
        self.sampler = sampler

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        epoch = self.sampler.epoch
        return ((i, epoch) for i in self.sampler)

    def __len__(self):
        return len(self.sampler)
