"""Windows' file rules, emulated here (``tests.platforms.windows_file_rules``), lose no finished
output of predict, export, quantize, train or the app's capture.

The two rules that used to delete finished work: ``os.fsync`` of a read-only descriptor fails
(every export, quantize and annotated video was synced that way, and the error path removed
it), and ``os.kill(pid, 0)`` raises (the clean-up of a killed run's temporary files failed
every later write to that output). Each command runs with a stale temporary file of a dead
writer beside its output, as after a crash; a sharing lock (a scanner holding a new file)
is retried, and one that does not go away keeps the output and names it.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from engines import files
from engines.errors import DwposeError
from engines.files import temp_path
from tests.images import noise_images
from tests.onnx_models import make_detector_onnx, make_pose_onnx
from tests.platforms import windows_file_rules

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="PyTorch is not installed")


@pytest.fixture
def windows(monkeypatch):
    return windows_file_rules(monkeypatch)


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("win-inputs")
    video = d / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 20.0, (160, 120))
    for i in range(5):
        writer.write(np.full((120, 160, 3), 40 * i, np.uint8))
    writer.release()
    frames = noise_images(d / "frames", 6, seed=1)
    return {"video": video, "frames": frames,
            "det": make_detector_onnx(d / "det.onnx", 416, [(40, 10, 120, 110, 0.9)]),
            "pose": make_pose_onnx(d / "pose.onnx", (192, 256)),
            "small_pose": make_pose_onnx(d / "small.onnx", (48, 64))}


def stale(path: Path, pid: int) -> Path:
    """A temporary file of ``path`` left by the dead writer ``pid``."""
    orphan = temp_path(path).with_name(temp_path(path).name.replace(str(os.getpid()),
                                                                    str(pid)))
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"half")
    return orphan


def test_the_emulation_has_the_rules_that_deleted_outputs(windows, tmp_path):
    if windows is None:
        pytest.skip("this is Windows: its own rules apply")
    path = tmp_path / "f"
    path.write_bytes(b"x")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError) as info:
            os.fsync(fd)
        assert info.value.errno == 9  # EBADF, as _commit reports FlushFileBuffers' refusal
    finally:
        os.close(fd)
    with pytest.raises(OSError, match="parameter is incorrect"):
        os.kill(os.getpid(), 0)


def test_predict_keeps_its_annotated_video_and_results(windows, inputs, tmp_path, dead_pid):
    out = tmp_path / "out"
    orphans = [stale(out / "results.json", dead_pid), stale(out / "clip_pose.mp4", dead_pid)]
    code = main(["predict", "-i", str(inputs["video"]), "--det", str(inputs["det"]),
                 "--pose", str(inputs["pose"]), "-o", str(out), "--threads", "1",
                 "--backend", "onnxruntime"])
    assert code == 0
    assert len(json.loads((out / "results.json").read_text())) == 5
    capture = cv2.VideoCapture(str(out / "clip_pose.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    capture.release()
    assert not any(p.exists() for p in orphans)
    if windows is not None:  # liveness was asked of kernel32, never of os.kill
        assert f"OpenProcess(0x1000, {dead_pid})" in windows.calls


def test_quantize_keeps_its_model(windows, inputs, tmp_path, dead_pid):
    output = tmp_path / "pose.int8.onnx"
    orphan = stale(output, dead_pid)
    assert main(["quantize", "--onnx", str(inputs["small_pose"]), "--images",
                 str(inputs["frames"]), "--frames", "4", "--holdout", "2", "--batch", "2",
                 "--output", str(output), "--runtime", "onnxruntime"]) == 0
    assert output.stat().st_size > 1000 and not orphan.exists()


@needs_torch
def test_export_keeps_its_model(windows, tmp_path, dead_pid):
    output = tmp_path / "rtmpose-t.onnx"
    orphan = stale(output, dead_pid)
    assert main(["export", "--arch", "t", "--output", str(output)]) == 0
    assert output.stat().st_size > 1_000_000 and not orphan.exists()


@needs_torch
def test_train_keeps_its_checkpoints_and_log(windows, tmp_path, dead_pid):
    work = tmp_path / "run"
    orphan = stale(work / "latest.pth", dead_pid)
    assert main(["train", "--arch", "t", "--synthetic", "2", "--epochs", "1", "--batch-size",
                 "2", "--workers", "0", "--no-progress", "--warmup-iters", "1", "--work-dir",
                 str(work)]) == 0
    assert (work / "latest.pth").stat().st_size > 1_000_000 and not orphan.exists()
    assert (work / "log.csv").read_text().startswith("epoch,")


def one_person() -> object:
    from engines.pipeline import FrameResult
    from engines.skeleton import NUM_KEYPOINTS

    kp = np.full((1, NUM_KEYPOINTS, 2), 30, np.float32)
    return FrameResult(np.array([[20, 20, 40, 40]], np.float32), np.ones(1, np.float32), kp,
                       np.ones((1, NUM_KEYPOINTS), np.float32), np.zeros(1, np.int64), True)


def test_capture_survives_a_scanner_holding_its_new_files(windows, tmp_path, monkeypatch):
    pytest.importorskip("PyQt5")
    from app.gui import capture

    real, blocked = os.replace, []

    def held_twice(src, dst):  # an antivirus scan of the new PNGs: two refusals, then free
        if Path(src).name.endswith(".part") and len(blocked) < 2:
            blocked.append(src)
            raise PermissionError(13, "Access is denied")
        real(src, dst)

    monkeypatch.setattr(os, "replace", held_twice)
    folder = capture.write_capture(tmp_path, np.zeros((60, 80, 3), np.uint8), one_person())
    assert len(blocked) == 2 and sorted(p.name for p in folder.iterdir()) == [
        "frame.png", "keypoints.json", "openpose.json", "pose.png"]


def test_a_capture_that_stays_locked_is_kept_and_named(windows, tmp_path, monkeypatch):
    pytest.importorskip("PyQt5")
    from app.gui import capture

    real = os.replace

    def held(src, dst):
        if Path(src).name.endswith(".part"):
            raise PermissionError(13, "Access is denied")
        real(src, dst)

    monkeypatch.setattr(os, "replace", held)
    with pytest.raises(DwposeError, match=r"everything is kept in .*\.part") as info:
        capture.write_capture(tmp_path, np.zeros((60, 80, 3), np.uint8), one_person(),
                              when=datetime(2026, 1, 2, 3, 4, 5))
    kept = Path(str(info.value).rsplit("kept in ", 1)[1])
    assert kept.is_dir() and len(list(kept.iterdir())) == 4


def test_a_result_held_open_by_another_program_is_kept_beside_it(windows, tmp_path,
                                                                 monkeypatch):
    """The previous output is open in a player or spreadsheet for longer than the retries."""
    path = tmp_path / "results.json"
    path.write_text("old")
    real = os.replace

    def held(src, dst):
        if Path(dst) == path:
            raise PermissionError(13, "Access is denied")
        real(src, dst)

    monkeypatch.setattr(os, "replace", held)
    with pytest.raises(DwposeError, match=r"results.json: cannot put the new results in place "
                                          r"\(Access is denied; another program may hold it "
                                          r"open\); the finished results is kept as "
                                          r".*results.new.json"):
        files.write_file(path, "new", "results")
    assert path.read_text() == "old" and (tmp_path / "results.new.json").read_text() == "new"
