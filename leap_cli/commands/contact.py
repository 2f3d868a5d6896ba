"""leap-contact: what each hand touches over the clip, as grab/release events."""
from __future__ import annotations

import click

from ..options import Rate, Tool, finish, one_source, require_option, stage_options
from ..onnx import ManifestMismatch
from ..perception import contact_run
from ..stream import run

DEFAULTS = contact_run.Settings()


@click.command(cls=Tool)
@stage_options
@require_option
@click.option("--hoa", type=click.Path(file_okay=False, exists=True), metavar="DIR", help="EPIC-100 hand-object pickles: DIR/PXX/PXX_YY.pkl or DIR/PXX_YY.pkl.")
@click.option("--hoa-raw", type=click.Path(file_okay=False, exists=True), metavar="DIR", help="Detector arrays: DIR[/PXX]/PXX_YY/frame_N.npz (hand_dets, obj_dets).")
@click.option("--visor", type=click.Path(file_okay=False, exists=True), metavar="DIR", help="VISOR annotations (hands' in_contact_object), PXX_YY.json under DIR.")
@click.option("--model", type=click.Path(dir_okay=False), help="ONNX hand-object detector, or a hand detector (its manifest marks hands).")
@click.option("--manifest", type=click.Path(dir_okay=False), help="The model's manifest, if not beside it.")
@click.option("--fps", type=Rate(), default=str(DEFAULTS.fps), show_default=True, help="Frames per second read from dense sources.")
@click.option("--detect-hands", is_flag=True, help="Hands from detect.hands (leap-detect run with a hand model).")
@click.option("--hand-threshold", type=float, help="Minimum hand score [default: a hand model's manifest, else 0.5].")
@click.option("--object-threshold", default=DEFAULTS.object_threshold, show_default=True, help="Minimum object score.")
@click.option("--min-duration", default=DEFAULTS.min_duration, show_default=True, help="Seconds a contact change must last (dense sources).")
@click.option("--min-iou", default=DEFAULTS.min_iou, show_default=True, help="IoU with a leap-detect box to name an object.")
@click.option("--min-overlap", default=DEFAULTS.min_overlap, show_default=True,
              help="Hand detectors: hand-object box overlap (over the smaller box) that is contact.")
@click.option("--lookback", default=DEFAULTS.lookback, show_default=True, help="Seconds before the clip a VISOR frame may give the start state.")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True, help="Frames per model call.")
def cli(opts, require, hoa, hoa_raw, visor, model, manifest, detect_hands, fps, hand_threshold,
        object_threshold, min_duration, min_iou, min_overlap, lookback, batch_size):
    """Add `contact`: per frame and hand the state (N none, S self, O other person, P portable,
    F stationary object) and object box; `events` (grab/release with time, hand, EPIC-100 noun,
    named by IoU with leap-detect's boxes) and `holding_at_start`. Give exactly one source.

    A hand detector without contact states (--model with a manifest marking hands, or
    --detect-hands): a hand touches the leap-detect box of the nearest frame that overlaps it
    most (intersection over the smaller box >= --min-overlap; ties: the smaller object), state P;
    else N. Side: the model's, else by position (of two hands the leftmost is left; one hand:
    left of the frame's middle is left).

    \b
    Example:
      leap-detect clips.jsonl --visor VISOR | leap-contact --hoa hand-objects/ > contact.jsonl
    """
    one_source(hoa=hoa, hoa_raw=hoa_raw, visor=visor, model=model, detect_hands=detect_hands)
    s = contact_run.Settings(fps, hand_threshold, object_threshold, min_duration, min_iou, lookback, min_overlap)
    try:
        source = (contact_run.hoa_source(hoa, s) if hoa else contact_run.raw_source(hoa_raw, s) if hoa_raw
                  else contact_run.visor_source(visor, s) if visor else contact_run.detect_hands_source(s)
                  if detect_hands else contact_run.model_source(model, manifest, s, batch_size))
    except ManifestMismatch as e:
        raise click.UsageError(str(e)) from None
    finish(run(opts, "contact", lambda r: {**r, "contact": source(r, require)}))
