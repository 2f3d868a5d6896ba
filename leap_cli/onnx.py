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


class ManifestMismatch(ModelError):
    """The manifest says something about the model's inputs or outputs that the model contradicts
    (a usage error, reported once at start)."""


_DTYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(float16)": "float16",
           "tensor(int32)": "int32", "tensor(int64)": "int64"}


def check_io(session, where: str, input_name: str | None, dtype: str | None, layout: str | None,
             size, batch: int | None, outputs: list[str]) -> dict:
    """Check a manifest's input/output description against the model's own; return what the
    manifest omitted, taken from the model (``input_name``, ``dtype``, ``layout``, ``size`` (w, h),
    ``batch``).

    ``size`` is (w, h), a short side (int) or None; only a (w, h) is compared with fixed sizes."""
    inputs = {i.name: i for i in session.get_inputs()}
    if input_name is not None and input_name not in inputs:
        raise ManifestMismatch(f"{where}: input.name {input_name!r}: the model's inputs are {', '.join(inputs)}")
    inp = inputs[input_name] if input_name else session.get_inputs()[0]
    model_dtype = _DTYPES.get(inp.type, inp.type)
    if dtype is not None and dtype != model_dtype:
        raise ManifestMismatch(f"{where}: input.dtype {dtype!r}: the model's {inp.name} takes {model_dtype}")
    shape = list(inp.shape)
    if len(shape) != 4:
        raise ManifestMismatch(f"{where}: input {inp.name} has rank {len(shape)} ({shape}); an image model takes 4")
    fixed = [d if isinstance(d, int) and d > 0 else None for d in shape]
    if layout is None:  # the model says: 3 channels on axis 1 (NCHW) or axis 3 (NHWC)
        layout = "NHWC" if fixed[3] == 3 and fixed[1] != 3 else "NCHW"
    ch, hh, ww = (1, 2, 3) if layout == "NCHW" else (3, 1, 2)
    if fixed[ch] not in (None, 3):
        raise ManifestMismatch(f"{where}: input.layout {layout!r}: the model's {inp.name} is {shape} "
                               f"(axis {ch} is {fixed[ch]}, not 3 channels)")
    filled = {"input_name": inp.name, "dtype": model_dtype, "layout": layout}
    if fixed[hh] and fixed[ww]:
        if isinstance(size, (tuple, list)) and (int(size[0]), int(size[1])) != (fixed[ww], fixed[hh]):
            raise ManifestMismatch(f"{where}: input.size {list(size)}: the model's {inp.name} takes "
                                   f"{fixed[ww]}x{fixed[hh]} (w x h)")
        if size is None or isinstance(size, int):
            filled["size"] = (fixed[ww], fixed[hh])
    if fixed[0]:
        if batch is not None and int(batch) != fixed[0]:
            raise ManifestMismatch(f"{where}: input.batch {batch}: the model's {inp.name} takes batches of {fixed[0]}")
        filled["batch"] = fixed[0]
    known = [o.name for o in session.get_outputs()]
    absent = [o for o in outputs if o not in known]
    if absent:
        raise ManifestMismatch(f"{where}: output {', '.join(absent)}: the model's outputs are {', '.join(known)}")
    return filled
