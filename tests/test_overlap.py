"""The overlapped pipeline: the same results as the serial one, one frame later.

On the CPU the overlap comes from worker threads (ONNX Runtime) or from the fake TensorRT's
streams; the schedule itself is checked by logging every submit and every wait. The ``gpu``
test at the end measures the overlap on a real GPU (skipped without one).
"""
from __future__ import annotations

import time
from collections.abc import Mapping

import cv2
import numpy as np
import pytest

from engines.backends import Backend, Job
from engines.backends.onnxruntime import OnnxRuntimeBackend
from engines.detectors import YOLOX
from engines.overlap import FrameRunner, OverlappedWholeBody
from engines.pipeline import STAGES, FrameResult, WholeBody
from engines.pose import RTMPose
from tests import fake_trt
from tests.conftest import need
from tests.onnx_models import make_detector_onnx, make_pose_onnx


def read_video(name: str, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(need(f"video/{name}")))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        assert ok, f"{name} has fewer than {count} frames"
        frames.append(frame)
    capture.release()
    return frames


@pytest.fixture(scope="module")
def street() -> list[np.ndarray]:
    return read_video("street_multi_person.mp4", 5)  # all of it


@pytest.fixture(scope="module")
def ort_models(yolox_nano, model_dir) -> tuple[Backend, Backend]:
    pose = make_pose_onnx(model_dir / "pose_overlap.onnx", (192, 256))
    return (OnnxRuntimeBackend(yolox_nano, device="cpu", threads=1),
            OnnxRuntimeBackend(pose, device="cpu", threads=1))


def assert_same(got: FrameResult, want: FrameResult) -> None:
    for name in ("boxes", "box_scores", "keypoints", "scores", "track_ids"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.detected == want.detected


def run_both(det: Backend, pose: Backend, frames: list[np.ndarray], interval: int,
             fallback: bool = True) -> tuple[list[FrameResult], list]:
    serial = WholeBody(YOLOX(det), RTMPose(pose), interval, fallback)
    want = [serial(frame) for frame in frames]
    overlapped = FrameRunner(WholeBody(YOLOX(det), RTMPose(pose), interval, fallback), "overlap")
    got = list(overlapped.run((frame, frame) for frame in frames))
    overlapped.close()
    assert len(got) == len(frames)
    assert all(image is frame for (image, _), frame in zip(got, frames))
    for (_, result), expected in zip(got, want):
        assert_same(result, expected)
    return want, [result for _, result in got]


@pytest.mark.parametrize("interval", [1, 3])
def test_results_equal_the_serial_pipeline_on_a_real_video(ort_models, street, interval):
    """Real YOLOX-Nano + a small pose model on the 5 frames of a street: bit-identical
    results; with the detector every third frame, tracked frames occur too."""
    want, got = run_both(*ort_models, street, interval)
    assert sum(len(r) for r in want) > 10
    detected = [r.detected for r in want]
    assert all(detected) if interval == 1 else (any(detected) and not all(detected))
    for result in got:
        assert set(result.timings) == set(STAGES)
        assert (result.timings["detector"] > 0) == result.detected
        assert result.timings["pose"] > 0 and result.timings["preprocess"] > 0


def test_nobody_found_without_fallback(ort_models, tmp_path, rng):
    """Frames without a person: no pose batch at all, and the detector runs on every frame."""
    empty = make_detector_onnx(tmp_path / "empty.onnx", 416, [])
    det = OnnxRuntimeBackend(empty, device="cpu")
    frames = [rng.integers(0, 255, (120, 160, 3), np.uint8) for _ in range(4)]
    want, got = run_both(det, ort_models[1], frames, interval=5, fallback=False)
    assert all(r.detected and len(r) == 0 for r in got)


class DimmedPose(Backend):
    """A pose model whose call number ``dim`` returns all-zero SimCC: every person is lost."""

    def __init__(self, inner: Backend, dim: int) -> None:
        super().__init__(inner.path)
        self.inner, self.dim, self.calls = inner, dim, 0
        self.inputs, self.outputs = inner.inputs, inner.outputs

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self.inner.infer(feeds)
        self.calls += 1
        return {k: v * 0 for k, v in out.items()} if self.calls - 1 == self.dim else out


def test_a_lost_track_makes_the_next_frame_detect(ort_models, street):
    """Tracked frame 1 loses everyone: frame 2 runs the detector at once (after the pose result
    of frame 1, so not overlapped), although its turn would come only at frame 10."""
    det, pose = ort_models
    serial = WholeBody(YOLOX(det), RTMPose(DimmedPose(pose, 1)), det_interval=10)
    want = [serial(frame) for frame in street]
    overlapped = FrameRunner(WholeBody(YOLOX(det), RTMPose(DimmedPose(pose, 1)), det_interval=10),
                             "overlap")
    got = [result for _, result in overlapped.run((frame, frame) for frame in street)]
    assert [r.detected for r in got] == [True, False, True, False, False]
    for result, expected in zip(got, want):
        assert_same(result, expected)


def test_first_push_returns_nothing_and_flush_the_last_frame(ort_models, street):
    pipeline = OverlappedWholeBody(YOLOX(ort_models[0]), RTMPose(ort_models[1]))
    assert pipeline.flush() is None
    assert pipeline.push(street[0]) is None
    image, result = pipeline.push(street[1])
    assert image is street[0] and result.detected
    image, _ = pipeline.reset()  # finishes frame 1, then forgets the tracks
    assert image is street[1] and pipeline.flush() is None
    assert len(pipeline.tracker.tracks.ids) == 0 and pipeline.tracker.needs_detection()
    assert pipeline.push(street[2]) is None
    pipeline.close()


class LoggedBackend(Backend):
    """An asynchronous backend whose jobs run only when waited for; logs submits and waits."""

    asynchronous = True

    def __init__(self, inner: Backend, tag: str, log: list[tuple[str, str]]) -> None:
        super().__init__(inner.path)
        self.inner, self.tag, self.log = inner, tag, log
        self.inputs, self.outputs = inner.inputs, inner.outputs

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.inner.infer(feeds)

    def submit(self, feeds: Mapping[str, np.ndarray]) -> Job:
        self.log.append(("submit", self.tag))
        return LoggedJob(self, dict(feeds))


class LoggedJob(Job):
    def __init__(self, backend: LoggedBackend, feeds: dict) -> None:
        self.backend, self.feeds = backend, feeds

    def result(self) -> dict[str, np.ndarray]:
        self.backend.log.append(("wait", self.backend.tag))
        self.elapsed_ms = 1.0
        return self.backend.inner.infer(self.feeds)


def test_detector_of_frame_t_is_queued_before_waiting_for_pose_of_t_minus_1(ort_models,
                                                                           street):
    log: list[tuple[str, str]] = []
    det, pose = (LoggedBackend(b, tag, log) for b, tag in zip(ort_models, ("det", "pose")))
    pipeline = OverlappedWholeBody(YOLOX(det), RTMPose(pose))
    for frame in street[:3]:
        pipeline.push(frame)
        log.append(("return", ""))
    pipeline.flush()
    frame_0 = [("submit", "det"), ("wait", "det"), ("submit", "pose"), ("return", "")]
    frame_t = [("submit", "det"), ("wait", "pose"), ("wait", "det"), ("submit", "pose"),
               ("return", "")]
    assert log == frame_0 + frame_t + frame_t + [("wait", "pose")]


def test_tensorrt_engines_overlap_on_their_streams(monkeypatch, tmp_path, rng):
    """Through the fake TensorRT: identical results, and when ``push`` returns the pose
    batch of the new frame is still queued on the pose engine's stream (not run yet)."""
    from engines.backends.tensorrt import TensorRTBackend
    from engines.trt.builder import build_engine

    fake_trt.install(monkeypatch)
    det_onnx = make_detector_onnx(tmp_path / "det.onnx", 64, [(8, 4, 40, 60, 0.9),
                                                               (30, 10, 60, 50, 0.8)])
    pose_onnx = make_pose_onnx(tmp_path / "pose.onnx", (48, 64))
    build_engine(det_onnx, tmp_path / "det.engine", "fp16")
    build_engine(pose_onnx, tmp_path / "pose.engine", "fp16", max_batch=1)  # 2 chunks
    det, pose = TensorRTBackend(tmp_path / "det.engine"), TensorRTBackend(tmp_path / "pose.engine")
    assert det.stream is not pose.stream
    frames = [rng.integers(0, 255, (64, 80, 3), np.uint8) for _ in range(3)]
    want, got = run_both(det, pose, frames, interval=1)
    assert all(len(r) == 2 for r in got)
    assert got[0].timings["detector"] > 0 and got[0].timings["pose"] > 0
    pipeline = OverlappedWholeBody(YOLOX(det), RTMPose(pose))
    pipeline.push(frames[0])
    assert pose.stream.pending > 0 and det.stream.pending == 0
    _, result = pipeline.flush()
    assert_same(result, want[0])
    assert pose.stream.pending == 0


# -- a real GPU ------------------------------------------------------------------------

def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _torch_cuda(), reason="needs PyTorch with a CUDA GPU")
def test_gpu_overlap_is_at_least_as_fast_as_serial(yolox_nano, tmp_path):
    """torch FP16 on CUDA, YOLOX-Nano + an RTMPose-s 256x192 graph on 60 video frames:
    the overlapped pipeline keeps at least 95% of the serial FPS (it should gain; 5% covers
    timing noise) and gives the same persons."""
    from engines.backends.torch import TorchBackend
    from trainer.export import export_onnx
    from trainer.models import build_model

    export_onnx(build_model("s", "256x192"), tmp_path / "s.onnx")
    det, pose = TorchBackend(yolox_nano), TorchBackend(tmp_path / "s.onnx")
    frames = read_video("single_person_dance.mp4", 60)
    serial = WholeBody(YOLOX(det), RTMPose(pose))
    overlapped = FrameRunner(serial, "overlap")
    for frame in frames[:10]:  # warm-up: cuDNN autotuning, allocator
        serial(frame)
    list(overlapped.run((frame, frame) for frame in frames[:10]))

    start = time.perf_counter()
    want = [serial(frame) for frame in frames]
    serial_fps = len(frames) / (time.perf_counter() - start)
    start = time.perf_counter()
    got = [result for _, result in overlapped.run((frame, frame) for frame in frames)]
    overlap_fps = len(frames) / (time.perf_counter() - start)
    print(f"serial {serial_fps:.1f} FPS, overlapped {overlap_fps:.1f} FPS")
    assert [len(r) for r in got] == [len(r) for r in want]
    assert overlap_fps >= 0.95 * serial_fps
