"""The torch backend: ONNX graphs and trainer checkpoints as torch modules, against ONNX Runtime.

On the CPU everything runs in FP32 and must match ONNX Runtime to float rounding (the maximum
differences are stated in each test). The FP16 numerics are checked on the CPU through the
graph module itself, and on a real GPU by the ``gpu`` tests at the end (skipped without one).
"""
from __future__ import annotations

import json
import sys
import warnings
from typing import NamedTuple

import cv2
import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

torch = pytest.importorskip("torch")

from app.cli import main  # noqa: E402
from engines.backends import create_backend  # noqa: E402
from engines.backends.onnx_graph import OnnxGraph  # noqa: E402
from engines.backends.onnxruntime import OnnxRuntimeBackend  # noqa: E402
from engines.backends.torch import TorchBackend  # noqa: E402
from engines.detectors import YOLOX  # noqa: E402
from engines.errors import ModelError, UserError  # noqa: E402
from engines.models import load_model  # noqa: E402
from engines.pose import RTMPose  # noqa: E402
from tests.conftest import need  # noqa: E402
from tests.onnx_models import make_detector_onnx, make_pose_onnx  # noqa: E402
from trainer.deploy import checkpoint_loader  # noqa: E402

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU visible to PyTorch")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trainer model (arch t, 256x192) saved as a checkpoint and exported at opsets 17 and 11
    (11 is what mmdeploy writes for the released ONNX SDKs).

    Freshly initialised, its activations vanish (features ~1e-10, below FP16's range). So its
    BatchNorm statistics are set from one random batch and its SimCC classifiers scaled up:
    features of order 1 and logits up to ~50, as in a trained model."""
    from trainer.models import build_model

    folder = tmp_path_factory.mktemp("trained")
    torch.manual_seed(0)
    model = build_model("t", "256x192")
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # running stats = this batch's statistics
    with torch.no_grad():
        model.train()(torch.randn(8, 3, 256, 192))
        model.head.cls_x.weight.mul_(300)
        model.head.cls_y.weight.mul_(300)
    model.eval()
    torch.save({"state_dict": model.state_dict()}, folder / "t.pth")
    paths = {"pth": folder / "t.pth"}
    for opset in (17, 11):
        paths[opset] = folder / f"t{opset}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.zeros(1, 3, 256, 192),), str(paths[opset]),
                              input_names=["input"], output_names=["simcc_x", "simcc_y"],
                              dynamic_axes={n: {0: "batch"} for n in ("input", "simcc_x",
                                                                      "simcc_y")},
                              opset_version=opset, dynamo=False, external_data=False)
    return paths


def crops(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (batch, 3, 256, 192)).astype(np.float32)


def max_diff(got: dict, want: dict) -> float:
    assert got.keys() == want.keys()
    for name in want:
        assert got[name].shape == want[name].shape and got[name].dtype == want[name].dtype
    return max(float(np.abs(got[n] - want[n]).max()) for n in want)


# -- FP32 parity with ONNX Runtime on the CPU -----------------------------------------------

def test_yolox_nano_matches_onnxruntime(yolox_nano):
    """Real YOLOX-Nano on a real image: raw output (values up to 3.3) within 2e-3 of ONNX
    Runtime (measured 6e-4, on a box offset in grid cells: float32 sums in another order
    through 113 convolutions of 0-255 pixels); the same persons, boxes within 0.1 px."""
    image = cv2.imread(str(need("coco_wholebody/000000196141.jpg")))
    twin = TorchBackend(yolox_nano, device="cpu")
    ort = OnnxRuntimeBackend(yolox_nano, device="cpu")
    assert twin.describe() == ort.describe() and twin.precision == "fp32"
    detector = YOLOX(ort)
    blob, ratio = detector.preprocess(image)
    raw_twin, raw_ort = twin({"images": blob}), ort({"images": blob})
    assert max_diff(raw_twin, raw_ort) < 2e-3
    got, want = (detector.postprocess(raw, ratio) for raw in (raw_twin, raw_ort))
    assert len(want) == 4
    np.testing.assert_allclose(got.boxes, want.boxes, atol=0.1)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-4)


@pytest.mark.parametrize("source", [17, 11, "pth"])
def test_trainer_pose_model_matches_onnxruntime(trained, source):
    """The exported graph (opset 17 and 11) and the checkpoint itself against ONNX Runtime on
    the opset-17 file: SimCC logits within 1e-4 of the largest one (measured 8.6e-4 on logits
    up to 47, 1.8e-5 of it: float32 sums in another order)."""
    backend = TorchBackend(trained[source], device="cpu", checkpoint=checkpoint_loader())
    ort = OnnxRuntimeBackend(trained[17], device="cpu")
    assert [t.shape for t in backend.inputs] == [(None, 3, 256, 192)]
    assert [(t.name, t.shape[2]) for t in backend.outputs] == [("simcc_x", 384),
                                                                ("simcc_y", 512)]
    x = crops(3)
    want = ort({"input": x})
    largest = np.abs(want["simcc_x"]).max()
    assert largest > 10
    assert max_diff(backend({"input": x}), want) < 1e-4 * largest


def test_test_pose_model_through_load_model_and_rtmpose(model_dir, rng):
    path = make_pose_onnx(model_dir / "pose_torch.onnx", (48, 64))
    backend, io = load_model(path, "pose", "torch", device="cpu")
    assert isinstance(backend, TorchBackend) and io.input_size == (48, 64)
    image = rng.integers(0, 255, (90, 120, 3), np.uint8)
    boxes = np.array([[0, 0, 60, 80], [30, 20, 110, 88]], np.float32)
    got = RTMPose(backend)(image, boxes)
    want = RTMPose(OnnxRuntimeBackend(path, device="cpu"))(image, boxes)
    np.testing.assert_allclose(got[0], want[0], atol=1e-3)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-4)


def test_fp16_twin_stays_close_on_the_cpu(trained):
    """The FP16 graph (weights and activations in half precision), run by torch on the CPU:
    the same argmax wherever ONNX Runtime's top two bins differ by more than 0.5, and maxima
    (the keypoint scores) within 2% of the largest logit (measured 0.45 of 47: this network
    itself moves by 1.06 when run in FP16, so that is FP16's own error, not the twin's)."""
    graph = OnnxGraph(onnx.load(str(trained[17])), trained[17]).half()
    x = crops(1)
    with torch.inference_mode():
        got = [t.float().numpy() for t in graph(torch.from_numpy(x).half())]
    want = OnnxRuntimeBackend(trained[17], device="cpu")({"input": x})
    for g, w in zip(got, want.values()):
        top2 = np.sort(w, axis=-1)[..., -2:]
        clear = top2[..., 1] - top2[..., 0] > 0.5
        assert clear.mean() > 0.5
        assert (g.argmax(-1) == w.argmax(-1))[clear].all()
        np.testing.assert_allclose(g.max(-1), w.max(-1), atol=2e-2 * np.abs(w).max())


# -- single operators the real models above do not use -------------------------------------

class Case(NamedTuple):
    op: str
    inputs: list  # (name, array) fed at run time
    attrs: dict
    initializers: list = []  # (name, array) stored in the file
    opset: int = 17
    outputs: int = 1


_X = np.random.default_rng(1).normal(0, 1, (2, 3, 6, 8)).astype(np.float32)
_X4 = np.random.default_rng(2).normal(0, 1, (2, 12, 3, 5)).astype(np.float32)  # C = 3 * 2 * 2
_I64 = np.int64
_F32 = np.float32
OP_CASES = {
    "LeakyRelu": Case("LeakyRelu", [("x", _X)], {"alpha": 0.1}),
    "HardSwish": Case("HardSwish", [("x", _X)], {}),
    "Max": Case("Max", [("x", _X), ("z", -_X)], {}),
    "Where": Case("Where", [("c", _X > 0), ("x", _X), ("z", -_X)], {}),
    "Pow": Case("Pow", [("x", np.abs(_X))], {}, [("p", np.array(1.5, _F32))]),
    "Clip-6": Case("Clip", [("x", _X)], {"min": -0.5, "max": 0.5}, opset=6),
    "Reshape-0": Case("Reshape", [("x", _X)], {}, [("s", np.array([0, -1, 8], _I64))]),
    "Flatten": Case("Flatten", [("x", _X)], {"axis": 2}),
    "Gather-neg": Case("Gather", [("x", _X)], {"axis": 3}, [("i", np.array([[-1, 0]], _I64))]),
    "Slice-negstep": Case("Slice", [("x", _X)], {}, [
        ("s", np.array([-1], _I64)), ("e", np.array([-100], _I64)),
        ("a", np.array([3], _I64)), ("t", np.array([-2], _I64))]),
    "Slice-9": Case("Slice", [("x", _X)], {"starts": [1], "ends": [5], "axes": [2]}, opset=9),
    "Split-18": Case("Split", [("x", _X)], {"axis": 3, "num_outputs": 3}, opset=18, outputs=3),
    "Squeeze-11": Case("Squeeze", [("x", _X[:, :1])], {"axes": [1]}, opset=11),
    "Expand": Case("Expand", [("x", _X[:, :1])], {}, [("s", np.array([3, 1, 1], _I64))]),
    "Tile": Case("Tile", [("x", _X)], {}, [("r", np.array([1, 2, 1, 1], _I64))]),
    "Gemm": Case("Gemm", [("x", _X[0, 0])], {"transB": 1, "alpha": 0.5, "beta": 2.0},
                 [("w", _X[1, 0]), ("b", np.ones(6, _F32))]),
    "AveragePool": Case("AveragePool", [("x", _X)], {"kernel_shape": [3, 3],
                                                     "pads": [1, 1, 1, 1], "strides": [2, 2]}),
    "MaxPool-asym": Case("MaxPool", [("x", _X)], {"kernel_shape": [2, 2], "pads": [0, 0, 1, 1]}),
    "Conv-asym": Case("Conv", [("x", _X)], {"pads": [0, 1, 1, 0], "strides": [2, 1]},
                      [("w", np.ones((4, 3, 2, 2), _F32))]),
    "BatchNorm": Case("BatchNormalization", [("x", _X)], {"epsilon": 1e-3}, [
        ("g", np.array([1, 2, 3], _F32)), ("b", np.zeros(3, _F32)),
        ("m", np.array([0, 1, 0], _F32)), ("v", np.ones(3, _F32))]),
    "LayerNorm": Case("LayerNormalization", [("x", _X)], {"axis": -1},
                      [("g", np.full(8, 2, _F32))]),
    "ReduceMax-18": Case("ReduceMax", [("x", _X)], {"keepdims": 0},
                         [("a", np.array([1, 3], _I64))], opset=18),
    "ReduceSum-all": Case("ReduceSum", [("x", _X)], {}, opset=13),
    "ArgMax": Case("ArgMax", [("x", _X)], {"axis": -1, "keepdims": 0}),
    "Softmax-11": Case("Softmax", [("x", _X)], {"axis": 2}, opset=11),
    "LogSoftmax": Case("LogSoftmax", [("x", _X)], {}),
    "Resize-linear": Case("Resize", [("x", _X)], {"mode": "linear"}, [
        ("r", np.zeros(0, _F32)), ("s", np.array([1, 1, 2, 1.5], _F32))]),
    "Resize-sizes": Case("Resize", [("x", _X)], {
        "mode": "nearest", "nearest_mode": "floor",
        "coordinate_transformation_mode": "asymmetric"}, [
        ("r", np.zeros(0, _F32)), ("s", np.zeros(0, _F32)),
        ("z", np.array([2, 3, 12, 4], _I64))]),
    "DepthToSpace-CRD": Case("DepthToSpace", [("x", _X4)], {"blocksize": 2, "mode": "CRD"}),
    "DepthToSpace-DCR": Case("DepthToSpace", [("x", _X4)], {"blocksize": 2}),
    "Pad-reflect": Case("Pad", [("x", _X)], {"mode": "reflect"},
                        [("p", np.array([0, 0, 1, 2, 0, 0, 2, 1], _I64))]),
    "Pad-constant": Case("Pad", [("x", _X)], {}, [
        ("p", np.array([0, 1, 0, 0, 0, 0, 1, -1], _I64)), ("v", np.array(3, _F32))]),
    "ConstantOfShape": Case("ConstantOfShape", [], {
        "value": numpy_helper.from_array(np.array([7], _I64))},
        [("s", np.array([2, 3], _I64))]),
    "Range": Case("Range", [], {}, [("a", np.array(1, _I64)), ("b", np.array(9, _I64)),
                                    ("d", np.array(3, _I64))]),
    "Equal": Case("Equal", [("x", np.array([1, 2, 3], _I64))], {},
                  [("z", np.array([1, 0, 3], _I64))]),
    "Div-int": Case("Div", [("x", np.array([7, -7, 9], _I64))], {},
                    [("z", np.array([2, 2, 4], _I64))]),
    "Shape-slice": Case("Shape", [("x", _X)], {"start": 1, "end": -1}, opset=15),
}


def _single_op(path, case: Case):
    """The one-node graph of ``case``."""
    node = helper.make_node(case.op, [n for n, _ in case.inputs + case.initializers],
                            [f"y{i}" for i in range(case.outputs)], **case.attrs)
    graph = helper.make_graph(
        [node], case.op,
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
         for n, a in case.inputs],
        [onnx.ValueInfoProto(name=f"y{i}") for i in range(case.outputs)],  # types inferred
        [numpy_helper.from_array(a, n) for n, a in case.initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", case.opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("name", sorted(OP_CASES))
def test_single_operator_matches_onnxruntime(name, tmp_path):
    import onnxruntime as ort

    case = OP_CASES[name]
    path = _single_op(tmp_path / f"{name}.onnx", case)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, dict(case.inputs))
    graph = OnnxGraph(onnx.load(str(path)), path)
    with torch.inference_mode():
        got = graph(*(torch.from_numpy(a) for _, a in case.inputs))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = g.numpy()
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


# -- errors ------------------------------------------------------------------------------

def test_registered_and_described(yolox_nano):
    backend = create_backend("torch", yolox_nano, device="cpu")
    assert backend.name == "torch" and not backend.asynchronous
    assert backend.max_batch == 1 and backend.device.type == "cpu"


def test_fp16_on_the_cpu_is_refused(yolox_nano):
    with pytest.raises(UserError, match="precision fp16 needs a CUDA GPU"):
        TorchBackend(yolox_nano, device="cpu", precision="fp16")
    with pytest.raises(UserError, match="precision 'int8': choose from auto, fp16, fp32"):
        TorchBackend(yolox_nano, device="cpu", precision="int8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_one_line(yolox_nano):
    with pytest.raises(UserError, match="device 'cuda' asked for, but PyTorch .* sees no CUDA"):
        TorchBackend(yolox_nano, device="cuda")


def test_bad_files_are_model_errors(tmp_path, model_dir):
    with pytest.raises(ModelError, match="model file not found"):
        TorchBackend(tmp_path / "none.onnx", device="cpu")
    (tmp_path / "junk.onnx").write_bytes(b"\x00not protobuf" * 10)
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        TorchBackend(tmp_path / "junk.onnx", device="cpu")
    (tmp_path / "model.tflite").write_bytes(b"x")
    with pytest.raises(ModelError, match="loads .onnx, .pth or .pt"):
        TorchBackend(tmp_path / "model.tflite", device="cpu")
    bad = onnx.load(str(make_pose_onnx(model_dir / "pose_op.onnx", (48, 64))))
    bad.graph.node[1].op_type = "RoiAlign"
    bad.graph.node.append(helper.make_node("Foo", ["simcc_x"], ["z"], domain="com.example"))
    onnx.save(bad, str(tmp_path / "ops.onnx"))
    with pytest.raises(ModelError, match=r"cannot run ONNX op\(s\) RoiAlign, "
                                         r"com.example.Foo \(use --backend onnxruntime\)"):
        TorchBackend(tmp_path / "ops.onnx", device="cpu")


def test_wrong_feeds_are_model_errors(model_dir):
    backend = TorchBackend(make_pose_onnx(model_dir / "pose_feeds.onnx", (48, 64)),
                           device="cpu")
    with pytest.raises(ModelError, match="missing input"):
        backend({"images": np.zeros((1, 3, 64, 48), np.float32)})
    with pytest.raises(ModelError, match=r"has shape \(1, 3, 32, 48\); the model expects "
                                         r"input float32\[\?,3,64,48\]"):
        backend({"input": np.zeros((1, 3, 32, 48), np.float32)})


def test_checkpoint_variant_from_options_or_weights(trained, tmp_path):
    assert TorchBackend(trained["pth"], device="cpu",
                        checkpoint=checkpoint_loader("t", "256x192"))
    with pytest.raises(ModelError, match="does not fit rtmpose-s_256x192"):
        TorchBackend(trained["pth"], device="cpu", checkpoint=checkpoint_loader("s"))
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "odd.pth")
    with pytest.raises(ModelError, match="cannot tell the model variant .*--pose-arch"):
        TorchBackend(tmp_path / "odd.pth", device="cpu", checkpoint=checkpoint_loader())


def test_a_checkpoint_without_the_trainers_loader_is_a_clear_error(trained):
    with pytest.raises(ModelError, match="a checkpoint needs the trainer's loader"):
        TorchBackend(trained["pth"], device="cpu")


def test_without_torch_one_clear_line(monkeypatch, yolox_nano):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "engines.backends.torch")
    with pytest.raises(UserError, match=r"^the torch backend needs PyTorch: pip install -e "
                                        r"\.\[train\]$"):
        create_backend("torch", yolox_nano)


# -- command line ------------------------------------------------------------------------

def test_bench_with_the_torch_backend_and_a_checkpoint(trained, tmp_path, capsys):
    """``dwpose bench --backend torch`` on a .pth pose checkpoint: the model table (the DWPose
    paper's columns) and both pipelines."""
    det = make_detector_onnx(tmp_path / "det.onnx", 64, [(8, 4, 40, 60, 0.9)])
    image = tmp_path / "person.png"
    cv2.imwrite(str(image), np.full((80, 64, 3), 90, np.uint8))
    out = tmp_path / "bench.json"
    assert main(["bench", "-i", str(image), "--backend", "torch", "--device", "cpu",
                 "--det", str(det), "--pose", str(trained["pth"]), "--pose-arch", "t",
                 "--frames", "1", "--warmup", "0", "--model-runs", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "detector det.onnx" in text and "pose t.pth" in text and "overlapped pipeline" in text
    report = json.loads(out.read_text())
    assert [(m["stage"], m["input_size"], m["precision"], m["gpu_ms"]) for m in
            report["models"]] == [("detector", "64x64", "fp32", None),
                                  ("pose", "256x192", "fp32", None)]
    assert all(m["latency_ms"] > 0 for m in report["models"])
    assert set(report["pipelines"]) == {"serial", "overlap"} and report["pipeline"] == "serial"
    assert report["fps"] == report["pipelines"]["serial"]["fps"]
    assert report["overlap_speedup"] > 0 and report["machine"]["torch"] == torch.__version__


@pytest.mark.parametrize(("options", "message"), [
    (["--backend", "onnxruntime", "--precision", "fp16"],
     "--precision applies to --backend torch, tensorrt and openvino"),
    (["--pose-arch", "m"], "--pose-arch / --pose-input-size describe a .pth checkpoint"),
    (["--backend", "torch", "--device", "cpu", "--precision", "fp16"],
     "precision fp16 needs a CUDA GPU"),
])
def test_runtime_options_that_do_not_fit_are_one_line(yolox_nano, model_dir, capsys, options,
                                                      message):
    pose = make_pose_onnx(model_dir / "pose_cli.onnx", (48, 64))
    assert main(["bench", "-i", "unused.jpg", "--det", str(yolox_nano), "--pose", str(pose),
                 *options]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


# -- a real GPU ------------------------------------------------------------------------

@pytest.mark.gpu
@needs_cuda
def test_gpu_fp16_matches_onnxruntime(trained, yolox_nano):
    """CUDA FP16 against ONNX Runtime FP32: the same SimCC argmax wherever the top two bins
    differ by more than 0.5 (so decoded keypoints are identical there), maxima (the keypoint
    scores) within 2% of the largest logit, as on the CPU; YOLOX-Nano: the same persons,
    boxes within 2 px, scores within 0.01 (CPU FP16 run: 0.005 on the class scores)."""
    pose = TorchBackend(trained[17])
    assert pose.asynchronous and pose.precision == "fp16" and pose.device.type == "cuda"
    x = crops(8)
    got, want = pose({"input": x}), OnnxRuntimeBackend(trained[17], device="cpu")({"input": x})
    for name, w in want.items():
        g = got[name]
        assert g.dtype == np.float32
        top2 = np.sort(w, axis=-1)[..., -2:]
        clear = top2[..., 1] - top2[..., 0] > 0.5
        assert (g.argmax(-1) == w.argmax(-1))[clear].all()
        np.testing.assert_allclose(g.max(-1), w.max(-1), atol=2e-2 * np.abs(w).max())
    image = cv2.imread(str(need("coco_wholebody/000000196141.jpg")))
    found = YOLOX(TorchBackend(yolox_nano))(image)
    expected = YOLOX(OnnxRuntimeBackend(yolox_nano, device="cpu"))(image)
    assert len(found) == len(expected)
    np.testing.assert_allclose(found.boxes, expected.boxes, atol=2.0)
    np.testing.assert_allclose(found.scores, expected.scores, atol=0.01)


@pytest.mark.gpu
@needs_cuda
def test_gpu_jobs_run_on_their_own_streams(trained):
    """Two jobs in flight on two backends' streams, collected in the other order: each gives
    what a blocking call gives, with its GPU time from CUDA events."""
    a, b = TorchBackend(trained[17]), TorchBackend(trained["pth"], checkpoint=checkpoint_loader())
    assert a.stream != b.stream
    x = crops(4)
    job_a, job_b = a.submit({"input": x}), b.submit({"input": x})
    got_b, got_a = job_b.result(), job_a.result()
    assert job_a.elapsed_ms > 0 and job_b.elapsed_ms > 0
    for got, backend in ((got_a, a), (got_b, b)):
        want = backend({"input": x})
        for name in want:
            np.testing.assert_allclose(got[name], want[name],
                                       atol=1e-3 * np.abs(want[name]).max())
