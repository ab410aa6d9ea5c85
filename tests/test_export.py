"""ONNX export of the plain-PyTorch models and the ``dwpose export`` command."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from app.cli import export as export_cli  # noqa: E402
from engines.errors import ModelError, UserError  # noqa: E402
from engines.models import load_model  # noqa: E402
from trainer.export import ExportError, export_onnx  # noqa: E402
from trainer.models import build_model  # noqa: E402


def _trained_like(arch: str, size: str, seed: int = 0):
    """A model whose outputs look trained-sized (|x| ~ 1), so 1e-4 parity means something.

    mmpose's initialisation gives SimCC outputs ~1e-9, where any exporter would "agree".
    """
    g = torch.Generator().manual_seed(seed)
    model = build_model(arch, size)
    with torch.no_grad():
        for m in model.backbone.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
        for m in model.head.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.weight[0].numel() ** .5)
        w, h = model.input_size
        x, y = model.eval()(torch.randn(2, 3, h, w, generator=g))
        k = 1.0 / max(x.abs().max(), y.abs().max())
        model.head.cls_x.weight.mul_(k)
        model.head.cls_y.weight.mul_(k)
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = _trained_like("t", "256x192")
    out = tmp_path_factory.mktemp("export") / "rtmpose-t.onnx"
    return model, out, export_onnx(model, out)


def test_export_parity_and_report(exported):
    _model, out, result = exported
    assert result["output"] == str(out) and result["input_size"] == (192, 256)
    assert result["simcc_bins"] == (384, 512) and result["num_keypoints"] == 133
    assert result["max_abs_diff"] < 1e-4
    assert result["size_bytes"] == out.stat().st_size


def test_export_is_one_self_contained_file(exported):
    _model, out, _result = exported
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no .data, no temp
    import onnx

    proto = onnx.load(str(out), load_external_data=False)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)


def test_exported_file_is_a_valid_pose_model(exported):
    _model, out, _result = exported
    backend, io = load_model(out, "pose", device="cpu")
    assert io.input_size == (192, 256) and io.num_keypoints == 133 and io.split_ratio == 2.0
    assert [t.shape for t in backend.outputs] == [(None, 133, 384), (None, 133, 512)]


def test_dynamic_batch_matches_torch(exported):
    model, out, _result = exported
    x = torch.randn(3, 3, 256, 192, generator=torch.Generator().manual_seed(3))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(["simcc_x", "simcc_y"], {"input": x.numpy()})
    with torch.no_grad():
        ref = [t.numpy() for t in model.eval()(x)]
    assert [g.shape for g in got] == [(3, 133, 384), (3, 133, 512)]
    for r, g in zip(ref, got):
        assert np.abs(r - g).max() < 1e-4


def test_export_384x288_shapes(tmp_path):
    model = build_model("t", "384x288").train()
    out = tmp_path / "t384.onnx"
    result = export_onnx(model, out)
    assert model.training  # the caller's mode is restored
    assert result["simcc_bins"] == (576, 768)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x, y = session.run(None, {"input": np.zeros((2, 3, 384, 288), np.float32)})
    assert x.shape == (2, 133, 576) and y.shape == (2, 133, 768)


def test_failed_verification_leaves_existing_output_alone(tmp_path):
    out = tmp_path / "keep.onnx"
    out.write_bytes(b"previous file")
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_onnx(_trained_like("t", "256x192"), out, tolerance=-1.0)
    assert out.read_bytes() == b"previous file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.onnx"]


# ---- dwpose export ------------------------------------------------------------------------

def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dwpose")
    export_cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["export", *argv])


def test_cli_random_weights_say_so(tmp_path, capsys):
    args = _cli(["--arch", "t", "--output", str(tmp_path / "r.onnx")])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "RANDOM weights" in text and "benchmarks" in text
    assert "input [B,3,256,192]" in text and "simcc_x [B,133,384]" in text
    load_model(tmp_path / "r.onnx", "pose", device="cpu")


def test_cli_exports_a_distilled_checkpoint(tmp_path, capsys):
    model = _trained_like("t", "256x192", seed=1)
    ckpt = tmp_path / "stage1.pth"
    torch.save({"state_dict": {f"student.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    out = tmp_path / "t.onnx"
    args = _cli(["--checkpoint", str(ckpt), "--arch", "t", "--output", str(out)])
    assert args.func(args) == 0
    assert "loaded 218 tensors" in capsys.readouterr().out
    x = torch.randn(1, 3, 256, 192)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(
        ["simcc_x"], {"input": x.numpy()})[0]
    with torch.no_grad():
        assert np.abs(model.eval()(x)[0].numpy() - got).max() < 1e-4


def test_cli_errors_are_user_errors(tmp_path, monkeypatch):
    args = _cli(["--checkpoint", str(tmp_path / "none.pth"), "--arch", "t",
                 "--output", str(tmp_path / "o.onnx")])
    with pytest.raises(ModelError, match="checkpoint file not found"):
        args.func(args)
    args = _cli(["--arch", "t", "--output", str(tmp_path / "o.pth")])
    with pytest.raises(UserError, match=r"\.onnx"):
        args.func(args)
    monkeypatch.setitem(__import__("sys").modules, "torch", None)
    args = _cli(["--arch", "t", "--output", str(tmp_path / "o.onnx")])
    with pytest.raises(UserError, match=r"pip install -e \.\[train\]"):
        args.func(args)


def test_cli_registered_in_dwpose(tmp_path, capsys):
    from app import cli

    if "export" not in cli.SUBCOMMANDS:
        pytest.skip("'export' is not in app.cli.SUBCOMMANDS yet")
    assert cli.main(["export", "--arch", "t", "--checkpoint", str(tmp_path / "x.pth"),
                     "--output", str(tmp_path / "o.onnx")]) == 2
    assert "checkpoint file not found" in capsys.readouterr().err
