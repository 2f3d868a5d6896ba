"""Training throughput (clips/s) of leap-train, data loading included.

Default: the tiny configuration on CPU over generated videos (ffmpeg lavfi, 40x40, 8 fps, 1 s
clips): decoding in DataLoader workers, TSN sampling, forward, backward, AdamW step. Prints
clips/s per epoch as measured by the trainer (epoch wall time, validation excluded).

`--l14` (GPU only): forward+backward of uniformerv2-l14 with the LEAP head, 32 frames at 224 px,
bf16 autocast, batch 4, random input (no decoding): seconds per step and clips/s.

Usage: python bench/train_throughput.py [--clips 48] [--epochs 3] [--workers 2] [--batch 8]
       python bench/train_throughput.py --l14 [--steps 10]
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def tiny(args) -> None:
    from test_learn_train import make_colour_video, program

    from leap_cli.learn.config import config_from_options
    from leap_cli.learn.train import fit

    with tempfile.TemporaryDirectory() as d:
        recs, per_video = [], 8
        for v in range((args.clips + per_video - 1) // per_video):
            order = [(v + k) % 3 for k in range(per_video)]
            path = os.path.join(d, f"P01_{v:02d}.mp4")
            make_colour_video(path, order)
            recs += [{"id": f"P01_{v:02d}_{k}", "video": path, "video_id": f"P01_{v:02d}", "start": k + 0.05,
                      "stop": k + 0.95, "verb_class": c, "noun_class": c, "program": program(c)}
                     for k, c in enumerate(order)]
        recs = recs[:args.clips]
        with open(os.path.join(d, "train.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in recs)
        cfg = config_from_options(programs=[os.path.join(d, "train.jsonl")], out=os.path.join(d, "run"),
                                  backbone="tiny", epochs=args.epochs, batch_size=args.batch, workers=args.workers,
                                  lr=1e-3, warmup=0.5)
        t = time.perf_counter()
        fit(cfg)
        wall = time.perf_counter() - t
        rows = [json.loads(x) for x in open(os.path.join(d, "run", "metrics.jsonl"))]
    rates = [r["clips_per_s"] for r in rows]
    print(json.dumps({"config": "tiny", "device": "cpu", "clips": len(recs), "workers": args.workers,
                      "batch": args.batch, "clips_per_s_per_epoch": [round(r, 1) for r in rates],
                      "clips_per_s_after_first": round(sum(rates[1:]) / max(1, len(rates) - 1), 1),
                      "wall_s_including_startup": round(wall, 1)}))


def l14(args) -> None:
    import torch

    from leap_cli.learn.model import LeapNet, ModelConfig

    assert torch.cuda.is_available(), "--l14 needs a GPU"
    dev = torch.device("cuda")
    model = LeapNet(ModelConfig(backbone="uniformerv2-l14", checkpoint_layers=args.checkpoint_layers)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    x = torch.randn(args.batch, 3, 32, 224, 224, device=dev)
    times = []
    for step in range(args.steps + 2):
        torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(x)
            loss = out["verb"].float().logsumexp(-1).mean() + out["step_verbs"].float().mean() + out["pc"].float().abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        if step >= 2:  # the first steps pick kernels
            times.append(time.perf_counter() - t)
    s = sorted(times)[len(times) // 2]
    print(json.dumps({"config": "uniformerv2-l14", "frames": 32, "batch": args.batch, "bf16": True,
                      "median_s_per_step": round(s, 4), "clips_per_s": round(args.batch / s, 2),
                      "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
                      "gpu": torch.cuda.get_device_name()}))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--clips", type=int, default=48)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--l14", action="store_true")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--checkpoint-layers", type=int, default=0)
    a = p.parse_args()
    if a.l14:
        a.batch = 4 if a.batch == 8 else a.batch
        l14(a)
    else:
        tiny(a)
