"""INT8 calibration: ImageBatcher batches and preprocessing, the entropy calibrator, and INT8
builds / ``dwpose calibrate`` through the fake TensorRT 10 (and the TensorRT 11 refusal)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import app.cli as cli
from calibration.batcher import ImageBatcher, detector_boxes
from calibration.build import build_engine
from calibration.calibrator import create_entropy_calibrator
from engines.backends.onnxruntime import OnnxRuntimeBackend
from engines.detectors import YOLOX
from engines.errors import InputError, UserError
from engines.pose import RTMPose
from tests import fake_trt
from tests.onnx_models import make_detector_onnx, make_pose_onnx

POSE_SIZE = (48, 64)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """7 random images of different sizes, named so that name order is known."""
    folder = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(1)
    for i in range(7):
        h, w = 60 + 10 * i, 90 - 5 * i
        cv2.imwrite(str(folder / f"img{i}.png"), rng.integers(0, 255, (h, w, 3), np.uint8))
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def pose_onnx(tmp_path_factory):
    return make_pose_onnx(tmp_path_factory.mktemp("m") / "pose.onnx", POSE_SIZE)


@pytest.fixture(scope="module")
def det_onnx(tmp_path_factory):
    return make_detector_onnx(tmp_path_factory.mktemp("m") / "det.onnx", 64,
                              [(8, 4, 40, 60, 0.9)])


def _read(folder):
    return [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))]


def test_detector_batches_are_the_yolox_letterbox(images, det_onnx):
    batcher = ImageBatcher(images, det_onnx, batch_size=8, shuffle=False)
    assert batcher.batch_size == 1 and batcher.shape == (1, 3, 64, 64)  # static batch wins
    batches = list(batcher)
    yolox = YOLOX(OnnxRuntimeBackend(det_onnx, device="cpu"))
    assert len(batches) == 7
    for batch, image in zip(batches, _read(images)):
        np.testing.assert_array_equal(batch, yolox.preprocess(image)[0])


def test_pose_batches_are_exact_rtmpose_crops(images, pose_onnx):
    batcher = ImageBatcher(images, pose_onnx, batch_size=3, shuffle=False)
    batches = list(batcher)
    assert len(batches) == 2 and all(b.shape == (3, 3, 64, 48) for b in batches)  # 7 -> 6
    pose = RTMPose(OnnxRuntimeBackend(pose_onnx, device="cpu"))
    for k, image in enumerate(_read(images)[:6]):
        box = np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32)
        np.testing.assert_array_equal(batches[k // 3][k % 3], pose.preprocess(image, box).blob[0])


def test_boxes_from_a_detector_give_one_crop_per_person(images, pose_onnx, det_onnx, tmp_path):
    two = np.array([[0, 0, 30, 40], [10, 10, 50, 55]], np.float32)
    batcher = ImageBatcher(images, pose_onnx, batch_size=4, shuffle=False,
                           find_boxes=lambda image: two)
    batches = list(batcher)
    assert len(batches) == 3  # 14 crops -> 3 batches of 4
    pose = RTMPose(OnnxRuntimeBackend(pose_onnx, device="cpu"))
    np.testing.assert_array_equal(batches[0][:2], pose.preprocess(_read(images)[0], two).blob)
    image = _read(images)[0]
    yolox = YOLOX(OnnxRuntimeBackend(det_onnx, device="cpu"))
    np.testing.assert_array_equal(detector_boxes(det_onnx)(image), yolox(image).boxes)
    nobody = detector_boxes(make_detector_onnx(tmp_path / "empty.onnx", 64, []))
    np.testing.assert_array_equal(nobody(image), [[0, 0, image.shape[1], image.shape[0]]])


def test_shuffle_is_seeded_and_max_images_caps(images, pose_onnx):
    names = [p.name for p in ImageBatcher(images, pose_onnx, shuffle=False).items]
    assert names == sorted(names) and len(names) == 7
    a = [p.name for p in ImageBatcher(images, pose_onnx, seed=3).items]
    b = [p.name for p in ImageBatcher(images, pose_onnx, seed=3).items]
    c = [p.name for p in ImageBatcher(images, pose_onnx, seed=4).items]
    assert a == b and sorted(a) == names and (a != names or c != names) and a != c
    capped = ImageBatcher(images, pose_onnx, batch_size=2, max_images=5)
    assert len(capped.items) == 5 and len(list(capped)) == 2


def test_video_frames(tmp_path, pose_onnx):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (80, 60))
    for i in range(6):
        writer.write(np.full((60, 80, 3), 30 * i, np.uint8))
    writer.release()
    batcher = ImageBatcher(path, pose_onnx, batch_size=2, seed=0)
    assert sorted(batcher.items) == list(range(6))
    frames = list(batcher.images())
    assert [round(f.mean() / 30) for f in frames] == list(batcher.items)  # the chosen frames
    assert len(list(batcher)) == 3


def test_bad_sources_are_input_errors(tmp_path, pose_onnx):
    with pytest.raises(InputError, match="no such folder or video"):
        ImageBatcher(tmp_path / "missing", pose_onnx)
    with pytest.raises(InputError, match="no images or frames"):
        ImageBatcher(tmp_path, pose_onnx)
    (tmp_path / "x.mp4").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a folder of images or a readable video"):
        ImageBatcher(tmp_path / "x.mp4", pose_onnx)


# -- the calibrator and INT8 builds through the fake TensorRT 10 ---------------------------

def test_calibrator_hands_out_exact_batches_then_none(fake, images, pose_onnx, tmp_path):
    fake.cuda.init()
    ctx = fake.cuda.Device(0).retain_primary_context()
    ctx.push()
    calibrator = create_entropy_calibrator(
        ImageBatcher(images, pose_onnx, batch_size=3), tmp_path / "c.cache")
    assert isinstance(calibrator, fake.trt.IInt8EntropyCalibrator2)
    assert calibrator.get_batch_size() == 3 and calibrator.read_calibration_cache() is None
    pointers = [calibrator.get_batch(["input"]) for _ in range(3)]
    assert pointers[0] == pointers[1] and pointers[2] is None
    data = fake.cuda.device_view(pointers[0][0], 3 * 3 * 64 * 48 * 4).view(np.float32)
    np.testing.assert_array_equal(data, list(ImageBatcher(images, pose_onnx, 3))[1].ravel())
    calibrator.write_calibration_cache(b"TRT-cache")
    assert calibrator.read_calibration_cache() == b"TRT-cache"
    calibrator.free()
    ctx.pop()


def test_int8_build_calibrates_once_then_uses_the_cache(fake, images, pose_onnx, tmp_path):
    cache = tmp_path / "pose.calib"
    meta = build_engine(pose_onnx, tmp_path / "a.engine", "int8", max_batch=4,
                        calib_images=images, calib_cache=cache, calib_batch=2)
    plan = fake.builds[-1]
    assert plan["calibration"] == {"calibrated": True, "batches": 3, "batch_size": 2,
                                   "cache": False}
    assert set(plan["flags"]) == {int(fake.trt.BuilderFlag.INT8), int(fake.trt.BuilderFlag.FP16)}
    assert cache.read_text().startswith("TRT-100300-EntropyCalibration2\ninput: ")
    assert meta.precision == "int8" and meta.calib_cache == str(cache.resolve())
    build_engine(pose_onnx, tmp_path / "b.engine", "int8", calib_cache=cache)  # no images
    assert fake.builds[-1]["calibration"] == {"calibrated": False, "batches": 0, "cache": True}


def test_an_int8_engine_of_another_tensorrt_says_how_to_rebuild_it(fake, images, pose_onnx,
                                                                   tmp_path):
    """The engine header names the cache, but the runtime does not calibrate by itself."""
    from engines.backends.tensorrt import TensorRTBackend
    from engines.errors import ModelError

    engine, cache = tmp_path / "a.engine", tmp_path / "pose.calib"
    build_engine(pose_onnx, engine, "int8", calib_images=images, calib_cache=cache,
                 calib_batch=2)
    fake.set_version("10.4.0")
    with pytest.raises(ModelError, match=r"rebuilding failed: an INT8 engine is rebuilt with "
                                         r"its calibration: dwpose build --onnx .* --int8 "
                                         r"--calib-cache .*pose\.calib"):
        TensorRTBackend(engine)


def test_static_detector_calibrates_with_its_own_batch(fake, images, det_onnx, tmp_path):
    build_engine(det_onnx, tmp_path / "d.engine", "int8", calib_images=images,
                 calib_cache=tmp_path / "d.calib", calib_batch=8)
    assert fake.builds[-1]["calibration"]["batches"] == 7
    assert fake.builds[-1]["calibration"]["batch_size"] == 1


def test_int8_without_images_or_cache_is_a_user_error(fake, pose_onnx, tmp_path):
    with pytest.raises(UserError, match="needs calibration images"):
        build_engine(pose_onnx, tmp_path / "a.engine", "int8", calib_cache=tmp_path / "none")


def test_fake_checks_the_calibrator_and_the_calibration_profile(fake, images, pose_onnx,
                                                                tmp_path):
    trt = fake.trt

    class Broken(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:  # forgets trt.IInt8EntropyCalibrator2.__init__(self)
            pass

    with pytest.raises(TypeError, match="must be called when overriding"):
        Broken()
    logger = trt.Logger()
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    trt.OnnxParser(network, logger).parse_from_file(str(pose_onnx))
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 3, 64, 48), (1, 3, 64, 48), (1, 3, 64, 48))
    config.add_optimization_profile(profile)
    config.set_flag(trt.BuilderFlag.INT8)
    fake.cuda.init()
    ctx = fake.cuda.Device(0).retain_primary_context()
    ctx.push()
    config.int8_calibrator = create_entropy_calibrator(
        ImageBatcher(images, pose_onnx, batch_size=2), tmp_path / "c.cache")
    assert builder.build_serialized_network(network, config) is None
    assert "Calibration profile must be provided" in fake.state.errors[-1]
    config.set_calibration_profile(profile)  # batch 1, but the calibrator gives 2
    assert builder.build_serialized_network(network, config) is None
    assert "calibrator batch size 2 does not match" in fake.state.errors[-1]
    ctx.pop()


def test_calibrate_cli_then_build_from_the_cache(fake, monkeypatch, images, pose_onnx,
                                                 det_onnx, tmp_path, capsys):
    monkeypatch.setattr(cli, "SUBCOMMANDS",
                        tuple(dict.fromkeys((*cli.SUBCOMMANDS, "build", "calibrate"))))
    cache = tmp_path / "out.cache"
    assert cli.main(["calibrate", "--onnx", str(pose_onnx), "--images", str(images),
                     "--cache", str(cache), "--batch", "2", "--max-images", "4",
                     "--det", str(det_onnx)]) == 0
    assert cache.is_file() and fake.builds[-1]["calibration"]["batches"] == 2
    assert cli.main(["calibrate", "--onnx", str(pose_onnx), "--images", str(images),
                     "--cache", str(cache), "--batch", "3"]) == 0  # recalibrates
    assert fake.builds[-1]["calibration"]["batches"] == 2
    assert cli.main(["build", "--onnx", str(pose_onnx), "--output", str(tmp_path / "p.engine"),
                     "--int8", "--calib-cache", str(cache)]) == 0
    assert fake.builds[-1]["calibration"]["cache"] is True
    assert "INT8 pose engine" in capsys.readouterr().out


def test_tensorrt11_calibrate_says_it_needs_tensorrt10(monkeypatch, images, pose_onnx,
                                                      tmp_path, capsys):
    fake_trt.install(monkeypatch, version="11.0.0")
    monkeypatch.setattr(cli, "SUBCOMMANDS",
                        tuple(dict.fromkeys((*cli.SUBCOMMANDS, "build", "calibrate"))))
    assert cli.main(["calibrate", "--onnx", str(pose_onnx), "--images", str(images),
                     "--cache", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "INT8 calibration needs TensorRT 10 (TensorRT 11.0.0" in err[0]
