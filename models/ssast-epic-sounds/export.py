#!/usr/bin/env python3
"""Export the official EPIC-Sounds SSAST checkpoint to ONNX for leap-audio.

Needs your checkout of https://github.com/epic-kitchens/epic-sounds-annotations (its ``src/``
code and the environment its src/README.md describes: torch, timm 0.4.5, fvcore, librosa not
needed here) and the released checkpoint SSAST_EPIC_SOUNDS.pyth (see manifest.json). Writes
FILE.onnx and, beside it, FILE.json: this folder's manifest with the sha256 of your export.

    python models/ssast-epic-sounds/export.py --code ~/epic-sounds-annotations \
        --checkpoint SSAST_EPIC_SOUNDS.pyth --out ~/models/ssast_epic_sounds.onnx
    leap-audio --model ~/models/ssast_epic_sounds.onnx clips.jsonl > audio.jsonl

Nothing is downloaded. The exported graph takes the baseline's input exactly as leap-audio
computes it ([batch, 1, 400, 128] log-mel frames, see manifest.json "preprocessing") and
returns its logits [batch, 44].
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
INPUT_SHAPE = (1, 400, 128)  # channel, time frames, mel bins


class Logits(torch.nn.Module):
    """The baseline model behind a plain tensor input: SSASTModel.forward takes a list of one
    tensor [B, 1, T, F] (the SlowFast pathway convention) and transposes it to [B, 1, F, T]."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:  # [B, 1, 400, 128] -> [B, 44]
        return self.model([spectrogram])


def official_model(code: str, checkpoint: str) -> torch.nn.Module:
    """SSASTModel built from the checkout's own config and loaded with the released weights."""
    sys.path.insert(0, os.path.join(code, "src"))
    # The released .pyth holds more than tensors (epoch, optimiser state); torch >= 2.6 loads
    # weights only by default, also inside SSASTModel.init_finetuned. The file is the official
    # release you chose to trust.
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    from slowfast.config.defaults import get_cfg  # the checkout's code
    from slowfast.models import build_model

    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(code, "src", "configs", "EPIC-Sounds", "ssast", "SSAST_b_vit_p16.yaml"))
    cfg.NUM_GPUS = 0
    cfg.TRAIN.ENABLE = False
    cfg.TEST.ENABLE = True
    # SSASTModel.init_finetuned reads the patch shape and pretraining input size from this file.
    cfg.TEST.CHECKPOINT_FILE_PATH = checkpoint
    model = build_model(cfg)
    import inspect

    trusted = {"weights_only": False} if "weights_only" in inspect.signature(torch.load).parameters else {}
    state = torch.load(checkpoint, map_location="cpu", **trusted)
    state = state.get("model_state", state)
    state = {k.replace("module.", "", 1): v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def export(model: torch.nn.Module, out: str, opset: int = 17) -> None:
    """Trace ``model`` ([B, 1, 400, 128] -> [B, C]) to ONNX with a dynamic batch axis."""
    import inspect
    import warnings

    example = torch.zeros(2, *INPUT_SHAPE)
    # The TorchScript exporter needs no onnxscript; torch >= 2.5 has to be told (dynamo=False)
    # and warns that it is the legacy one, older versions know no other and no such argument.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model.eval(), (example,), out, input_names=["spectrogram"],
                          output_names=["logits"], opset_version=opset,
                          dynamic_axes={"spectrogram": {0: "batch"}, "logits": {0: "batch"}}, **legacy)


def check(model: torch.nn.Module, out: str, batch: int = 3) -> float:
    """Largest |torch - onnxruntime| over a random batch (log-mel-like values)."""
    import numpy as np
    import onnxruntime

    x = torch.randn(batch, *INPUT_SHAPE) * 3 - 6
    with torch.no_grad():
        want = model(x).numpy()
    got = onnxruntime.InferenceSession(out, providers=["CPUExecutionProvider"]).run(None, {"spectrogram": x.numpy()})[0]
    return float(np.abs(want - got).max())


def write_manifest(out: str, template: str = os.path.join(HERE, "manifest.json")) -> str:
    """FILE.json beside FILE.onnx: the template manifest with this export's file name and sha256."""
    with open(template, encoding="utf-8") as f:
        manifest = json.load(f)
    h = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    manifest.update(file=os.path.basename(out), sha256="sha256:" + h.hexdigest())
    manifest.pop("sha256_note", None)
    path = os.path.splitext(out)[0] + ".json"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--code", required=True, help="your checkout of epic-sounds-annotations")
    ap.add_argument("--checkpoint", required=True, help="SSAST_EPIC_SOUNDS.pyth")
    ap.add_argument("--out", required=True, help="the ONNX file to write")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    model = Logits(official_model(args.code, args.checkpoint))
    export(model, args.out, args.opset)
    err = check(model, args.out)
    print(f"{args.out}: max |torch - onnxruntime| = {err:.2e}", file=sys.stderr)
    if err > 1e-3:
        sys.exit(f"{args.out}: the export disagrees with torch (max difference {err:.3g})")
    print(write_manifest(args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
