"""leap-audio with any clip classifier its manifest describes (audio_model.py)."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from conftest import ROOT, records, run_tool
from leap_cli import media
from leap_cli.perception import audio, audio_model


def ssast_spec():
    return audio_model.from_manifest(json.loads((ROOT / "models/ssast-epic-sounds/manifest.json").read_text()))


@pytest.mark.parametrize("seconds", [0.7, 12.5])
def test_the_ssast_manifest_gives_exactly_the_baseline_inputs(seconds):
    spec = ssast_spec()
    assert (spec.sample_rate, spec.window_samples, spec.views, spec.input_layout, spec.activation) == \
        (24000, 47975, 5, "BCTM", "softmax")
    x = np.random.default_rng(1).normal(0, 0.1, int(seconds * 24000)).astype(np.float32)
    np.testing.assert_allclose(audio_model.segment_inputs(x, spec), audio.segment_windows(x), rtol=1e-5, atol=1e-5)


def test_layouts_waveform_and_sliding_windows():
    m = {"labels": ["a", "b"], "preprocessing": {"sample_rate": 16000, "window_seconds": 0.5, "hop_seconds": 0.25,
                                                  "feature": {"type": "waveform"}, "input_layout": "BS"}}
    spec = audio_model.from_manifest(m)
    assert spec.window_samples == 8000 and spec.hop_samples == 4000 and spec.views is None
    x = np.arange(20000, dtype=np.float32)
    win = audio_model.segment_inputs(x, spec)
    assert win.shape == (4, 8000) and win[1, 0] == 4000 and win[3, -1] == 19999
    short = audio_model.segment_inputs(x[:100], spec)
    assert short.shape == (1, 8000) and short[0, 99] == 99 and short[0, 100] == 0
    mel = audio_model.from_manifest({"labels": ["a"], "preprocessing": {"sample_rate": 16000, "window_seconds": 1.0, "feature": {
        "type": "log_mel", "n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 64, "frames": 100}, "input_layout": "BMT"}})
    assert audio_model.segment_inputs(x, mel).shape == (2, 64, 100)   # 1.25 windows: two views, ends included
    with pytest.raises(audio_model.AudioManifestError, match="a waveform is BS|BCS"):
        audio_model.from_manifest({"labels": ["a"], "preprocessing": {"feature": {"type": "waveform"}, "input_layout": "BCTM"}})


def test_softmax_and_sigmoid_labels_with_a_label_map():
    spec = audio_model.AudioSpec(labels=("splash", "beep", "hum"), activation="sigmoid", label_threshold=0.5,
                                 label_map={"splash": "water"})
    logits = np.array([[4.0, 3.0, -4.0], [2.0, -4.0, -4.0]])     # window probabilities averaged (beep: 0.485)
    got = audio_model.segment_labels(logits, spec)
    assert [g[0] for g in got] == ["water"] and got[0][1] == pytest.approx((1 / (1 + np.exp(-4)) + 1 / (1 + np.exp(-2))) / 2)
    spec2 = audio_model.AudioSpec(labels=("splash", "beep", "hum"), activation="sigmoid", label_threshold=0.5)
    assert [g[0] for g in audio_model.segment_labels(logits[:1], spec2)] == ["splash", "beep"]   # free labels
    soft = audio_model.AudioSpec(labels=("splash", "beep", "hum"))
    ((label, score),) = audio_model.segment_labels(logits, soft)
    p = np.exp(logits.mean(0)) / np.exp(logits.mean(0)).sum()
    assert label == "splash" and score == pytest.approx(p[0])
    with pytest.raises(ValueError, match="want \\[windows, 3\\]"):
        audio_model.segment_labels(np.zeros((2, 4)), soft)


def waveform_model(path, samples: int):
    """[B, samples] 16 kHz waveform -> [B, 3] logits: 'splash' and 'beep' rise with the mean
    absolute amplitude (both over 0.5 for a tone of amplitude 0.5), 'hum' never."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array([[40.0, 40.0, -40.0]], np.float32), "w"),
             numpy_helper.from_array(np.array([-2.0, -3.0, 0.0], np.float32), "b")]
    nodes = [helper.make_node("Abs", ["wave"], ["a"]),
             helper.make_node("ReduceMean", ["a"], ["m"], axes=[1], keepdims=1),   # [B, 1]
             helper.make_node("MatMul", ["m", "w"], ["mw"]),                        # [B, 3]
             helper.make_node("Add", ["mw", "b"], ["scores"])]
    graph = helper.make_graph(nodes, "wave", [helper.make_tensor_value_info("wave", TensorProto.FLOAT, ["B", samples])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["B", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_multi_label_waveform_classifier_through_leap_audio(tmp_path):
    f = tmp_path / "tone.m4a"
    subprocess.run([media.ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "aevalsrc='between(t,1,2)*0.5*sin(2*PI*440*t)+0.002*(random(0)-0.5)':s=44100:d=3",
                    "-c:a", "aac", str(f)], check=True)
    model = waveform_model(tmp_path / "wave.onnx", 8000)
    manifest = {"name": "wave-test", "labels": ["splash", "beep", "hum"], "label_map": {"splash": "water"},
                "preprocessing": {"sample_rate": 16000, "window_seconds": 0.5, "hop_seconds": 0.25,
                                  "feature": {"type": "waveform"}, "input_layout": "BS",
                                  "activation": "sigmoid", "label_threshold": 0.5}}
    (tmp_path / "wave.json").write_text(json.dumps(manifest))
    line = json.dumps({"schema": 1, "id": "c1", "video_id": "X01_01", "video": str(f), "start": 0.0, "stop": 3.0}) + "\n"
    proc = run_tool("leap-audio", "--model", model, input=line)
    assert proc.returncode == 0, proc.stderr
    a = records(proc.stdout)[0]["audio"]
    assert a["source"]["manifest"] == "wave-test" and a["source"]["activation"] == "sigmoid"
    assert [e["label"] for e in a["events"]] == ["water", "beep"]          # one event, two labels
    assert all(abs(e["start"] - 1) < 0.05 and abs(e["stop"] - 2) < 0.05 for e in a["events"])
    assert a["events"][0]["score"] > a["events"][1]["score"] > 0.5
    (tmp_path / "wave.json").write_text(json.dumps({**manifest, "preprocessing": {
        **manifest["preprocessing"], "window_seconds": 1.0}}))
    proc = run_tool("leap-audio", "--model", model, input=line)
    assert proc.returncode == 2 and "preprocessing.window_samples 16000: the model's wave is ['B', 8000]" in proc.stderr
