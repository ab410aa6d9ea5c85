"""``pipeline_kind`` (the ``--pipeline auto`` rule) and ``FrameRunner``, the one loop over the
serial, the overlapped and the parallel pipeline that ``dwpose predict`` and the desktop app
share.

No GPU needed: the asynchronous GPU backend of the auto rule is a stand-in that runs on the CPU.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from engines.backends import Backend
from engines.backends.onnxruntime import OnnxRuntimeBackend
from engines.detectors import YOLOX
from engines.overlap import FrameRunner, pipeline_kind
from engines.pipeline import FrameResult, WholeBody
from engines.pose import RTMPose
from tests.test_overlap import assert_same, read_video


class FakeGpuBackend(Backend):
    """Stands in for TensorRT or torch on CUDA: ``asynchronous``, but runs ``inner`` at once."""

    asynchronous = True

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner.path)
        self.inner, self.inputs, self.outputs = inner, inner.inputs, inner.outputs

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.inner.infer(feeds)


@pytest.fixture(scope="module")
def backends(yolox_nano, pose256) -> tuple[Backend, Backend]:
    return (OnnxRuntimeBackend(yolox_nano, device="cpu", threads=1),
            OnnxRuntimeBackend(pose256, device="cpu", threads=1))


@pytest.fixture(scope="module")
def street() -> list[np.ndarray]:
    return read_video("street_multi_person.mp4", 5)


def pipeline(det: Backend, pose: Backend, interval: int = 1) -> WholeBody:
    return WholeBody(YOLOX(det), RTMPose(pose), interval)


def test_auto_overlaps_only_when_both_backends_are_asynchronous(backends):
    det, pose = backends
    cpu = pipeline(det, pose)
    assert not det.asynchronous and pipeline_kind(cpu) == "serial"  # ONNX Runtime
    assert pipeline_kind(cpu, "overlap") == "overlapped"
    assert pipeline_kind(cpu, "serial") == "serial"
    gpu = pipeline(FakeGpuBackend(det), FakeGpuBackend(pose))
    assert pipeline_kind(gpu) == "overlapped" and pipeline_kind(gpu, "serial") == "serial"
    assert pipeline_kind(pipeline(FakeGpuBackend(det), pose)) == "serial"
    assert FrameRunner(gpu).kind == "overlapped" and FrameRunner(cpu).kind == "serial"
    with pytest.raises(ValueError, match="choose one of auto, serial, overlap, throughput"):
        pipeline_kind(cpu, "fast")


def test_auto_runs_frames_in_parallel_where_the_backends_have_streams(yolox_nano, pose256):
    """Backends loaded for throughput (streams > 1): the parallel pipeline, whatever the
    detector's interval; 'throughput' asks for it with one stream too."""
    det = OnnxRuntimeBackend(yolox_nano, device="cpu", streams=2)
    pose = OnnxRuntimeBackend(pose256, device="cpu", streams=2)
    assert det.streams == pose.streams == 2
    assert pipeline_kind(pipeline(det, pose)) == "parallel"
    assert pipeline_kind(pipeline(det, pose, interval=7)) == "parallel"
    assert pipeline_kind(pipeline(det, pose), "serial") == "serial"
    assert pipeline_kind(pipeline(det, pose, interval=7), "overlap") == "overlapped"
    one = OnnxRuntimeBackend(pose256, device="cpu", threads=1)
    assert pipeline_kind(pipeline(det, one, interval=7)) == "serial"
    assert pipeline_kind(pipeline(det, one, interval=7), "throughput") == "parallel"


def test_runner_gives_every_item_in_order_with_the_serial_results(backends, street):
    """Frames 0 and 2 start afresh (cuts), the detector runs every third frame: the overlapped
    runner hands back each item once, in order, with the result of a serial pipeline that is
    reset at each cut."""
    cuts = [True, False, True, False, False]
    serial = pipeline(*backends, interval=3)
    want = []
    for image, cut in zip(street, cuts):
        if cut:
            serial.reset()
        want.append(serial(image))
    runner: FrameRunner[int] = FrameRunner(pipeline(*backends, interval=3), "overlap")
    got: list[tuple[int, FrameResult]] = []
    for i, (image, cut) in enumerate(zip(street, cuts)):
        done = runner.push(i, image, cut)
        assert (done is None) == (i == 0)
        if done is not None:
            got.append(done)
    got.append(runner.flush())
    assert runner.flush() is None
    runner.close()
    assert [item for item, _ in got] == list(range(len(street)))
    assert [r.detected for _, r in got] == [True, False, True, False, False]
    for (_, result), expected in zip(got, want):
        assert_same(result, expected)


@pytest.mark.parametrize(("workers", "interval"), [(2, 1), (3, 1), (2, 2)])
def test_parallel_frames_give_the_serial_results_in_order(backends, street, workers,
                                                          interval):
    """Several frames in flight, cuts included: every item once, in order, with the serial
    pipeline's boxes, keypoints and identities; the last ones come back from ``drain``. (The
    schedule's hard cases are scripted in ``test_throughput``.)"""
    cuts = [True, False, False, True, False]
    serial = pipeline(*backends, interval)
    want = []
    for image, cut in zip(street, cuts):
        if cut:
            serial.reset()
        want.append(serial(image))
    det = OnnxRuntimeBackend(backends[0].path, device="cpu", streams=workers)
    pose = OnnxRuntimeBackend(backends[1].path, device="cpu", streams=workers)
    runner: FrameRunner[int] = FrameRunner(pipeline(det, pose, interval), "throughput")
    assert runner.kind == "parallel"
    got = []
    for i, (image, cut) in enumerate(zip(street, cuts)):
        done = runner.push(i, image, cut)
        # the first comes back once `workers` runs of frames are held
        assert (done is None) == (i < workers * interval)
        if done is not None:
            got.append(done)
    got += list(runner.drain())
    runner.close()
    assert [item for item, _ in got] == list(range(len(street)))
    if interval > 1:
        assert not all(result.detected for result in want)
    for (_, result), expected in zip(got, want):
        assert_same(result, expected)
        assert (result.timings["detector"] > 0) == result.detected
        assert result.timings["pose"] > 0


@pytest.mark.parametrize(("mode", "interval"), [("serial", 5), ("overlap", 5),
                                                ("throughput", 1)])
def test_discard_drops_the_frame_in_flight_and_the_tracks(backends, street, mode, interval):
    """After a failure the runner goes on as a fresh pipeline would."""
    runner: FrameRunner[int] = FrameRunner(pipeline(*backends, interval=interval), mode)
    runner.push(0, street[0])
    runner.push(1, street[1])
    runner.discard()
    assert runner.flush() is None
    fresh = pipeline(*backends, interval=interval)
    want = [fresh(image) for image in street[2:]]
    got = [runner.push(i, image) for i, image in enumerate(street[2:], 2)]
    got = [done for done in [*got, *runner.drain()] if done is not None]
    assert [item for item, _ in got] == [2, 3, 4]
    for (_, result), expected in zip(got, want):
        assert_same(result, expected)
    runner.close()
