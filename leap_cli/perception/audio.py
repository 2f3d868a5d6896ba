"""Sound events of a clip: low-pass filter, short-time-energy candidates, SSAST input features.

Pure numpy, no I/O: the command decodes the audio (leap_cli.media) and runs the classifier
(leap_cli.onnx); this module turns samples into candidate events and model inputs, and model
outputs into labelled events.

The pipeline follows the LEAP paper's audio component:
1. a low-pass filter (``LOWPASS_HZ``) removes the hiss of the head-mounted microphone, the
   broadband background that would otherwise lift every frame's energy;
2. candidate events are runs of 20 ms frames whose filtered energy rises above the clip's own
   noise floor (a low percentile of its frame energies) by a hysteresis margin; runs shorter
   than a minimum are dropped and runs separated by a short gap are merged;
3. each candidate is classified with the EPIC-Sounds SSAST baseline over sliding windows of
   the *unfiltered* audio (the model was trained on raw audio), with exactly the baseline's
   input features (``log_mel``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .runs import true_runs

# --- the EPIC-Sounds SSAST baseline's input (epic-sounds-annotations, SSAST_b_vit_p16.yaml) ---
RATE = 24000  # Hz: EPIC-Sounds audio
N_FFT = 2048
WIN_LENGTH = 240  # 10 ms at 24 kHz
HOP_LENGTH = 120  # 5 ms at 24 kHz
N_MELS = 128
LOG_EPS = 1e-6
WINDOW_SECONDS = 1.999  # CLIP_SECS
# The baseline slices samples[start : start + round(RATE * CLIP_SECS) - 1]; with a centred STFT
# that gives 1 + 47975 // 120 = 400 frames.
WINDOW_SAMPLES = round(RATE * WINDOW_SECONDS) - 1
N_FRAMES = 400
MAX_VIEWS = 5  # TEST.NUM_ENSEMBLE_VIEWS
N_CLASSES = 44

# --- candidate events ---
LOWPASS_HZ = 5000.0  # cutoff: keeps the body of kitchen sounds (impacts, water, cutting), drops hiss
LOWPASS_TAPS = 129  # windowed-sinc FIR; transition band about 3.3 * RATE / taps = 0.6 kHz


@dataclass(frozen=True)
class EventParams:
    """How candidate events are found; the defaults are documented in the README."""

    lowpass_hz: float = LOWPASS_HZ
    frame_s: float = 0.020  # short-time energy frame
    hop_s: float = 0.010
    floor_percentile: float = 10.0  # the clip's noise floor: this percentile of frame energies (dB)
    on_db: float = 12.0  # an event starts this far above the floor ...
    off_db: float = 6.0  # ... and lasts while the energy stays this far above it (hysteresis)
    min_level_db: float = -60.0  # absolute floor (dBFS): near-digital silence never makes events
    min_duration: float = 0.06  # seconds
    merge_gap: float = 0.20  # events closer than this are one event


def lowpass(signal: np.ndarray, rate: int, cutoff: float = LOWPASS_HZ,
            taps: int = LOWPASS_TAPS, block: int = 1 << 16) -> np.ndarray:
    """Zero-phase windowed-sinc low-pass filter (no delay, so event times are not shifted).

    FFT convolution by overlap-add in blocks, so a long clip needs memory for its samples only.
    """
    x = np.asarray(signal, dtype=np.float32)
    if x.size == 0 or cutoff >= rate / 2:
        return x
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(2 * cutoff / rate * n) * np.hamming(taps)
    h /= h.sum()  # unit gain at DC
    nfft = 1 << (block + taps - 2).bit_length()
    kernel = np.fft.rfft(h, nfft)
    y = np.zeros(x.size + taps - 1, np.float64)
    for i in range(0, x.size, block):
        part = x[i:i + block]
        y[i:i + part.size + taps - 1] += np.fft.irfft(np.fft.rfft(part, nfft) * kernel, nfft)[:part.size + taps - 1]
    half = (taps - 1) // 2  # the symmetric kernel is centred: 'same' alignment, zero phase
    return y[half:half + x.size].astype(np.float32)


def frame_energy_db(signal: np.ndarray, rate: int, frame_s: float, hop_s: float) -> np.ndarray:
    """Short-time energy in dBFS of frames ``frame_s`` long every ``hop_s``: shape [n_frames]."""
    frame, hop = max(1, round(frame_s * rate)), max(1, round(hop_s * rate))
    x = np.asarray(signal, dtype=np.float64)
    if x.size < frame:
        x = np.pad(x, (0, frame - x.size))
    n = 1 + (x.size - frame) // hop
    c = np.concatenate(([0.0], np.cumsum(x * x)))  # running energy: frame sums in O(n)
    starts = np.arange(n) * hop
    power = (c[starts + frame] - c[starts]) / frame
    return 10.0 * np.log10(np.maximum(power, 1e-12))


def find_events(signal: np.ndarray, rate: int,
                params: EventParams = EventParams()) -> list[tuple[float, float]]:
    """Candidate sound events as (start, stop) seconds from the start of ``signal``."""
    duration = len(signal) / rate
    if len(signal) == 0:
        return []
    filtered = lowpass(signal, rate, params.lowpass_hz)
    db = frame_energy_db(filtered, rate, params.frame_s, params.hop_s)
    floor = float(np.percentile(db, params.floor_percentile))
    on = max(floor + params.on_db, params.min_level_db)
    off = max(floor + params.off_db, params.min_level_db - (params.on_db - params.off_db))
    # Hysteresis: a run above the lower threshold is an event if it reaches the upper one.
    runs = [(a, b) for a, b in true_runs(db > off) if db[a:b].max() > on]
    # A frame's time is its centre: a frame straddling an onset has its energy there.
    half = params.frame_s / 2
    events: list[list[float]] = []
    for a, b in runs:
        start = max(0.0, a * params.hop_s + half - params.hop_s / 2)
        stop = min(duration, (b - 1) * params.hop_s + half + params.hop_s / 2)
        if events and start - events[-1][1] < params.merge_gap:
            events[-1][1] = stop
        else:
            events.append([start, stop])
    return [(s, e) for s, e in events if e - s >= params.min_duration]


# --- EPIC-Sounds SSAST features ---

def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(rate: int = RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """HTK-scale triangular mel filters, 0 Hz to Nyquist, unnormalised: [n_mels, n_fft//2 + 1].

    The same filters as ``librosa.filters.mel(sr, n_fft, n_mels, htk=True, norm=None)``, which
    the baseline uses: triangles between consecutive points equally spaced on the HTK mel scale.
    """
    fft_hz = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(rate / 2), n_mels + 2))
    width = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]  # [n_mels + 2, n_bins]
    rising = -ramps[:-2] / width[:-1, None]
    falling = ramps[2:] / width[1:, None]
    return np.maximum(0.0, np.minimum(rising, falling))


_MEL = None


def _mel() -> np.ndarray:
    global _MEL
    if _MEL is None:
        _MEL = mel_filterbank().T.astype(np.float32)  # [1025, 128]
    return _MEL


def log_mel(samples: np.ndarray) -> np.ndarray:
    """The baseline's log-mel spectrogram of 24 kHz samples: [1 + len // 120, 128] float32.

    A centred STFT (zero padding, as librosa ``pad_mode='constant'``), n_fft 2048, a periodic
    Hann window of 240 samples centred in each 2048-sample frame, hop 120; the magnitude through
    128 HTK mel filters; natural log of (x + 1e-6). The window's position inside the frame only
    changes the phase, so each frame is the 240 samples around its centre, zero-padded to 2048.
    """
    x = np.asarray(samples, dtype=np.float32)
    n = 1 + x.size // HOP_LENGTH
    half = WIN_LENGTH // 2
    padded = np.pad(x, (half, half + HOP_LENGTH))
    # frame t covers original samples [t*hop - 120, t*hop + 120): [n, 240]
    frames = np.lib.stride_tricks.sliding_window_view(padded, WIN_LENGTH)[::HOP_LENGTH][:n]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN_LENGTH) / WIN_LENGTH)).astype(np.float32)
    spec = np.abs(np.fft.rfft(frames * window, n=N_FFT, axis=1)).astype(np.float32)  # [n, 1025]
    return np.log(spec @ _mel() + LOG_EPS)  # [n, 128]


def window_starts(n_samples: int) -> list[int]:
    """Sample offsets of the windows that score a segment: up to 5, evenly spaced, ends included.

    A segment shorter than a window gets one window (the whole segment, padded later); a longer
    one gets ceil(length / window) windows, at most 5, from its start to its end, as the
    baseline's multi-view test (``np.linspace(0, length - window, views)``).
    """
    clip = WINDOW_SAMPLES + 1
    if n_samples < clip:
        return [0]
    views = min(MAX_VIEWS, math.ceil(n_samples / clip))
    return [int(s) for s in np.linspace(0, n_samples - clip, views)]


def segment_windows(samples: np.ndarray) -> np.ndarray:
    """The model inputs for one segment of 24 kHz audio: [V, 1, 400, 128] float32, V <= 5.

    Short segments are padded by repeating the last spectrogram frame (the baseline's
    ``np.pad(..., 'edge')``); no normalisation.
    """
    x = np.asarray(samples, dtype=np.float32)
    out = []
    for s in window_starts(x.size):
        spec = log_mel(x[s:s + WINDOW_SAMPLES])[:N_FRAMES]  # [<=400, 128]
        if spec.shape[0] < N_FRAMES:
            spec = np.pad(spec, ((0, N_FRAMES - spec.shape[0]), (0, 0)), mode="edge")
        out.append(spec)
    return np.stack(out)[:, None]  # [V, 1, 400, 128]


def batch_windows(segments: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All windows of several segments in one batch: ([B, 1, 400, 128], segment index [B])."""
    parts = [segment_windows(s) for s in segments]
    if not parts:
        return np.zeros((0, 1, N_FRAMES, N_MELS), np.float32), np.zeros(0, np.int64)
    owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    return np.concatenate(parts), owner


def sum_scores(logits: np.ndarray, owner: np.ndarray, n_segments: int) -> list[tuple[int, float]]:
    """(class, score) per segment: logits summed over its windows, as the baseline's test does.

    The class is the argmax of the summed logits; the score is the softmax probability of that
    class under the mean logits (the sum's softmax would grow sharper with every extra window).
    """
    logits = np.asarray(logits, dtype=np.float64)  # [B, C]
    out = []
    for i in range(n_segments):
        mine = logits[owner == i]  # [V, C]
        total = mine.sum(axis=0)
        mean = total / len(mine)
        p = np.exp(mean - mean.max())
        p /= p.sum()
        k = int(np.argmax(total))
        out.append((k, float(p[k])))
    return out


def annotated_events(rows: Sequence[tuple[float, float, str]], start: float,
                     stop: float) -> list[dict]:
    """Annotated (start, stop, label) events in video seconds -> the clip's events, clipped and
    relative to its start, in time order; score 1.0 (a human label)."""
    events = []
    for a, b, label in sorted(rows):
        if b > start and a < stop:
            events.append({"label": label, "start": round(max(a, start) - start, 3),
                           "stop": round(min(b, stop) - start, 3), "score": 1.0})
    return events


def read_annotations(path: str) -> dict[str, list[tuple[float, float, str]]]:
    """Official EPIC-Sounds annotations (CSV) -> {video_id: [(start s, stop s, class name)]}.

    Times come from ``start_sample``/``stop_sample`` at 24 kHz (exact), else from the
    ``HH:MM:SS.sss`` timestamps. Raises ValueError naming the file and line when a row or the
    header is not in the EPIC-Sounds format (e.g. the unlabelled test-timestamps file).
    """
    import csv

    from ..clips import parse_timestamp

    out: dict[str, list[tuple[float, float, str]]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        need = {"video_id", "class"}
        if not need <= set(reader.fieldnames or ()):
            raise ValueError(f"{path}: not an EPIC-Sounds annotation file with classes "
                             f"(need columns {', '.join(sorted(need))} and start/stop samples or timestamps)")
        for line, row in enumerate(reader, 2):
            try:
                if row.get("start_sample") not in (None, ""):
                    a, b = int(row["start_sample"]) / RATE, int(row["stop_sample"]) / RATE
                else:
                    a, b = parse_timestamp(row["start_timestamp"]), parse_timestamp(row["stop_timestamp"])
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{path}:{line}: bad event times ({type(e).__name__}: {e})") from None
            if not row["class"]:
                raise ValueError(f"{path}:{line}: no class")
            out.setdefault(row["video_id"], []).append((a, b, row["class"]))
    return out


def classify_segments(segments: Sequence[np.ndarray], classify, max_batch: int = 64) -> list[tuple[int, float]]:
    """(class, score) for each 24 kHz segment through ``classify``: [B, 1, 400, 128] -> [B, 44].

    Windows of all segments share batches of at most ``max_batch``; each segment's window
    logits are summed (``sum_scores``).
    """
    x, owner = batch_windows(segments)  # [B, 1, 400, 128], [B]
    if len(x) == 0:
        return []
    logits = np.concatenate([np.asarray(classify(x[i:i + max_batch]))
                             for i in range(0, len(x), max_batch)])  # [B, C]
    if logits.ndim != 2 or logits.shape[0] != len(x):
        raise ValueError(f"the model returned shape {list(logits.shape)}, want [{len(x)}, classes]")
    return sum_scores(logits, owner, len(segments))


def sound_events(samples: np.ndarray, classify=None, labels: Sequence[str] = (),
                 params: EventParams = EventParams(), ignore: Sequence[str] = ("background",),
                 max_batch: int = 64) -> list[dict]:
    """The events of one clip's 24 kHz mono audio: [{label, start, stop, score}], seconds.

    Without ``classify`` the events are unclassified (label and score null). Events the model
    calls one of ``ignore`` are left out (EPIC-Sounds' ``background`` is the absence of an event).
    """
    spans = find_events(samples, RATE, params)
    if classify is None:
        return [{"label": None, "start": round(a, 3), "stop": round(b, 3), "score": None} for a, b in spans]
    segments = [samples[int(round(a * RATE)):int(round(b * RATE))] for a, b in spans]
    out = []
    for (a, b), (k, score) in zip(spans, classify_segments(segments, classify, max_batch)):
        if k >= len(labels):
            raise ValueError(f"the model predicts class {k}, but the manifest lists {len(labels)} labels")
        if labels[k] not in ignore:
            out.append({"label": labels[k], "start": round(a, 3), "stop": round(b, 3), "score": round(score, 4)})
    return out
