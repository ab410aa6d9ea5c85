"""The precision gate: its numbers on known answers, the stored verdict's round trip, the
``--precision auto`` rule under each stored state, and the gate after ``dwpose build``
through the fake TensorRT."""
from __future__ import annotations

import importlib.util
import json
from dataclasses import replace

import numpy as np
import pytest

import app.cli as cli
from engines.backends.auto import choose_backend
from engines.cpu import CpuInfo
from engines.errors import ModelError
from engines.models import load_model
from engines.pose import RTMPose
from engines.precision_gate import (
    THRESHOLDS,
    Fingerprint,
    PartAgreement,
    Thresholds,
    Verdict,
    check_verdict,
    cpu_fingerprint,
    load_verdicts,
    part_agreement,
    run_pairs,
    save_verdict,
    verdict_path,
)
from engines.skeleton import PARTS, SIGMAS
from tests.images import noise_images
from tests.onnx_models import make_detector_onnx, make_pose_onnx

HAVE_OPENVINO = importlib.util.find_spec("openvino") is not None
needs_openvino = pytest.mark.skipif(not HAVE_OPENVINO, reason="openvino is not installed")
POSE_SIZE = (48, 64)  # (w, h)
XEON = CpuInfo("Xeon", 2, frozenset({"avx2", "avx512f", "avx512_vnni"}))
EPYC = CpuInfo("EPYC", 2, frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}))


class _Peaks(RTMPose):
    """Pose stage whose SimCC logits peak at fixed bins whatever the crop, with ``score``."""

    def __init__(self, backend, x_bin: int, y_bin: int, score: float = 0.9) -> None:
        super().__init__(backend)
        self.bins, self.score = (x_bin, y_bin), score

    def infer(self, blob):
        n, (w, h) = len(blob), self.input_size
        sx, sy = np.zeros((n, 133, w * 2), np.float32), np.zeros((n, 133, h * 2), np.float32)
        sx[:, :, self.bins[0]], sy[:, :, self.bins[1]] = self.score, self.score
        return sx, sy


@pytest.fixture(scope="module")
def pose(tmp_path_factory):
    return make_pose_onnx(tmp_path_factory.mktemp("gate") / "pose.onnx", POSE_SIZE)


@pytest.fixture(scope="module")
def backend(pose):
    return load_model(pose, "pose")[0]


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """6 random 64x48 images (the pose input size)."""
    return noise_images(tmp_path_factory.mktemp("frames"), 6, seed=5)


def _images(n: int = 3) -> list[np.ndarray]:
    return [np.full((64, 48, 3), 90, np.uint8)] * n


# -- the numbers ---------------------------------------------------------------------------

def test_identical_models_agree_fully(backend):
    pairs = run_pairs(_Peaks(backend, 40, 60), _Peaks(backend, 40, 60), _images())
    assert pairs.frames == 3 and len(pairs.scores) == 3
    table = part_agreement(pairs)
    assert list(table) == list(PARTS)
    for part, a in table.items():
        assert a == PartAgreement(3, 3 * len(PARTS[part]), 0.0, 1.0, 1.0)


def test_a_known_shift_gives_known_pixels_and_oks(backend):
    # 6 bins = 3 input pixels along x; the 48x64 whole-image box becomes a 60x80 crop, so 3
    # input pixels are 3.75 image pixels; OKS uses the box's area, 48 * 64.
    ref, shifted = _Peaks(backend, 40, 60), _Peaks(backend, 46, 60)
    pairs = run_pairs(ref, shifted, _images())
    table = part_agreement(pairs)
    for part, idx in PARTS.items():
        oks = np.mean(np.exp(-3.75**2 / (2 * 48 * 64 * (2 * SIGMAS[idx]) ** 2)))
        a = table[part]
        assert a.mean_px == pytest.approx(3.75, abs=1e-4)
        assert a.mean_oks == pytest.approx(oks, rel=1e-5)
        assert a.share == (1.0 if oks >= THRESHOLDS.oks else 0.0)
    # body: its wide sigmas keep OKS at 0.79; the face's narrow ones take it to 0.17
    assert 0.78 < table["body"].mean_oks < 0.8 and 0.16 < table["face"].mean_oks < 0.18
    # at an OKS threshold of 0.7 the body passes, the face does not
    low = part_agreement(pairs, Thresholds(oks=0.7))
    assert low["body"].share == 1.0 and low["face"].share == 0.0


def test_only_confident_reference_keypoints_count(backend):
    unsure = _Peaks(backend, 40, 60, score=0.2)  # below the drawing threshold 0.3
    table = part_agreement(run_pairs(unsure, _Peaks(backend, 46, 60), _images()))
    assert all(a.persons == 0 and a.keypoints == 0 for a in table.values())
    boxes = np.array([[0, 0, 48, 64], [0, 0, 24, 32]], np.float32)  # two persons per image
    pairs = run_pairs(_Peaks(backend, 40, 60), _Peaks(backend, 40, 60), _images(2),
                      lambda image: boxes)
    assert len(pairs.scores) == 4 and part_agreement(pairs)["body"].persons == 4


def _verdict(candidate, shares: dict[str, float] | None = None, cpu: CpuInfo = XEON,
             runtime: str = "openvino", speed: dict | None = None) -> Verdict:
    """A verdict on ``candidate`` as measured on ``cpu`` with ``runtime``: every part at
    share 1 unless ``shares`` says otherwise."""
    from engines.trt.metadata import file_sha256

    parts = {part: PartAgreement(10, 10 * len(idx), 0.3, 0.97, (shares or {}).get(part, 1.0))
             for part, idx in PARTS.items()}
    return Verdict(candidate.name, file_sha256(candidate), "pose.onnx", "clip.mp4", 16, 10,
                   THRESHOLDS, parts, cpu_fingerprint(runtime, "int8", cpu), speed)


def test_verdict_round_trip_and_fingerprints(tmp_path):
    int8 = tmp_path / "pose.int8.onnx"
    int8.write_bytes(b"quantized")
    assert verdict_path(int8) == tmp_path / "pose.int8.gate.json"
    here = cpu_fingerprint("openvino", "int8", XEON)
    assert check_verdict(int8, here) == (None, "pose.int8.onnx has no precision-gate verdict "
                                               "(pose.int8.gate.json)")
    failed = _verdict(int8, {"face": 0.85})
    save_verdict(failed, int8)
    assert load_verdicts(int8) == [failed]
    data = json.loads(verdict_path(int8).read_text())
    assert data["verdicts"][0]["passed"] is False and data["verdicts"][0]["failed"] == ["face"]
    found, why = check_verdict(int8, here)
    assert found == failed and not found.passed
    assert why == ("pose.int8.onnx: precision gate failed: face (85% of persons at OKS >= 0.9, "
                   "90% needed)")
    # a verdict per fingerprint: another CPU's is kept beside this one, this one replaced
    save_verdict(_verdict(int8, cpu=EPYC), int8)
    save_verdict(_verdict(int8), int8)
    assert [v.fingerprint.device for v in load_verdicts(int8)] == ["EPYC", "Xeon"]
    assert check_verdict(int8, here)[0].passed
    other = CpuInfo("Xeon", 2, frozenset({"avx2"}))
    assert check_verdict(int8, cpu_fingerprint("openvino", "int8", other))[1].endswith(
        "was measured on another CPU (Xeon: avx2 avx512_vnni avx512f)")
    newer = replace(here, version="2099.1")
    assert check_verdict(int8, newer)[1] == (
        f"pose.int8.onnx's precision gate was measured with openvino {here.version}, this "
        "runs openvino 2099.1")
    int8.write_bytes(b"quantized again")  # another file: its old verdicts no longer hold
    assert check_verdict(int8, here) == (None, "pose.int8.onnx changed since its precision "
                                               "gate ran")
    save_verdict(_verdict(int8), int8)
    assert len(load_verdicts(int8)) == 1  # the earlier file's verdicts are dropped
    verdict_path(int8).write_text("{not json")
    with pytest.raises(ModelError, match=r"pose.int8.gate.json: not a precision-gate verdict "
                                         r"file \(JSONDecodeError"):
        load_verdicts(int8)


def test_the_table_names_every_part_and_the_verdict(tmp_path):
    int8 = tmp_path / "m.int8.onnx"
    int8.write_bytes(b"q")
    verdict = _verdict(int8, {"left_hand": 0.5},
                       speed={"reference": "openvino fp32", "reference_ms": 30.0,
                              "candidate_ms": 20.0})
    lines = verdict.table().splitlines()
    assert lines[0].startswith("INT8 m.int8.onnx against FP32 (openvino ")
    assert [line.split()[0] for line in lines[2:7]] == list(PARTS)
    assert lines[5].split()[-2:] == ["50.0%", "NO"] and lines[2].split()[-1] == "yes"
    assert lines[-2] == ("speed (one crop, median): openvino fp32 30.0 ms, int8 20.0 ms: "
                         "1.50x")
    assert lines[-1].endswith("failed: left_hand (50% of persons at OKS >= 0.9, 90% needed)")


# -- --precision auto ----------------------------------------------------------------------

def _choose(pose, cpu=XEON, **kwargs):
    return choose_backend(cpu=cpu, gpu=lambda: False, have=lambda name: name == "openvino",
                          ort_cuda=lambda: False, pose=pose, **kwargs)


@needs_openvino  # the verdicts name the installed OpenVINO's version
def test_auto_runs_int8_only_where_its_verdict_passed_here(tmp_path):
    pose = tmp_path / "m.onnx"
    pose.write_bytes(b"fp32")
    int8 = tmp_path / "m.int8.onnx"
    base = _choose(pose)
    assert base.name == "onnxruntime" and base.pose_file is None  # AVX-512, no BF16
    assert base.reason.endswith("INT8: no m.int8.onnx beside the pose model (dwpose quantize "
                                "makes and checks one)")
    int8.write_bytes(b"int8")
    assert _choose(pose).reason.endswith("INT8 not used: m.int8.onnx has no precision-gate "
                                         "verdict (m.int8.gate.json)")
    save_verdict(_verdict(int8, {"right_hand": 0.8}), int8)
    assert _choose(pose).reason.endswith(
        "INT8 not used: m.int8.onnx: precision gate failed: right_hand (80% of persons at "
        "OKS >= 0.9, 90% needed)")
    save_verdict(_verdict(int8, cpu=EPYC), int8)  # passed, but on another CPU
    assert "INT8 not used: m.int8.onnx: precision gate failed" in _choose(pose).reason
    assert _choose(pose, cpu=EPYC).pose_file == str(int8)
    save_verdict(_verdict(int8, speed={"reference": "openvino fp32", "reference_ms": 10.0,
                                       "candidate_ms": 12.5}), int8)
    assert _choose(pose).reason.endswith("INT8 not used: m.int8.onnx passed its precision gate "
                                         "but ran 0.80x openvino fp32 when measured")
    save_verdict(_verdict(int8, speed={"reference": "openvino fp32", "reference_ms": 30.0,
                                       "candidate_ms": 20.0}), int8)
    chosen = _choose(pose)
    assert (chosen.name, chosen.precision, chosen.pose_file) == ("openvino", "auto", str(int8))
    assert chosen.reason.startswith("m.int8.onnx passed its precision gate on this CPU with "
                                    "openvino ") and chosen.reason.endswith(
        ", 1.50x openvino fp32 when measured")
    assert chosen.describe().startswith("backend openvino (INT8 pose model m.int8.onnx, "
                                        "detector fp32, CPU): ")
    # what the user fixed stays: another precision, or another runtime's missing verdict
    assert _choose(pose, precision="fp32", requested="openvino").pose_file is None
    ort = _choose(pose, requested="onnxruntime")
    assert ort.pose_file is None and ort.reason.endswith(
        "m.int8.onnx's precision gate was measured with openvino "
        f"{cpu_fingerprint('openvino', 'int8', XEON).version}, this runs onnxruntime "
        f"{cpu_fingerprint('onnxruntime', 'int8', XEON).version}")


@needs_openvino
def test_int8_asked_for_runs_with_a_warning_when_unproven(tmp_path):
    pose = tmp_path / "m.onnx"
    pose.write_bytes(b"fp32")
    int8 = tmp_path / "m.int8.onnx"
    int8.write_bytes(b"int8")
    asked = _choose(pose, requested="openvino", precision="int8")
    assert asked.precision == "int8" and asked.warning == (
        "running INT8 m.int8.onnx as asked, although m.int8.onnx has no precision-gate "
        "verdict (m.int8.gate.json)")
    save_verdict(_verdict(int8, {"body": 0.5}), int8)
    assert "although m.int8.onnx: precision gate failed: body" in _choose(
        int8, requested="openvino").warning  # the INT8 file given as the pose model
    save_verdict(_verdict(int8), int8)
    assert _choose(pose, requested="openvino", precision="int8").warning == ""


# -- the commands --------------------------------------------------------------------------

@needs_openvino
def test_quantize_gates_and_predict_uses_the_int8_model(pose, frames, tmp_path, capsys):
    """``dwpose quantize`` (NNCF for OpenVINO) stores a verdict on this machine; ``dwpose
    predict`` then runs the INT8 file when the verdict passed and was faster."""
    model = tmp_path / "p.onnx"
    model.write_bytes(pose.read_bytes())
    args = ["quantize", "--onnx", str(model), "--images", str(frames), "--frames", "3",
            "--holdout", "3", "--batch", "1"]
    # accuracy-aware (the default): every layer of this random network moves the keypoints
    assert cli.main(args) == 2
    assert capsys.readouterr().err.endswith(
        "accuracy control put every layer back in float (no INT8 layer keeps the OKS drop "
        "within 0.02); nothing written\n")
    assert not (tmp_path / "p.int8.onnx").exists()
    code = cli.main([*args, "--plain"])
    out = capsys.readouterr().out
    verdict = load_verdicts(tmp_path / "p.int8.onnx")[0]
    assert code == (0 if verdict.passed else 1)
    assert verdict.table() in out and verdict.persons == 3 and verdict.frames == 3
    assert verdict.fingerprint == cpu_fingerprint("openvino", "int8")
    assert verdict.speed["reference"] == "openvino " + ("bf16" if choose_backend().cpu.bf16
                                                        else "fp32")
    # pose as a passing verdict that was faster, then predict
    save_verdict(replace(verdict, parts={p: replace(a, share=1.0) for p, a in
                                         verdict.parts.items()},
                         speed=dict(verdict.speed, reference_ms=2.0, candidate_ms=1.0)),
                 tmp_path / "p.int8.onnx")
    det = make_detector_onnx(tmp_path / "det.onnx", 64, [(8, 4, 40, 60, 0.9)])
    assert cli.main(["predict", "-i", str(frames / "f0.png"), "--det", str(det), "--pose",
                     str(model), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "backend openvino (INT8 pose model p.int8.onnx, detector " in err
    assert "p.int8.onnx passed its precision gate on this CPU with openvino" in err


def test_build_gates_the_engine_through_the_fake(fake, pose, frames, tmp_path, capsys,
                                                 monkeypatch):
    monkeypatch.setattr(cli, "SUBCOMMANDS", tuple(dict.fromkeys((*cli.SUBCOMMANDS, "build"))))
    engine = tmp_path / "p.engine"
    assert cli.main(["build", "--onnx", str(pose), "--output", str(engine)]) == 0
    assert "no precision gate: --check-images FRAMES" in capsys.readouterr().out
    assert cli.main(["build", "--onnx", str(pose), "--output", str(engine),
                     "--check-images", str(frames), "--check-frames", "4"]) == 0
    out = capsys.readouterr().out
    (verdict,) = load_verdicts(engine)
    assert verdict.table() in out and f"stored the verdict in {verdict_path(engine)}" in out
    # the fake runs the engine's ONNX on ONNX Runtime: FP32's own keypoints
    assert verdict.passed and verdict.frames == 4 and verdict.source == str(frames)
    assert all(a.share == 1.0 and a.mean_px == 0.0 for a in verdict.parts.values() if a.persons)
    assert verdict.fingerprint == Fingerprint("NVIDIA GeForce GTX 1660 Ti (compute 7.5)", (),
                                              "tensorrt", "10.3.0", "fp16")
    # INT8 from --calib-images: the gate checks on the frames the calibration did not read
    assert cli.main(["build", "--onnx", str(pose), "--output", str(engine), "--int8",
                     "--calib-images", str(frames), "--calib-max-images", "4",
                     "--calib-batch", "2"]) == 0
    int8 = [v for v in load_verdicts(engine) if v.fingerprint.precision == "int8"]
    assert len(int8) == 1 and int8[0].frames == 2 and int8[0].source == str(frames)


def test_a_failing_engine_exits_with_status_one(fake, pose, frames, tmp_path, capsys,
                                                monkeypatch):
    import engines.precision_gate as gate

    monkeypatch.setattr(cli, "SUBCOMMANDS", tuple(dict.fromkeys((*cli.SUBCOMMANDS, "build"))))
    real = gate.measure

    def shifted(reference, candidate, *args, **kwargs):  # the engine's keypoints moved
        return real(reference, _Peaks(candidate.backend, 0, 0), *args, **kwargs)

    monkeypatch.setattr(gate, "measure", shifted)
    engine = tmp_path / "p.engine"
    assert cli.main(["build", "--onnx", str(pose), "--output", str(engine),
                     "--check-images", str(frames)]) == 1
    assert "precision gate (each part: >= 90% of persons at OKS >= 0.9): failed: " in (
        capsys.readouterr().out)
    assert engine.is_file() and not load_verdicts(engine)[0].passed
