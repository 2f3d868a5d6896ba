"""leap_cli.learn units: UniFormerV2 layout and size, checkpoint loading, head, losses, data, schedule."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from leap_cli.learn import data as D
from leap_cli.learn import losses as L
from leap_cli.learn.model import END, LeapNet, ModelConfig, decode_steps, load_pretrained
from leap_cli.learn import parse_losses
from leap_cli.learn.train import lr_factor
from leap_cli.learn.uniformerv2 import Spec, UniFormerV2

# The official UniFormerV2 state-dict layout (OpenGVLab/UniFormerV2, slowfast/models/uniformerv2_model.py,
# wrapped as `backbone.` by Uniformerv2), K400/K710 configs: NO_LMHRA, no temporal downsampling.
RES = r"backbone\.transformer\.resblocks\.(\d+)\."
DEC = r"backbone\.transformer\.dec\.(\d+)\."
OFFICIAL = [
    r"backbone\.conv1\.weight",
    r"backbone\.class_embedding",
    r"backbone\.positional_embedding",
    r"backbone\.ln_pre\.(weight|bias)",
    RES + r"attn\.in_proj_(weight|bias)",
    RES + r"attn\.out_proj\.(weight|bias)",
    RES + r"ln_1\.(weight|bias)",
    RES + r"mlp\.c_fc\.(weight|bias)",
    RES + r"mlp\.c_proj\.(weight|bias)",
    RES + r"ln_2\.(weight|bias)",
    r"backbone\.transformer\.temporal_cls_token",
    r"backbone\.transformer\.dpe\.(\d+)\.(weight|bias)",
    DEC + r"attn\.in_proj_(weight|bias)",
    DEC + r"attn\.out_proj\.(weight|bias)",
    DEC + r"ln_(1|2|3)\.(weight|bias)",
    DEC + r"mlp\.c_fc\.(weight|bias)",
    DEC + r"mlp\.c_proj\.(weight|bias)",
    r"backbone\.transformer\.proj\.0\.(weight|bias)",
    r"backbone\.transformer\.proj\.2\.(weight|bias)",
    r"backbone\.transformer\.balance",
]
LEAP_ADDED = [r"backbone\.time_embedding", r"head\..*"]


def meta_model(name: str) -> LeapNet:
    with torch.device("meta"):
        return LeapNet(ModelConfig(backbone=name))


def vit_params(width: int, layers: int, patch: int, res: int, n_dec: int, classes: int) -> int:
    """UniFormerV2 size by formula: CLIP ViT (no ln_post/proj) + global blocks + classifier."""
    layer = 4 * width * width + 4 * width + 2 * width * 4 * width + 5 * width + 4 * width
    embed = 3 * patch * patch * width + width + ((res // patch) ** 2 + 1) * width + 2 * width
    extractor = layer + 2 * width                      # one more LayerNorm (ln_3)
    dpe = 27 * width + width
    head = 2 * width + width * classes + classes
    return embed + layers * layer + n_dec * (extractor + dpe) + width + head + width  # + cls token, balance


def test_uniformerv2_l14_has_354m_parameters_on_meta():
    m = meta_model("uniformerv2-l14")
    backbone = {n: p.numel() for n, p in m.named_parameters() if n.startswith("backbone.") and "time_embedding" not in n}
    total = sum(backbone.values())
    assert total == vit_params(1024, 24, 14, 224, 4, 97 + 300)
    assert 353.5e6 < total < 354.5e6  # the paper's 354M
    assert m.backbone.time_embedding.shape == (32, 1024)


@pytest.mark.parametrize("name,layers,n_dec", [("uniformerv2-l14", 24, 4), ("uniformerv2-b16", 12, 4)])
def test_state_dict_keys_follow_the_official_layout(name, layers, n_dec):
    keys = list(meta_model(name).state_dict())
    official = [re.compile(p + "$") for p in OFFICIAL]
    added = [re.compile(p + "$") for p in LEAP_ADDED]
    for k in keys:
        assert any(p.match(k) for p in official) or any(p.match(k) for p in added), f"unexpected key {k}"
    for p in official:
        assert any(p.match(k) for k in keys), f"no key for official pattern {p.pattern}"
    res = {int(re.match(RES, k)[1]) for k in keys if re.match(RES, k)}
    dec = {int(re.match(DEC, k)[1]) for k in keys if re.match(DEC, k)}
    assert res == set(range(layers)) and dec == set(range(n_dec))
    assert sum(1 for k in keys if k.startswith("backbone.") and not any(p.match(k) for p in added)) == \
        12 * layers + 5 + 2 + 14 * n_dec + 2 * n_dec + 4  # embeds, tokens, dec, dpe, proj


def test_local_mhra_variant_has_the_official_names():
    spec = Spec(16, 2, 2, 8, 16, (0, 1), frames=4, no_lmhra=False, temporal_downsample=True)
    m = UniFormerV2(spec, 10)
    keys = set(m.state_dict())
    for k in ("transformer.resblocks.1.lmhra1.pos_embed.0.running_var",
              "transformer.resblocks.1.lmhra2.pos_embed.3.bias", "transformer.resblocks.0.lmhra1.pos_embed.2.weight"):
        assert k in keys
    assert m.conv1.weight.shape == (16, 3, 3, 8, 8)  # temporal kernel 3, stride 2
    assert m.forward_features(torch.randn(2, 3, 4, 16, 16)).shape == (2, 16)


def test_tiny_forward_shapes_and_program_head():
    torch.manual_seed(0)
    m = LeapNet(ModelConfig(backbone="tiny", head_hidden=16))
    out = m(torch.randn(2, 3, 4, 32, 32))
    assert out["verb"].shape == (2, 97) and out["noun"].shape == (2, 300)
    assert out["pc"].shape == (2, 384)
    assert out["step_verbs"].shape == (2, 9, END + 1) and out["step_objects"].shape == (2, 9, 300)
    ctx = torch.randn(2, 32)
    with_ctx = m(torch.randn(2, 3, 4, 32, 32), ctx)
    assert with_ctx["verb"].shape == (2, 97)


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    a = LeapNet(ModelConfig(backbone="tiny"))
    b = LeapNet(ModelConfig(backbone="tiny", checkpoint_layers=2))
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 4, 32, 32)
    for m in (a, b):
        m(x)["verb"].sum().backward()
    ga, gb = a.backbone.conv1.weight.grad, b.backbone.conv1.weight.grad
    assert ga.abs().sum() > 0 and torch.allclose(ga, gb, atol=1e-6)


def test_time_embedding_is_zero_at_start_and_acts_per_frame():
    torch.manual_seed(0)
    m = LeapNet(ModelConfig(backbone="tiny")).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    base = m.token(x)
    with torch.no_grad():
        m.backbone.time_embedding[2] = torch.randn(32)  # (a constant would vanish in ln_pre)
    assert not torch.allclose(m.token(x), base)
    off = LeapNet(ModelConfig(backbone="tiny", time_embedding=False))
    assert "backbone.time_embedding" not in off.state_dict()


def test_clip_weights_load_with_inflation_and_a_key_report(tmp_path):
    torch.manual_seed(0)
    m = LeapNet(ModelConfig(backbone="tiny"))
    ours = m.state_dict()
    clip = {"visual.conv1.weight": torch.randn(32, 3, 8, 8), "visual.class_embedding": torch.randn(32),
            "visual.positional_embedding": torch.randn(17, 32), "visual.ln_post.weight": torch.ones(32),
            "visual.proj": torch.randn(32, 16), "token_embedding.weight": torch.randn(10, 8),
            "positional_embedding": torch.randn(77, 8),  # text tower from here on: ignored
            "transformer.resblocks.0.ln_1.weight": torch.ones(8)}
    for k, v in ours.items():
        if k.startswith("backbone.transformer.resblocks."):
            clip["visual." + k[len("backbone."):]] = torch.randn_like(v)
    path = tmp_path / "clip.pt"
    torch.save(clip, path)
    report = load_pretrained(m, str(path))
    assert report["format"] == "clip"
    assert report["inflated"] == ["backbone.conv1.weight"]
    assert sorted(report["unexpected"]) == ["backbone.ln_post.weight", "backbone.proj"]
    assert report["shape_mismatch"] == [] and report["ignored_text_tower"] == 3
    assert "backbone.transformer.dec.0.attn.in_proj_weight" in report["missing"]
    assert "backbone.time_embedding" in report["missing"] and "head.gru.weight_ih_l0" in report["missing"]
    assert torch.equal(m.backbone.conv1.weight[:, :, 0], clip["visual.conv1.weight"])  # T=1 kernel: centre
    assert torch.equal(m.state_dict()["backbone.transformer.resblocks.1.mlp.c_fc.weight"],
                       clip["visual.transformer.resblocks.1.mlp.c_fc.weight"])


def test_official_checkpoint_loads_and_reports_the_k400_head(tmp_path):
    torch.manual_seed(0)
    src = LeapNet(ModelConfig(backbone="tiny"))
    official = {k: v.clone() for k, v in src.state_dict().items()
                if k.startswith("backbone.") and "time_embedding" not in k}
    official["backbone.transformer.proj.2.weight"] = torch.randn(400, 32)  # a K400 classifier
    official["backbone.transformer.proj.2.bias"] = torch.randn(400)
    torch.save({"model_state": official, "epoch": 55}, tmp_path / "k400.pyth")
    dst = LeapNet(ModelConfig(backbone="tiny"))
    report = load_pretrained(dst, str(tmp_path / "k400.pyth"))
    assert report["format"] == "uniformerv2" and report["unexpected"] == []
    assert report["shape_mismatch"] == [
        "backbone.transformer.proj.2.weight: checkpoint (400, 32) vs model (397, 32)",
        "backbone.transformer.proj.2.bias: checkpoint (400,) vs model (397,)"]
    assert torch.equal(dst.state_dict()["backbone.transformer.dec.1.mlp.c_fc.weight"],
                       official["backbone.transformer.dec.1.mlp.c_fc.weight"])
    assert set(report["missing"]) >= {"backbone.time_embedding", "backbone.transformer.proj.2.weight"}


class PickledConfig:
    """Stands for the yacs config object that slowfast .pyth checkpoints pickle."""


def test_unsafe_pickles_need_trust(tmp_path):
    path = tmp_path / "cfg.pyth"
    torch.save({"model_state": {}, "cfg": PickledConfig()}, path)
    m = LeapNet(ModelConfig(backbone="tiny"))
    with pytest.raises(ValueError, match="--trust-checkpoint"):
        load_pretrained(m, str(path))
    assert load_pretrained(m, str(path), trust=True)["loaded"] == 0


def steps_logits(seq: list[int], objects: list[list[int]], steps: int = 9, big: float = 20.0):
    v = torch.full((1, steps, END + 1), -big)
    o = torch.full((1, steps, 300), -big)
    for t, verb in enumerate(seq):
        v[0, t, verb] = big
        for j, obj in enumerate(objects[t] if t < len(objects) else []):
            o[0, t, obj] = big - 0.5 * j  # object A slightly ahead of object B
    return v, o


def gt(steps: list[tuple[int, list[int]]], max_steps: int = 9):
    rec = {"id": "x", "program": {"steps": [{"verb_id": v, "object_ids": o} for v, o in steps],
                                  "precondition_sentence": "s"}}
    t = D.targets(rec, {"s": np.ones(4, np.float32)}, 4, max_steps)
    return (torch.as_tensor(t["verbs"])[None], torch.as_tensor(t["objects"])[None],
            torch.as_tensor(t["n_steps"])[None])


def test_containment_loss_penalises_only_steps_absent_from_the_ground_truth():
    verbs, objects, n = gt([(1, [23]), (4, [5])])
    # predicted in the other order, then end: every step is contained in the ground truth
    v, o = steps_logits([4, 1, END], [[5], [23]])
    s, count = L.program_loss(v, o, verbs, objects, n, containment=True)
    assert count.item() == 3 and s.item() < 1e-3
    s_ordered, _ = L.program_loss(v, o, verbs, objects, n, containment=False)
    assert s_ordered.item() > 40  # both steps wrong in place: ~2 x (20 + 20) x 2 nats
    # a step whose verb appears nowhere in the program is penalised
    v2, o2 = steps_logits([6, 1, END], [[23], [23]])
    s2, _ = L.program_loss(v2, o2, verbs, objects, n, containment=True)
    assert s2.item() > 30


def test_soft_object_labels_and_clips_without_program():
    rec = {"id": "a", "program": {"steps": [{"verb_id": 4, "object_ids": [5, 23]}], "precondition_sentence": ""}}
    t = D.targets(rec, {"": np.zeros(4, np.float32)}, 4, 9)
    assert t["objects"][0, 5] == 0.5 and t["objects"][0, 23] == 0.5 and t["objects"][1].sum() == 0
    assert t["verbs"].tolist() == [4] + [END] * 8 and t["n_steps"] == 1 and t["has_program"] == 1
    none = D.targets({"id": "b", "verb_class": 3}, {}, 4, 9)
    assert none["n_steps"] == -1 and none["has_program"] == 0 and none["noun_class"] == -1
    s, c = L.program_loss(torch.zeros(1, 9, 9), torch.zeros(1, 9, 300), torch.as_tensor(none["verbs"])[None],
                          torch.as_tensor(none["objects"])[None], torch.as_tensor(none["n_steps"])[None])
    assert s.item() == 0 and c.item() == 0


def test_precondition_and_action_losses():
    s, c = L.precondition_loss(torch.tensor([[1.0, 3.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [9.0, 9.0]]),
                               torch.tensor([1.0, 0.0]))
    assert s.item() == 2.0 and c.item() == 1
    v = torch.zeros(2, 97)
    n = torch.zeros(2, 300)
    s, c = L.action_loss(v, n, torch.tensor([3, -1]), torch.tensor([7, -1]))
    assert s.item() == pytest.approx(np.log(97) + np.log(300), rel=1e-5) and c.item() == 1


def test_decode_steps_stops_at_end_and_adds_a_second_object_when_probable():
    v, o = steps_logits([1, 4, END, 2], [[23], [5, 23], [], []])
    steps = decode_steps(v, o)
    assert steps == [[{"verb_id": 1, "object_ids": [23]}, {"verb_id": 4, "object_ids": [5, 23]}]]


def test_schedule_warms_up_then_decays_to_the_minimum():
    assert lr_factor(0, 100, 10, 0.01) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, 0.01) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, 0.01) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, 0.01) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor(100, 100, 10, 0.01) == pytest.approx(0.01)
    assert parse_losses("T+PC") == ("T", "PC")
    with pytest.raises(ValueError, match="unknown XX"):
        parse_losses("T+XX")


def test_tsn_sampling_one_frame_per_segment():
    assert D.segment_times(0.0, 4.0, 4, None).tolist() == [0.5, 1.5, 2.5, 3.5]
    t = D.segment_times(0.0, 4.0, 4, np.random.default_rng(0))
    assert all(k <= x < k + 1 for k, x in enumerate(t))


def test_context_windows_recognition_and_anticipation(monkeypatch):
    monkeypatch.setattr(D, "_fps", lambda rec: 64.0)
    recs = [{"id": f"c{i}", "video_id": "v", "start": s, "stop": e}
            for i, (s, e) in enumerate([(0, 2), (3, 5), (6, 7), (8, 12), (20, 22)])]
    order = D.video_order(recs)
    cfg = D.DataConfig(task="recognition")
    # clip 2 is 1 s long: neighbours 0, 1, 3, 4 re-centred to 1 s
    assert D.context_windows(recs, order, 2, cfg) == [(0.5, 1.5), (3.5, 4.5), (9.5, 10.5), (20.5, 21.5)]
    assert D.context_windows(recs, order, 0, cfg)[:2] == [None, None]
    ant = D.DataConfig(task="anticipation", observe=128)  # 2 s at 64 fps
    # clip 3 starts at 8: nothing after 7 s; windows of clips 1, 2, 3 end at min(stop, 7)
    assert D.context_windows(recs, order, 3, ant) == [(3.0, 5.0), (5.0, 7.0), (5.0, 7.0)]
    assert D.main_window(recs[3], ant) == (5.0, 7.0)


def test_sentence_embeddings_offline_and_cached_once(tmp_path, monkeypatch, capfd):
    from leap_cli.learn import embed as E

    first = E.embed(["if carrot not in hand", "if carrot not in hand", "if tap not open"], str(tmp_path))
    assert "Loading weights" not in capfd.readouterr().err  # no progress bar in the training log
    assert set(first) == {"if carrot not in hand", "if tap not open"}
    assert first["if tap not open"].shape == (384,) and first["if tap not open"].dtype == np.float32
    assert abs(float(np.linalg.norm(first["if tap not open"])) - 1.0) < 1e-3  # all-MiniLM-L6-v2 normalises
    assert len(list(tmp_path.glob("sha256-*.npy"))) == 2

    import sentence_transformers

    def no_model(*a, **k):
        raise AssertionError("the model was loaded although every sentence is cached")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", no_model)
    again = E.embed(["if tap not open"], str(tmp_path))
    assert np.array_equal(again["if tap not open"], first["if tap not open"])


def test_a_garbage_features_file_is_an_error_naming_it(tmp_path):
    from leap_cli.learn.data import load_features
    from leap_cli.records import ClipError

    (tmp_path / "c1.npy").write_bytes(b"this is not numpy")
    with pytest.raises(ClipError) as e:
        load_features(str(tmp_path), "c1")
    assert str(e.value).startswith(f"{tmp_path / 'c1.npy'}: not a NumPy .npy array of numbers (")
