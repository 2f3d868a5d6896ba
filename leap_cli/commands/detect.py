"""leap-detect: the objects in each clip's frames (an ONNX detector, or precomputed boxes)."""
from __future__ import annotations

import click

from ..options import Rate, Tool, finish, one_source, require_option, stage_options
from ..onnx import ManifestMismatch
from ..perception import detect_run
from ..perception.detect import Stats
from ..stream import run


@click.command(cls=Tool)
@stage_options
@require_option
@click.option("--model", type=click.Path(dir_okay=False), help="ONNX detector (manifest beside it, see models/).")
@click.option("--manifest", type=click.Path(dir_okay=False), help="The model's manifest, if not beside it.")
@click.option("--visor", type=click.Path(file_okay=False, exists=True), metavar="DIR", help="VISOR annotations: PXX_YY.json anywhere under DIR.")
@click.option("--object-labels", type=click.Path(dir_okay=False), help="EPIC-55 object labels CSV.")
@click.option("--detections", type=click.Path(dir_okay=False), help="Generic boxes, JSONL or CSV (see README).")
@click.option("--fps", type=Rate(), default=str(detect_run.DEFAULT_FPS), show_default=True,
              help="Frames per second to run the model on; 'native' for every frame.")
@click.option("--threshold", type=float, help="Minimum detection score [default: the manifest's threshold, else 0.5].")
@click.option("--nms-iou", default=0.5, show_default=True, help="IoU of per-class NMS (models without NMS).")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True, help="Frames per model call.")
def cli(opts, require, model, manifest, visor, object_labels, detections, fps, threshold, nms_iou, batch_size):
    """Add `detect`: per-frame boxes (xyxy, normalised), EPIC-100 nouns and scores, and the
    clip's objects, most frequently seen first. Give exactly one source.

    \b
    Example:
      leap-detect clips.jsonl --model models/epic55-faster-rcnn/model.onnx --fps 2 > det.jsonl
      leap-detect clips.jsonl --visor VISOR/GroundTruth-SparseAnnotations/annotations > det.jsonl
    """
    one_source(model=model, visor=visor, object_labels=object_labels, detections=detections)
    totals = Stats()
    if model:
        try:
            source = detect_run.model_source(model, manifest, fps, threshold, nms_iou, batch_size, totals)
        except ManifestMismatch as e:
            raise click.UsageError(str(e)) from None
    elif visor:
        source = detect_run.visor_source(visor)
    else:
        source = detect_run.rows_source(object_labels or detections, "epic55" if object_labels else "generic",
                                        0.5 if threshold is None else threshold)
    code = run(opts, "detect", lambda r: {**r, "detect": source(r, require)})
    summary = detect_run.unmapped_summary(totals)
    if summary:
        click.echo(summary, err=True)
    finish(code)
