"""``dwpose predict --pipeline``: the overlapped pipeline writes exactly what the serial one
writes (results file, per-frame files, annotated video or images), in the same order, the
last frame included; ``auto`` picks overlap only for a backend that is asynchronous on a GPU.

The real runs use the real videos and COCO images (``tests/realdata.py``), the real
YOLOX-Nano and a small pose model with the official I/O, on ONNX Runtime (CPU). The GPU case
of ``auto`` goes through the fake TensorRT, whose engines run on their own (fake) streams.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from tests import fake_trt
from tests.conftest import need
from tests.onnx_models import make_detector_onnx, make_pose_onnx


def predict(capsys, *args: str) -> str:
    """Run ``dwpose predict ARGS``; returns its summary line (it must succeed)."""
    assert main(["predict", *args]) == 0
    return capsys.readouterr().out.splitlines()[0]


def video_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    ok, frame = capture.read()
    while ok:
        frames.append(frame)
        ok, frame = capture.read()
    capture.release()
    return frames


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (but the video, compared frame by frame) by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix != ".mp4"}


@pytest.mark.parametrize(("name", "extra", "frames"), [
    ("street_multi_person.mp4", [], 5),  # every frame, so the flush is the video's last one
    ("single_person_dance.mp4", ["--max-frames", "16", "--det-interval", "4"], 16),  # tracked
], ids=["street", "dance-tracked"])
def test_overlap_writes_what_serial_writes_on_a_real_video(tmp_path, capsys, yolox_nano,
                                                           pose256, name, extra, frames):
    video = need(f"video/{name}")
    out = {}
    for mode in ("serial", "overlap"):
        out[mode] = tmp_path / mode
        line = predict(capsys, "-i", str(video), "--det", str(yolox_nano), "--pose",
                       str(pose256), "-o", str(out[mode]), "--openpose-json", "--pose-map",
                       "--threads", "1", "--pipeline", mode, *extra)
        kind = "overlapped" if mode == "overlap" else "serial"
        assert line.startswith(f"{frames} frames in ") and f"{kind} pipeline" in line
    serial, overlap = files(out["serial"]), files(out["overlap"])
    assert list(serial) == list(overlap)
    for path, data in serial.items():
        assert overlap[path] == data, path
    assert len(serial) == 1 + 2 * frames  # results.json, then a keypoints and a pose map each
    stem = Path(name).stem
    drawn = [video_frames(out[mode] / f"{stem}_pose.mp4") for mode in ("serial", "overlap")]
    assert len(drawn[0]) == len(drawn[1]) == frames
    for a, b in zip(*drawn):
        np.testing.assert_array_equal(a, b)


def test_overlap_on_a_folder_keeps_the_images_apart(tmp_path, capsys, yolox_nano, pose256,
                                                    coco_dir):
    """Unrelated images are tracked apart (a cut before each) in the overlapped pipeline too:
    the same results, track ids included, and the same annotated images."""
    src = tmp_path / "coco"
    shutil.copytree(coco_dir, src, ignore=shutil.ignore_patterns("*.json", "LIC*"))
    out = {}
    for mode in ("serial", "overlap"):
        out[mode] = tmp_path / mode
        predict(capsys, "-i", str(src), "--det", str(yolox_nano), "--pose", str(pose256),
                "-o", str(out[mode]), "--pipeline", mode)
    serial, overlap = files(out["serial"]), files(out["overlap"])
    assert len(serial) == 5 and serial == overlap  # results.json and 4 annotated images


def test_a_single_image_runs_serially(tmp_path, capsys, yolox_nano, pose256):
    image = tmp_path / "one.jpg"
    cv2.imwrite(str(image), np.full((240, 320, 3), 90, np.uint8))
    line = predict(capsys, "-i", str(image), "--det", str(yolox_nano), "--pose", str(pose256),
                   "-o", str(tmp_path / "out"), "--pipeline", "overlap")
    assert line.startswith("1 frames in ") and "serial pipeline" in line


@pytest.fixture
def tiny_video(tmp_path) -> Path:
    """Six frames of a moving pattern (the fake TensorRT is slow on large inputs)."""
    path = tmp_path / "tiny.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (80, 64))
    for i in range(6):
        image = np.full((64, 80, 3), 60, np.uint8)
        image[8:56, 10 + 4 * i:40 + 4 * i] = 200
        writer.write(image)
    writer.release()
    return path


def test_auto_runs_video_frames_in_parallel_on_the_cpu_and_overlaps_on_tensorrt(
        monkeypatch, tmp_path, capsys, tiny_video):
    """A video on ONNX Runtime: auto runs several frames in flight (a camera would not), with
    a detector every N > 1 frames too. TensorRT (here the fake, on its own streams) is
    asynchronous: auto overlaps. Both write what serial writes."""
    det = make_detector_onnx(tmp_path / "det.onnx", 64, [(8, 4, 40, 60, 0.9),
                                                         (30, 10, 60, 50, 0.8)])
    pose = make_pose_onnx(tmp_path / "pose.onnx", (48, 64))
    common = ["-i", str(tiny_video), "--det", str(det), "--pose", str(pose)]
    assert "parallel pipeline" in predict(capsys, *common, "--backend", "onnxruntime",
                                          "-o", str(tmp_path / "ort"))
    assert "serial pipeline" in predict(capsys, *common, "--backend", "onnxruntime",
                                        "--pipeline", "serial", "-o", str(tmp_path / "ort1"))
    assert files(tmp_path / "ort") == files(tmp_path / "ort1")
    for mode in ("auto", "serial"):
        assert f"{'parallel' if mode == 'auto' else 'serial'} pipeline" in predict(
            capsys, *common, "--backend", "onnxruntime", "--det-interval", "3",
            "--pipeline", mode, "-o", str(tmp_path / f"ort3_{mode}"))
    assert files(tmp_path / "ort3_auto") == files(tmp_path / "ort3_serial")

    fake_trt.install(monkeypatch)
    out = {}
    for mode in ("serial", "auto"):
        out[mode] = tmp_path / f"trt_{mode}"
        line = predict(capsys, *common, "--backend", "tensorrt", "--pipeline", mode,
                       "-o", str(out[mode]))
        assert line.startswith("6 frames") and ("overlapped" if mode == "auto" else
                                                "serial") in line
    assert files(out["serial"]) == files(out["auto"])
