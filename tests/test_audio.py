"""leap-audio: candidate events, the EPIC-Sounds SSAST features, an ONNX model end to end,
EPIC-Sounds annotations, and missing/broken audio."""
from __future__ import annotations

import csv
import importlib.util
import json
import subprocess

import numpy as np
import pytest

from conftest import DATA, ROOT, records, run_tool
from leap_cli import media
from leap_cli.perception import audio
from leap_cli.records import validate

AUDIO = DATA / "audio"
EPIC_8S = AUDIO / "epic_sounds_8s.mp4"
LABELS = [r["class"] for r in csv.DictReader(open(AUDIO / "EPIC_Sounds_classes.csv"))]
BURSTS = [(1.0, 1.5), (3.0, 3.3), (4.5, 5.2)]  # seconds, in the lavfi test file


def lavfi(path, expr: str, seconds: float, video: bool = True):
    """A file whose audio is an aevalsrc expression (44.1 kHz, AAC) under a black picture."""
    cmd = [media.ffmpeg_exe(), "-y", "-loglevel", "error"]
    if video:
        cmd += ["-f", "lavfi", "-i", f"color=black:s=64x64:r=10:d={seconds}"]
    cmd += ["-f", "lavfi", "-i", f"aevalsrc='{expr}':s=44100:d={seconds}"]
    cmd += (["-c:v", "libx264", "-preset", "ultrafast"] if video else []) + ["-c:a", "aac", "-shortest", str(path)]
    subprocess.run(cmd, check=True)
    return path


def clip(path, start=0.0, stop=6.0, cid="c1") -> str:
    return json.dumps({"schema": 1, "id": cid, "video_id": "X01_01", "video": str(path),
                       "start": start, "stop": stop}) + "\n"


@pytest.fixture(scope="module")
def bursts(tmp_path_factory):
    """Tone bursts at BURSTS (700 Hz, then 3 kHz, then 700 Hz) over faint white noise."""
    on = lambda a, b: f"between(t,{a},{b})"  # noqa: E731
    (a, b), (c, d), (e, f) = BURSTS
    expr = (f"({on(a, b)}+{on(e, f)})*0.5*sin(2*PI*700*t)+{on(c, d)}*0.5*sin(2*PI*3000*t)"
            "+0.002*(random(0)-0.5)")
    return lavfi(tmp_path_factory.mktemp("audio") / "bursts.mp4", expr, 6)


# --- events ---

def test_bursts_found_within_50ms(bursts):
    x = media.audio(str(bursts), 0, 6, audio.RATE)
    found = audio.find_events(x, audio.RATE)
    assert len(found) == len(BURSTS)
    for (s, e), (ts, te) in zip(found, BURSTS):
        assert abs(s - ts) <= 0.05 and abs(e - te) <= 0.05, (found, BURSTS)


def test_cli_without_model_reports_unclassified_events_relative_to_clip(bursts):
    proc = run_tool("leap-audio", input=clip(bursts, 0.5, 4.0))
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc.stdout)
    validate(rec)
    assert rec["audio"]["source"] == {"tool": "leap-audio", "version": rec["audio"]["source"]["version"],
                                      "detector": "energy, low-pass 5000 Hz"}
    events = rec["audio"]["events"]
    assert [e["label"] for e in events] == [None, None] and [e["score"] for e in events] == [None, None]
    # bursts at 1.0-1.5 and 3.0-3.3 s of the video = 0.5-1.0 and 2.5-2.8 s of the clip
    for e, (ts, te) in zip(events, [(0.5, 1.0), (2.5, 2.8)]):
        assert abs(e["start"] - ts) <= 0.05 and abs(e["stop"] - te) <= 0.05, events


def test_silence_and_steady_noise_have_no_events(tmp_path):
    assert audio.find_events(np.zeros(48000, np.float32), audio.RATE) == []
    noise = np.random.default_rng(0).normal(0, 0.01, 5 * audio.RATE).astype(np.float32)
    assert audio.find_events(noise, audio.RATE) == []
    silent = lavfi(tmp_path / "silence.mp4", "0", 3)
    proc = run_tool("leap-audio", input=clip(silent, 0, 3))
    (rec,) = records(proc.stdout)
    assert proc.returncode == 0 and rec["audio"]["events"] == [] and "missing" not in rec["audio"]


def test_real_epic_audio_gives_plausible_events():
    x = media.audio(str(EPIC_8S), 0, 8, audio.RATE)
    found = audio.find_events(x, audio.RATE)
    assert 3 <= len(found) <= 12, found
    db = audio.frame_energy_db(audio.lowpass(x, audio.RATE), audio.RATE, 0.02, 0.01)
    t = np.arange(len(db)) * 0.01 + 0.01
    inside = np.zeros(len(db), bool)
    for (s, e), (s2, _) in zip(found, found[1:] + [(9.0, 9.0)]):
        assert 0 <= s < e <= 8.0 and e - s >= 0.06 and e < s2  # ordered, separate, in the clip
        inside |= (t >= s) & (t <= e)
    # what is called an event is clearly louder than what is not
    assert np.median(db[inside]) - np.median(db[~inside]) > 10
    assert 0.1 < inside.mean() < 0.9


def test_lowpass_keeps_low_and_removes_high_frequencies():
    t = np.arange(audio.RATE) / audio.RATE
    low, high = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 9000 * t)
    assert np.std(audio.lowpass(low, audio.RATE)[500:-500]) == pytest.approx(np.std(low), rel=0.01)
    assert np.std(audio.lowpass(high, audio.RATE)[500:-500]) < 0.01 * np.std(high)
    # zero phase: a click stays where it is
    click = np.zeros(2001)
    click[1000] = 1
    assert int(np.argmax(audio.lowpass(click, audio.RATE))) == 1000
    # overlap-add in blocks gives the same signal as one block
    x = np.random.default_rng(5).normal(0, 1, 10_000).astype(np.float32)
    np.testing.assert_allclose(audio.lowpass(x, audio.RATE, block=999), audio.lowpass(x, audio.RATE), atol=1e-5)


# --- SSAST features ---

def test_log_mel_matches_a_reference_stft():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).normal(0, 0.1, audio.WINDOW_SAMPLES).astype(np.float32)
    ours = audio.log_mel(x)
    assert ours.shape == (400, 128) and ours.dtype == np.float32
    # librosa.stft(center=True, pad_mode='constant', window='hann', win_length=240) == torch.stft here
    spec = torch.stft(torch.from_numpy(x).double(), n_fft=2048, hop_length=120, win_length=240,
                      window=torch.hann_window(240, dtype=torch.float64), center=True,
                      pad_mode="constant", return_complex=True).abs().numpy()  # [1025, 400]
    ref = np.log(audio.mel_filterbank() @ spec + 1e-6).T
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_mel_filterbank_is_htk_and_unnormalised():
    m = audio.mel_filterbank()
    assert m.shape == (128, 1025)
    assert m.max() <= 1.0 and m.max(axis=1).min() > 0.5  # triangles of height ~1 (norm=None)
    # centre of filter 64 on the HTK scale: mel = 65/129 of mel(12 kHz)
    centre_hz = 700 * (10 ** ((65 / 129) * 2595 * np.log10(1 + 12000 / 700) / 2595) - 1)
    assert abs(np.argmax(m[64]) * 12000 / 1024 - centre_hz) < 12000 / 1024
    assert m[:, 0].sum() == 0  # DC is in no filter's interior


def test_windows_views_and_edge_padding():
    w = audio.WINDOW_SAMPLES + 1
    assert audio.window_starts(1000) == [0]
    assert audio.window_starts(w) == [0]
    assert audio.window_starts(3 * audio.RATE) == [0, 3 * audio.RATE - w]
    assert audio.window_starts(60 * audio.RATE) == [int(s) for s in np.linspace(0, 60 * audio.RATE - w, 5)]
    short = np.random.default_rng(2).normal(0, 0.1, 2400).astype(np.float32)  # 0.1 s -> 21 frames
    x = audio.segment_windows(short)
    assert x.shape == (1, 1, 400, 128) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, 0, :21], audio.log_mel(short))
    assert (x[0, 0, 21:] == x[0, 0, 20]).all()
    assert audio.segment_windows(np.zeros(7 * audio.RATE, np.float32)).shape == (4, 1, 400, 128)


def test_scores_are_summed_over_windows():
    logits = np.array([[5.0, 0, 0], [0, 3, 0], [0, 3, 0], [0, 0, 1]])  # segment 0: 3 windows
    owner = np.array([0, 0, 0, 1])
    (k0, s0), (k1, s1) = audio.sum_scores(logits, owner, 2)
    assert k0 == 1  # one confident window loses to two agreeing ones: 5 < 6
    mean = np.array([5, 6, 0]) / 3
    assert s0 == pytest.approx(np.exp(mean[1]) / np.exp(mean).sum())
    assert k1 == 2 and s1 == pytest.approx(np.e / (np.e + 2))


# --- a model with the SSAST signature, end to end ---

def _export_module():
    spec = importlib.util.spec_from_file_location("ssast_export", ROOT / "models" / "ssast-epic-sounds" / "export.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An ONNX model with SSAST's signature: list-of-one input [B, 1, 400, 128] -> logits [B, 44].

    Class 5 ('water') scores the log-mel energy of the bands around 700 Hz, class 15 ('beep')
    of those around 3 kHz, so a tone's class depends on the features being right; the time
    weighting makes a window's place in a long segment matter, so the windows matter too.
    """
    torch = pytest.importorskip("torch")
    export = _export_module()
    hz = audio._mel_to_hz(np.linspace(0, audio._hz_to_mel(12000), 130))[1:-1]

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            w = torch.zeros(44, 128)
            w[5, torch.from_numpy((hz > 550) & (hz < 900))] = 1.0
            w[15, torch.from_numpy((hz > 2500) & (hz < 3600))] = 1.0
            self.register_buffer("w", w / 4)
            self.register_buffer("time", torch.linspace(1.5, 0.5, 400))

        def forward(self, x):  # SSASTModel.forward takes [tensor [B, 1, T, F]]
            spec = x[0][:, 0]  # [B, 400, 128]
            spec = spec - spec.mean(dim=2, keepdim=True)  # each frame's bands relative to its mean
            pooled = (spec * self.time[None, :, None]).mean(dim=1)  # [B, 128]
            return pooled @ self.w.T  # [B, 44]

    model = export.Logits(Tiny())
    path = tmp_path_factory.mktemp("model") / "tiny_ssast.onnx"
    export.export(model, str(path))
    assert export.check(model, str(path)) < 1e-4
    manifest = json.loads(export.write_manifest(str(path)) and (path.with_suffix(".json")).read_text())
    assert manifest["labels"] == LABELS and manifest["sha256"].startswith("sha256:")
    return path, model, torch


def test_model_labels_events_and_sums_windows(bursts, tiny_model, tmp_path):
    path, model, torch = tiny_model
    proc = run_tool("leap-audio", "--model", path, input=clip(bursts, 0, 6))
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc.stdout)
    validate(rec)
    src = rec["audio"]["source"]
    assert src["model"] == "tiny_ssast.onnx" and src["sha256"] == json.loads(path.with_suffix(".json").read_text())["sha256"]
    assert [e["label"] for e in rec["audio"]["events"]] == ["water", "beep", "water"]
    # The scores equal an independent computation: torch.stft features, the torch module,
    # windows placed by the baseline's rule, logits summed, softmax of their mean.
    x = media.audio(str(bursts), 0, 6, audio.RATE)
    mel = torch.from_numpy(audio.mel_filterbank()).float()
    for e in rec["audio"]["events"]:
        seg = x[round(e["start"] * audio.RATE):round(e["stop"] * audio.RATE)]
        spec = torch.stft(torch.from_numpy(seg), 2048, 120, 240, torch.hann_window(240), center=True,
                          pad_mode="constant", return_complex=True).abs()
        feats = torch.log(mel @ spec + 1e-6).T  # [frames, 128]
        feats = torch.cat([feats, feats[-1:].expand(400 - len(feats), 128)])[None, None]
        probs = torch.softmax(model(feats)[0].double(), 0)
        assert e["score"] == pytest.approx(float(probs.max()), abs=2e-4)


def test_long_segment_uses_five_summed_windows(tiny_model, tmp_path):
    """A 14 s event: 700 Hz for its first 4 s, then 3 kHz. Five windows: the first two hear
    700 Hz, the last three 3 kHz, so the sum says beep although window 0 weighs most."""
    path, model, torch = tiny_model
    expr = "if(lt(t,5),0.5*sin(2*PI*700*t),0.5*sin(2*PI*3000*t))*between(t,1,15)+0.002*(random(0)-0.5)"
    f = lavfi(tmp_path / "long.mp4", expr, 16, video=False)
    (rec,) = records(run_tool("leap-audio", "--model", path, input=clip(f, 0, 16)).stdout)
    (event,) = rec["audio"]["events"]
    assert abs(event["start"] - 1) < 0.05 and abs(event["stop"] - 15) < 0.05
    assert event["label"] == "beep"
    x = media.audio(str(f), 0, 16, audio.RATE)
    seg = x[round(event["start"] * audio.RATE):round(event["stop"] * audio.RATE)]
    batch, owner = audio.batch_windows([seg])
    assert batch.shape == (5, 1, 400, 128)
    logits = model(torch.from_numpy(batch)).detach().numpy()
    assert [int(np.argmax(l)) for l in logits] == [5, 5, 15, 15, 15]
    mean = logits.sum(axis=0) / 5
    assert event["score"] == pytest.approx(float(np.exp(mean[15]) / np.exp(mean).sum()), abs=2e-4)


def test_model_manifest_must_match_the_signature(tiny_model, tmp_path):
    path, _, _ = tiny_model
    bad = tmp_path / "bad.json"
    manifest = json.loads(path.with_suffix(".json").read_text())
    bad.write_text(json.dumps({**manifest, "labels": manifest["labels"][:10], "sha256": None}))
    proc = run_tool("leap-audio", "--model", path, "--manifest", bad, input="")
    assert proc.returncode == 2 and "labels: the manifest lists 10, the model's logits gives 44 scores" in proc.stderr, proc.stderr


def test_shipped_manifest_describes_the_baseline():
    m = json.loads((ROOT / "models" / "ssast-epic-sounds" / "manifest.json").read_text())
    assert m["labels"] == LABELS and len(LABELS) == 44
    assert m["inputs"][0]["shape"] == ["batch", 1, 400, 128] and m["outputs"][0]["shape"] == ["batch", 44]
    p = m["preprocessing"]
    assert (p["sample_rate"], p["stft"]["n_fft"], p["stft"]["win_length"], p["stft"]["hop_length"],
            p["mel"]["n_mels"], p["window_seconds"], p["frames"]) == (
        audio.RATE, audio.N_FFT, audio.WIN_LENGTH, audio.HOP_LENGTH, audio.N_MELS, audio.WINDOW_SECONDS, audio.N_FRAMES)


# --- missing and broken audio ---

def test_no_audio_stream_is_missing_and_an_error_under_require(tmp_path):
    from conftest import make_video

    video = make_video(tmp_path / "mute.mp4", seconds=2, audio=False)
    (rec,) = records(run_tool("leap-audio", input=clip(video, 0, 2)).stdout)
    validate(rec)
    assert rec["audio"]["events"] == [] and rec["audio"]["missing"] == f"{video}: no audio stream"
    proc = run_tool("leap-audio", "--require", input=clip(video, 0, 2))
    (rec,) = records(proc.stdout)
    assert proc.returncode == 0 and "audio" not in rec
    assert rec["error"] == {"stage": "audio", "message": f"missing evidence: {video}: no audio stream "
                                                          "(without --require the clip goes on)"}


def test_corrupt_file_is_an_error(tmp_path):
    junk = tmp_path / "broken.mp4"
    junk.write_bytes(EPIC_8S.read_bytes()[:3000])  # a torn download
    text = clip(junk, 0, 2) + clip(EPIC_8S, 0, 2, cid="c2")
    proc = run_tool("leap-audio", input=text)
    bad, good = records(proc.stdout)
    assert proc.returncode == 0 and "1 errors" in proc.stderr
    assert bad["error"]["stage"] == "audio" and str(junk) in bad["error"]["message"]
    assert "events" in good["audio"]
    assert run_tool("leap-audio", "--on-error", "fail", input=text).returncode == 1


# --- EPIC-Sounds annotations as the source ---

def test_annotations_joined_sample():
    clips = run_tool("leap-clips", AUDIO / "EPIC_100_validation.sample.csv", check=True).stdout
    proc = run_tool("leap-audio", "--annotations", AUDIO / "EPIC_Sounds_validation.sample.csv", input=clips)
    assert proc.returncode == 0, proc.stderr
    out = {r["id"]: r for r in records(proc.stdout)}
    assert len(out) == 192
    for r in out.values():
        validate(r)
    ev = lambda rid: [(e["label"], e["start"], e["stop"], e["score"]) for e in out[rid]["audio"]["events"]]  # noqa: E731
    # footstep 1.242-3.841 s; clip 1.97-3.03 s
    assert ev("P03_22_0") == [("footstep", 0.0, 1.06, 1.0)]
    assert ev("P03_22_1") == [("footstep", 0.0, 0.321, 1.0)]  # clip 3.52-4.38
    # open/close 23.633-24.705, plastic-only collision 24.725-25.725; clip 24.42-25.65
    assert ev("P03_22_10") == [("open / close", 0.0, 0.285, 1.0), ("plastic-only collision", 0.305, 1.23, 1.0)]
    assert ev("P03_22_12") == [("open / close", 0.0, 0.096, 1.0), ("zip", 1.602, 3.56, 1.0)]
    assert out["P03_22_0"]["audio"]["source"]["annotations"] == "EPIC_Sounds_validation.sample.csv"
    assert sum(1 for r in out.values() if r["audio"]["events"]) > 40


def test_annotations_background_and_bad_files(tmp_path):
    table = tmp_path / "EPIC_Sounds_mine.csv"
    table.write_text("annotation_id,participant_id,video_id,start_timestamp,stop_timestamp,start_sample,"
                     "stop_sample,description,class,class_id\n"
                     "X01_01_0,X01,X01_01,00:00:01.000,00:00:02.000,24000,48000,hum,background,13\n"
                     "X01_01_1,X01,X01_01,00:00:02.500,00:00:03.000,,,tap,water,5\n")
    text = clip("unused.mp4", 0.5, 4.0)
    (rec,) = records(run_tool("leap-audio", "--annotations", table, input=text).stdout)
    assert rec["audio"]["events"] == [{"label": "water", "start": 2.0, "stop": 2.5, "score": 1.0}]
    (rec,) = records(run_tool("leap-audio", "--annotations", table, "--keep-background", input=text).stdout)
    assert [e["label"] for e in rec["audio"]["events"]] == ["background", "water"]
    other = json.dumps({"schema": 1, "id": "o", "video_id": "X02_01", "start": 1, "stop": 2}) + "\n"
    (rec,) = records(run_tool("leap-audio", "--annotations", table, input=other).stdout)
    assert rec["audio"]["missing"] == "no EPIC-Sounds annotations for X02_01 in EPIC_Sounds_mine.csv"
    (rec,) = records(run_tool("leap-audio", "--annotations", table, "--require", input=other).stdout)
    assert rec["error"]["message"].startswith("missing evidence: no EPIC-Sounds annotations for X02_01")
    unlabelled = tmp_path / "EPIC_Sounds_recognition_test_timestamps.csv"
    unlabelled.write_text("annotation_id,participant_id,video_id,start_timestamp,stop_timestamp,start_sample,stop_sample\n")
    proc = run_tool("leap-audio", "--annotations", unlabelled, input=text)
    assert proc.returncode == 2 and "not an EPIC-Sounds annotation file with classes" in proc.stderr
    proc = run_tool("leap-audio", "--annotations", table, "--model", "m.onnx", input=text)
    assert proc.returncode == 2 and "give at most one of --model, --annotations (got --model and --annotations)" in proc.stderr


def test_a_window_input_seeking_reads_short_is_decoded_exactly():
    # In the VLC-muxed EPIC sample, ffmpeg's input-side seek to 8.0 s returns only the last
    # 2.66 s of an 8-12 s window (more than half, so media's own fallback does not run); the
    # events must be those of the real 8-12 s audio: the loudest burst (8.4-8.7 s) among them.
    video = DATA / "demo" / "media" / "epic_sounds.mp4"
    assert len(media._decode_audio(str(video), 8.0, 12.0, audio.RATE, seek_input=True)) < 3 * audio.RATE
    exact = media._decode_audio(str(video), 8.0, 12.0, audio.RATE, seek_input=False)
    proc = run_tool("leap-audio", input=clip(video, 8.0, 12.0))
    assert proc.returncode == 0, proc.stderr
    events = records(proc.stdout)[0]["audio"]["events"]
    assert events == audio.sound_events(exact)
    assert any(e["start"] <= 0.45 and e["stop"] >= 0.65 for e in events), events
