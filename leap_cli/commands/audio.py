"""leap-audio: sound events of each clip (energy candidates + EPIC-Sounds SSAST, or annotations)."""
from __future__ import annotations

import click

from ..options import Tool, finish, one_source, require_option, stage_options
from ..perception import audio_run
from ..stream import run


@click.command(cls=Tool)
@stage_options
@require_option
@click.option("--model", type=click.Path(dir_okay=False), metavar="FILE.onnx",
              help="A sound classifier as ONNX, described by its manifest (beside it; models/ssast-epic-sounds/ is the EPIC-Sounds baseline).")
@click.option("--manifest", type=click.Path(dir_okay=False, exists=True), help="The model's manifest, if not beside it.")
@click.option("--annotations", type=click.Path(dir_okay=False, exists=True), metavar="EPIC_Sounds_*.csv",
              help="Take the events from official EPIC-Sounds annotations instead of the audio.")
@click.option("--keep-background", is_flag=True, help="Keep events labelled 'background' (left out by default).")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True, help="Windows per model call.")
def cli(opts, require, model, manifest, annotations, keep_background, batch_size):
    """Add audio.events: [{label, start, stop, score}] in seconds from the clip start.

    Candidate events come from the clip's audio: a 5 kHz low-pass filter, then runs of
    short-time energy 12 dB above the clip's own noise floor (hysteresis 6 dB, at least 60 ms,
    gaps under 0.2 s merged). --model labels each event as its manifest says (sample rate,
    windows, log-mel or waveform input, softmax: one label, sigmoid: every label over its
    threshold; labels mapped onto EPIC-Sounds or passed through; the SSAST baseline: up to 5
    windows of 1.999 s, logits summed); without it, label and score are null. --annotations uses the
    official EPIC-Sounds events overlapping the clip instead (score 1).

    \b
    Example:
      leap-clips EPIC_100_validation.csv --videos DIR | leap-audio --model ssast.onnx > audio.jsonl
    """
    one_source(required=False, model=model, annotations=annotations)
    ignore = () if keep_background else ("background",)
    if annotations:
        add = audio_run.from_annotations(annotations, require, ignore)
    else:
        add = audio_run.from_audio(model, manifest, require, ignore, batch_size)
    finish(run(opts, "audio", add))
