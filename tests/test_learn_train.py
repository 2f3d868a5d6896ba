"""leap-train end to end on CPU: learnable generated videos, predict + leap-eval, DDP (2 gloo
processes) == 1 process, exact resume, context aggregation. Tiny sizes: seconds, not minutes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import records, run_tool

COLOURS = ["red", "lime", "blue"]
PROGRAMS = [[(1, [23])], [(4, [5, 23]), (2, [5])], [(6, [10]), (1, [10]), (3, [10, 2])]]
SENTENCES = ["if carrot not in hand", "if knife in hand and if carrot not in hand", "if pan not in hand"]


def program(c: int) -> dict:
    from leap_cli import ontology
    nouns = ontology.nouns()
    return {"steps": [{"verb": ontology.SUBACTIONS[v], "verb_id": v, "objects": [nouns[o].key for o in objs],
                       "object_ids": objs} for v, objs in PROGRAMS[c]],
            "precondition_sentence": SENTENCES[c]}


def make_colour_video(path, order: list[int], seg: float = 1.0, size: int = 40, rate: int = 8) -> None:
    """One segment per entry of `order` (background colour = the class), a white square moving across."""
    from leap_cli.media import ffmpeg_exe
    args = [ffmpeg_exe(), "-y", "-loglevel", "error"]
    for c in order:
        args += ["-f", "lavfi", "-i", f"color=c={COLOURS[c]}:s={size}x{size}:d={seg}:r={rate}"]
    chain = "".join(f"[{i}:v]" for i in range(len(order)))
    chain += f"concat=n={len(order)}:v=1:a=0,drawbox=x='mod(t*20,32)':y=16:w=8:h=8:c=white:t=fill[v]"
    args += ["-filter_complex", chain, "-map", "[v]", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "8", str(path)]
    subprocess.run(args, check=True)


def write(path, recs) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(path)


@pytest.fixture(scope="module")
def embed_cache(tmp_path_factory):
    from leap_cli.learn.embed import embed
    d = tmp_path_factory.mktemp("emb")
    embed(SENTENCES, str(d))  # computed once; every run below reads the cache
    return str(d)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    orders = [[0, 1, 2, 0, 1, 2], [2, 1, 0, 2, 1, 0], [1, 2, 0, 1, 0, 2], [0, 2, 1, 2, 0, 1]]
    recs = []
    for v, order in enumerate(orders):
        path = d / f"P01_0{v}.mp4"
        make_colour_video(path, order)
        for k, c in enumerate(order):
            recs.append({"schema": 1, "id": f"P01_0{v}_{k}", "video": str(path), "video_id": f"P01_0{v}",
                         "participant_id": "P01", "start": k + 0.05, "stop": k + 0.95,
                         "verb_class": c, "noun_class": 20 + c, "program": program(c)})
    return d, recs[:18], recs[18:]


def test_tiny_video_training_learns_and_predictions_evaluate(videos, embed_cache, tmp_path):
    d, train, val = videos
    tr, va = write(tmp_path / "train.jsonl", train), write(tmp_path / "val.jsonl", val)
    out = tmp_path / "run"
    res = run_tool("leap-train", "fit", "--programs", tr, "--val", va, "--backbone", "tiny", "--epochs", "4",
                   "--batch-size", "6", "--lr", "2e-3", "--warmup", "0.5", "--workers", "2",
                   "--embed-cache", embed_cache, "--out", out)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""  # metrics go to stderr and OUT/metrics.jsonl
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert rows[-1]["val_verb_top1"] >= 80.0   # 3 classes: chance is 33 %
    assert json.loads((out / "config.json").read_text())["model"]["backbone"] == "tiny"
    assert (out / "best.pt").is_file() and not list(out.glob("*.tmp*"))

    bad = {"schema": 1, "id": "P01_09_0", "video": str(d / "missing.mp4"), "start": 0.0, "stop": 1.0}
    inp = write(tmp_path / "pred_in.jsonl", val[:4] + [bad] + val[4:])
    res = run_tool("leap-train", "predict", "--checkpoint", out / "last.pt", inp, "--workers", "2")
    assert res.returncode == 0, res.stderr
    preds = records(res.stdout)
    assert [p["id"] for p in preds] == [r["id"] for r in val[:4]] + ["P01_09_0"] + [r["id"] for r in val[4:]]
    assert "no such file" in preds[4]["error"]["message"] and preds[4]["error"]["stage"] == "train"
    good = [p for p in preds if "error" not in p]
    assert len(good[0]["verb_scores"]) == 97 and len(good[0]["noun_scores"]) == 300
    assert all(set(s) == {"verb", "verb_id", "objects", "object_ids"} for p in good for s in p["program"]["steps"])
    (tmp_path / "preds.jsonl").write_text(res.stdout)
    ev = run_tool("leap-eval", "recognition", "--predictions", tmp_path / "preds.jsonl", "--annotations", va)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["all_verb_accuracy_at_1"] >= 80.0
    assert "error record" in ev.stderr


def test_anticipation_observes_only_before_start_minus_one_second(videos, embed_cache, tmp_path):
    _, train, _ = videos
    tr = write(tmp_path / "train.jsonl", train[:6])
    res = run_tool("leap-train", "fit", "--programs", tr, "--val", tr, "--task", "anticipation", "--epochs", "1",
                   "--batch-size", "3", "--workers", "0", "--losses", "CE", "--embed-cache", embed_cache,
                   "--out", tmp_path / "ant")
    assert res.returncode == 0, res.stderr
    row = json.loads((tmp_path / "ant" / "metrics.jsonl").read_text())
    assert set(k for k in row if k.startswith("train_loss_")) == {"train_loss_CE"}
    # best.pt is chosen by EPIC's anticipation metric, the action mean top-5 recall
    assert 0.0 <= row["val_action_mt5r"] <= 100.0 and "val_verb_mt5r" in row and "val_noun_mt5r" in row
    assert torch.load(tmp_path / "ant" / "best.pt", weights_only=True)["best"] == row["val_action_mt5r"]


# ---------------------------------------------------------------- precomputed features

def feature_records(tmp_path, n: int = 24, dim: int = 12):
    rng = np.random.default_rng(0)
    feats = tmp_path / "features"
    feats.mkdir()
    recs = []
    for i in range(n):
        c = i % 3
        np.save(feats / f"P02_01_{i}.npy", (rng.normal(size=dim) + 3 * np.eye(dim)[c]).astype(np.float32))
        recs.append({"id": f"P02_01_{i}", "video_id": f"P02_0{i // 8}", "participant_id": "P02",
                     "start": float(i % 8), "stop": i % 8 + 0.9, "verb_class": c, "noun_class": c,
                     "program": program(c)})
    return str(feats), write(tmp_path / "feat.jsonl", recs)


def features_cfg(feats, recs, out, embed_cache, **kw):
    from leap_cli.learn.config import config_from_options
    base = dict(programs=[recs], out=str(out), features=feats, backbone="features", feature_hidden=16,
                head_hidden=16, epochs=4, batch_size=8, lr=3e-3, warmup=0.5, workers=0, embed_cache=embed_cache)
    return config_from_options(**{**base, **kw})


def weights(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_resume_gives_the_same_final_weights(videos, tmp_path, embed_cache):
    # video clips with random TSN offsets and random crops, 2 persistent decoding workers
    from leap_cli.learn.config import config_from_options
    from leap_cli.learn.train import fit
    _, train, _ = videos
    recs = write(tmp_path / "train.jsonl", train[:12])

    def cfg(out, **kw):
        return config_from_options(programs=[recs], out=str(tmp_path / out), backbone="tiny", head_hidden=16,
                                   epochs=3, batch_size=4, lr=2e-3, warmup=0.5, workers=2,
                                   embed_cache=embed_cache, **kw)

    fit(cfg("full"))
    fit(cfg("cut", stop_after=1))                                   # "interrupted" after epoch 0
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 0
    fit(cfg("cut"), resume=True)
    a, b = weights(tmp_path / "full" / "last.pt"), weights(tmp_path / "cut" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    full = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    cut = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(x).items() if k != "clips_per_s"} for x in full]
    assert strip == [{k: v for k, v in json.loads(x).items() if k != "clips_per_s"} for x in cut]


def test_ddp_two_gloo_processes_match_one_process(tmp_path, embed_cache):
    feats, recs = feature_records(tmp_path)
    common = ["fit", "--programs", recs, "--val", recs, "--features", feats, "--backbone", "features", "--epochs", "2",
              "--batch-size", "8", "--lr", "3e-3", "--warmup", "0.5", "--workers", "0", "--embed-cache", embed_cache]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "leap_cli.commands.train", *common, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "leap_cli.commands.train", *common, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env)
    assert two.returncode == 0, two.stderr
    m1 = [json.loads(x) for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    m2 = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert len(m1) == len(m2) == 2  # rank 1 wrote nothing
    for a, b in zip(m1, m2):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
        # validation is split over the ranks and gathered: the same numbers
        for k in ("val_verb_top1", "val_noun_top1", "val_action_top1", "val_s_verb", "val_obj_a", "val_obj_b"):
            assert a[k] == pytest.approx(b[k], abs=1e-6), k
    a, b = weights(tmp_path / "one" / "last.pt"), weights(tmp_path / "two" / "last.pt")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


def test_context_aggregation_uses_a_frozen_program_stage_network(tmp_path, embed_cache):
    from leap_cli.learn.predict import Predictor
    from leap_cli.learn.train import fit
    from leap_cli.learn.data import read_records
    feats, recs = feature_records(tmp_path)
    fit(features_cfg(feats, recs, tmp_path / "prog", embed_cache, stage="program", epochs=2))
    row = json.loads((tmp_path / "prog" / "metrics.jsonl").read_text().splitlines()[-1])
    assert "train_loss_CE" not in row and "train_loss_T" in row
    ctx_ckpt = str(tmp_path / "prog" / "last.pt")
    before = weights(ctx_ckpt)
    fit(features_cfg(feats, recs, tmp_path / "full", embed_cache, context=ctx_ckpt, epochs=2))
    assert all(torch.equal(before[k], v) for k, v in weights(ctx_ckpt).items())  # frozen, file untouched
    universe, _ = read_records([recs])
    with_ctx = list(Predictor(str(tmp_path / "full" / "last.pt"), 8, 0, None, None, universe)(universe[:8]))
    cfg_ctx = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["config"]["context"]
    assert cfg_ctx == ctx_ckpt
    # the same network without its context tokens scores differently
    p = Predictor(str(tmp_path / "full" / "last.pt"), 8, 0, None, None, universe)
    p.ctx_net = None
    without = list(p(universe[:8]))
    assert with_ctx[0]["verb_scores"] != without[0]["verb_scores"]


def test_the_cli_defaults_are_the_config_defaults():
    # leap-train's options take their defaults from TrainConfig / ModelConfig: they cannot drift
    import inspect

    from leap_cli.commands.train import fit, predict
    from leap_cli.learn.config import TrainConfig, config_from_options
    from leap_cli.learn.predict import Predictor
    kw = fit.make_context("fit", ["--programs", __file__]).params  # parsed, callbacks applied
    assert kw.pop("resume") is False
    assert config_from_options(containment=not kw.pop("ordered_steps"), **kw) == TrainConfig(programs=[__file__])
    given = predict.make_context("predict", ["--checkpoint", __file__]).params
    wanted = inspect.signature(Predictor).parameters
    assert (given["batch_size"], given["workers"]) == (wanted["batch_size"].default, wanted["workers"].default) == (8, 4)


@pytest.mark.parametrize("args,message", [
    (["--backbone", "features"], "--backbone features and --features DIR go together"),
    (["--stage", "program", "--context", "{ckpt}"], "--stage program trains the network that --context uses"),
    (["--losses", "T+XX"], "Invalid value for '--losses': unknown XX; use a subset of T, PC, CE"),
    (["--epochs", "0"], "Invalid value for '--epochs': 0 is not in the range x>=1"),
    (["--batch-size", "0"], "Invalid value for '--batch-size': 0 is not in the range x>=1"),
])
def test_fit_rejects_bad_combinations(tmp_path, args, message):
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"x")
    recs = write(tmp_path / "r.jsonl", [{"id": "a", "video": "v.mp4", "start": 0, "stop": 1}])
    res = run_tool("leap-train", "fit", "--programs", recs, "--out", tmp_path / "o",
                   *[a.format(ckpt=ckpt) for a in args])
    assert res.returncode == 2 and message in res.stderr


def test_video_context_aggregation_through_the_cli(videos, embed_cache, tmp_path):
    _, train, _ = videos
    tr = write(tmp_path / "train.jsonl", train[:6])  # one video: every clip has neighbours
    base = ["--programs", tr, "--epochs", "1", "--batch-size", "3", "--workers", "0", "--embed-cache", embed_cache]
    res = run_tool("leap-train", "fit", *base, "--stage", "program", "--out", tmp_path / "prog")
    assert res.returncode == 0, res.stderr
    res = run_tool("leap-train", "fit", *base, "--context", tmp_path / "prog" / "last.pt", "--out", tmp_path / "full")
    assert res.returncode == 0, res.stderr
    res = run_tool("leap-train", "predict", "--checkpoint", tmp_path / "full" / "last.pt", tr, "--workers", "1")
    assert res.returncode == 0, res.stderr
    assert [p["id"] for p in records(res.stdout)] == [r["id"] for r in train[:6]]
    assert not any("error" in p for p in records(res.stdout))


def test_fit_reports_unusable_records_and_trains_on_the_rest(videos, embed_cache, tmp_path):
    _, train, _ = videos
    bad_verb = {**train[1], "id": "bad_verb", "program": {"steps": [{"verb_id": 12, "object_ids": [1]}]}}
    no_video = {**train[2], "id": "no_video", "video": str(tmp_path / "gone.mp4")}
    backwards = {**train[4], "id": "backwards", "start": 3.0, "stop": 2.5}
    past_end = {**train[5], "id": "past_end", "start": 7.0, "stop": 8.0}  # the video lasts 6 s
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [train[0], bad_verb, no_video, backwards, past_end]) + "{oops\n"
                    + json.dumps(train[3]) + "\n")
    res = run_tool("leap-train", "fit", "--programs", path, "--epochs", "1", "--batch-size", "2", "--workers", "0",
                   "--losses", "CE", "--out", tmp_path / "o")
    assert res.returncode == 0, res.stderr
    assert f"leap-train: skipped {path}:6: not JSON" in res.stderr
    assert (f"leap-train: skipped past_end: its window 7.00-8.00 s starts after the end of {train[5]['video']} "
            "(6.00 s)") in res.stderr
    assert "leap-train: skipped backwards: stop 2.5 s is not after start 3 s" in res.stderr
    assert "leap-train: skipped bad_verb: bad_verb: sub-action verb_id 12 outside 0..7" in res.stderr
    assert f"leap-train: skipped no_video: {tmp_path / 'gone.mp4'}: no such file" in res.stderr
    assert json.loads((tmp_path / "o" / "metrics.jsonl").read_text())["step"] == 1  # 2 clips, batch 2


def test_predict_reports_clips_without_a_usable_window(videos, tmp_path):
    # an untrained tiny network is enough: the point is which clips get an error record
    import dataclasses

    from leap_cli.learn.model import LeapNet, ModelConfig
    from leap_cli.learn.config import TrainConfig
    from leap_cli.learn.predict import Predictor
    _, train, _ = videos
    cfg = TrainConfig(model=ModelConfig(backbone="tiny", head_hidden=8))
    ckpt = tmp_path / "c.pt"
    torch.save({"model": LeapNet(cfg.model).state_dict(), "config": dataclasses.asdict(cfg), "epoch": 0}, ckpt)
    recs = [train[0], {**train[1], "id": "backwards", "start": 3.0, "stop": 2.0},
            {k: v for k, v in train[2].items() if k != "stop"}, {**train[3], "start": -1.0}, train[4]]
    with pytest.raises(ValueError, match="was trained without --context: its classifier never saw context tokens"):
        Predictor(str(ckpt), 8, 0, context=str(ckpt))
    out = list(Predictor(str(ckpt), 8, 0)(recs))
    assert [o["id"] for o in out if isinstance(o, dict)] == [train[0]["id"], train[4]["id"]]
    assert [str(o) for o in out if not isinstance(o, dict)] == [
        "stop 2 s is not after start 3 s",
        "the record needs numeric start and stop (seconds in the video; leap-clips writes them)", "start -1 s is negative"]


def test_global_batch_must_split_evenly_over_the_processes(tmp_path, monkeypatch):
    # 8 clips on 3 processes would silently train with a global batch of 6
    from leap_cli.learn.config import config_from_options
    from leap_cli.learn.train import fit
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="--batch-size 8 is the global batch: it must be a positive multiple "
                                         "of the 3 processes"):
        fit(config_from_options(programs=[], out=str(tmp_path / "o"), batch_size=8))


def test_predict_refuses_to_run_under_torchrun(monkeypatch):
    # each rank would write every prediction to the same output
    from leap_cli.learn.predict import Predictor
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="runs as one process, not under torchrun: for several GPUs run one per "
                                         "GPU with --shard K/N"):
        Predictor("unused.pt")


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_around_the_checkpoint_write_resumes_to_the_same_files(tmp_path, embed_cache, monkeypatch, when):
    # killed before last.pt of epoch 1 is written (best.pt and the metrics row already are) or
    # right after it: the resumed run ends with the same weights and the same metrics rows
    from leap_cli.learn import checkpoint
    from leap_cli.learn import train as T
    feats, recs = feature_records(tmp_path)
    T.fit(features_cfg(feats, recs, tmp_path / "full", embed_cache, epochs=3))
    real = checkpoint.save_atomic

    def dying(obj, path):
        if when == "after":
            real(obj, path)
        if path.endswith("last.pt") and obj["epoch"] == 1:
            raise KeyboardInterrupt
        if when == "before":
            real(obj, path)

    monkeypatch.setattr(checkpoint, "save_atomic", dying)
    with pytest.raises(KeyboardInterrupt):
        T.fit(features_cfg(feats, recs, tmp_path / "cut", embed_cache, epochs=3))
    monkeypatch.undo()
    T.fit(features_cfg(feats, recs, tmp_path / "cut", embed_cache, epochs=3), resume=True)

    def rows(run):
        return [{k: v for k, v in json.loads(x).items() if k != "clips_per_s"}
                for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows("cut")] == [0, 1, 2] and rows("cut") == rows("full")
    a, b = weights(tmp_path / "full" / "best.pt"), weights(tmp_path / "cut" / "best.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_fresh_run_in_an_old_folder_starts_a_new_metrics_file(tmp_path, embed_cache):
    from leap_cli.learn.train import fit
    feats, recs = feature_records(tmp_path)
    fit(features_cfg(feats, recs, tmp_path / "run", embed_cache, epochs=2))
    fit(features_cfg(feats, recs, tmp_path / "run", embed_cache, epochs=1))  # no --resume: starts over
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0]


def test_resume_with_another_network_says_what_differs(tmp_path, embed_cache):
    from leap_cli.learn.train import fit
    feats, recs = feature_records(tmp_path)
    fit(features_cfg(feats, recs, tmp_path / "run", embed_cache, epochs=1))
    with pytest.raises(ValueError, match=r"--resume: .*last.pt holds another network \(feature_hidden 16 there, "
                                         r"32 now\); give the same options or another --out"):
        fit(features_cfg(feats, recs, tmp_path / "run", embed_cache, epochs=2, feature_hidden=32), resume=True)


def test_resume_checks_the_run_was_trained_on_these_inputs(tmp_path, embed_cache, capsys):
    from leap_cli.learn.train import fit
    feats, recs = feature_records(tmp_path)
    run = tmp_path / "run"
    first = fit(features_cfg(feats, recs, run, embed_cache, epochs=1))
    assert torch.load(run / "last.pt", weights_only=True)["inputs"]["programs"][0]["file"] == "feat.jsonl"
    # the same inputs, finished: said so, nothing trained, the last epoch's metrics returned
    again = fit(features_cfg(feats, recs, run, embed_cache, epochs=1), resume=True)
    assert again == first and "has trained all 1 epochs on these inputs: nothing to train" in capsys.readouterr().err
    # other programs (the same file name, new content): refused with the remedy, last.pt untouched
    before = (run / "last.pt").read_bytes()
    lines = open(recs).read().splitlines(keepends=True)
    open(recs, "w").write("".join(lines[:-1]))
    with pytest.raises(ValueError) as e:
        fit(features_cfg(feats, recs, run, embed_cache, epochs=2), resume=True)
    assert str(e.value) == (f"--resume: {run / 'last.pt'} was trained on other inputs (--programs feat.jsonl differ "
                            "from the feat.jsonl it was trained on); to train afresh on these, run without --resume "
                            "(it replaces last.pt and best.pt in that folder) or give another --out; to continue "
                            "that run, give the inputs it was trained on")
    assert (run / "last.pt").read_bytes() == before
    open(recs, "w").write("".join(lines))
    with pytest.raises(ValueError, match=r"other inputs \(--val feat.jsonl given, none when it was trained; "
                                         r"lr 0.003 there, 0.01 now\)"):
        fit(features_cfg(feats, recs, run, embed_cache, epochs=2, val=[recs], lr=1e-2), resume=True)
    fit(features_cfg(feats, recs, run, embed_cache, epochs=2, workers=1), resume=True)  # locations, workers: free
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 1


class _RunsCode:
    def __reduce__(self):  # unpickling this calls os.system: what a crafted checkpoint does
        import os
        return os.system, ("touch PWNED",)


def test_a_checkpoint_that_would_run_code_is_refused_not_loaded(tmp_path, monkeypatch):
    from leap_cli.learn.checkpoint import CheckpointError, load, load_model
    from leap_cli.learn.predict import Predictor
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "last.pt"
    torch.save({"model": {}, "config": {}, "payload": _RunsCode()}, bad)
    for attempt in (lambda: load(str(bad)), lambda: load_model(str(bad)), lambda: Predictor(str(bad), 8, 0)):
        with pytest.raises(CheckpointError, match=r"last.pt: refused: it holds pickled objects other than tensors "
                                                  r"and plain data \(loading it could run code\)"):
            attempt()
    assert not (tmp_path / "PWNED").exists()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk.pt: not a checkpoint \("):
        load(str(tmp_path / "junk.pt"))
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"other.pt: not a LEAP checkpoint \(no model and config"):
        load(str(tmp_path / "other.pt"))


def test_a_crafted_last_pt_is_refused_by_fit_resume_and_predict_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "last.pt"
    torch.save({"model": {}, "config": {}, "payload": _RunsCode()}, bad)
    proc = run_tool("leap-train", "predict", "--checkpoint", bad, input="")
    assert proc.returncode == 1 and "refused: it holds pickled objects" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "PWNED").exists()


def test_class_ids_out_of_range_and_nan_features_are_reported_before_training(tmp_path, embed_cache):
    from leap_cli.learn.train import fit
    feats, path = feature_records(tmp_path, n=8)
    recs = [json.loads(x) for x in open(path)]
    recs[1]["verb_class"] = -1
    recs[2]["noun_class"] = 500
    recs[3]["verb_class"] = "3"
    x = np.load(f"{feats}/{recs[4]['id']}.npy")
    x[2] = np.nan
    np.save(f"{feats}/{recs[4]['id']}.npy", x)
    (tmp_path / "features" / f"{recs[5]['id']}.npy").write_bytes(b"garbage")
    write(tmp_path / "feat.jsonl", recs)
    res = run_tool("leap-train", "fit", "--programs", tmp_path / "feat.jsonl", "--features", feats,
                   "--backbone", "features", "--epochs", "1", "--batch-size", "2", "--workers", "0",
                   "--losses", "CE", "--out", tmp_path / "o", "--embed-cache", embed_cache)
    assert res.returncode == 0, res.stderr
    assert f"leap-train: skipped {recs[1]['id']}: verb_class -1 is not a class id 0..96" in res.stderr
    assert f"leap-train: skipped {recs[2]['id']}: noun_class 500 is not a class id 0..299" in res.stderr
    assert f"leap-train: skipped {recs[3]['id']}: verb_class '3' is not a class id 0..96" in res.stderr
    assert (f"leap-train: skipped {recs[4]['id']}: {feats}/{recs[4]['id']}.npy: 1 of 12 feature values are "
            "NaN or infinite") in res.stderr
    assert f"leap-train: skipped {recs[5]['id']}: {feats}/{recs[5]['id']}.npy: not a NumPy .npy array of numbers (" in res.stderr
    row = json.loads((tmp_path / "o" / "metrics.jsonl").read_text())
    assert row["step"] >= 1 and np.isfinite(row["train_loss"])  # the 3 good clips trained
    for r in recs[1:6]:
        r["verb_class"] = -1
    write(tmp_path / "feat.jsonl", [recs[1]])
    with pytest.raises(ValueError, match="no usable training records"):
        fit(features_cfg(feats, str(tmp_path / "feat.jsonl"), tmp_path / "none", embed_cache, epochs=1))
