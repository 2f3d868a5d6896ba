"""The one config of a training run (torch-free: `leap-train`'s click defaults come from here).

``TrainConfig`` holds everything a fit depends on, ``ModelConfig`` the network's shape; both go
into every checkpoint as plain data, and ``config_from_dict`` reads them back.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from leap_cli.learn import LOSSES, parse_losses
from leap_cli.ontology import MAX_STEPS

TASKS = ("recognition", "anticipation")
STAGES = ("full", "program")  # program: the program losses alone (the network --context freezes)


@dataclass
class ModelConfig:
    backbone: str = "tiny"
    frames: int = 0               # 0: the backbone's default
    time_embedding: bool = True
    embed_dim: int = 384          # all-MiniLM-L6-v2
    head_hidden: int = 256
    max_steps: int = MAX_STEPS
    feature_dim: int = 0          # features backbone: input width
    feature_hidden: int = 256
    checkpoint_layers: int = 0    # ViT layers under activation checkpointing


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

    def data(self, context: bool):
        """The DataConfig of this run's clips (needs torch: called when training or predicting)."""
        from leap_cli.learn.data import DataConfig
        from leap_cli.learn.uniformerv2 import SPECS

        spec = SPECS.get(self.model.backbone)
        return DataConfig(task=self.task, frames=self.model.frames or (spec.frames if spec else 1),
                          crop=self.crop or (spec.resolution if spec else 0), short_side=self.short_side,
                          observe=self.observe, features=self.features, context=context,
                          max_steps=self.model.max_steps)

    @property
    def active_losses(self) -> tuple:
        return tuple(x for x in self.losses if x != "CE") if self.stage == "program" else tuple(self.losses)


def config_from_options(**kw) -> TrainConfig:
    """TrainConfig from the CLI's flat options (model fields go to ModelConfig; None: the default)."""
    model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
    model = ModelConfig(**{k: v for k, v in kw.items() if k in model_keys and v is not None})
    rest = {k: v for k, v in kw.items() if k not in model_keys and v is not None}
    if "losses" in rest:
        rest["losses"] = parse_losses(rest["losses"])
    for k in ("programs", "val"):
        rest[k] = list(rest.get(k) or [])
    return TrainConfig(model=model, **rest)


def config_from_dict(d: dict) -> TrainConfig:
    """The TrainConfig a checkpoint holds (``dataclasses.asdict`` of one)."""
    d = dict(d)
    d["model"] = ModelConfig(**d.get("model", {}))
    d["losses"] = tuple(d.get("losses", LOSSES))
    return TrainConfig(**d)
