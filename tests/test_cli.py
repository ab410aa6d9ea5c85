"""The headless command line end to end: predict on images, folders, videos; bench; help."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from app.cli import build_parser, main
from tests.conftest import need
from tests.onnx_models import make_detector_onnx


@pytest.fixture(scope="module")
def det_fixed(tmp_path_factory):
    """A detector that always reports one person at a known place (416 network pixels)."""
    return make_detector_onnx(tmp_path_factory.mktemp("det") / "det.onnx", 416,
                              [(100, 60, 220, 380, 0.9)])


def _write_video(path, frames=6, size=(320, 240)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for i in range(frames):
        img = np.full((size[1], size[0], 3), 40 + 20 * i, np.uint8)
        writer.write(img)
    writer.release()
    return path


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("predict", "bench", "fetch"):
        assert name in out


def test_predict_folder_writes_coco_results_and_skips_unreadable(tmp_path, det_fixed, pose384,
                                                                 capsys):
    src = tmp_path / "imgs"
    src.mkdir()
    for name in ("000000000785.jpg", "b.png"):
        cv2.imwrite(str(src / name), np.full((416, 416, 3), 90, np.uint8))
    (src / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(["predict", "-i", str(src), "--det", str(det_fixed), "--pose", str(pose384),
                 "-o", str(out), "--openpose-json", "--pose-map"])
    captured = capsys.readouterr()
    assert code == 0
    assert "skipped unreadable image broken.jpg" in captured.err
    assert "2 frames" in captured.out and "1 unreadable skipped" in captured.out
    results = json.loads((out / "results.json").read_text())
    assert [r["image_id"] for r in results] == [785, 1]  # COCO id from the name, else position
    for r in results:
        assert set(r) >= {"image_id", "file_name", "category_id", "bbox", "keypoints", "score"}
        assert r["category_id"] == 1 and len(r["keypoints"]) == 133 * 3
        np.testing.assert_allclose(r["bbox"], [100, 60, 120, 320], atol=0.01)
    assert (out / "000000000785.jpg").is_file() and (out / "b.png").is_file()
    doc = json.loads((out / "000000000785_keypoints.json").read_text())
    assert doc["canvas_width"] == 416 and len(doc["people"]) == 1
    pose_map = cv2.imread(str(out / "b_pose.png"))
    assert pose_map.shape == (416, 416, 3)
    assert not list(out.glob(".*.part*"))  # no temporary file is left


def test_predict_refuses_to_overwrite_the_input_folder(tmp_path, det_fixed, pose384, capsys):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((32, 32, 3), np.uint8))
    code = main(["predict", "-i", str(tmp_path), "--det", str(det_fixed), "--pose", str(pose384),
                 "-o", str(tmp_path)])
    assert code == 2 and "would overwrite the originals" in capsys.readouterr().err


def test_predict_video_with_tracking(tmp_path, det_fixed, pose256):
    video = _write_video(tmp_path / "clip.mp4")
    out_json = tmp_path / "res.json"
    code = main(["predict", "-i", str(video), "--det", str(det_fixed), "--pose", str(pose256),
                 "--output-json", str(out_json), "-o", str(tmp_path / "o"), "--det-interval", "3"])
    assert code == 0
    results = json.loads(out_json.read_text())
    assert sorted({r["image_id"] for r in results}) == list(range(6))  # frame indices
    cap = cv2.VideoCapture(str(tmp_path / "o" / "clip_pose.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6


def test_missing_input_and_camera(tmp_path, det_fixed, pose256, capsys):
    assert main(["predict", "-i", str(tmp_path / "none.mp4"), "--det", str(det_fixed),
                 "--pose", str(pose256)]) == 2
    assert "none.mp4: no such file" in capsys.readouterr().err
    assert main(["predict", "-i", "9", "--det", str(det_fixed), "--pose", str(pose256)]) == 2
    assert "camera 9" in capsys.readouterr().err


def test_predict_real_detector_on_coco_images(tmp_path, yolox_nano, pose384, coco_dir):
    """The real YOLOX-Nano through the CLI: one result per person it finds, COCO image ids."""
    src = tmp_path / "coco"
    shutil.copytree(coco_dir, src, ignore=shutil.ignore_patterns("*.json", "LIC*"))
    out = tmp_path / "out.json"
    assert main(["predict", "-i", str(src), "--det", str(yolox_nano), "--pose", str(pose384),
                 "--output-json", str(out)]) == 0
    results = json.loads(out.read_text())
    per_image = {}
    for r in results:
        per_image[r["image_id"]] = per_image.get(r["image_id"], 0) + 1
    assert per_image == {785: 1, 40083: 2, 196141: 4, 197388: 4}


def test_bench_writes_stage_table(tmp_path, yolox_nano, pose256, capsys):
    video = need("video/street_multi_person.mp4")
    out = tmp_path / "bench.json"
    assert main(["bench", "-i", str(video), "--det", str(yolox_nano), "--pose", str(pose256),
                 "--frames", "8", "--warmup", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for stage in ("read", "preprocess", "detector", "pose", "postprocess", "draw", "total"):
        assert stage in text
    report = json.loads(out.read_text())
    assert report["frames"] == 8 and report["fps"] > 0
    assert report["stages"]["detector"]["median_ms"] > 0
    assert report["stages"]["pose"]["p90_ms"] >= report["stages"]["pose"]["median_ms"]
    assert report["mean_persons"] > 1  # several pedestrians, batched in one pose call


def test_bench_pose_batches_and_overlap_bound(tmp_path, yolox_nano, pose256, pose256_static,
                                              capsys):
    """--pose-batches adds a pose row per batch size (left out, with a line, beyond what a
    static-batch model takes); the overlapped run is set against 1 / max(detector, pose)."""
    video = need("video/single_person_dance.mp4")
    out = tmp_path / "bench.json"
    common = ["bench", "-i", str(video), "--det", str(yolox_nano), "--frames", "4",
              "--warmup", "1", "--model-runs", "2", "--pose-batches", "1,3,1"]
    assert main([*common, "--pose", str(pose256), "--pipeline", "overlap",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [(m["stage"], m["batch"]) for m in report["models"]] == [
        ("detector", 1), ("pose", 1), ("pose", 3)]
    overlap = report["pipelines"]["overlap"]
    slowest = max(overlap["stages"]["detector"]["mean_ms"], overlap["stages"]["pose"]["mean_ms"])
    assert overlap["bound_fps"] == pytest.approx(1e3 / slowest)
    assert overlap["of_bound"] == pytest.approx(overlap["fps"] * slowest / 1e3)
    assert f"{overlap['of_bound']:.2f} x 1 / max(detector, pose)" in capsys.readouterr().out
    assert main([*common, "--pose", str(pose256_static), "--pipeline", "serial",
                 "--json", str(out)]) == 0
    assert "pose batch 3: left out, pose_256x192_b1.onnx takes exactly 1 crop(s) per call" \
        in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert [m["batch"] for m in report["models"]] == [1, 1]
    assert "bound_fps" not in report["pipelines"]["serial"]
    with pytest.raises(SystemExit) as exit_info:
        main([*common[:-1], "4,x"])
    assert exit_info.value.code == 2
    assert "expected batch sizes >= 1 separated by commas, e.g. 1,4,8; got '4,x'" \
        in capsys.readouterr().err


def test_unreadable_single_image_and_fake_video(tmp_path, det_fixed, pose256, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    args = ["--det", str(det_fixed), "--pose", str(pose256), "-o", str(tmp_path / "o")]
    assert main(["predict", "-i", str(broken), *args]) == 2
    err = capsys.readouterr().err
    assert "skipped unreadable image broken.jpg" in err and "no readable frame" in err
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    assert main(["predict", "-i", str(fake), *args]) == 2
    assert "fake.mp4: cannot open as a video" in capsys.readouterr().err


def test_default_models_fit_the_machine_and_are_named(tmp_path, capsys, monkeypatch):
    from engines import device

    monkeypatch.setenv("DWPOSE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(device, "has_cuda", lambda: False)
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    code = main(["predict", "-i", str(image), "--no-download", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert ("models on the CPU: default detector yolox_nano and pose dwpose-m_256x192" in err)
    assert "run 'dwpose fetch yolox_nano'" in err
