"""leap-audio: seconds of audio processed per second vs ffmpeg decoding the same audio alone.

Makes a 5-minute file by looping the real EPIC audio sample (tests/data/audio), cuts it into
clips of 3-8 s, and times, per clip, (a) the decode alone (leap_cli.media.audio: ffmpeg to
24 kHz mono float32, the same call leap-audio makes) and (b) the whole leap-audio work: decode,
low-pass filter, energy events, SSAST features of every window, and a small ONNX model (a
4-layer CNN with the SSAST signature, built here with models/ssast-epic-sounds/export.py),
with a breakdown. Then the installed `leap-audio --model` over the same clips as one process.
Usage: python bench/audio_throughput.py [CLIPS]   (needs torch to build the model)
"""
import importlib.util
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from leap_cli import media, onnx
from leap_cli.perception import audio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
clips_n = int(sys.argv[1]) if len(sys.argv) > 1 else 60
work = tempfile.mkdtemp(prefix="leap-audio-bench-")
atexit.register(shutil.rmtree, work, True)
long = os.path.join(work, "long.mp4")
subprocess.run([media.ffmpeg_exe(), "-y", "-loglevel", "error", "-stream_loop", "40", "-i",
                os.path.join(ROOT, "tests", "data", "audio", "epic_sounds_8s.mp4"), "-t", "300", "-c", "copy", long], check=True)

# A small model with the SSAST signature: [B, 1, 400, 128] -> [B, 44].
import torch  # noqa: E402

spec = importlib.util.spec_from_file_location("export", os.path.join(ROOT, "models", "ssast-epic-sounds", "export.py"))
export = importlib.util.module_from_spec(spec)
spec.loader.exec_module(export)


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        layers, c = [], 1
        for out in (16, 32, 64, 64):
            layers += [torch.nn.Conv2d(c, out, 3, stride=2, padding=1), torch.nn.ReLU()]
            c = out
        self.body, self.head = torch.nn.Sequential(*layers), torch.nn.Linear(64, 44)

    def forward(self, x):  # [tensor [B, 1, 400, 128]]
        return self.head(self.body(x[0]).mean(dim=(2, 3)))  # [B, 44]


model_path = os.path.join(work, "small_cnn.onnx")
export.export(export.Logits(SmallCNN().eval()), model_path)
export.write_manifest(model_path)
sess = onnx.session(model_path)
name = sess.get_inputs()[0].name


def classify(x):
    return sess.run(None, {name: x})[0]


rng = np.random.default_rng(0)
starts = np.sort(rng.uniform(0, 290, clips_n))
windows = [(float(s), float(s + rng.uniform(3, 8))) for s in starts]
total_audio = sum(b - a for a, b in windows)

t_decode = t_events = t_feat = t_model = 0.0
n_events = n_windows = 0
for a, b in windows:
    t0 = time.perf_counter()
    x = media.audio(long, a, b, audio.RATE)
    t1 = time.perf_counter()
    spans = audio.find_events(x, audio.RATE)
    t2 = time.perf_counter()
    batch, owner = audio.batch_windows([x[int(s * audio.RATE):int(e * audio.RATE)] for s, e in spans])
    t3 = time.perf_counter()
    if len(batch):
        audio.sum_scores(classify(batch), owner, len(spans))
    t4 = time.perf_counter()
    t_decode, t_events, t_feat, t_model = t_decode + t1 - t0, t_events + t2 - t1, t_feat + t3 - t2, t_model + t4 - t3
    n_events, n_windows = n_events + len(spans), n_windows + len(batch)
work_total = t_decode + t_events + t_feat + t_model
print(f"{clips_n} clips, {total_audio:.0f} s of audio, {n_events} events, {n_windows} model windows")
print(f"ffmpeg decode alone : {total_audio / t_decode:7.0f} s of audio per second ({t_decode:.2f} s)")
print(f"leap-audio work     : {total_audio / work_total:7.0f} s of audio per second ({work_total:.2f} s) = "
      f"{t_decode / work_total:.0%} of the decode-alone speed")
print(f"  breakdown: decode {t_decode:.2f} s, filter+events {t_events:.2f} s, features {t_feat:.2f} s, "
      f"model {t_model:.2f} s")

clips = os.path.join(work, "clips.jsonl")
with open(clips, "w") as fh:
    for i, (a, b) in enumerate(windows):
        fh.write(json.dumps({"schema": 1, "id": f"c{i}", "video_id": "X", "video": long, "start": a, "stop": b}) + "\n")
tool = os.path.join(os.path.dirname(sys.executable), "leap-audio")
t0 = time.perf_counter()
subprocess.run([tool, "--model", model_path, "-q", clips], stdout=subprocess.DEVNULL, check=True)
wall = time.perf_counter() - t0
print(f"leap-audio process  : {total_audio / wall:7.0f} s of audio per second ({wall:.2f} s, start-up included; "
      f"providers {onnx.providers()})")
