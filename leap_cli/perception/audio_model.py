"""Any clip sound classifier described by its manifest: windows, features, scores -> labels.

The manifest's ``preprocessing`` says what the network takes (models/ssast-epic-sounds is one):
* ``sample_rate``; ``window_seconds`` (or ``window_samples``); windows either ``views`` evenly
  spaced from a segment's start to its end (at most that many; SSAST's multi-view test) or
  sliding with ``hop_seconds``;
* ``feature``: ``{"type": "log_mel", "n_fft", "win_length", "hop_length", "n_mels", "fmin",
  "fmax", "power" (1 magnitude, 2 power), "log_eps", "frames" (pad/cut to this many; padding
  repeats the last frame), "mean", "std"}`` or ``{"type": "waveform"}`` (the samples themselves);
* ``input_layout``: how the feature [T, M] sits in the input: ``BCTM`` (SSAST [B, 1, T, M]),
  ``BTM``, ``BMT``, ``BCMT``; a waveform is ``BS`` ([B, samples]) or ``BCS``;
* ``activation``: ``softmax`` (one label per event: window logits summed, score = softmax of
  their mean) or ``sigmoid`` (several: each label whose mean window probability reaches
  ``label_threshold``);
* ``labels`` (the model's classes) and optional ``label_map`` onto EPIC-Sounds classes (a model
  label absent from it passes through unchanged: free labels).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import audio

LAYOUTS = ("BCTM", "BTM", "BMT", "BCMT", "BS", "BCS")


class AudioManifestError(ValueError):
    """A manifest that does not describe a usable sound classifier."""


@dataclass(frozen=True)
class LogMel:
    n_fft: int = audio.N_FFT
    win_length: int = audio.WIN_LENGTH
    hop_length: int = audio.HOP_LENGTH
    n_mels: int = audio.N_MELS
    fmin: float = 0.0
    fmax: float | None = None          # None: Nyquist
    power: float = 1.0                 # 1: magnitude (SSAST), 2: power
    log_eps: float = audio.LOG_EPS
    frames: int | None = audio.N_FRAMES
    mean: float = 0.0
    std: float = 1.0


@dataclass(frozen=True)
class AudioSpec:
    labels: tuple[str, ...]
    sample_rate: int = audio.RATE
    window_samples: int = audio.WINDOW_SAMPLES
    views: int | None = audio.MAX_VIEWS       # evenly spaced windows (None: sliding by hop)
    hop_samples: int | None = None
    feature: LogMel | None = field(default_factory=LogMel)   # None: the raw waveform
    input_layout: str = "BCTM"
    activation: str = "softmax"
    label_threshold: float = 0.5
    label_map: dict = field(default_factory=dict)

    def label(self, k: int) -> str:
        name = self.labels[k]
        return self.label_map.get(name, name)


def from_manifest(m: dict) -> AudioSpec:
    """The manifest's labels and ``preprocessing`` -> AudioSpec (defaults: the SSAST baseline)."""
    p = m.get("preprocessing") or {}
    labels = m.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise AudioManifestError("labels must be the list of the model's class names")
    rate = int(p.get("sample_rate", audio.RATE))
    if p.get("window_samples") is not None:
        win = int(p["window_samples"])
    elif p.get("window_seconds") is not None:
        win = round(rate * float(p["window_seconds"]))
    else:
        win = audio.WINDOW_SAMPLES
    hop = p.get("hop_seconds")
    feat = p.get("feature", {"type": "log_mel"})
    if feat.get("type") == "waveform":
        feature = None
    elif feat.get("type") == "log_mel":
        feature = LogMel(**{k: v for k, v in feat.items() if k != "type"})
    else:
        raise AudioManifestError("preprocessing.feature.type must be log_mel or waveform")
    layout = str(p.get("input_layout", "BS" if feature is None else "BCTM")).upper()
    activation = str(p.get("activation", "softmax")).lower()
    if layout not in LAYOUTS or (feature is None) != layout.endswith("S"):
        raise AudioManifestError(f"preprocessing.input_layout {layout!r}: a waveform is BS|BCS, a log-mel BCTM|BTM|BMT|BCMT")
    if activation not in ("softmax", "sigmoid"):
        raise AudioManifestError("preprocessing.activation must be softmax or sigmoid")
    return AudioSpec(tuple(labels), rate, win, None if hop is not None else int(p.get("views", audio.MAX_VIEWS)),
                     None if hop is None else max(1, round(float(hop) * rate)), feature, layout, activation,
                     float(p.get("label_threshold", 0.5)), dict(m.get("label_map") or {}))


def check_session(session, spec: AudioSpec, where: str) -> None:
    """The manifest against the model's own input and output (rank, fixed sizes, label count);
    raises onnx.ManifestMismatch naming the field."""
    from ..onnx import ManifestMismatch

    inp, out = session.get_inputs()[0], session.get_outputs()[0]
    fixed = lambda dims: [d if isinstance(d, int) and d > 0 else None for d in dims]  # noqa: E731
    shape = fixed(inp.shape)
    if len(shape) != len(spec.input_layout):
        raise ManifestMismatch(f"{where}: preprocessing.input_layout {spec.input_layout!r}: the model's "
                               f"{inp.name} is {list(inp.shape)} (rank {len(shape)})")
    f = spec.feature
    want = {"C": 1, "S": spec.window_samples, "T": f.frames if f else None, "M": f.n_mels if f else None}
    for axis, have in zip(spec.input_layout, shape):
        if axis != "B" and have is not None and want[axis] is not None and have != want[axis]:
            field = {"C": "input_layout", "S": "window_samples", "T": "feature.frames", "M": "feature.n_mels"}[axis]
            raise ManifestMismatch(f"{where}: preprocessing.{field} {want[axis]}: the model's {inp.name} is "
                                   f"{list(inp.shape)} ({have} on axis {axis})")
    classes = fixed(out.shape)[-1] if out.shape else None
    if classes is not None and classes != len(spec.labels):
        raise ManifestMismatch(f"{where}: labels: the manifest lists {len(spec.labels)}, the model's "
                               f"{out.name} gives {classes} scores")


def log_mel(samples: np.ndarray, rate: int, f: LogMel) -> np.ndarray:
    """[1 + len // hop, n_mels] float32: centred STFT (zero padding) with a periodic Hann window of
    ``win_length`` in ``n_fft``, HTK mel filters from fmin to fmax, natural log of (x + eps)."""
    x = np.asarray(samples, dtype=np.float32)
    n = 1 + x.size // f.hop_length
    half = f.win_length // 2
    padded = np.pad(x, (half, half + f.hop_length))
    frames = np.lib.stride_tricks.sliding_window_view(padded, f.win_length)[::f.hop_length][:n]  # [n, win]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(f.win_length) / f.win_length)).astype(np.float32)
    spec = np.abs(np.fft.rfft(frames * window, n=f.n_fft, axis=1)).astype(np.float32)          # [n, bins]
    if f.power != 1.0:
        spec = spec ** np.float32(f.power)
    return (np.log(spec @ _filters(rate, f) + f.log_eps) - f.mean) / f.std


def _filters(rate: int, f: LogMel) -> np.ndarray:
    key = (rate, f.n_fft, f.n_mels, f.fmin, f.fmax)
    if key not in _FILTERS:
        fft_hz = np.linspace(0.0, rate / 2, f.n_fft // 2 + 1)
        top = rate / 2 if f.fmax is None else f.fmax
        mel_hz = audio._mel_to_hz(np.linspace(audio._hz_to_mel(f.fmin), audio._hz_to_mel(top), f.n_mels + 2))
        width = np.diff(mel_hz)
        ramps = mel_hz[:, None] - fft_hz[None, :]
        bank = np.maximum(0.0, np.minimum(-ramps[:-2] / width[:-1, None], ramps[2:] / width[1:, None]))
        _FILTERS[key] = bank.T.astype(np.float32)          # [bins, n_mels]
    return _FILTERS[key]


_FILTERS: dict = {}


def window_starts(n: int, spec: AudioSpec) -> list[int]:
    """Sample offsets of a segment's windows (one for a segment shorter than a window)."""
    clip = spec.window_samples + (1 if spec.views is not None else 0)   # SSAST: 47975 samples per 47976
    if n < clip:
        return [0]
    if spec.views is not None:
        views = min(spec.views, math.ceil(n / clip))
        return [int(s) for s in np.linspace(0, n - clip, views)]
    return list(range(0, n - spec.window_samples + 1, spec.hop_samples))


def segment_inputs(samples: np.ndarray, spec: AudioSpec) -> np.ndarray:
    """One segment -> the model's input windows [V, ...] in the manifest's layout."""
    x = np.asarray(samples, dtype=np.float32)
    out = []
    for s in window_starts(x.size, spec):
        w = x[s:s + spec.window_samples]
        if spec.feature is None:
            out.append(np.pad(w, (0, spec.window_samples - w.size)))                # [S]
            continue
        f = log_mel(w, spec.sample_rate, spec.feature)                             # [T, M]
        if spec.feature.frames:
            f = f[:spec.feature.frames]
            if f.shape[0] < spec.feature.frames:
                f = np.pad(f, ((0, spec.feature.frames - f.shape[0]), (0, 0)), mode="edge")
        out.append(f)
    x = np.stack(out)                                                               # [V, T, M] or [V, S]
    if spec.input_layout in ("BMT", "BCMT"):
        x = x.transpose(0, 2, 1)
    if spec.input_layout.startswith("BC"):
        x = x[:, None]
    return np.ascontiguousarray(x, dtype=np.float32)


def segment_labels(scores: np.ndarray, spec: AudioSpec) -> list[tuple[str, float]]:
    """One segment's window outputs [V, C] -> [(label, score)]: softmax: the argmax of the summed
    logits with the softmax probability of the mean; sigmoid: every class whose mean probability
    reaches label_threshold, best first."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != len(spec.labels):
        raise ValueError(f"the model returned {list(s.shape)} for its windows, want [windows, {len(spec.labels)}] "
                         f"(the manifest lists {len(spec.labels)} labels)")
    if spec.activation == "softmax":
        mean = s.mean(axis=0)
        p = np.exp(mean - mean.max())
        p /= p.sum()
        k = int(np.argmax(s.sum(axis=0)))
        return [(spec.label(k), float(p[k]))]
    p = (1.0 / (1.0 + np.exp(-np.clip(s, -80, 80)))).mean(axis=0)
    return [(spec.label(int(k)), float(p[k])) for k in np.argsort(-p, kind="stable") if p[k] >= spec.label_threshold]


def classify_segments(segments, classify, spec: AudioSpec, max_batch: int = 64) -> list[list[tuple[str, float]]]:
    """[(label, score), ...] per segment; windows of all segments share batches of max_batch."""
    parts = [segment_inputs(s, spec) for s in segments]
    if not parts:
        return []
    owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    x = np.concatenate(parts)
    out = np.concatenate([np.asarray(classify(x[i:i + max_batch])) for i in range(0, len(x), max_batch)])
    if out.ndim != 2 or out.shape[0] != len(x):
        raise ValueError(f"the model returned shape {list(out.shape)}, want [{len(x)}, classes]")
    return [segment_labels(out[owner == i], spec) for i in range(len(segments))]


def sound_events(samples: np.ndarray, rate: int, classify, spec: AudioSpec,
                 params: audio.EventParams = audio.EventParams(), ignore=("background",),
                 max_batch: int = 64) -> list[dict]:
    """Candidate events of the clip's audio (at the model's rate) -> labelled events; a sigmoid
    model gives one event per label over the threshold."""
    spans = audio.find_events(samples, rate, params)
    segments = [samples[int(round(a * rate)):int(round(b * rate))] for a, b in spans]
    out = []
    for (a, b), labels in zip(spans, classify_segments(segments, classify, spec, max_batch)):
        for label, score in labels:
            if label not in ignore:
                out.append({"label": label, "start": round(a, 3), "stop": round(b, 3), "score": round(score, 4)})
    return out
