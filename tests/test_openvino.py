"""The OpenVINO backend against ONNX Runtime, its asynchronous jobs and precisions, and the
``--backend auto`` rule.

The real-OpenVINO tests skip with the reason when the ``openvino`` package is absent
(``pip install -e .[openvino]``); the rule and the missing-package error run everywhere.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from calibration.batcher import ImageBatcher
from engines.backends import create_backend
from engines.backends.auto import BackendChoice, choose_backend
from engines.cpu import CpuInfo, parse_cpuinfo
from engines.detectors import load_detector
from engines.errors import ModelError, UserError
from engines.models import load_model
from engines.overlap import FrameRunner
from engines.pipeline import build_pipeline
from tests.conftest import need
from tests.images import noise_images
from tests.onnx_models import (
    make_detector_onnx,
    make_end2end_onnx,
    make_pose_onnx,
    upstream_pose_onnx,
)

HAVE_OPENVINO = importlib.util.find_spec("openvino") is not None
needs_openvino = pytest.mark.skipif(
    not HAVE_OPENVINO, reason="openvino is not installed (pip install -e .[openvino])")

AVX2 = CpuInfo("AVX2 CPU", 2, frozenset({"avx2"}))
BF16 = CpuInfo("BF16 CPU", 2, frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}))
UPSTREAM_T = "models/upstream/dwpose_t_256x192.graph.onnx"


def _ort(path):
    return create_backend("onnxruntime", path, device="cpu")


def _close(got: dict, want: dict, rtol: float = 1e-4) -> None:
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name].shape == value.shape and got[name].dtype == value.dtype
        scale = max(float(np.abs(value).max()), 1e-6)
        np.testing.assert_allclose(got[name], value, rtol=0, atol=rtol * scale, err_msg=name)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("openvino")


# -- parity with ONNX Runtime on every released signature --------------------------------

POSE_VARIANTS = {
    "dynamic batch": {},
    "static batch 1": {"batch": 1},
    "static batch 5, fp16 I/O": {"batch": 5, "fp16": True},
    "symbolic keypoints": {"symbolic_keypoints": True},
}


@needs_openvino
@pytest.mark.parametrize("variant", POSE_VARIANTS)
def test_pose_signatures_match_onnxruntime(folder, variant, rng):
    path = make_pose_onnx(folder / f"pose-{variant.replace(' ', '_')}.onnx", (48, 64),
                          **POSE_VARIANTS[variant])
    backend, io = load_model(path, "pose", "openvino", precision="fp32")
    assert (io.input_size, io.num_keypoints) == ((48, 64), 133)
    assert [t.shape[1:] for t in backend.outputs] == [(133, 96), (133, 128)]
    batch = backend.max_batch or 3
    blob = rng.normal(0, 1, (batch, 3, 64, 48)).astype(np.float32)
    got = backend.infer({"input": blob})
    want = _ort(path).infer({"input": blob})
    _close(got, want, rtol=2e-3 if POSE_VARIANTS[variant].get("fp16") else 1e-5)
    assert all(v.dtype == np.float32 for v in got.values())


@needs_openvino
def test_upstream_dwpose_graph_matches_onnxruntime(folder, rng):
    path = upstream_pose_onnx(need(UPSTREAM_T), folder / "dwpose_t.onnx")
    backend, io = load_model(path, "pose", "openvino", precision="fp32")
    assert io.num_keypoints == 133 and backend.max_batch is None
    blob = rng.normal(0, 1, (2, 3, 256, 192)).astype(np.float32)
    _close(backend.infer({"input": blob}), _ort(path).infer({"input": blob}))


@needs_openvino
def test_detectors_match_onnxruntime(folder, rng):
    raw = make_detector_onnx(folder / "det.onnx", 416, [(100, 60, 220, 380, 0.9)])
    image = rng.integers(0, 255, (480, 640, 3), np.uint8)
    ours, ref = (load_detector(str(raw), b, precision="fp32") if b == "openvino" else
                 load_detector(str(raw), b) for b in ("openvino", "onnxruntime"))
    np.testing.assert_allclose(ours(image).boxes, ref(image).boxes, atol=1e-3)
    boxes = np.array([[0, 0, 100, 100], [10, 10, 110, 110], [200, 200, 300, 300],
                      [205, 195, 300, 310]], np.float32)
    for size, batch in ((320, 1), (None, "batch")):  # static; symbolic (--det-size fills it)
        e2e = make_end2end_onnx(folder / f"e2e-{size}.onnx", boxes, [0, 0, 1, 0],
                                rng.normal(0, 1, (3, 4)), rng.normal(0, 1, 4), size=size,
                                batch=batch)
        blob = rng.random((1, 3, 320, 320)).astype(np.float32)
        backend, io = load_model(e2e, "detector", "openvino", det_size=320, precision="fp32")
        assert io.input_size == 320
        assert [t.shape[-1] for t in backend.outputs] == [5, None]  # as the file declares
        got, want = backend.infer({"input": blob}), _ort(e2e).infer({"input": blob})
        assert got["dets"].shape[1] == 2  # the NMS in the graph kept two of four boxes
        _close(got, want)


@needs_openvino
def test_real_yolox_nano_boxes_match_onnxruntime(coco_dir):
    det = need("models/yolox_nano.onnx")
    ours = load_detector(str(det), "openvino", precision="fp32")
    ref = load_detector(str(det), "onnxruntime")
    for image_path in sorted(coco_dir.glob("*.jpg")):
        image = cv2.imread(str(image_path))
        a, b = ours(image), ref(image)
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


# -- asynchronous jobs and the overlapped pipeline ----------------------------------------

@needs_openvino
def test_submit_runs_in_the_background_and_each_job_keeps_its_outputs(folder, rng):
    from engines.backends.openvino import MAX_REQUESTS

    path = make_pose_onnx(folder / "async.onnx", (48, 64))
    backend = create_backend("openvino", path, precision="fp32")
    assert backend.asynchronous
    blobs = [rng.normal(0, 1, (1 + i % 3, 3, 64, 48)).astype(np.float32)
             for i in range(MAX_REQUESTS * 2 + 1)]
    jobs = [backend.submit({"input": b}) for b in blobs]  # more jobs than infer requests
    ref = _ort(path)
    for job, blob in reversed(list(zip(jobs, blobs))):  # collected in any order
        outputs = job.result()
        _close(outputs, ref.infer({"input": blob}), rtol=1e-5)
        assert job.result() is outputs and job.elapsed_ms > 0
    assert backend._requests == MAX_REQUESTS and not backend._in_flight


@needs_openvino
def test_wrong_feeds_are_model_errors(folder):
    backend = create_backend("openvino", make_pose_onnx(folder / "w.onnx", (48, 64)))
    with pytest.raises(ModelError, match=r"input 'input' has shape \(1, 3, 32, 48\)"):
        backend.submit({"input": np.zeros((1, 3, 32, 48), np.float32)})
    with pytest.raises(ModelError, match="missing input 'input'"):
        backend.infer({"x": np.zeros((1, 3, 64, 48), np.float32)})
    assert not backend._in_flight


@needs_openvino
def test_overlapped_pipeline_equals_serial(folder, tmp_path):
    det = make_detector_onnx(folder / "det-overlap.onnx", 416,
                             [(100, 60, 220, 380, 0.9), (240, 80, 330, 300, 0.8)])
    pose = make_pose_onnx(folder / "pose-overlap.onnx", (192, 256))
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 255, (360, 480, 3), np.uint8) for _ in range(9)]
    results = {}
    for mode in ("serial", "overlap"):
        pipeline = build_pipeline(str(det), str(pose), backend="openvino", det_interval=3,
                                  precision="fp32")
        runner = FrameRunner(pipeline, mode)
        assert runner.kind == ("serial" if mode == "serial" else "overlapped")
        results[mode] = [r for _, r in runner.run((i, f) for i, f in enumerate(frames))]
        runner.close()
    assert len(results["overlap"]) == len(frames)
    for a, b in zip(results["serial"], results["overlap"]):
        assert a.detected == b.detected
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.track_ids, b.track_ids)


# -- precisions ---------------------------------------------------------------------------

def _compute_precisions(backend) -> set[str]:
    return {precision for (_layer, precision) in backend.runtime_precisions()}


@needs_openvino
def test_auto_precision_is_bf16_exactly_where_the_cpu_has_it(folder):
    path = make_pose_onnx(folder / "prec.onnx", (48, 64))
    backend = create_backend("openvino", path)
    assert backend.precision == ("bf16" if backend.cpu_bf16 else "fp32")
    assert _compute_precisions(backend) == {"bf16" if backend.cpu_bf16 else "f32"}
    fp32 = create_backend("openvino", path, precision="fp32")
    assert fp32.precision == "fp32" and _compute_precisions(fp32) == {"f32"}
    if not backend.cpu_bf16:
        with pytest.raises(UserError, match="precision bf16: this CPU has no BF16"):
            create_backend("openvino", path, precision="bf16")


@needs_openvino
def test_bf16_refused_where_openvino_reports_none(folder, monkeypatch):
    import engines.backends.openvino as ov_backend

    monkeypatch.setattr(ov_backend, "cpu_capabilities", lambda core: ["FP32", "INT8"])
    path = make_pose_onnx(folder / "nobf16.onnx", (48, 64))
    with pytest.raises(UserError, match=r"this CPU has no BF16 arithmetic \(OpenVINO reports "
                                        r"FP32, INT8\)"):
        create_backend("openvino", path, precision="bf16")
    assert create_backend("openvino", path).precision == "fp32"


@pytest.fixture(scope="module")
def quantized(folder) -> tuple[Path, Path]:
    """A pose model and its QDQ INT8 file from ``engines.quantize`` (``dwpose quantize``),
    calibrated on random images, saved as ``<model>.int8.onnx`` beside it."""
    from engines.quantize import quantize

    images = noise_images(folder / "calib", 4, seed=3)
    fp32 = make_pose_onnx(folder / "q.onnx", (48, 64))
    int8 = quantize(fp32, folder / "q.int8.onnx", ImageBatcher(images, fp32, batch_size=2))
    return fp32, int8


@needs_openvino
def test_int8_runs_the_quantized_file_in_integer_kernels(quantized, rng):
    fp32, int8 = quantized
    for given in (fp32, int8):  # the FP32 file finds its .int8.onnx beside it
        backend = create_backend("openvino", given, precision="int8")
        assert backend.path == int8 and backend.precision == "int8"
        convs = {p for (layer, p) in backend.runtime_precisions() if layer == "Convolution"}
        assert convs <= {"u8", "i8"} and convs
    assert create_backend("openvino", int8).precision == "int8"  # auto on a QDQ file
    blob = rng.normal(0, 1, (2, 3, 64, 48)).astype(np.float32)
    got, want = backend.infer({"input": blob}), _ort(int8).infer({"input": blob})
    for name in want:  # two INT8 implementations: within a few quantization steps
        scale = np.abs(want[name]).max()
        assert np.abs(got[name] - want[name]).max() < 0.05 * scale


@needs_openvino
def test_precision_errors(quantized, folder):
    fp32, int8 = quantized
    lone = make_pose_onnx(folder / "lone.onnx", (48, 64))
    with pytest.raises(UserError, match=r"lone.onnx is not quantized and .*lone.int8.onnx does "
                                        r"not exist; write it first: dwpose quantize"):
        create_backend("openvino", lone, precision="int8")
    with pytest.raises(UserError, match="is an INT8 \\(QDQ\\) model; give its FP32 original"):
        create_backend("openvino", int8, precision="fp32")
    with pytest.raises(UserError, match="precision 'fp16': the openvino backend runs auto, "
                                        "fp32, bf16, int8"):
        create_backend("openvino", fp32, precision="fp16")
    with pytest.raises(UserError, match="runs on the CPU"):
        create_backend("openvino", fp32, device="cuda")
    broken = folder / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="broken.onnx: not a loadable ONNX model"):
        create_backend("openvino", broken)
    with pytest.raises(ModelError, match="none.onnx: model file not found"):
        create_backend("openvino", folder / "none.onnx")


# -- without the package ------------------------------------------------------------------

def test_missing_openvino_is_one_clear_line(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    monkeypatch.delitem(sys.modules, "engines.backends.openvino", raising=False)
    path = make_pose_onnx(folder / "missing.onnx", (48, 64))
    with pytest.raises(UserError) as exc:
        create_backend("openvino", path)
    assert str(exc.value) == ("the openvino backend needs OpenVINO: pip install -e "
                              ".[openvino]")


# -- the --backend auto rule --------------------------------------------------------------

def _choose(cpu=BF16, gpu=False, have=("openvino",), ort_cuda=False, **kwargs) -> BackendChoice:
    return choose_backend(cpu=cpu, gpu=lambda: gpu, have=lambda name: name in have,
                          ort_cuda=lambda: ort_cuda, **kwargs)


@pytest.mark.parametrize("machine, want", [
    ({"gpu": True, "have": ("tensorrt", "pycuda", "openvino")}, ("tensorrt", "cuda", "fp16", True)),
    ({"gpu": True, "have": ("openvino",), "ort_cuda": True}, ("onnxruntime", "cuda", "auto", True)),
    ({"gpu": True, "have": ("openvino",)}, ("openvino", "cpu", "bf16", False)),
    ({"gpu": False, "have": ("tensorrt", "pycuda", "openvino")},
     ("openvino", "cpu", "bf16", False)),
    ({"cpu": BF16, "have": ()}, ("onnxruntime", "cpu", "auto", False)),
    ({"cpu": AVX2, "have": ("openvino",)}, ("onnxruntime", "cpu", "auto", False)),
])
def test_auto_rule(machine, want):
    choice = _choose(**machine)
    assert (choice.name, choice.device, choice.precision, choice.on_gpu) == want
    line = choice.describe()
    assert line.startswith(f"backend {choice.name} (") and choice.reason in line
    assert f"CPU {machine.get('cpu', BF16).name}, 2 cores, " in line


def test_auto_rule_reasons_and_precisions():
    assert "OpenVINO is not installed (pip install -e .[openvino]" in _choose(have=()).reason
    assert "no BF16 in this CPU" in _choose(cpu=AVX2).reason
    assert "dwpose quantize" in _choose(cpu=AVX2).reason
    assert "(avx512_bf16)" in _choose().reason
    assert _choose(precision="fp32").precision == "fp32"  # openvino FP32 when asked
    assert _choose(precision="int8").precision == "int8"
    assert _choose(gpu=True, have=("tensorrt", "pycuda"), precision="fp32").precision == "fp32"
    with pytest.raises(UserError, match=r"bf16: this CPU has no BF16 arithmetic \(avx2\)"):
        _choose(cpu=AVX2, precision="bf16")
    with pytest.raises(UserError, match="chose ONNX Runtime here, which runs the model file's"):
        _choose(cpu=AVX2, precision="fp32")
    with pytest.raises(UserError, match="--precision fp16 is a GPU precision"):
        _choose(precision="fp16")
    with pytest.raises(UserError, match="bf16 is a CPU precision"):
        _choose(gpu=True, have=("tensorrt", "pycuda"), precision="bf16")
    cuda = _choose(device="cuda")  # no TensorRT: ONNX Runtime reports what is missing
    assert (cuda.name, cuda.device, cuda.on_gpu) == ("onnxruntime", "cuda", True)
    cpu = _choose(device="cpu", gpu=True, have=("tensorrt", "pycuda", "openvino"))
    assert (cpu.name, cpu.on_gpu) == ("openvino", False)


def test_named_backends_pass_through():
    for name, device, gpu, want_gpu in (("onnxruntime", "auto", False, False),
                                        ("openvino", "auto", True, False),
                                        ("tensorrt", "auto", False, True),
                                        ("onnxruntime", "cuda", True, True),
                                        ("torch", "cpu", True, False)):
        choice = _choose(requested=name, device=device, gpu=gpu, precision="fp32")
        assert (choice.name, choice.device, choice.precision) == (name, device, "fp32")
        assert choice.on_gpu is want_gpu and choice.reason == "asked for (--backend)"


def test_cpuinfo_flags():
    text = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse2 avx2 "
            "avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n\nprocessor\t: 1\n"
            "model name\t: other\nflags\t\t: fpu\n")
    cpu = parse_cpuinfo(text)
    assert cpu.name == "Intel(R) Xeon(R) Processor" and cpu.bf16
    assert cpu.features() == "avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8"
    zen3 = parse_cpuinfo("model name\t: AMD EPYC\nflags\t: fpu avx2 fma\n")
    assert zen3.features() == "avx2" and not zen3.bf16
    assert parse_cpuinfo("flags\t: fpu sse2\n").features() == "no AVX2"
    arm = parse_cpuinfo("Features\t: fp asimd evtstrm aes asimddp\nModel\t: Neoverse\n")
    assert arm.arm and arm.features() == "asimd asimddp" and not arm.bf16


# -- the commands -------------------------------------------------------------------------

@needs_openvino
def test_bench_and_predict_with_openvino(folder, tmp_path, capsys):
    det = make_detector_onnx(folder / "det-cli.onnx", 416, [(100, 60, 220, 380, 0.9)])
    pose = make_pose_onnx(folder / "pose-cli.onnx", (192, 256))
    image = tmp_path / "img.png"
    cv2.imwrite(str(image), np.full((240, 320, 3), 90, np.uint8))
    args = ["--det", str(det), "--pose", str(pose), "--backend", "openvino"]
    assert main(["bench", "-i", str(image), *args, "--frames", "3", "--warmup", "1",
                 "--model-runs", "2", "--precision", "fp32"]) == 0
    out, err = capsys.readouterr()
    assert "backend openvino (fp32, CPU): asked for (--backend)" in err
    assert "openvino fp32" in err and "overlap:" in out
    assert main(["predict", "-i", str(image), *args, "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "results.json").is_file()


def test_auto_is_the_default_and_names_its_choice(folder, tmp_path, capsys):
    det = make_detector_onnx(folder / "det-auto.onnx", 416, [(100, 60, 220, 380, 0.9)])
    pose = make_pose_onnx(folder / "pose-auto.onnx", (192, 256))
    image = tmp_path / "img.png"
    cv2.imwrite(str(image), np.full((240, 320, 3), 90, np.uint8))
    assert main(["predict", "-i", str(image), "--det", str(det), "--pose", str(pose),
                 "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    choice = choose_backend(pose=pose)  # the pose model's INT8 file is weighed too
    assert f"dwpose: {choice.describe()}" in err
    assert f"; {choice.name} " in err  # the models run where the choice says


@needs_openvino
def test_compiled_models_are_cached_by_model_and_settings(folder, tmp_path, rng):
    """OpenVINO's cache (``CACHE_DIR``): one entry per model and precision, reused by the
    next start; another model (or precision, or OpenVINO) is compiled and cached anew."""
    cache = tmp_path / "compiled"
    path = make_pose_onnx(folder / "cached.onnx", (48, 64))
    first = create_backend("openvino", path, precision="fp32", compile_cache=cache)
    blobs = sorted(cache.iterdir())
    assert len(blobs) == 1
    blob = rng.normal(0, 1, (1, 3, 64, 48)).astype(np.float32)
    again = create_backend("openvino", path, precision="fp32", compile_cache=cache)
    assert sorted(cache.iterdir()) == blobs  # loaded from the cache: nothing new
    _close(again.infer({"input": blob}), first.infer({"input": blob}), rtol=0)
    other = make_pose_onnx(folder / "cached-other.onnx", (48, 64), seed=1)
    create_backend("openvino", other, precision="fp32", compile_cache=cache)
    assert len(list(cache.iterdir())) == 2
    create_backend("openvino", path, precision="fp32", compile_cache="")
    assert len(list(cache.iterdir())) == 2  # "" compiles without the cache


def test_quantized_files_are_told_from_their_bytes(quantized, folder):
    """The int8 check reads the file's operators without loading the model: a node named
    like a quantization operator is not one."""
    from engines.backends.openvino import _is_quantized

    fp32, int8 = quantized
    assert _is_quantized(int8) and not _is_quantized(fp32)
    import onnx

    model = onnx.load(str(fp32))
    model.graph.node[0].name = "QuantizeLinear"  # protobuf field 3 (a name), not 4
    model.graph.doc_string = "QLinearConv"
    named = folder / "named.onnx"
    onnx.save(model, str(named))
    assert not _is_quantized(named)
    (folder / "empty.onnx").write_bytes(b"")
    assert not _is_quantized(folder / "empty.onnx")
