"""The LEAP network: a backbone from the registry, the action classifier, head phi.

Head phi works on the final global video token: an FC regressing the pre-condition sentence
embedding, and a GRU unrolled for up to `max_steps` steps whose outputs go through an FC for
sub-action verbs (8 verbs + end) and an FC for objects (soft labels over the 300 EPIC nouns,
both objects of a step in one head). Context aggregation adds the frozen program-stage
network's tokens of neighbouring clips to the clip's token before classification.
"""
from __future__ import annotations

import torch
from torch import nn

from leap_cli.learn import BACKBONES
from leap_cli.learn.config import ModelConfig
from leap_cli.learn.uniformerv2 import SPECS, FeatureMLP, UniFormerV2
from leap_cli.ontology import N_NOUNS, N_VERBS, SUBACTIONS

N_SUB = len(SUBACTIONS)  # sub-action verbs 0..7
END = N_SUB              # the end-of-program token of the verb head
assert set(BACKBONES) == set(SPECS) | {"features"}, "learn.BACKBONES names uniformerv2.SPECS"


class ProgramHead(nn.Module):
    """phi: token [N, D] -> pre-condition embedding [N, E], verbs [N, S, 9], objects [N, S, 300]."""

    def __init__(self, dim: int, embed_dim: int, hidden: int, steps: int):
        super().__init__()
        self.steps = steps
        self.precondition = nn.Linear(dim, embed_dim)
        self.init = nn.Linear(dim, hidden)
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.verbs = nn.Linear(hidden, N_SUB + 1)
        self.objects = nn.Linear(hidden, N_NOUNS)

    def forward(self, token):
        # fp32 even under bf16 autocast: small, and cuDNN GRUs are not bf16-safe everywhere
        with torch.autocast(token.device.type, enabled=False):
            return self._forward(token.float())

    def _forward(self, token):
        h0 = torch.tanh(self.init(token))[None]                      # [1, N, H]
        inputs = token[:, None, :].expand(-1, self.steps, -1)        # [N, S, D]
        out, _ = self.gru(inputs.contiguous(), h0.contiguous())      # [N, S, H]
        return self.precondition(token), self.verbs(out), self.objects(out)


class LeapNet(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.backbone == "features":
            if cfg.feature_dim <= 0:
                raise ValueError("the features backbone needs feature_dim (the width of the feature files)")
            self.backbone = FeatureMLP(cfg.feature_dim, cfg.feature_hidden, N_VERBS + N_NOUNS)
        elif cfg.backbone in SPECS:
            self.backbone = UniFormerV2(SPECS[cfg.backbone], N_VERBS + N_NOUNS, cfg.frames or None,
                                        cfg.time_embedding)
            self.backbone.transformer.checkpoint_layers = cfg.checkpoint_layers
        else:
            raise ValueError(f"unknown backbone {cfg.backbone!r}: choose from {', '.join(BACKBONES)}")
        self.head = ProgramHead(self.backbone.dim, cfg.embed_dim, cfg.head_hidden, cfg.max_steps)

    def token(self, x):
        return self.backbone.forward_features(x)

    def forward(self, x, context=None) -> dict:
        """x: frames [N, 3, T, H, W] or features; context: summed neighbour tokens [N, D] or None."""
        token = self.token(x)                                        # [N, D]
        pc, step_verbs, step_objects = self.head(token)
        fused = token if context is None else token + context.to(token.dtype)
        logits = self.backbone.classify(fused)                       # [N, 397]
        return {"token": token, "verb": logits[:, :N_VERBS], "noun": logits[:, N_VERBS:],
                "pc": pc, "step_verbs": step_verbs, "step_objects": step_objects}


def context_tokens(ctx_net: LeapNet, batch: dict, device) -> torch.Tensor:
    """Sum of the frozen network's tokens over the valid neighbour windows: [N, D]."""
    x, mask = batch["context"].to(device), batch["context_mask"].to(device)   # [N, K, ...], [N, K]
    N, K = mask.shape
    flat = x.flatten(0, 1)[mask.flatten()]                                    # [M, ...]
    tokens = x.new_zeros(N * K, ctx_net.backbone.dim)
    if len(flat):
        tokens[mask.flatten()] = ctx_net.token(flat).to(tokens.dtype)
    return tokens.view(N, K, -1).sum(dim=1)                                   # [N, D]


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA (the program head keeps fp32 inside it); nothing on CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def decode_steps(step_verbs, step_objects, second_threshold: float = 0.25) -> list[list[dict]]:
    """Predicted programs: verbs up to the first end token; objects = top-1, plus the top-2
    when its probability reaches `second_threshold` (soft labels give 0.5 to each of two objects)."""
    verbs = step_verbs.argmax(-1).tolist()                           # [N, S]
    probs = step_objects.float().softmax(-1)
    top_p, top_i = probs.topk(2, dim=-1)                              # [N, S, 2]
    out = []
    for n, seq in enumerate(verbs):
        steps = []
        for s, v in enumerate(seq):
            if v == END:
                break
            ids = [int(top_i[n, s, 0])]
            if float(top_p[n, s, 1]) >= second_threshold:
                ids.append(int(top_i[n, s, 1]))
            steps.append({"verb_id": int(v), "object_ids": ids})
        out.append(steps)
    return out


def _unwrap(obj) -> dict:
    for key in ("model_state", "state_dict", "model", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return _unwrap(obj[key])
    return obj


def inflate(weight_2d, time: int):
    """CLIP's 2D conv1 [C, 3, p, p] -> 3D [C, 3, t, p, p], centre frame (identity over time)."""
    w = weight_2d.new_zeros(weight_2d.shape[:2] + (time,) + weight_2d.shape[2:])
    w[:, :, time // 2] = weight_2d
    return w


def convert_checkpoint(state: dict, model: LeapNet) -> tuple[dict, dict]:
    """Map an official UniFormerV2 checkpoint (keys `backbone.*`) or CLIP weights (`visual.*` or
    bare visual keys) onto `model`'s keys. Returns (state dict to load, report)."""
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in _unwrap(state).items()}
    ours = model.state_dict()
    report = {"format": "uniformerv2" if any(k.startswith("backbone.") for k in state) else "clip",
              "inflated": [], "shape_mismatch": [], "unexpected": []}
    mapped = {}
    full_clip = report["format"] == "clip" and any(k.startswith("visual.") for k in state)
    if full_clip:
        report["ignored_text_tower"] = sum(1 for k in state if not k.startswith("visual."))
    for key, value in state.items():
        if report["format"] == "clip":
            if full_clip and not key.startswith("visual."):
                continue  # the whole CLIP model: its text tower is not ours
            key = "backbone." + key.removeprefix("visual.")
        if key not in ours:
            report["unexpected"].append(key)
            continue
        if value.ndim == 4 and ours[key].ndim == 5:
            value = inflate(value, ours[key].shape[2])
            report["inflated"].append(key)
        if value.shape != ours[key].shape:
            report["shape_mismatch"].append(f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(ours[key].shape)}")
            continue
        mapped[key] = value
    report["missing"] = sorted(k for k in ours if k not in mapped and not k.endswith("num_batches_tracked"))
    report["loaded"] = len(mapped)
    return mapped, report


def load_pretrained(model: LeapNet, path: str, trust: bool = False) -> dict:
    """Load official/CLIP weights into `model` (non-strict) and report missing/unexpected keys."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as exc:  # pickled configs in .pyth files need trust
        raise ValueError(f"cannot read {path} safely ({exc.__class__.__name__}); if you trust the file, "
                         "pass --trust-checkpoint") from exc
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):  # a TorchScript CLIP model
        obj = obj.state_dict()
    mapped, report = convert_checkpoint(obj, model)
    model.load_state_dict(mapped, strict=False)
    return report
