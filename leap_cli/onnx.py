"""onnxruntime sessions (CUDA when present, else CPU), model manifests, model file hashes."""
from __future__ import annotations

import functools
import hashlib
import json
import os

from .records import ClipError

INSTALL_HINT = ("onnxruntime is not installed: `pip install 'leap-cli[cpu]'`, or "
                "`pip install 'leap-cli[gpu]'` on a CUDA machine (never both: they overwrite each other)")


class ModelError(ClipError):
    """A model file or manifest that cannot be used."""


def runtime():
    """The onnxruntime module, or a ModelError saying which extra to install."""
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(INSTALL_HINT) from None
    return onnxruntime


def providers() -> list[str]:
    """CUDA first when this onnxruntime build and machine have it, CPU always."""
    available = runtime().get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


@functools.lru_cache(maxsize=8)
def session(path: str):
    """One InferenceSession per model file and process."""
    if not os.path.isfile(path):
        raise ModelError(f"{path}: no such model file")
    ort = runtime()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings from the runtime would go to stderr for every clip
    # Busy-waiting worker threads steal the core that decoding and feature code need between calls.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(path, sess_options=options, providers=providers())
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelError(f"{path}: onnxruntime cannot load it ({e})") from None


@functools.lru_cache(maxsize=32)
def sha256(path: str) -> str:
    """'sha256:<hex>' of a file (provenance and manifest checks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def manifest_path(model: str, manifest: str | None = None) -> str:
    """The manifest for a model: given, else MODEL.json, else manifest.json beside the model."""
    if manifest:
        return manifest
    for candidate in (os.path.splitext(model)[0] + ".json",
                      os.path.join(os.path.dirname(model) or ".", "manifest.json")):
        if os.path.isfile(candidate):
            return candidate
    raise ModelError(f"{model}: no manifest (give --manifest, or put {os.path.splitext(model)[0]}.json "
                     "or manifest.json beside it; models/ has one per supported model)")


def load_manifest(model: str, manifest: str | None = None, check_hash: bool = True) -> dict:
    """Read the manifest; when it names a sha256, the model file must match it."""
    path = manifest_path(model, manifest)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: cannot read the manifest ({e})") from None
    expected = data.get("sha256")
    if check_hash and expected and sha256(model) != (expected if expected.startswith("sha256:") else "sha256:" + expected):
        raise ModelError(f"{model}: sha256 differs from the manifest's {expected} "
                         "(a different export? update the manifest or pass the right file)")
    return data
