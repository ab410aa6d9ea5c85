"""Every released signature of COMPAT section 1 runs unchanged.

Pose: static batch 1 (``dw-ll_ucoco_384.onnx``), static batch 5 (ComfyUI ``*_bs5``), symbolic
batch and keypoint axis (the OpenMMLab SDKs, RTMW; also the real upstream DWPose-t graph),
FP16 input and outputs. Detector: raw YOLOX and mmdeploy end2end exports (NMS in the graph,
int64 labels) with static or symbolic input size and batch, trained with the YOLOX or the
RTMDet normalisation. Each goes through ``predict``, ``bench``, the app (offscreen), ``build``
(fake TensorRT) and ``calibrate``, and known answers check what comes out.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

import app.cli as cli
from engines.backends.onnxruntime import OnnxRuntimeBackend
from engines.detectors import End2EndDetector, load_detector, norm_for
from engines.errors import ModelError
from engines.models import check_pose, load_model
from engines.pose import RTMPose
from tests.conftest import need
from tests.onnx_models import (
    end2end_scores,
    make_detector_onnx,
    make_end2end_onnx,
    make_pose_onnx,
    make_rtmo_onnx,
    upstream_pose_onnx,
)

ROOT = Path(__file__).resolve().parents[1]
POSE_SIZE = (48, 64)  # (w, h): small, with the official I/O layout
UPSTREAM = "models/upstream/dwpose_t_256x192.graph.onnx"

# Boxes of the end2end test detector, in network pixels of a 640 input: two overlapping
# persons (one suppressed), a person, and a label-2 object.
E2E_BOXES = np.array([[40, 60, 200, 420], [44, 64, 204, 416], [300, 100, 420, 460],
                      [450, 300, 600, 420]], np.float32)
E2E_LABELS = [0, 0, 0, 2]
E2E_WEIGHTS = np.array([[0.004, 0.002, 0.01, 0.003], [0.002, 0.001, -0.004, 0.001],
                        [-0.001, 0.0, 0.002, 0.0]])
E2E_BIAS = np.array([0.6, 0.2, -0.3, 1.0])


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """One file of every released signature (small sizes)."""
    d = tmp_path_factory.mktemp("released")
    out = {
        "pose_dynamic": make_pose_onnx(d / "pose_dyn.onnx", POSE_SIZE),
        "pose_b1": make_pose_onnx(d / "pose_b1.onnx", POSE_SIZE, batch=1),
        "pose_b5": make_pose_onnx(d / "pose_b5.onnx", POSE_SIZE, batch=5),
        "pose_symbolic_k": make_pose_onnx(d / "pose_symk.onnx", POSE_SIZE,
                                          symbolic_keypoints=True),
        "pose_fp16": make_pose_onnx(d / "pose_fp16.onnx", POSE_SIZE, fp16=True),
        "pose_fp16_b1": make_pose_onnx(d / "pose_fp16_b1.onnx", POSE_SIZE, batch=1, fp16=True),
        "det_raw": make_detector_onnx(d / "det_raw.onnx", 64, [(8, 4, 40, 60, 0.9)]),
        "det_e2e_yolox": make_end2end_onnx(d / "det_e2e_yolox.onnx", E2E_BOXES / 10,
                                           E2E_LABELS, E2E_WEIGHTS, E2E_BIAS, head="yolox"),
        "det_e2e_rtmdet": make_end2end_onnx(d / "det_e2e_rtmdet.onnx", E2E_BOXES / 10,
                                            E2E_LABELS, E2E_WEIGHTS, E2E_BIAS, batch="batch",
                                            head="rtmdet"),
        "det_e2e_static": make_end2end_onnx(d / "det_e2e_static.onnx", E2E_BOXES / 10,
                                            E2E_LABELS, E2E_WEIGHTS, E2E_BIAS, size=64,
                                            head="yolox"),
    }
    return out


POSES = ("pose_b1", "pose_b5", "pose_symbolic_k", "pose_fp16", "pose_fp16_b1")
DETECTORS = ("det_raw", "det_e2e_yolox", "det_e2e_rtmdet", "det_e2e_static")
#: --det-size for the detectors whose file leaves it open (the test boxes are for 64).
DET_SIZE = {"det_e2e_yolox": 64, "det_e2e_rtmdet": 64}


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    rng = np.random.default_rng(3)
    for _ in range(6):
        writer.write(rng.integers(0, 255, (120, 160, 3), np.uint8))
    writer.release()
    return path


def _image(seed: int = 0, shape=(480, 640, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, shape, np.uint8)


# -- pose signatures ------------------------------------------------------------------------

@pytest.mark.parametrize("name, batch", [("pose_dynamic", None), ("pose_b1", 1), ("pose_b5", 5),
                                         ("pose_symbolic_k", None), ("pose_fp16", None)])
def test_pose_signatures_load_with_their_batch(models, name, batch):
    backend, io = load_model(models[name], "pose")
    assert (io.input_size, io.num_keypoints, io.split_ratio, io.batch) == (POSE_SIZE, 133, 2.0,
                                                                          batch)
    # the probe filled a symbolic keypoint axis in the backend's own description
    assert [t.shape[1:] for t in backend.outputs] == [(133, 96), (133, 128)]


def test_symbolic_keypoint_axis_is_probed_once(models, monkeypatch):
    backend = OnnxRuntimeBackend(models["pose_symbolic_k"], device="cpu")
    assert backend.outputs[0].shape == (None, None, 96)
    calls = []
    infer = backend.infer
    monkeypatch.setattr(backend, "infer", lambda feeds: calls.append(1) or infer(feeds))
    check_pose(backend)
    check_pose(backend)
    assert len(calls) == 1 and backend.outputs[0].shape == (None, 133, 96)


def test_upstream_graph_with_symbolic_k_equals_its_static_k_copy(tmp_path):
    """The real upstream DWPose-t export (symbolic batch and keypoint axis, seeded weights)
    gives the same keypoints as the same graph declaring K = 133."""
    source = need(UPSTREAM)
    symbolic = upstream_pose_onnx(source, tmp_path / "up.onnx", seed=1)
    static = upstream_pose_onnx(source, tmp_path / "up_static.onnx", seed=1,
                                static_keypoints=True)
    up = OnnxRuntimeBackend(symbolic, device="cpu")
    assert up.outputs[0].shape == (None, None, 384)  # as released
    a, b = RTMPose(up), RTMPose(OnnxRuntimeBackend(static, device="cpu"))
    assert a.input_size == (192, 256) and a.num_keypoints == 133
    image = _image(4)
    boxes = np.array([[50, 40, 300, 460], [320, 10, 600, 470], [0, 0, 640, 480]], np.float32)
    (ka, sa), (kb, sb) = a(image, boxes), b(image, boxes)
    assert ka.shape == (3, 133, 2)
    np.testing.assert_array_equal(ka, kb)
    np.testing.assert_array_equal(sa, sb)


def test_static_batch_5_pads_the_last_chunk_and_drops_the_padding(tmp_path):
    """7 persons on a batch-5 file: two calls of 5 (the second padded); equal to the same
    weights with a dynamic batch."""
    fixed = RTMPose(OnnxRuntimeBackend(make_pose_onnx(tmp_path / "b5.onnx", POSE_SIZE, batch=5,
                                                      seed=2), device="cpu"))
    free = RTMPose(OnnxRuntimeBackend(make_pose_onnx(tmp_path / "dyn.onnx", POSE_SIZE, seed=2),
                                      device="cpu"))
    image = _image(5)
    boxes = np.array([[10 * i, 5 * i, 200 + 30 * i, 300 + 20 * i] for i in range(7)], np.float32)
    calls = fixed.chunks(fixed.preprocess(image, boxes).blob)
    assert [(len(part), count) for part, count in calls] == [(5, 5), (5, 2)]
    assert not calls[1][0][2:].any()  # the padding is zero crops
    (k5, s5), (kd, sd) = fixed(image, boxes), free(image, boxes)
    assert k5.shape == (7, 133, 2)
    np.testing.assert_array_equal(k5, kd)
    np.testing.assert_allclose(s5, sd, rtol=1e-6)


def test_fp16_file_runs_with_casts_in_and_out(tmp_path):
    fp16 = OnnxRuntimeBackend(make_pose_onnx(tmp_path / "h.onnx", POSE_SIZE, fp16=True, seed=3),
                              device="cpu")
    fp32 = OnnxRuntimeBackend(make_pose_onnx(tmp_path / "f.onnx", POSE_SIZE, seed=3),
                              device="cpu")
    assert fp16.inputs[0].dtype == np.float16 and fp16.precision == "fp16"
    blob = RTMPose(fp32).preprocess(_image(6), [[20, 20, 300, 400]]).blob
    half, full = fp16({"input": blob}), fp32({"input": blob.astype(np.float16)})
    assert half["simcc_x"].dtype == np.float32  # widened for the decoder
    # the only difference is the float16 rounding of the outputs
    np.testing.assert_allclose(half["simcc_x"], full["simcc_x"], rtol=2e-3, atol=2e-3)
    keypoints, scores = RTMPose(fp16)(_image(6), [[20, 20, 300, 400]])
    assert keypoints.dtype == np.float32 and np.isfinite(keypoints).all()


# -- end2end detectors ----------------------------------------------------------------------

def _letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """The stated preprocessing, written out: top-left letterbox padded with 114, float32."""
    h, w = image.shape[:2]
    r = min(size / h, size / w)
    canvas = np.full((size, size, 3), 114, np.uint8)
    canvas[:int(h * r), :int(w * r)] = cv2.resize(image, (int(w * r), int(h * r)),
                                                  interpolation=cv2.INTER_LINEAR)
    return canvas.astype(np.float32).transpose(2, 0, 1)[None], r


def _expected_dets(blob: np.ndarray, boxes: np.ndarray, ratio: float, score_thr=0.3):
    """What the end2end graph's NMS and our label/score filter keep, by formula."""
    scores = end2end_scores(blob, E2E_WEIGHTS, E2E_BIAS)
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] > 0.05]
    kept = []
    for i in order:
        def iou(a, b):
            lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
            inter = np.prod(np.clip(rb - lt, 0, None))
            return inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)
        if all(iou(boxes[i], boxes[j]) <= 0.5 for j in kept):
            kept.append(i)
    keep = [i for i in kept if E2E_LABELS[i] == 0 and scores[i] > score_thr]
    return boxes[keep] / ratio, scores[keep]


@pytest.mark.parametrize("head, mean, std", [
    ("yolox", None, None),
    ("rtmdet", (103.53, 116.28, 123.675), (57.375, 57.12, 58.395)),
])
def test_end2end_boxes_are_its_dets_after_the_stated_preprocessing(tmp_path, head, mean, std):
    path = make_end2end_onnx(tmp_path / f"{head}.onnx", E2E_BOXES, E2E_LABELS, E2E_WEIGHTS,
                             E2E_BIAS, head=head)
    detector = load_detector(path, device="cpu")
    assert isinstance(detector, End2EndDetector) and detector.input_size == 640
    assert detector.norm.name == head and "head names in the graph" in detector.describe()
    image = _image(7, (360, 500, 3))
    blob, ratio = _letterbox(image, 640)
    if mean is not None:
        blob = (blob - np.float32(mean).reshape(1, 3, 1, 1)) / np.float32(std).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(detector.preprocess(image)[0], blob, rtol=1e-6, atol=1e-5)
    want_boxes, want_scores = _expected_dets(blob, E2E_BOXES, ratio)
    got = detector(image)
    assert len(got) == 2  # the overlapping twin is suppressed, the label-2 box dropped
    np.testing.assert_allclose(got.boxes, want_boxes, rtol=1e-5)
    np.testing.assert_allclose(got.scores, want_scores, rtol=1e-4)


def test_the_wrong_normalisation_gives_other_scores(tmp_path):
    """The known-answer test above can tell the two normalisations apart."""
    path = make_end2end_onnx(tmp_path / "d.onnx", E2E_BOXES, E2E_LABELS, E2E_WEIGHTS, E2E_BIAS)
    image = _image(8, (360, 500, 3))
    yolox, rtmdet = (load_detector(path, norm=n, device="cpu") for n in ("yolox", "rtmdet"))
    assert "from --det-norm" in rtmdet.describe()
    assert not np.allclose(yolox(image).scores, rtmdet(image).scores, rtol=1e-2)


def test_no_person_is_zero_boxes(tmp_path):
    path = make_end2end_onnx(tmp_path / "d.onnx", E2E_BOXES, [2, 2, 2, 2], E2E_WEIGHTS, E2E_BIAS)
    dets = load_detector(path, device="cpu")(_image(9))
    assert dets.boxes.shape == (0, 4) and dets.scores.shape == (0,)


def test_symbolic_input_size_comes_from_det_size_registry_or_default(tmp_path, monkeypatch):
    path = make_end2end_onnx(tmp_path / "d.onnx", E2E_BOXES / 2, E2E_LABELS, E2E_WEIGHTS,
                             E2E_BIAS)
    assert load_detector(path, device="cpu").io.size_source.startswith("default")
    det = load_detector(path, size=320, device="cpu")
    assert det.input_size == 320 and "input 320x320 (--det-size)" in det.describe()
    assert det.preprocess(_image(1))[0].shape == (1, 3, 320, 320)
    # a released model in the cache: its registry entry gives the size and normalisation
    monkeypatch.setenv("DWPOSE_HOME", str(tmp_path / "cache"))
    from engines import hub

    cached = hub.cached_path("rtmdet-nano_person")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(make_end2end_onnx(tmp_path / "x.onnx", E2E_BOXES / 2, E2E_LABELS,
                                         E2E_WEIGHTS, E2E_BIAS, head=None).read_bytes())
    det = load_detector(cached, device="cpu")
    assert det.input_size == 320 and det.norm.name == "rtmdet"
    assert "registry entry rtmdet-nano_person" in det.describe()
    with pytest.raises(ModelError, match="--det-size 416 does not fit the model's fixed 64x64"):
        load_detector(make_end2end_onnx(tmp_path / "s.onnx", E2E_BOXES / 10, E2E_LABELS,
                                        E2E_WEIGHTS, E2E_BIAS, size=64), size=416, device="cpu")


def test_pipeline_json_beside_the_file_states_the_normalisation(tmp_path):
    sdk = tmp_path / "sdk"
    sdk.mkdir()
    path = make_end2end_onnx(sdk / "end2end.onnx", E2E_BOXES, E2E_LABELS, E2E_WEIGHTS, E2E_BIAS,
                             head="yolox")  # the pipeline.json wins over the head names
    transforms = [{"type": "LoadImageFromFile"}, {"type": "Resize", "size": [640, 640]},
                  {"type": "Normalize", "mean": [1.0, 2.0, 3.0], "std": [4.0, 5.0, 6.0],
                   "to_rgb": True}]
    (sdk / "pipeline.json").write_text(json.dumps(
        {"pipeline": {"tasks": [{"type": "Task", "module": "Transform", "name": "Preprocess",
                                 "transforms": transforms}]}}))
    det = load_detector(path, device="cpu")
    assert (det.norm.mean, det.norm.std, det.norm.rgb) == ((1.0, 2.0, 3.0), (4.0, 5.0, 6.0),
                                                           True)
    image = _image(2, (640, 640, 3))
    rgb = image[..., ::-1].astype(np.float32).transpose(2, 0, 1)[None]
    want = (rgb - np.float32([1, 2, 3]).reshape(1, 3, 1, 1)) / np.float32([4, 5, 6]).reshape(
        1, 3, 1, 1)
    np.testing.assert_allclose(det.preprocess(image)[0], want, rtol=1e-6)


def test_an_end2end_file_that_says_nothing_asks_for_det_norm(tmp_path):
    path = make_end2end_onnx(tmp_path / "d.onnx", E2E_BOXES, E2E_LABELS, E2E_WEIGHTS, E2E_BIAS,
                             head=None)
    with pytest.raises(ModelError) as err:
        load_detector(path, device="cpu")
    assert "pass --det-norm yolox (BGR 0-255) or --det-norm rtmdet" in str(err.value)
    assert norm_for(OnnxRuntimeBackend(path, device="cpu"), "rtmdet")[1] == "--det-norm"


def test_end2end_on_the_torch_backend_equals_onnxruntime(tmp_path):
    pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    from engines.backends.torch import TorchBackend

    path = make_end2end_onnx(tmp_path / "d.onnx", E2E_BOXES, E2E_LABELS, E2E_WEIGHTS, E2E_BIAS)
    ort = load_detector(path, device="cpu")
    twin = End2EndDetector(TorchBackend(path, device="cpu"), ort.io, norm=ort.norm)
    blob, _ = ort.preprocess(_image(3))
    a, b = ort.infer(blob), twin.infer(blob)
    assert b["labels"].dtype == np.int64
    np.testing.assert_array_equal(a["labels"], b["labels"])
    np.testing.assert_allclose(a["dets"], b["dets"], rtol=1e-5)


# -- files that fit no family ---------------------------------------------------------------

def test_a_one_stage_rtmo_model_is_named(tmp_path):
    with pytest.raises(ModelError) as err:
        load_model(make_rtmo_onnx(tmp_path / "rtmo.onnx"), "detector")
    msg = str(err.value)
    assert "one-stage pose model (RTMO-style" in msg and "17 body keypoints" in msg
    assert "raw YOLOX export" in msg and "mmdeploy end2end detector" in msg and "\n" not in msg
    with pytest.raises(ModelError, match="expected an RTMPose/DWPose/RTMW SimCC model"):
        load_model(tmp_path / "rtmo.onnx", "pose")


def test_torchscript_and_sdk_archives_are_named(tmp_path):
    script = tmp_path / "dw-ll_ucoco_384.pt"
    with zipfile.ZipFile(script, "w") as zf:  # the layout torch.jit.save writes
        for member in ("m/data.pkl", "m/constants.pkl", "m/code/__torch__.py", "m/version"):
            zf.writestr(member, b"x")
    for stage in ("pose", "detector"):
        with pytest.raises(ModelError, match="a TorchScript file .*, not ONNX"):
            load_model(script, stage)
    sdk = tmp_path / "rtmw.zip"
    with zipfile.ZipFile(sdk, "w") as zf:
        zf.writestr("20231122/rtmw/end2end.onnx", b"x")
    with pytest.raises(ModelError, match="an OpenMMLab ONNX SDK archive; unzip it"):
        load_model(sdk, "pose")


# -- every signature through every command --------------------------------------------------

def _det_args(name: str, models) -> list[str]:
    args = ["--det", str(models[name])]
    if name in DET_SIZE:
        args += ["--det-size", str(DET_SIZE[name])]
    return args


@pytest.mark.parametrize("pose, det", [(p, "det_raw") for p in POSES]
                         + [("pose_dynamic", d) for d in DETECTORS[1:]])
def test_predict_runs_every_signature(models, video, tmp_path, capsys, pose, det):
    out = tmp_path / "out"
    code = cli.main(["predict", "-i", str(video), *_det_args(det, models), "--pose",
                     str(models[pose]), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "dwpose: backend " in captured.err and "; detector " in captured.err
    assert "133 keypoints" in captured.err
    results = json.loads((out / "results.json").read_text())
    assert {r["image_id"] for r in results} == set(range(6))
    assert all(len(r["keypoints"]) == 133 * 3 for r in results)


@pytest.mark.parametrize("pose, det", [("pose_b5", "det_e2e_rtmdet"),
                                       ("pose_fp16_b1", "det_e2e_static"),
                                       ("pose_symbolic_k", "det_e2e_yolox")])
def test_bench_runs_every_signature(models, video, tmp_path, capsys, pose, det):
    report = tmp_path / "bench.json"
    code = cli.main(["bench", "--input", str(video), *_det_args(det, models), "--pose",
                     str(models[pose]), "--frames", "4", "--warmup", "1", "--pose-batches",
                     "1,5", "--json", str(report)])
    assert code == 0, capsys.readouterr().err
    data = json.loads(report.read_text())
    batches = [m["batch"] for m in data["models"] if m["stage"] == "pose"]
    assert batches == {"pose_b5": [5], "pose_fp16_b1": [1]}.get(pose, [1, 5])


def test_the_app_runs_every_signature_offscreen(models, video, tmp_path):
    pytest.importorskip("PyQt5.QtWidgets", reason="the desktop app needs PyQt5")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
           "DWPOSE_HOME": str(tmp_path / "models"), "XDG_RUNTIME_DIR": str(tmp_path)}
    pairs = [("pose_b5", "det_e2e_rtmdet"), ("pose_fp16", "det_e2e_yolox"),
             ("pose_symbolic_k", "det_e2e_static"), ("pose_b1", "det_raw")]
    for pose, det in pairs:
        done = subprocess.run(
            [sys.executable, str(ROOT / "run_app.py"), "--source", str(video),
             *_det_args(det, models), "--pose", str(models[pose]), "--frames", "2",
             "--settings", str(tmp_path / f"{pose}.ini"),
             "--capture-dir", str(tmp_path / "captures")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (pose, det, done.stderr)
        assert "2 frames processed" in done.stdout


@pytest.mark.parametrize("name", POSES + DETECTORS)
def test_build_every_signature_and_run_the_engine(fake, models, tmp_path, capsys, name):
    """``dwpose build`` through the fake TensorRT 10, then the engine against ONNX Runtime."""
    engine = tmp_path / f"{name}.engine"
    args = ["build", "--onnx", str(models[name]), "--output", str(engine)]
    if name in DET_SIZE:
        args += ["--det-size", str(DET_SIZE[name])]
    assert cli.main(args) == 0, capsys.readouterr().err
    plan = fake.builds[-1]
    if name.startswith("pose"):
        ort = RTMPose(OnnxRuntimeBackend(models[name], device="cpu"))
        trt = RTMPose(load_model(engine, "pose", "tensorrt")[0])
        assert trt.num_keypoints == 133 and trt.static_batch == ort.static_batch
        outputs = {t["name"]: t["shape"] for t in plan["tensors"] if t["mode"] == 2}
        assert outputs["simcc_x"][1:] == [133, 96]  # K resolved by shape analysis
        image, boxes = _image(1), np.array([[10, 10, 300, 400]] * 6, np.float32)
        (ka, sa), (kb, sb) = ort(image, boxes), trt(image, boxes)
        np.testing.assert_array_equal(ka, kb)
        np.testing.assert_allclose(sa, sb, rtol=1e-3)
        return
    size = 64
    profile = plan["profiles"][0]
    assert list(profile.values())[0] == [[1, 3, size, size]] * 3
    ort = load_detector(models[name], size=DET_SIZE.get(name), device="cpu")
    trt = load_detector(engine, "tensorrt")
    assert trt.family == ort.family and trt.input_size == size
    assert trt.norm.mean == ort.norm.mean  # read from the engine header
    for seed in range(3):
        image = _image(seed, (48 + 8 * seed, 64, 3))
        a, b = ort(image), trt(image)
        np.testing.assert_allclose(a.boxes, b.boxes, rtol=1e-5)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)


@pytest.mark.parametrize("name", ["pose_b5", "pose_symbolic_k", "pose_fp16", "det_e2e_rtmdet",
                                  "det_e2e_static"])
def test_calibrate_every_signature(fake, models, video, tmp_path, capsys, name):
    cache = tmp_path / f"{name}.cache"
    args = ["calibrate", "--onnx", str(models[name]), "--images", str(video), "--cache",
            str(cache), "--batch", "2"]
    if name in DET_SIZE:
        args += ["--det-size", str(DET_SIZE[name])]
    assert cli.main(args) == 0, capsys.readouterr().err
    calibration = fake.builds[-1]["calibration"]
    assert calibration["calibrated"] and calibration["batches"] >= 1
    assert cache.read_bytes().startswith(b"TRT-")
