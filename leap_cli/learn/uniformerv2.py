"""UniFormerV2 (Li et al., ICCV 2023), written for LEAP.

A CLIP ViT whose 2D patch embedding is a 3D convolution, followed by global UniBlocks: after
each of the last `n_layers` ViT layers a depth-wise 3D convolution position encoding (`dpe`) is
added to the frame tokens and a cross-attention extractor (`dec`) updates one learnable temporal
class token from all tokens of all frames. The video token mixes that temporal class token and
the mean frame class token through a learned sigmoid balance. Optional local MHRA (`lmhra1`,
`lmhra2`) inside each ViT layer, as in the official code's `no_lmhra=False` variant.

Parameter names follow the official layout (`conv1`, `class_embedding`, `positional_embedding`,
`ln_pre`, `transformer.resblocks.*`, `transformer.temporal_cls_token`, `transformer.dpe.*`,
`transformer.dec.*`, `transformer.proj.*`, `transformer.balance`) so the official checkpoints
and CLIP visual weights load by name. LEAP adds `time_embedding` (the paper's learned time
embedding, added after the 3D patch embedding; zero at initialisation).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


@dataclass(frozen=True)
class Spec:
    """Architecture of one UniFormerV2 size (defaults: the K400/K710 fine-tuning configs)."""

    width: int
    layers: int
    heads: int
    patch: int
    resolution: int
    return_list: tuple
    frames: int = 8
    n_dim: int | None = None  # global block width (= width)
    n_head: int | None = None
    mlp_factor: float = 4.0
    no_lmhra: bool = True
    double_lmhra: bool = True
    dw_reduction: float = 1.5
    temporal_downsample: bool = False
    mlp_dropout: tuple = field(default=(0.5, 0.5, 0.5, 0.5))
    cls_dropout: float = 0.5
    drop_path: float = 0.0
    backbone_drop_path: float = 0.0


SPECS = {
    # official uniformerv2_l14 with the K400/K710 configs: NO_LMHRA, no temporal downsampling
    "uniformerv2-l14": Spec(1024, 24, 16, 14, 224, (20, 21, 22, 23), frames=32),
    "uniformerv2-b16": Spec(768, 12, 12, 16, 224, (8, 9, 10, 11), frames=8),
    # the same class scaled down for CPU tests and benchmarks
    "tiny": Spec(32, 2, 2, 8, 32, (0, 1), frames=4, mlp_dropout=(0.0, 0.0), cls_dropout=0.0),
}


def _linspace(stop: float, n: int) -> list:
    # plain floats: works under torch.device("meta") too
    return [stop * i / (n - 1) if n > 1 else 0.0 for i in range(n)]


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class DropPath(nn.Module):
    """Stochastic depth per sample (identity at p = 0 and in eval mode)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


def _mlp(d: int, hidden: int, dropout: float | None = None) -> nn.Sequential:
    layers = [("c_fc", nn.Linear(d, hidden)), ("gelu", QuickGELU())]
    if dropout is not None:
        layers.append(("dropout", nn.Dropout(dropout)))
    layers.append(("c_proj", nn.Linear(hidden, d)))
    return nn.Sequential(OrderedDict(layers))


def _attend(attn: nn.MultiheadAttention, q_in, kv_in):
    """Multi-head attention with `attn`'s packed weights through SDPA (flash kernels on GPU).

    q_in [B, Lq, C], kv_in [B, Lk, C] -> [B, Lq, C].
    """
    c, h = q_in.shape[-1], attn.num_heads
    w, b = attn.in_proj_weight, attn.in_proj_bias
    q = F.linear(q_in, w[:c], b[:c])
    k = F.linear(kv_in, w[c:2 * c], b[c:2 * c])
    v = F.linear(kv_in, w[2 * c:], b[2 * c:])
    B, Lq, Lk = q.shape[0], q.shape[1], k.shape[1]
    q = q.view(B, Lq, h, c // h).transpose(1, 2)  # [B, h, Lq, d]
    k = k.view(B, Lk, h, c // h).transpose(1, 2)  # [B, h, Lk, d]
    v = v.view(B, Lk, h, c // h).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v)  # [B, h, Lq, d]
    return attn.out_proj(out.transpose(1, 2).reshape(B, Lq, c))


class LocalMHRA(nn.Module):
    """Local temporal relation aggregation: BN, 1x1x1 down, depth-wise temporal conv, 1x1x1 up."""

    def __init__(self, d: int, dw_reduction: float = 1.5, kernel: int = 3):
        super().__init__()
        r = int(d // dw_reduction)
        self.pos_embed = nn.Sequential(
            nn.BatchNorm3d(d),
            nn.Conv3d(d, r, 1),
            nn.Conv3d(r, r, (kernel, 1, 1), padding=(kernel // 2, 0, 0), groups=r),
            nn.Conv3d(r, d, 1),
        )
        nn.init.zeros_(self.pos_embed[3].weight)  # starts as identity residual
        nn.init.zeros_(self.pos_embed[3].bias)

    def forward(self, x):
        return self.pos_embed(x)


class ResidualAttentionBlock(nn.Module):
    """One CLIP ViT layer (optionally with local MHRA before attention and before the MLP)."""

    def __init__(self, d: int, heads: int, spec: Spec, drop_path: float):
        super().__init__()
        self.use_lmhra = not spec.no_lmhra
        self.double_lmhra = spec.double_lmhra
        if self.use_lmhra:
            self.lmhra1 = LocalMHRA(d, spec.dw_reduction)
            if spec.double_lmhra:
                self.lmhra2 = LocalMHRA(d, spec.dw_reduction)
        self.attn = nn.MultiheadAttention(d, heads)
        self.ln_1 = nn.LayerNorm(d)
        self.mlp = _mlp(d, d * 4)
        self.ln_2 = nn.LayerNorm(d)
        self.drop_path = DropPath(drop_path)

    def _local(self, mhra, x, T: int, H: int, W: int):
        # x [NT, 1+HW, C]: the frame tokens go through a 3D conv over (T, H, W)
        NT, L, C = x.shape
        feats = x[:, 1:].reshape(NT // T, T, H, W, C).permute(0, 4, 1, 2, 3)  # [N, C, T, H, W]
        feats = feats + self.drop_path(mhra(feats))
        feats = feats.permute(0, 2, 3, 4, 1).reshape(NT, H * W, C)
        return torch.cat([x[:, :1], feats], dim=1)

    def forward(self, x, T: int, H: int, W: int):
        # x [NT, 1+HW, C]
        if self.use_lmhra:
            x = self._local(self.lmhra1, x, T, H, W)
        y = self.ln_1(x)
        x = x + self.drop_path(_attend(self.attn, y, y))
        if self.use_lmhra and self.double_lmhra:
            x = self._local(self.lmhra2, x, T, H, W)
        return x + self.drop_path(self.mlp(self.ln_2(x)))


class Extractor(nn.Module):
    """Global UniBlock cross-attention: the temporal class token queries all video tokens."""

    def __init__(self, d: int, heads: int, mlp_factor: float, dropout: float, drop_path: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads)
        self.ln_1 = nn.LayerNorm(d)
        self.mlp = _mlp(d, round(mlp_factor * d), dropout)
        self.ln_2 = nn.LayerNorm(d)
        self.ln_3 = nn.LayerNorm(d)
        self.drop_path = DropPath(drop_path)
        # zero-initialised outputs: the pretrained ViT's behaviour is unchanged at the start
        nn.init.xavier_uniform_(self.attn.in_proj_weight)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)
        nn.init.xavier_uniform_(self.mlp.c_fc.weight)
        nn.init.zeros_(self.mlp.c_proj.weight)
        nn.init.zeros_(self.mlp.c_proj.bias)

    def forward(self, x, y):
        # x [N, 1, C] query token; y [N, T*L, C] all tokens of the clip
        x = x + self.drop_path(_attend(self.attn, self.ln_1(x), self.ln_3(y)))
        return x + self.drop_path(self.mlp(self.ln_2(x)))


class Transformer(nn.Module):
    """ViT layers plus the global UniBlocks and the classification projection."""

    def __init__(self, spec: Spec, num_classes: int):
        super().__init__()
        d, n_dim = spec.width, spec.n_dim or spec.width
        n_head, n_layers = spec.n_head or spec.heads, len(spec.return_list)
        self.return_list = tuple(spec.return_list)
        self.checkpoint_layers = 0  # ViT layers run under activation checkpointing (memory)
        rates = _linspace(spec.backbone_drop_path, spec.layers)
        self.resblocks = nn.ModuleList(
            [ResidualAttentionBlock(d, spec.heads, spec, rates[i]) for i in range(spec.layers)])
        self.temporal_cls_token = nn.Parameter(torch.zeros(1, 1, n_dim))
        self.dpe = nn.ModuleList(
            [nn.Conv3d(n_dim, n_dim, 3, padding=1, groups=n_dim) for _ in range(n_layers)])
        for conv in self.dpe:
            nn.init.zeros_(conv.bias)
        rates = _linspace(spec.drop_path, n_layers)
        self.dec = nn.ModuleList([
            Extractor(n_dim, n_head, spec.mlp_factor, spec.mlp_dropout[i], rates[i])
            for i in range(n_layers)])
        self.proj = nn.Sequential(nn.LayerNorm(n_dim), nn.Dropout(spec.cls_dropout),
                                  nn.Linear(n_dim, num_classes))
        self.balance = nn.Parameter(torch.zeros(n_dim))

    def forward(self, x, N: int, T: int, H: int, W: int):
        # x [N*T, L, C] with L = 1 + H*W; returns the video token [N, C]
        NT, L, C = x.shape
        cls_token = self.temporal_cls_token.expand(N, 1, C)  # [N, 1, C]
        j = 0
        for i, block in enumerate(self.resblocks):
            if i < self.checkpoint_layers and self.training:
                x = checkpoint(block, x, T, H, W, use_reentrant=False)
            else:
                x = block(x, T, H, W)
            if i in self.return_list:
                tokens = x.view(N, T, L, C)
                feats = tokens[:, :, 1:].permute(0, 3, 1, 2).reshape(N, C, T, H, W)
                feats = self.dpe[j](feats).flatten(3).permute(0, 2, 3, 1)  # [N, T, HW, C]
                tokens = torch.cat([tokens[:, :, :1], tokens[:, :, 1:] + feats], dim=2)
                cls_token = self.dec[j](cls_token, tokens.reshape(N, T * L, C))
                j += 1
        weight = torch.sigmoid(self.balance)                    # [C]
        frame_cls = x.view(N, T, L, C)[:, :, 0].mean(dim=1)     # [N, C]
        return (1 - weight) * cls_token[:, 0] + weight * frame_cls


class UniFormerV2(nn.Module):
    """Video backbone: `forward_features` -> global video token [N, C]; `classify` -> logits."""

    def __init__(self, spec: Spec, num_classes: int, frames: int | None = None, time_embedding: bool = True):
        super().__init__()
        self.spec = spec
        self.frames = frames or spec.frames
        w, p = spec.width, spec.patch
        if spec.temporal_downsample:
            self.conv1 = nn.Conv3d(3, w, (3, p, p), (2, p, p), (1, 0, 0), bias=False)
        else:
            self.conv1 = nn.Conv3d(3, w, (1, p, p), (1, p, p), bias=False)
        scale = w ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(w))
        self.positional_embedding = nn.Parameter(scale * torch.randn((spec.resolution // p) ** 2 + 1, w))
        t_tokens = self.frames // 2 if spec.temporal_downsample else self.frames
        # LEAP: learned time embedding over the (downsampled) frames, zero so pretrained behaviour holds
        self.time_embedding = nn.Parameter(torch.zeros(t_tokens, w)) if time_embedding else None
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(spec, num_classes)
        self.dim = spec.n_dim or w

    def forward_features(self, x):
        # x [N, 3, T, H, W] normalised frames
        x = self.conv1(x)                                   # [N, C, T', H', W']
        N, C, T, H, W = x.shape
        x = x.permute(0, 2, 3, 4, 1).reshape(N * T, H * W, C)
        cls = self.class_embedding.to(x.dtype).expand(N * T, 1, C)
        x = torch.cat([cls, x], dim=1)                      # [N*T, 1+HW, C]
        pos = self.positional_embedding
        if pos.shape[0] != H * W + 1:
            raise ValueError(f"input gives a {H}x{W} patch grid but the positional embedding has "
                             f"{pos.shape[0] - 1} positions: crop to {self.spec.resolution} px")
        x = x + pos.to(x.dtype)
        if self.time_embedding is not None:
            te = self.time_embedding
            if te.shape[0] != T:  # another clip length than trained: resample the embedding
                te = F.interpolate(te.t()[None], size=T, mode="linear", align_corners=True)[0].t()
            x = x + te.to(x.dtype).repeat(N, 1)[:, None, :]  # [N*T, 1, C], frame-major per clip
        x = self.ln_pre(x)
        return self.transformer(x, N, T, H, W)

    def classify(self, token):
        return self.transformer.proj(token)


class FeatureMLP(nn.Module):
    """`features` backbone: an MLP over precomputed per-clip features [N, F] or [N, T, F]."""

    def __init__(self, in_dim: int, dim: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.proj = nn.Sequential(nn.LayerNorm(dim), nn.Dropout(dropout), nn.Linear(dim, num_classes))

    def forward_features(self, x):
        if x.ndim == 3:
            x = x.mean(dim=1)  # [N, T, F] -> [N, F]
        return self.mlp(x)

    def classify(self, token):
        return self.proj(token)
