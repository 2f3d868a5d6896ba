"""leap-audio: sound events of each clip (energy candidates + EPIC-Sounds SSAST, or annotations)."""
from __future__ import annotations

import os

import click

from .. import media
from ..options import Tool, finish, one_source, require_option, stage_options
from ..perception import audio, audio_model
from ..records import ClipError, missing, source
from ..stream import run
from .slam import clip_window


def model_classifier(model: str, manifest: str | None):
    """(classify, AudioSpec, provenance) for an ONNX sound classifier and its manifest, checked
    against the model once (a mismatch is a usage error naming the field)."""
    from .. import onnx

    if not os.path.isfile(model):
        raise click.UsageError(f"{model}: no such model file")
    meta = onnx.load_manifest(model, manifest)
    where = onnx.manifest_path(model, manifest)
    try:
        spec = audio_model.from_manifest(meta)
        sess = onnx.session(model)
        audio_model.check_session(sess, spec, where)
    except (audio_model.AudioManifestError, onnx.ManifestMismatch) as e:
        raise click.UsageError(f"{where}: {e}" if isinstance(e, audio_model.AudioManifestError) else str(e)) from None
    name = sess.get_inputs()[0].name

    def classify(x):  # the manifest's input layout -> [B, labels]
        return sess.run(None, {name: x})[0]

    detail = {"model": os.path.basename(model), "manifest": meta.get("name") or os.path.basename(where),
              "sha256": onnx.sha256(model), "activation": spec.activation}
    if spec.activation == "sigmoid":
        detail["label_threshold"] = spec.label_threshold
    return classify, spec, detail


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
        add = from_annotations(annotations, require, ignore)
    else:
        add = from_audio(model, manifest, require, ignore, batch_size)
    finish(run(opts, "audio", add))


def from_annotations(path: str, require: bool, ignore):
    """record -> record with the EPIC-Sounds annotated events overlapping the clip."""
    try:
        table = audio.read_annotations(path)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    name = os.path.basename(path)
    prov = source("audio", annotations=name)

    def add(record: dict) -> dict:
        window = clip_window(record)
        rows = table.get(record.get("video_id"))
        if rows is None:  # a video the file does not cover: no evidence, not silence
            reason = f"no EPIC-Sounds annotations for {record.get('video_id')} in {name}"
            return {**record, "audio": {"source": prov, **missing(reason, require, events=[])}}
        events = audio.annotated_events([r for r in rows if r[2] not in ignore], *window)
        return {**record, "audio": {"source": prov, "events": events}}

    return add


def from_audio(model, manifest, require: bool, ignore, batch_size: int):
    """record -> record with the events found in (and, with a model, classified from) its audio."""
    classify, spec, detail = model_classifier(model, manifest) if model else (None, None, {})
    prov = source("audio", detector=f"energy, low-pass {audio.LOWPASS_HZ:g} Hz", **detail)
    rate = spec.sample_rate if spec else audio.RATE

    def add(record: dict) -> dict:
        try:
            samples = media.audio(record.get("video"), *clip_window(record), rate)
        except media.NoAudio as e:
            return {**record, "audio": {"source": prov, **missing(str(e), require, events=[])}}
        try:
            events = (audio_model.sound_events(samples, rate, classify, spec, ignore=ignore, max_batch=batch_size)
                      if classify else audio.sound_events(samples, ignore=ignore))
        except ValueError as e:
            raise ClipError(f"audio model: {e}") from None
        return {**record, "audio": {"source": prov, "events": events}}

    return add
