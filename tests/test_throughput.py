"""``ParallelWholeBody``: runs of frames (a detector frame and the tracked frames after it)
estimated side by side give the serial pipeline's results, in order, whatever the video does.

A scripted pipeline stands in for the models so that every case the schedule must survive
happens where the test says: persons lost between detector runs (the runs started ahead are
then wrong), frames with nobody, cuts, and workers finishing out of order. The real models'
parity is in ``test_overlap_runner``.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from engines.pipeline import FrameResult, StageTimer, WholeBody
from engines.throughput import ParallelWholeBody
from engines.tracking import PoseTracker
from tests.test_overlap import assert_same

K = 17  # keypoints per person: enough for boxes, few for speed


@dataclass
class Scene:
    """What frame ``n`` of a scripted video holds."""

    persons: int  # persons the detector finds (0: nobody)
    lost: bool  # every pose of this frame has low scores (the tracker drops them)
    cut: bool  # unrelated to the frame before


class ScriptedPipeline(WholeBody):
    """``WholeBody`` with the models replaced by the script: the frame's number is its first
    pixel, person p stands at x = 100 p and drifts right one pixel a frame. Short random sleeps
    make the workers finish out of order; the most estimates at once is recorded."""

    def __init__(self, scenes: list[Scene], interval: int, seed: int = 0) -> None:
        self.scenes, self.tracker = scenes, PoseTracker(interval)
        self.whole_image_fallback = False
        self._random, self._lock = random.Random(seed), threading.Lock()
        self._running = self.most_at_once = self.detector_runs = 0

    @staticmethod
    def frame(n: int) -> np.ndarray:
        return np.full((2, 2, 3), n, np.int32)

    def _nap(self) -> None:
        with self._lock:
            seconds = self._random.uniform(0, 0.002)
        time.sleep(seconds)

    def detect(self, image: np.ndarray, timer: StageTimer) -> tuple[np.ndarray, np.ndarray]:
        n = int(image[0, 0, 0])
        with self._lock:
            self.detector_runs += 1
        with timer("detector"):
            self._nap()
        boxes = [[100 * p + n, 10, 100 * p + n + 60, 190] for p in range(self.scenes[n].persons)]
        return (np.asarray(boxes, np.float32).reshape(-1, 4),
                np.linspace(0.9, 0.5, len(boxes), dtype=np.float32))

    def estimate(self, image: np.ndarray, boxes: np.ndarray,
                 timer: StageTimer) -> tuple[np.ndarray, np.ndarray]:
        n = int(image[0, 0, 0])
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        with timer("pose"):
            self._nap()
        with self._lock:
            self._running -= 1
        # keypoints on a line down the middle of each box, moved by this frame's drift
        t = np.linspace(0, 1, K, dtype=np.float32)
        centre = (boxes[:, 0] + boxes[:, 2]) / 2 + 1
        xs = np.repeat(centre[:, None], K, 1) + 10 * t
        ys = boxes[:, 1:2] + t * (boxes[:, 3:4] - boxes[:, 1:2]) / 1.25
        keypoints = np.stack([xs, ys], -1).astype(np.float32)
        scores = np.full((len(boxes), K), 0.1 if self.scenes[n].lost else 0.9, np.float32)
        return keypoints, scores


def scripted_video(seed: int, length: int = 120) -> list[Scene]:
    rng = random.Random(seed)
    return [Scene(persons=0 if rng.random() < 0.05 else rng.randint(1, 3),
                  lost=rng.random() < 0.08, cut=n == 0 or rng.random() < 0.04)
            for n in range(length)]


def serial_results(scenes: list[Scene], interval: int) -> list[FrameResult]:
    serial = ScriptedPipeline(scenes, interval)
    results = []
    for n, scene in enumerate(scenes):
        if scene.cut:
            serial.reset()
        results.append(serial(serial.frame(n)))
    return results


def parallel_results(scenes: list[Scene], interval: int, workers: int,
                     seed: int = 0) -> tuple[list[FrameResult], ScriptedPipeline]:
    pipeline = ScriptedPipeline(scenes, interval, seed)
    parallel = ParallelWholeBody(pipeline, workers)
    got = []
    for n, scene in enumerate(scenes):
        done = parallel.push(pipeline.frame(n), scene.cut)
        if done is not None:
            got.append(done)
    while (done := parallel.flush()) is not None:
        got.append(done)
    parallel.close()
    assert [int(image[0, 0, 0]) for image, _ in got] == list(range(len(scenes)))
    return [result for _, result in got], pipeline


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("interval", "workers"), [(1, 2), (3, 2), (7, 2), (7, 3), (5, 4)])
def test_runs_in_parallel_give_the_serial_results(seed, interval, workers):
    """Lost persons, empty frames and cuts at random: every frame in order with the serial
    boxes, keypoints, identities and detector flags."""
    scenes = scripted_video(seed)
    want = serial_results(scenes, interval)
    got, _ = parallel_results(scenes, interval, workers, seed)
    assert len(got) == len(want)
    for n, (result, expected) in enumerate(zip(got, want)):
        try:
            assert_same(result, expected)
        except AssertionError as exc:
            raise AssertionError(f"frame {n}: {exc}") from None
    detected = [r.detected for r in want]
    if interval > 1:  # the script did make tracked frames, forced detector runs and cuts
        assert not all(detected) and any(
            d and not scenes[n].cut and (n % interval) for n, d in enumerate(detected))


def test_a_steady_video_runs_its_runs_side_by_side():
    """Nobody lost: the runs started ahead are right, and the workers do run at once."""
    scenes = [Scene(persons=2, lost=False, cut=n == 0) for n in range(60)]
    got, pipeline = parallel_results(scenes, interval=7, workers=3)
    assert [r.detected for r in got] == [n % 7 == 0 for n in range(60)]
    assert pipeline.most_at_once >= 2
    for result, expected in zip(got, serial_results(scenes, 7)):
        assert_same(result, expected)


def test_an_empty_scene_runs_one_run_at_a_time():
    """Nobody there: every frame asks for the detector, so guessing ahead would only waste
    work; after the first wrong guess the runs go one at a time, with the serial results."""
    scenes = [Scene(persons=0, lost=False, cut=n == 0) for n in range(30)]
    got, pipeline = parallel_results(scenes, interval=7, workers=3)
    assert all(r.detected and len(r) == 0 for r in got)
    assert 30 <= pipeline.detector_runs <= 30 + 2  # the two runs started ahead at first


def test_discard_forgets_the_runs_and_the_tracks():
    scenes = [Scene(persons=1, lost=False, cut=n == 0) for n in range(20)]
    pipeline = ScriptedPipeline(scenes, 5)
    parallel = ParallelWholeBody(pipeline, 2)
    for n in range(8):
        parallel.push(pipeline.frame(n))
    parallel.discard()
    assert parallel.flush() is None
    fresh = ScriptedPipeline(scenes, 5)
    want = [fresh(fresh.frame(n)) for n in range(8, 20)]
    got = [parallel.push(pipeline.frame(n)) for n in range(8, 20)]
    got = [done for done in got if done is not None]
    while (done := parallel.flush()) is not None:
        got.append(done)
    parallel.close()
    assert [int(image[0, 0, 0]) for image, _ in got] == list(range(8, 20))
    for (_, result), expected in zip(got, want):
        assert_same(result, expected)
