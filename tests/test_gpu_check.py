"""The GPU ready check (benchmarks/gpu_check.py) on the CPU: without CUDA every CUDA part says
why it is skipped; ``--device cpu`` runs the measuring code for real in FP32 on small models."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks import gpu_check  # noqa: E402
from tests.onnx_models import make_detector_onnx, make_pose_onnx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A 12-frame video, a 64x64 detector that finds one person, a 48x64 pose model."""
    folder = tmp_path_factory.mktemp("gpu_check")
    video = folder / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 80))
    rng = np.random.default_rng(0)
    for _ in range(12):
        writer.write(rng.integers(0, 255, (80, 64, 3), np.uint8))
    writer.release()
    return {"video": video,
            "det": make_detector_onnx(folder / "det.onnx", 64, [(8, 4, 40, 60, 0.9)]),
            "pose": make_pose_onnx(folder / "pose.onnx", (48, 64))}


def _argv(inputs: dict[str, Path], tmp_path: Path, *extra: str) -> list[str]:
    return ["--video", str(inputs["video"]), "--det", str(inputs["det"]), "--quick",
            "--work-dir", str(tmp_path), *extra]


def _run_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def _parts(report: dict) -> list[dict]:
    return [report["gpu_tests"]] + [m[k] for m in report["models"]
                                    for k in ("model", "bench", "fp16")]


@needs_no_cuda
def test_without_cuda_every_part_is_skipped_with_the_reason(inputs, tmp_path, capsys):
    assert gpu_check.main(_argv(inputs, tmp_path)) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["device"] is None and report["ok"]
    assert "sees no CUDA device" in report["cuda_skip_reason"]
    assert [m["name"] for m in report["models"]] == ["m 256x192", "l 384x288"]
    assert all(p["status"] == "skipped" and p["reason"] == report["cuda_skip_reason"]
               for p in _parts(report))
    assert report["machine"]["torch"] == torch.__version__ and "isa" in report["machine"]
    out = capsys.readouterr().out
    assert "sees no CUDA device" in out and "serial FPS" not in out


def test_cpu_mode_runs_the_tests_and_the_bench_for_real(inputs, tmp_path, capsys):
    """--device cpu: the gpu tests run (and skip themselves here), dwpose bench runs on the
    torch backend in FP32 with pose batches 1, 4 and 8; FP16 and GPU memory say why not."""
    argv = _argv(inputs, tmp_path, "--device", "cpu", "--pose", str(inputs["pose"]),
                 "--frames", "4")
    assert gpu_check.main(argv) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["device"] == "cpu" and report["ok"]
    tests = report["gpu_tests"]
    assert tests["status"] == "ok" and tests["counts"]["failed"] == 0
    assert tests["files"] == gpu_check.gpu_test_files()
    assert "tests/test_overlap.py" in tests["files"]
    names = {t["test"] for t in tests["tests"]}
    assert "tests.test_overlap::test_gpu_overlap_is_at_least_as_fast_as_serial" in names
    if not torch.cuda.is_available():
        assert all(t["outcome"] == "skipped" and t["message"] for t in tests["tests"])
    (model,) = report["models"]
    assert model["name"] == "pose" and model["model"] == {
        "status": "ok", "pose": str(inputs["pose"]), "seconds": model["model"]["seconds"]}
    bench = model["bench"]
    assert bench["status"] == "ok" and bench["precision"] == "fp32"
    assert bench["serial_fps"] > 0 and bench["overlap_fps"] > 0 and bench["bound_fps"] > 0
    assert bench["overlap_speedup"] == pytest.approx(bench["overlap_fps"] / bench["serial_fps"])
    assert set(bench["pose_ms"]) == {"1", "4", "8"} and all(v > 0 for v in
                                                            bench["pose_ms"].values())
    assert bench["mean_persons"] == 1 and bench["report"]["frames"] == 4
    assert bench["gpu_memory"] == {"status": "skipped", "reason": "no CUDA device in use"}
    assert model["fp16"]["status"] == "skipped" and "FP16 needs CUDA" in model["fp16"]["reason"]
    out = capsys.readouterr().out
    assert "serial FPS" in out and "pose ms, batch 8" in out and "FP16 needs CUDA" in out


def test_random_export_has_a_trained_models_scale_and_agrees_with_itself(inputs, tmp_path):
    """The exported random-weight model's logits are far from FP16's subnormals and rarely
    tie, so FP16 against FP32 measures something; the comparison code, run FP32 against FP32
    on the CPU, finds every compared keypoint in place."""
    import onnxruntime as ort

    args = gpu_check.parse_args(_argv(inputs, tmp_path))
    made = gpu_check.export_model("t", "256x192", args, "cpu")
    pose = Path(made["pose"])
    assert pose.is_file() and made["arch"] == "t"
    session = ort.InferenceSession(str(pose), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(0, 1, (2, 3, 256, 192)).astype(np.float32)
    simcc_x, _ = session.run(None, {"input": x})
    assert 5 < np.abs(simcc_x).max() < 1000
    assert (gpu_check.top2_margin(simcc_x) < gpu_check.NEAR_TIE).mean() < 0.01
    result = gpu_check.precision_agreement(pose, inputs["det"], inputs["video"], 3, "cpu",
                                           ("fp32", "fp32"))
    assert result["crops"] == 3 and result["keypoints"] == 3 * 133
    assert result["compared"] > 0.9 * result["keypoints"]
    assert result["within_1px"] == 1.0 and result["mean_px"] == 0.0
    assert result["gpu_memory"]["status"] == "skipped"
    assert torch.backends.cudnn.allow_tf32  # PyTorch's default, put back after the reference


def test_a_failing_gpu_test_fails_the_part_with_each_outcome(inputs, tmp_path, monkeypatch):
    (tmp_path / "test_planted.py").write_text(
        "import pytest\n\n@pytest.mark.gpu\ndef test_fails():\n    assert 1 == 2, 'planted'\n"
        "\n@pytest.mark.gpu\ndef test_passes():\n    pass\n")
    monkeypatch.setattr(gpu_check, "gpu_test_files", lambda: [str(tmp_path / "test_planted.py")])
    args = gpu_check.parse_args(_argv(inputs, tmp_path))
    budget = gpu_check.Budget(60)
    check = gpu_check.Check(args, budget)
    part = check.part("gpu_tests", lambda: gpu_check.run_gpu_tests(args, budget))
    assert part["status"] == "failed" and part["error"] == "pytest exited 1: 1 failed, 0 errors"
    assert part["counts"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 0}
    (failed,) = [t for t in part["tests"] if t["outcome"] == "failed"]
    assert failed["test"].endswith("::test_fails") and "planted" in failed["message"]
    assert json.loads(args.out.read_text())["gpu_tests"] == part
    assert "failed" in gpu_check.table({"gpu_tests": part, "models": []})


def test_keypoint_agreement_leaves_out_near_ties_and_unscored_keypoints():
    ref = np.zeros((1, 5, 2), np.float32)
    got = ref + np.array([0.5, 3.0, 9.0, 9.0, 0.0], np.float32)[None, :, None]
    ref_scores = np.array([[1.0, 1.0, 1.0, -1.0, 2.0]], np.float32)
    margins = np.array([[1.0, 1.0, 1e-5, 1.0, 1.0]], np.float32)
    result = gpu_check.keypoint_agreement(ref, ref_scores, margins, got, ref_scores + 0.25)
    assert (result["keypoints"], result["near_ties"], result["unscored"],
            result["compared"]) == (5, 1, 1, 3)
    assert result["within_1px"] == pytest.approx(2 / 3)
    assert result["mean_px"] == pytest.approx((np.hypot(0.5, 0.5) + np.hypot(3, 3)) / 3)
    assert result["max_px"] == pytest.approx(np.hypot(3, 3))
    assert result["score_max_abs_diff"] == pytest.approx(0.25)


def test_a_missing_input_is_one_line(inputs, tmp_path):
    proc = _run_script("--video", str(tmp_path / "none.mp4"), "--det", str(inputs["det"]))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"gpu_check: error: --video {tmp_path / 'none.mp4'}: file not found (copy it into "
        f"the repository (e.g. {ROOT.name}/shared/data/...) or give its path)"]


def test_a_missing_package_names_the_import_that_failed(inputs, tmp_path):
    (tmp_path / "onnxruntime.py").write_text("raise ImportError('not installed here')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = _run_script(*_argv(inputs, tmp_path), env=env)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("gpu_check: error: missing Python package(s): onnxruntime "
                           "(ImportError: not installed here)")


@pytest.mark.skipif(shutil.which("bash") is None, reason="the wrapper is a bash script")
def test_the_wrapper_without_wheels_says_so_in_one_line(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--wheels",
                           str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"gpu_check.sh: error: --wheels {tmp_path}: no .whl file there"
