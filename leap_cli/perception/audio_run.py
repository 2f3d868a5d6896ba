"""leap-audio's evidence sources: EPIC-Sounds annotations, or the clip's audio (+ an ONNX sound classifier)."""
from __future__ import annotations

import os

import click

from .. import clip, media, stages
from ..records import ClipError, source
from . import audio, audio_model


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


def from_annotations(path: str, require: bool, ignore):
    """record -> record with the EPIC-Sounds annotated events overlapping the clip."""
    try:
        table = audio.read_annotations(path)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    name = os.path.basename(path)
    prov = source("audio", annotations=name)

    def add(record: dict) -> dict:
        window = clip.window(record)
        rows = table.get(record.get("video_id"))
        if rows is None:  # a video the file does not cover: no evidence, not silence
            reason = f"no EPIC-Sounds annotations for {record.get('video_id')} in {name}"
            return {**record, "audio": {"source": prov, **stages.get("audio").missing_value(reason, require)}}
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
            samples = media.audio(record.get("video"), *clip.window(record), rate)
        except media.NoAudio as e:
            return {**record, "audio": {"source": prov, **stages.get("audio").missing_value(str(e), require)}}
        try:
            events = (audio_model.sound_events(samples, rate, classify, spec, ignore=ignore, max_batch=batch_size)
                      if classify else audio.sound_events(samples, ignore=ignore))
        except ValueError as e:
            raise ClipError(f"audio model: {e}") from None
        return {**record, "audio": {"source": prov, "events": events}}

    return add
