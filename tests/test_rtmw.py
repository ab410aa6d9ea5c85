"""RTMW (CSPNeXt + CSPNeXtPAFPN + RTMWHead): mmpose layout, shapes, export, runtimes, distill."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.test_distill import assert_runs_as, step_and_transfer  # noqa: E402
from trainer.distill import Stage2Distiller  # noqa: E402
from trainer.models import build_model, get_config, infer_variant  # noqa: E402


@pytest.fixture(scope="module")
def rtmw_m():
    torch.manual_seed(0)
    return build_model("rtmw-m", "256x192").eval()


def test_key_names_and_shapes_follow_mmpose(rtmw_m):
    """mmpose's rtmw-m config: CSPNeXt 0.67/0.75, neck in [192, 384, 768], head in 768."""
    shapes = {k: list(v.shape) for k, v in rtmw_m.state_dict().items()}
    expected = {
        "backbone.stem.0.conv.weight": [24, 3, 3, 3],
        "backbone.stage4.2.final_conv.conv.weight": [768, 768, 1, 1],
        "neck.reduce_layers.0.conv.weight": [384, 768, 1, 1],     # 32 -> 16 top-down
        "neck.reduce_layers.1.conv.weight": [192, 384, 1, 1],     # 16 -> 8
        "neck.top_down_blocks.0.main_conv.conv.weight": [192, 768, 1, 1],
        "neck.top_down_blocks.0.blocks.1.conv2.depthwise_conv.conv.weight": [192, 1, 5, 5],
        "neck.top_down_blocks.1.final_conv.conv.weight": [192, 192, 1, 1],
        "neck.downsamples.0.conv.weight": [192, 192, 3, 3],
        "neck.downsamples.1.conv.weight": [384, 384, 3, 3],
        "neck.bottom_up_blocks.0.final_conv.conv.weight": [384, 384, 1, 1],
        "neck.bottom_up_blocks.1.final_conv.conv.weight": [768, 768, 1, 1],
        "head.final_layer.conv.weight": [133, 768, 7, 7],
        "head.final_layer.bn.running_mean": [133],
        "head.conv_dec.conv.weight": [192, 192, 7, 7],             # after PixelShuffle(2)
        "head.final_layer2.conv.weight": [133, 576, 7, 7],         # 384 + 192 channels
        "head.mlp.0.g": [1],
        "head.mlp.1.weight": [128, 48],                            # 6 x 8 map
        "head.mlp2.1.weight": [128, 192],                          # 12 x 16 map
        "head.gau.uv.weight": [1152, 256],
        "head.cls_x.weight": [384, 256],
        "head.cls_y.weight": [512, 256],
    }
    assert {k: shapes.get(k) for k in expected} == expected
    # the neck has no output convs and no channel attention (out_channels=None in the configs)
    assert not any(k.startswith("neck.out_convs") or (k.startswith("neck.") and ".attention." in k)
                   for k in shapes)
    assert [type(m.activate).__name__ for m in (rtmw_m.head.final_layer, rtmw_m.head.conv_dec,
                                                 rtmw_m.head.final_layer2)] == ["ReLU"] * 3
    assert rtmw_m.backbone.out_indices == (2, 3, 4) and rtmw_m.neck.out_indices == (1, 2)


@pytest.mark.parametrize("arch,size,bins", [("rtmw-m", "256x192", (384, 512)),
                                            ("rtmw-l", "384x288", (576, 768))])
def test_output_shapes_and_variant(arch, size, bins):
    model = build_model(arch, size).eval()
    w, h = get_config(arch, size).input_size
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(2, 3, h, w))
        x, y = model.head(feats)
    c = get_config(arch, size).in_channels
    assert [list(f.shape) for f in feats] == [[2, c // 2, h // 16, w // 16],
                                             [2, c, h // 32, w // 32]]
    assert list(x.shape) == [2, 133, bins[0]] and list(y.shape) == [2, 133, bins[1]]
    assert infer_variant(model.state_dict()) == (arch, size)
    assert model.config.name == f"{arch}_{size}"


def test_infer_variant_tells_rtmw_from_rtmpose():
    rtmpose = build_model("l").state_dict()
    assert infer_variant(rtmpose) == ("l", "256x192")
    # a neck on an s-sized stem is no released variant
    fake = {**build_model("s").state_dict(), "neck.reduce_layers.0.conv.weight": torch.zeros(1)}
    assert infer_variant(fake) is None


def test_export_runs_the_same_under_onnxruntime_and_the_torch_backend(rtmw_m, tmp_path):
    """The exported graph (PixelShuffle -> DepthToSpace, nearest Resize) keeps the released I/O
    and gives PyTorch's outputs under ONNX Runtime and under our ONNX interpreter."""
    import onnx

    from engines.backends import create_backend
    from trainer.export import export_onnx

    out = tmp_path / "rtmw-m.onnx"
    info = export_onnx(rtmw_m, out)
    assert info["num_keypoints"] == 133 and tuple(info["simcc_bins"]) == (384, 512)
    graph = onnx.load(str(out))
    assert {n.op_type for n in graph.graph.node} >= {"DepthToSpace", "Resize"}
    x = np.random.default_rng(0).normal(size=(2, 3, 256, 192)).astype(np.float32)
    with torch.no_grad():
        want = [t.numpy() for t in rtmw_m(torch.from_numpy(x))]
    for name in ("onnxruntime", "torch"):
        backend = create_backend(name, out, device="cpu")
        got = backend.infer({"input": x})
        for w, g in zip(want, (got["simcc_x"], got["simcc_y"])):
            np.testing.assert_allclose(g, w, atol=1e-4, err_msg=name)


def test_stage2_shares_the_neck_and_transfers_to_a_plain_rtmw(tmp_path):
    torch.manual_seed(1)
    d = Stage2Distiller(build_model("rtmw-m", "256x192"))
    assert d.student.neck is d.teacher.neck and d.student.backbone is d.teacher.backbone
    assert not any(p.requires_grad for p in d.teacher.neck.parameters())
    x = torch.randn(1, 3, 256, 192)
    info, out = step_and_transfer(d, x, tmp_path)
    assert info["stage"] == 2
    assert any(k.startswith("neck.") for k in out)
    assert_runs_as(tmp_path / "pose.pth", "rtmw-m", d, x)
    # and a reload of the distiller keeps the student's neck the teacher's
    again = Stage2Distiller(build_model("rtmw-m", "256x192"))
    again.load_state_dict(d.state_dict())
    assert torch.equal(again.student.neck.reduce_layers[0].conv.weight,
                       d.teacher.neck.reduce_layers[0].conv.weight)
