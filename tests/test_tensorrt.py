"""TensorRT builder, runtime backend and CLI against the fake TensorRT 10/11 + pycuda.

The fake (``tests/fake_trt``) checks call order, shapes, profiles and device addresses and
computes outputs with ONNX Runtime, so engine results are compared with the ONNX Runtime
backend. The no-GPU tests run the real code path of this machine (no CUDA, no TensorRT).
"""
from __future__ import annotations

import importlib.util
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

import app.cli as cli
from engines import device
from engines.backends.onnxruntime import OnnxRuntimeBackend
from engines.detectors import YOLOX
from engines.errors import ModelError, UserError
from engines.models import load_model
from engines.pose import RTMPose
from engines.trt.metadata import MAGIC, unpack_engine
from tests import fake_trt
from tests.fake_trt import cuda as fake_cuda
from tests.fake_trt.tensorrt import FakeTensorRTError
from tests.onnx_models import make_detector_onnx, make_pose_onnx

POSE_SIZE = (48, 64)  # (w, h): small but the official I/O layout


@pytest.fixture
def cli_commands(monkeypatch):
    """``dwpose build`` / ``calibrate`` registered whether or not app.cli lists them yet."""
    monkeypatch.setattr(cli, "SUBCOMMANDS",
                        tuple(dict.fromkeys((*cli.SUBCOMMANDS, "build", "calibrate"))))


@pytest.fixture
def pose_onnx(tmp_path):
    return make_pose_onnx(tmp_path / "pose.onnx", POSE_SIZE)


@pytest.fixture
def det_onnx(tmp_path):
    return make_detector_onnx(tmp_path / "det.onnx", 64, [(8, 4, 40, 60, 0.9)])


def build(onnx_path, output, precision="fp16", **options):
    from calibration.build import build_engine

    return build_engine(onnx_path, output, precision, **options)


def trt_backend(path, **options):
    from engines.backends.tensorrt import TensorRTBackend

    return TensorRTBackend(path, **options)


def pose_input(batch, seed=0):
    w, h = POSE_SIZE
    return np.random.default_rng(seed).normal(0, 1, (batch, 3, h, w)).astype(np.float32)


# -- building ----------------------------------------------------------------------------

def test_fp16_pose_build_profile_flags_and_metadata(fake, pose_onnx, tmp_path):
    meta = build(pose_onnx, tmp_path / "pose.engine", max_batch=8, workspace_mb=256)
    plan = fake.builds[-1]
    assert plan["profiles"] == [{"input": [[1, 3, 64, 48], [4, 3, 64, 48], [8, 3, 64, 48]]}]
    assert plan["flags"] == [int(fake.trt.BuilderFlag.FP16)]
    assert plan["workspace"] == 256 << 20 and not plan["strongly_typed"]
    read, _ = unpack_engine((tmp_path / "pose.engine").read_bytes(), "x")
    assert read == meta
    assert (meta.kind, meta.input_size, meta.color, meta.split_ratio) == ("pose", (48, 64),
                                                                         "RGB", 2.0)
    assert meta.mean == (123.675, 116.28, 103.53) and meta.std == (58.395, 57.12, 57.375)
    assert (meta.precision, meta.max_batch, meta.opt_batch) == ("fp16", 8, 4)
    assert meta.tensorrt == "10.3.0" and meta.gpu_name == "NVIDIA GeForce GTX 1660 Ti"
    assert meta.compute_capability == (7, 5) and meta.onnx_path == str(pose_onnx.resolve())
    assert len(meta.onnx_sha256) == 64


def test_opt_batch_is_clipped_to_max_and_static_models_need_no_profile(fake, pose_onnx,
                                                                       det_onnx, tmp_path):
    build(pose_onnx, tmp_path / "p.engine", "fp32", max_batch=2)
    assert fake.builds[-1]["profiles"][0]["input"][1][0] == 2
    assert fake.builds[-1]["flags"] == []
    meta = build(det_onnx, tmp_path / "d.engine", "fp32", max_batch=8)
    assert fake.builds[-1]["profiles"] == [{"images": [[1, 3, 64, 64]] * 3}]
    assert (meta.kind, meta.color, meta.mean, meta.max_batch) == ("detector", "BGR", None, 1)
    static = make_pose_onnx(tmp_path / "static.onnx", POSE_SIZE, batch=1)
    assert build(static, tmp_path / "s.engine", max_batch=8).max_batch == 1


def test_timing_cache_is_written_then_reused(fake, pose_onnx, tmp_path, capsys):
    cache = tmp_path / "trt.cache"
    build(pose_onnx, tmp_path / "a.engine", timing_cache=cache)
    assert cache.is_file() and fake.builds[-1]["timing_cache"] == "miss"
    build(pose_onnx, tmp_path / "b.engine", timing_cache=cache)
    assert fake.builds[-1]["timing_cache"] == "hit"
    assert "timing cache: reusing" in capsys.readouterr().err
    cache.write_bytes(b"garbage")
    build(pose_onnx, tmp_path / "c.engine", timing_cache=cache)
    assert "unreadable timing cache" in capsys.readouterr().err
    assert fake.builds[-1]["timing_cache"] == "miss"


def test_every_parser_error_is_printed(fake, pose_onnx, tmp_path, capsys):
    model = onnx.load(str(pose_onnx))
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    for name in ("a", "b"):
        model.graph.node.append(helper.make_node("NoSuchOp", ["simcc_x"], [name],
                                                 domain="com.example"))
    onnx.save(model, str(tmp_path / "bad.onnx"))
    with pytest.raises(ModelError, match=r"parser failed with 2 error\(s\)"):
        build(tmp_path / "bad.onnx", tmp_path / "bad.engine")
    err = capsys.readouterr().err
    assert err.count("ONNX parser error:") == 2 and "NoSuchOp" in err
    assert not (tmp_path / "bad.engine").exists()


def test_not_an_onnx_model_is_a_model_error(fake, tmp_path):
    (tmp_path / "x.onnx").write_bytes(b"\x00not protobuf" * 10)
    with pytest.raises(ModelError, match="not an ONNX model"):
        build(tmp_path / "x.onnx", tmp_path / "x.engine")


# -- runtime -----------------------------------------------------------------------------

def test_engine_matches_onnxruntime_for_every_batch(fake, pose_onnx, tmp_path):
    build(pose_onnx, tmp_path / "pose.engine", max_batch=5)
    engine = trt_backend(tmp_path / "pose.engine")
    ort = OnnxRuntimeBackend(pose_onnx, device="cpu")
    assert engine.max_batch == 5 and engine.inputs[0].shape == (None, 3, 64, 48)
    assert [t.name for t in engine.outputs] == ["simcc_x", "simcc_y"]
    for batch in range(1, 6):
        x = pose_input(batch, batch)
        got, want = engine({"input": x}), ort({"input": x})
        for name in want:
            assert got[name].shape == want[name].shape
            np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-4)
        assert engine.last_gpu_ms == pytest.approx(fake_cuda.STATE.kernel_ms)
    engine.close()


def test_submit_queues_on_the_engine_stream_and_result_waits_for_that_job(fake, pose_onnx,
                                                                         det_onnx, tmp_path):
    build(pose_onnx, tmp_path / "pose.engine", max_batch=4)
    build(det_onnx, tmp_path / "det.engine")
    pose, det = trt_backend(tmp_path / "pose.engine"), trt_backend(tmp_path / "det.engine")
    assert pose.asynchronous and pose.stream is not det.stream
    ort = OnnxRuntimeBackend(pose_onnx, device="cpu")
    first, second = pose_input(2, 1), pose_input(3, 2)
    job = pose.submit({"input": first})
    queue = fake.cuda.stream_by_handle(pose.stream.handle)  # the fake device's own stream
    assert queue.pending > 0  # copies and engine queued, nothing ran
    det_job = det.submit({"images": np.zeros((1, 3, 64, 64), np.float32)})
    assert det_job.result()["output"].shape == (1, 84, 85)
    assert queue.pending > 0  # waiting for the detector left the pose stream alone
    next_job = pose.submit({"input": second})  # finishes the first: the buffers are shared
    np.testing.assert_allclose(job.result()["simcc_x"], ort({"input": first})["simcc_x"],
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(next_job.result()["simcc_y"], ort({"input": second})["simcc_y"],
                               rtol=1e-5, atol=1e-4)
    assert job.elapsed_ms == next_job.elapsed_ms == pytest.approx(fake_cuda.STATE.kernel_ms)
    assert queue.pending == 0


def test_stages_run_on_engines_and_split_batches(fake, pose_onnx, det_onnx, tmp_path, rng):
    build(pose_onnx, tmp_path / "pose.engine", max_batch=2)
    build(det_onnx, tmp_path / "det.engine")
    image = rng.integers(0, 255, (90, 120, 3), np.uint8)
    pose_trt, io = load_model(tmp_path / "pose.engine", "pose", "tensorrt")
    assert io.input_size == POSE_SIZE
    boxes = np.array([[0, 0, 60, 80], [10, 5, 50, 70], [30, 20, 110, 88]], np.float32)
    got = RTMPose(pose_trt)(image, boxes)  # 3 persons, max batch 2: two calls
    want = RTMPose(OnnxRuntimeBackend(pose_onnx, device="cpu"))(image, boxes)
    np.testing.assert_allclose(got[0], want[0], atol=1e-3)
    det_trt, _ = load_model(tmp_path / "det.engine", "detector", "tensorrt")
    found = YOLOX(det_trt)(image)
    expected = YOLOX(OnnxRuntimeBackend(det_onnx, device="cpu"))(image)
    np.testing.assert_allclose(found.boxes, expected.boxes, atol=1e-4)
    assert len(found) == 1


def test_batch_over_max_and_wrong_shapes_are_clear_errors(fake, pose_onnx, tmp_path):
    build(pose_onnx, tmp_path / "pose.engine", max_batch=3)
    engine = trt_backend(tmp_path / "pose.engine")
    with pytest.raises(ModelError, match="batch of 4 .* takes 1 to 3"):
        engine({"input": pose_input(4)})
    with pytest.raises(ModelError, match="expects input float32"):
        engine({"input": pose_input(1)[:, :, :32]})
    with pytest.raises(ModelError, match="missing input"):
        engine({"images": pose_input(1)})


def test_an_onnx_path_builds_an_engine_once(fake, pose_onnx):
    engine = trt_backend(pose_onnx, max_batch=4)
    assert engine.path == pose_onnx.with_name("pose.fp16.engine") and len(fake.builds) == 1
    trt_backend(pose_onnx)
    assert len(fake.builds) == 1


@pytest.mark.parametrize("damage", ["truncated_plan", "truncated_header", "foreign", "onnx",
                                    "empty"])
def test_damaged_or_foreign_engine_files_are_model_errors(fake, pose_onnx, tmp_path, damage):
    build(pose_onnx, tmp_path / "good.engine")
    data = (tmp_path / "good.engine").read_bytes()
    bad = tmp_path / "bad.engine"
    bad.write_bytes({"truncated_plan": data[:-100], "truncated_header": data[:40],
                     "foreign": b"\x7fELF" + bytes(300), "onnx": pose_onnx.read_bytes(),
                     "empty": b""}[damage])
    message = {"truncated_header": "damaged or truncated engine file"}.get(
        damage, "cannot load this file")
    with pytest.raises(ModelError, match=message):
        trt_backend(bad)


def test_bare_plan_without_header_loads(fake, pose_onnx, tmp_path):
    build(pose_onnx, tmp_path / "p.engine")
    _, plan = unpack_engine((tmp_path / "p.engine").read_bytes(), "x")
    (tmp_path / "bare.plan").write_bytes(plan)
    engine = trt_backend(tmp_path / "bare.plan")
    assert engine.metadata is None and engine.max_batch == 8


def test_other_tensorrt_version_rebuilds_from_the_onnx(fake, pose_onnx, tmp_path, capsys):
    path = tmp_path / "pose.engine"
    build(pose_onnx, path, max_batch=3)
    fake.set_version("10.4.0")
    engine = trt_backend(path)
    assert "built with TensorRT 10.3.0 (this is 10.4.0); rebuilding" in capsys.readouterr().err
    assert engine.metadata.tensorrt == "10.4.0" and engine.metadata.max_batch == 3
    assert len(fake.builds) == 2 and path.read_bytes().startswith(MAGIC)


def test_other_gpu_without_its_onnx_is_a_clear_error(fake, pose_onnx, tmp_path):
    path = tmp_path / "pose.engine"
    build(pose_onnx, path)
    fake.set_gpu("NVIDIA GeForce RTX 3060", (8, 6))
    with pytest.raises(ModelError, match="rebuilding is off"):
        trt_backend(path, rebuild=False)
    pose_onnx.unlink()
    with pytest.raises(ModelError, match=r"GTX 1660 Ti \(compute 7.5\) \(this is NVIDIA "
                                         r"GeForce RTX 3060 \(compute 8.6\)\) and its source"):
        trt_backend(path)


# -- TensorRT 11 -------------------------------------------------------------------------

def test_tensorrt11_builds_strongly_typed_from_an_fp16_onnx(monkeypatch, pose_onnx, tmp_path):
    fake = fake_trt.install(monkeypatch, version="11.0.0")
    assert not hasattr(fake.trt.BuilderFlag, "FP16")
    assert not hasattr(fake.trt, "IInt8EntropyCalibrator2")
    meta = build(pose_onnx, tmp_path / "p.engine")
    plan = fake.builds[-1]
    assert plan["strongly_typed"] and plan["flags"] == [] and plan["float16_weights"] == 4
    assert plan["tensors"][0]["dtype"] == int(fake.trt.DataType.FLOAT)  # I/O stays FP32
    assert meta.strongly_typed and meta.tensorrt == "11.0.0"
    engine = trt_backend(tmp_path / "p.engine")
    x = pose_input(3)
    got = engine({"input": x})["simcc_x"]
    want = OnnxRuntimeBackend(pose_onnx, device="cpu")({"input": x})["simcc_x"]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2 * np.abs(want).max())


def test_tensorrt11_refuses_calibrated_int8(monkeypatch, pose_onnx, tmp_path):
    fake_trt.install(monkeypatch, version="11.0.0")
    with pytest.raises(UserError, match="INT8 calibration needs TensorRT 10"):
        build(pose_onnx, tmp_path / "p.engine", "int8", calib_images=tmp_path)


def test_fp16_conversion_keeps_io_float32_and_results_close(pose_onnx):
    import onnxruntime as ort

    from engines.trt.fp16 import convert_to_fp16

    model = convert_to_fp16(onnx.load(str(pose_onnx)))
    assert {i.type.tensor_type.elem_type for i in model.graph.input} == {onnx.TensorProto.FLOAT}
    x = pose_input(2)
    got = ort.InferenceSession(model.SerializeToString()).run(None, {"input": x})[0]
    want = OnnxRuntimeBackend(pose_onnx, device="cpu")({"input": x})["simcc_x"]
    np.testing.assert_allclose(got, want, atol=2e-2 * np.abs(want).max())


# -- the fake catches misuse -------------------------------------------------------------

@pytest.fixture
def loaded(fake, pose_onnx, tmp_path):
    """A raw fake engine + context + buffers for a [2,3,64,48] call, addresses not set."""
    build(pose_onnx, tmp_path / "p.engine", max_batch=2)
    _, plan = unpack_engine((tmp_path / "p.engine").read_bytes(), "x")
    trt, cuda = fake.trt, fake.cuda
    cuda.init()
    ctx = cuda.Device(0).retain_primary_context()
    ctx.push()
    engine = trt.Runtime(trt.Logger()).deserialize_cuda_engine(plan)
    sizes = {"input": 2 * 3 * 64 * 48, "simcc_x": 2 * 133 * 96, "simcc_y": 2 * 133 * 128}
    buffers = {n: cuda.mem_alloc(s * 4) for n, s in sizes.items()}
    yield engine, engine.create_execution_context(), buffers, cuda.Stream()
    cuda.Context.pop()


def test_fake_checks_shapes_addresses_and_buffer_sizes(loaded, fake):
    engine, context, buffers, stream = loaded
    with pytest.raises(FakeTensorRTError, match="no shape was set"):
        context.execute_async_v3(stream.handle)
    with pytest.raises(FakeTensorRTError, match="outside the profile"):
        context.set_input_shape("input", (3, 3, 64, 48))
    assert context.set_input_shape("input", (2, 3, 64, 48))
    with pytest.raises(FakeTensorRTError, match="address of tensor 'input'"):
        context.execute_async_v3(stream.handle)
    for name, buffer in buffers.items():
        context.set_tensor_address(name, int(buffer))
    with pytest.raises(fake_cuda.LogicError, match="invalid resource handle"):
        context.execute_async_v3(12345)
    small = fake.cuda.mem_alloc(100)
    context.set_tensor_address("simcc_x", int(small))
    with pytest.raises(fake_cuda.LogicError, match="overrun an allocation of 100 bytes"):
        context.execute_async_v3(stream.handle)
    buffers["simcc_x"].free()
    context.set_tensor_address("simcc_x", int(buffers["simcc_x"]))
    with pytest.raises(fake_cuda.LogicError, match="not a live device allocation"):
        context.execute_async_v3(stream.handle)
    fake.state.strict = False  # then, like TensorRT, only log and return False
    assert context.set_input_shape("input", (9, 3, 64, 48)) is False
    assert "outside the profile" in fake.state.errors[-1]


def test_fake_runs_async_work_only_on_synchronize(loaded, fake):
    engine, context, buffers, stream = loaded
    cuda = fake.cuda
    host_in = cuda.pagelocked_empty(2 * 3 * 64 * 48, np.float32)
    host_out = cuda.pagelocked_empty(2 * 133 * 96, np.float32)
    host_in[:] = pose_input(2).ravel()
    with pytest.raises(cuda.LogicError, match="pageable host memory"):
        cuda.memcpy_htod_async(buffers["input"], np.zeros(10, np.float32), stream)
    cuda.memcpy_htod_async(buffers["input"], host_in, stream)
    context.set_input_shape("input", (2, 3, 64, 48))
    for name, buffer in buffers.items():
        context.set_tensor_address(name, int(buffer))
    assert context.execute_async_v3(stream.handle)
    cuda.memcpy_dtoh_async(host_out, buffers["simcc_x"], stream)
    assert (host_out.view(np.uint8) == 0xAB).all()  # nothing ran yet: still the fill bytes
    stream.synchronize()
    assert np.isfinite(host_out).all() and context.runs == 1


def test_fake_needs_a_current_context_and_valid_builds(fake, pose_onnx):
    cuda, trt = fake.cuda, fake.trt
    cuda.init()
    with pytest.raises(cuda.LogicError, match="no currently active context"):
        cuda.mem_alloc(16)
    logger = trt.Logger()
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    assert trt.OnnxParser(network, logger).parse_from_file(str(pose_onnx))
    config = builder.create_builder_config()
    assert builder.build_serialized_network(network, config) is None
    assert "no optimization profile" in fake.state.errors[-1]
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 3, 64, 48), (4, 3, 64, 48), (2, 3, 64, 48))
    assert config.add_optimization_profile(profile) == -1
    typed = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    assert trt.OnnxParser(typed, logger).parse_from_file(str(pose_onnx))
    config.set_flag(trt.BuilderFlag.FP16)
    assert builder.build_serialized_network(typed, config) is None
    assert "strongly typed" in fake.state.errors[-1]
    assert trt.Runtime(logger).deserialize_cuda_engine(b"\x00" * 64) is None


# -- no GPU, no TensorRT (the real path on this machine) ----------------------------------

needs_no_gpu = pytest.mark.skipif(device.has_cuda(), reason="this machine has a CUDA GPU")


@needs_no_gpu
@pytest.mark.parametrize("command", ["build", "calibrate"])
def test_without_a_gpu_commands_exit_2_with_one_line(cli_commands, pose_onnx, tmp_path,
                                                     capsys, command):
    args = {"build": ["--output", str(tmp_path / "p.engine")],
            "calibrate": ["--images", str(tmp_path), "--cache", str(tmp_path / "c")]}[command]
    assert cli.main([command, "--onnx", str(pose_onnx), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dwpose {command}: error: TensorRT needs an NVIDIA GPU with CUDA; none "
                   "found (no CUDA driver or device)"]


@needs_no_gpu
def test_without_a_gpu_the_backend_says_so(pose_onnx, tmp_path):
    (tmp_path / "p.engine").write_bytes(b"x")
    with pytest.raises(UserError, match="needs an NVIDIA GPU"):
        trt_backend(tmp_path / "p.engine")


def test_without_tensorrt_installed_the_line_says_how_to_install(cli_commands, monkeypatch,
                                                                pose_onnx, tmp_path, capsys):
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    monkeypatch.setattr(device, "has_cuda", lambda: True)
    assert cli.main(["build", "--onnx", str(pose_onnx), "--output", str(tmp_path / "e")]) == 2
    assert capsys.readouterr().err.strip() == (
        "dwpose build: error: tensorrt is not installed: pip install -e .[trt]")


def test_build_cli_through_the_fake(fake, cli_commands, pose_onnx, tmp_path, capsys):
    out = tmp_path / "p.engine"
    assert cli.main(["build", "--onnx", str(pose_onnx), "--output", str(out), "--fp32",
                     "--max-batch", "6", "--opt-batch", "2", "--workspace", "64"]) == 0
    assert "FP32 pose engine, input 48x64, batch up to 6" in capsys.readouterr().out
    assert fake.builds[-1]["profiles"][0]["input"][1][0] == 2
    assert cli.main(["build", "--onnx", str(tmp_path / "none.onnx"), "--output", "x"]) == 2


# -- the CUDA layers -------------------------------------------------------------------


def test_the_runtime_takes_pycuda_where_it_is_installed_else_cuda_python(fake):
    from engines.trt.cuda_python import CudaPythonDriver
    from engines.trt.runtime import import_cuda

    layer = import_cuda()
    if fake.layer == "pycuda":
        assert layer is fake.cuda
    else:
        assert isinstance(layer, CudaPythonDriver)


def test_without_a_cuda_binding_the_line_says_what_to_install(monkeypatch):
    from engines.trt.runtime import import_cuda

    monkeypatch.setattr(device, "has_cuda", lambda: True)
    for name in ("pycuda", "pycuda.driver", "cuda", "cuda.bindings"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(UserError, match=r"no CUDA binding for Python: pip install -e \.\[trt\] "
                                        r"\(cuda-python"):
        import_cuda()


def test_cuda_python_layer_keeps_pycudas_semantics(monkeypatch):
    """The driver API's returned errors become exceptions with their names; the primary
    context is retained and released; pinned memory is what async copies need."""
    from engines.trt.cuda_python import CudaError
    from engines.trt.runtime import CudaContext, import_cuda

    fake = fake_trt.install(monkeypatch, layer="cuda-python")
    cuda = import_cuda()
    with pytest.raises(CudaError, match="cuMemAlloc failed: CUDA_ERROR_INVALID_CONTEXT"):
        cuda.mem_alloc(64)  # no context pushed yet
    context = CudaContext(cuda)
    assert context.gpu.describe() == "NVIDIA GeForce GTX 1660 Ti (compute 7.5)"
    with context:
        device_buffer, stream = cuda.mem_alloc(64), cuda.Stream()
        host = cuda.pagelocked_empty((4, 4), np.float32)
        host[:] = np.arange(16, dtype=np.float32).reshape(4, 4)
        start, end = cuda.Event().record(stream), None
        cuda.memcpy_htod_async(device_buffer, host, stream)
        back = cuda.pagelocked_empty((4, 4), np.float32)
        cuda.memcpy_dtoh_async(back, device_buffer, stream)
        end = cuda.Event().record(stream)
        with pytest.raises(CudaError, match="CUDA_ERROR_INVALID_VALUE"):
            cuda.memcpy_htod_async(device_buffer, np.zeros(16, np.float32), stream)  # pageable
        assert not np.array_equal(back, host)  # queued, not run
        end.synchronize()
        np.testing.assert_array_equal(back, host)
        assert start.time_till(end) == 0.0  # no kernel ran between them
        device_buffer.free()
        with pytest.raises(CudaError, match="cuMemFree failed"):
            device_buffer.free()
    context.close()
    with pytest.raises(CudaError, match="cuCtxPushCurrent failed"):
        context.__enter__()  # released: the context is gone
    assert not fake.cuda.STATE.allocations


# -- a real GPU ------------------------------------------------------------------------

def _real_tensorrt() -> bool:
    if not device.has_cuda():
        return False
    try:
        import tensorrt  # noqa: F401

        from engines.trt.runtime import import_cuda
        import_cuda()
    except (ImportError, UserError):
        return False
    return True


@pytest.mark.gpu
@pytest.mark.skipif(not _real_tensorrt(), reason="needs an NVIDIA GPU and TensorRT")
def test_real_engine_matches_onnxruntime(pose_onnx, tmp_path):
    build(pose_onnx, tmp_path / "pose.engine", "fp32", max_batch=4)
    engine = trt_backend(tmp_path / "pose.engine")
    ort = OnnxRuntimeBackend(pose_onnx, device="cpu")
    for batch in (1, 4):
        x = pose_input(batch)
        got, want = engine({"input": x}), ort({"input": x})
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-3, atol=1e-3)
    assert engine.last_gpu_ms > 0
    engine.close()
