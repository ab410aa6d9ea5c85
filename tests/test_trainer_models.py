"""The plain-PyTorch RTMPose/DWPose models: mmpose state-dict layout, shapes, checkpoints."""
from __future__ import annotations

import pickle

import pytest

torch = pytest.importorskip("torch")

from engines.errors import ModelError  # noqa: E402
from trainer.checkpoint import load_checkpoint  # noqa: E402
from trainer.models import (  # noqa: E402
    build_model,
    get_config,
    infer_variant,
    parse_input_size,
)

# Keys (num_batches_tracked included) of mmpose's whole-body TopdownPoseEstimator (COMPAT 5).
KEY_COUNTS = {"t": 218, "s": 254, "m": 362, "l": 470, "x": 578}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model("t", "256x192").eval()


@pytest.mark.parametrize("arch", list(KEY_COUNTS))
@pytest.mark.parametrize("size", ["256x192", "384x288"])
def test_key_counts_match_mmpose(arch, size):
    assert len(build_model(arch, size).state_dict()) == KEY_COUNTS[arch]


def test_key_names_and_shapes_t_256x192(tiny):
    shapes = {k: list(v.shape) for k, v in tiny.state_dict().items()}
    expected = {
        "backbone.stem.0.conv.weight": [12, 3, 3, 3],
        "backbone.stem.0.bn.num_batches_tracked": [],
        "backbone.stem.2.conv.weight": [24, 12, 3, 3],
        "backbone.stage1.0.conv.weight": [48, 24, 3, 3],
        "backbone.stage1.1.main_conv.conv.weight": [24, 48, 1, 1],
        "backbone.stage1.1.blocks.0.conv1.conv.weight": [24, 24, 3, 3],
        "backbone.stage1.1.blocks.0.conv2.depthwise_conv.conv.weight": [24, 1, 5, 5],
        "backbone.stage1.1.blocks.0.conv2.pointwise_conv.bn.running_var": [24],
        "backbone.stage1.1.attention.fc.weight": [48, 48, 1, 1],
        "backbone.stage1.1.attention.fc.bias": [48],
        "backbone.stage4.1.conv1.conv.weight": [192, 384, 1, 1],   # SPP
        "backbone.stage4.1.conv2.conv.weight": [384, 768, 1, 1],
        "backbone.stage4.2.final_conv.conv.weight": [384, 384, 1, 1],
        "head.final_layer.weight": [133, 384, 7, 7],
        "head.final_layer.bias": [133],
        "head.mlp.0.g": [1],
        "head.mlp.1.weight": [256, 48],
        "head.gau.uv.weight": [1152, 256],
        "head.gau.o.weight": [256, 512],
        "head.gau.gamma": [2, 128],
        "head.gau.beta": [2, 128],
        "head.gau.ln.g": [1],
        "head.gau.res_scale.scale": [256],
        "head.cls_x.weight": [384, 256],
        "head.cls_y.weight": [512, 256],
    }
    assert {k: shapes.get(k) for k in expected} == expected
    head_keys = sorted(k for k in shapes if k.startswith("head."))
    assert len(head_keys) == 12  # no rel-pos bias 'w', no biases on the linears
    assert not any(k.endswith("conv.bias") and ".attention." not in k for k in shapes)


def test_block_counts_follow_deepen_factor():
    keys = build_model("s").state_dict()
    # s: deepen 0.33 -> stages of 1, 2, 2, 1 blocks
    for stage, n in ((1, 1), (2, 2), (3, 2), (4, 1)):
        idx = 2 if stage == 4 else 1
        prefix = f"backbone.stage{stage}.{idx}.blocks."
        assert {k[len(prefix)].strip(".") for k in keys if k.startswith(prefix)} == {
            str(i) for i in range(n)}


def test_large_variant_shapes():
    sd = build_model("x", "384x288").state_dict()
    assert list(sd["head.final_layer.weight"].shape) == [133, 1280, 7, 7]
    assert list(sd["head.mlp.1.weight"].shape) == [256, 108]  # 9 x 12 feature map
    assert list(sd["head.cls_x.weight"].shape) == [576, 256]
    assert list(sd["head.cls_y.weight"].shape) == [768, 256]


def test_batchnorm_settings_match_configs(tiny):
    norms = [m for m in tiny.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-5 and m.momentum == 0.1 for m in norms)


def test_output_shapes(tiny):
    with torch.no_grad():
        x, y = tiny(torch.randn(2, 3, 256, 192))
    assert list(x.shape) == [2, 133, 384] and list(y.shape) == [2, 133, 512]
    model = build_model("t", "384x288").eval()
    with torch.no_grad():
        x, y = model(torch.randn(1, 3, 384, 288))
    assert list(x.shape) == [1, 133, 576] and list(y.shape) == [1, 133, 768]


def test_trains_end_to_end():
    model = build_model("t").train()
    x, y = model(torch.randn(2, 3, 256, 192))
    (x.square().mean() + y.square().mean()).backward()
    assert model.backbone.stem[0].conv.weight.grad.abs().sum() > 0
    assert model.head.gau.gamma.grad is not None


def test_head_init_weights_gives_a_fresh_head(tiny):
    head = build_model("t").head
    with torch.no_grad():
        head.gau.res_scale.scale.fill_(3.0)
        head.mlp[0].g.fill_(2.0)
        old_gamma = head.gau.gamma.clone()
    head.init_weights()
    assert torch.all(head.gau.res_scale.scale == 1) and head.mlp[0].g.item() == 1
    assert not torch.equal(head.gau.gamma, old_gamma)
    assert head.cls_x.weight.std().item() == pytest.approx(0.01, rel=0.1)


def test_config_table():
    cfg = get_config("l", "384x288")
    assert cfg.input_size == (288, 384) and cfg.in_featuremap_size == (9, 12)
    assert cfg.sigma == (6.0, 6.93) and cfg.in_channels == 1024 and cfg.simcc_bins == (576, 768)
    cfg = get_config("t", (192, 256))
    assert cfg.in_featuremap_size == (6, 8) and cfg.sigma == (4.9, 5.66)
    assert cfg.name == "rtmpose-t_256x192"
    assert parse_input_size("256x192") == (192, 256)
    with pytest.raises(ValueError, match="arch"):
        get_config("xl")
    with pytest.raises(ValueError, match="input size"):
        build_model("t", "320x240")


def test_infer_variant():
    assert infer_variant(build_model("m", "384x288").state_dict()) == ("m", "384x288")
    assert infer_variant({}) is None


# ---- checkpoints ---------------------------------------------------------------------------

def _outputs(model, seed=0):
    x = torch.randn(1, 3, 256, 192, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model.eval()(x)


def test_checkpoint_round_trip_with_distiller_prefix(tiny, tmp_path):
    sd = {f"student.{k}": v for k, v in tiny.state_dict().items()}
    sd["teacher.backbone.stem.0.conv.weight"] = torch.zeros(40, 3, 3, 3)
    sd["distill_losses.loss_fea.align.weight"] = torch.zeros(320, 256, 1, 1)
    path = tmp_path / "distill.pth"
    torch.save({"state_dict": sd, "meta": {"epoch": 270, "sigmas": torch.ones(3).numpy()}}, path)
    model = build_model("t")
    info = load_checkpoint(model, path)
    assert info["prefix"] == "student." and info["num_keys"] == 218
    assert info["meta"]["epoch"] == 270  # numpy metadata is accepted
    for a, b in zip(_outputs(tiny), _outputs(model)):
        assert torch.equal(a, b)


def test_checkpoint_bare_and_explicit_prefix(tiny, tmp_path):
    path = tmp_path / "bare.pth"
    torch.save(tiny.state_dict(), path)
    assert load_checkpoint(build_model("t"), path)["prefix"] is None
    path = tmp_path / "teacher.pth"
    torch.save({"state_dict": {f"teacher.{k}": v for k, v in tiny.state_dict().items()}}, path)
    assert load_checkpoint(build_model("t"), path, prefix="teacher")["prefix"] == "teacher."
    with pytest.raises(ModelError, match="no keys start with 'student.'"):
        load_checkpoint(build_model("t"), path, prefix="student")


def test_stage2_checkpoint_takes_backbone_from_teacher(tiny, tmp_path):
    sd = tiny.state_dict()
    mixed = {f"teacher.{k}": v for k, v in sd.items() if k.startswith("backbone.")}
    mixed.update({f"student.{k}": v for k, v in sd.items() if k.startswith("head.")})
    path = tmp_path / "stage2.pth"
    torch.save({"state_dict": mixed}, path)
    model = build_model("t")
    info = load_checkpoint(model, path)
    assert info["backbone_from_teacher"] and info["num_keys"] == 218
    assert torch.equal(_outputs(model)[0], _outputs(tiny)[0])


def test_mismatched_checkpoint_lists_bad_keys(tiny, tmp_path):
    sd = dict(tiny.state_dict())
    del sd["head.gau.gamma"]
    sd["head.gau.w"] = torch.zeros(265)
    sd["head.cls_x.weight"] = torch.zeros(576, 256)
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": sd}, path)
    with pytest.raises(ModelError) as err:
        load_checkpoint(build_model("t"), path)
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    assert "1 missing: head.gau.gamma" in msg
    assert "1 unexpected: head.gau.w" in msg
    assert "head.cls_x.weight [576, 256] != [384, 256]" in msg


def test_wrong_variant_is_named_and_long_lists_are_cut(tmp_path):
    path = tmp_path / "s.pth"
    torch.save({"state_dict": build_model("s").state_dict()}, path)
    with pytest.raises(ModelError) as err:
        load_checkpoint(build_model("t"), path)
    msg = str(err.value)
    assert "looks like arch 's' at input size 256x192" in msg
    assert "36 unexpected" in msg and "(+31 more)" in msg and "mis-shaped" in msg


class Payload:  # any class a checkpoint pickles, e.g. mmengine's HistoryBuffer
    pass


def test_pickled_objects_are_refused(tiny, tmp_path):
    path = tmp_path / "objects.pth"
    torch.save({"state_dict": tiny.state_dict(), "message_hub": Payload()}, path)
    with pytest.raises(ModelError) as err:
        load_checkpoint(build_model("t"), path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: contains pickled Python objects")
    assert "Payload" in msg and "refused for safety" in msg and "\n" not in msg


def test_missing_and_non_checkpoint_files(tmp_path):
    with pytest.raises(ModelError, match="checkpoint file not found"):
        load_checkpoint(build_model("t"), tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(ModelError, match=r"junk\.pth: not a PyTorch checkpoint"):
        load_checkpoint(build_model("t"), junk)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelError, match="not a PyTorch checkpoint"):
        load_checkpoint(build_model("t"), plain)
    listed = tmp_path / "list.pth"
    torch.save([1, 2], listed)
    with pytest.raises(ModelError, match="not a model checkpoint"):
        load_checkpoint(build_model("t"), listed)
