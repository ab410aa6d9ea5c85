"""The zero-lag two-pass smoother of video files (engines.two_pass): gap filling, joined
tracks, no lag, less error and jitter than the raw keypoints, and scipy's filtfilt numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engines.pipeline import FrameResult
from engines.smoothing import KeypointSmoother
from engines.two_pass import TwoPassSmoother, butterworth, fill_gaps, filtfilt

FPS = 30.0
K = 133


def _frame(people: list[tuple[int, np.ndarray, np.ndarray]]) -> FrameResult:
    """A frame of (track id, keypoints [133, 2], scores [133]) persons; boxes around them."""
    n = len(people)
    kps = np.array([p[1] for p in people], np.float32).reshape(n, K, 2)
    boxes = np.concatenate([kps.min(axis=1) - 5, kps.max(axis=1) + 5], axis=1) if n else \
        np.zeros((0, 4), np.float32)
    return FrameResult(boxes=boxes.astype(np.float32), box_scores=np.full(n, 0.9, np.float32),
                       keypoints=kps, scores=np.array([p[2] for p in people],
                                                      np.float32).reshape(n, K),
                       track_ids=np.array([p[0] for p in people], np.int64), detected=True)


def _pose(centre: np.ndarray) -> np.ndarray:
    """133 points spread around ``centre`` (a fixed layout)."""
    offsets = np.stack([np.cos(np.arange(K)), np.sin(np.arange(K) * 1.3)], axis=1) * 60
    return centre + offsets


def _video(path, n: int, scores: np.ndarray | None = None, noise: float = 0.0, seed: int = 0,
           track=lambda f: 0) -> tuple[list[FrameResult], np.ndarray]:
    """One person following ``path(t)`` (t in seconds) for n frames; returns the results and
    the true keypoints [n, 133, 2]."""
    rng = np.random.default_rng(seed)
    truth = np.array([_pose(path(f / FPS)) for f in range(n)])
    noisy = truth + rng.normal(0, noise, truth.shape) if noise else truth
    sc = np.full((n, K), 0.9) if scores is None else scores
    frames = [_frame([(track(f), noisy[f], sc[f])] if sc[f].any() else []) for f in range(n)]
    return frames, truth


def test_fill_gaps_known_answers():
    t = np.arange(12.0)
    values = np.stack([3 * t + 1, -2 * t], axis=1)[:, None, :]  # [12, 1, 2], a line
    valid = np.ones((12, 1), bool)
    valid[[0, 4, 5, 6, 9, 10]] = False  # an edge gap, a 3-gap, a 2-gap
    broken = np.where(valid[..., None], values, -99.0)
    filled_values, filled = fill_gaps(broken, valid, max_gap=3)
    assert filled[:, 0].tolist() == [i in (4, 5, 6, 9, 10) for i in range(12)]
    np.testing.assert_allclose(filled_values[1:], values[1:])  # the line, exactly
    assert filled_values[0, 0].tolist() == [-99.0, -99.0]  # before the first: never
    _, filled = fill_gaps(broken, valid, max_gap=2)
    assert filled[:, 0].tolist() == [i in (9, 10) for i in range(12)]  # the 3-gap is too long
    assert not fill_gaps(broken, valid, max_gap=0)[1].any()
    one_d, mask = fill_gaps(np.array([1.0, 0, 0, 7.0]), np.array([True, False, False, True]), 2)
    assert one_d.tolist() == [1.0, 3.0, 5.0, 7.0] and mask.tolist() == [False, True, True, False]


def _reference_filtfilt(x: np.ndarray, cutoff: float, fps: float, pad: int) -> np.ndarray:
    """The plain way, one series: the biquad's difference equation from its steady state over
    the extension, then over the reversed result."""
    b, a = butterworth(cutoff, fps)

    def lfilter(series):
        out, x1, x2, y1, y2 = [], series[0], series[0], series[0], series[0]
        for v in series:
            y = b[0] * v + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2
            x2, x1, y2, y1 = x1, v, y1, y
            out.append(y)
        return np.array(out)

    p = min(pad, len(x) - 1)
    ext = np.concatenate([2 * x[0] - x[p:0:-1], x, 2 * x[-1] - x[-2:-p - 2:-1]])
    return lfilter(lfilter(ext)[::-1])[::-1][p:len(ext) - p]


def test_butterworth_is_scipys():
    signal = pytest.importorskip("scipy.signal")
    for cutoff, fps in ((6, 30), (6, 25), (4, 60), (5.4, 12)):
        b, a = signal.butter(2, cutoff / (fps / 2))
        np.testing.assert_allclose(butterworth(cutoff, fps), (b, a), atol=1e-12)


def test_filtfilt_runs_each_keypoint_run_on_its_own(rng):
    """Each run of valid samples of each keypoint, on its own, as the plain reference (and as
    scipy.signal.filtfilt with odd padding where scipy is installed); the rest untouched."""
    x = rng.normal(0, 1, (60, 4, 2)).cumsum(axis=0)
    valid = np.ones((60, 4), bool)
    valid[10:13, 1] = False
    valid[45:, 2] = False
    valid[:2, 0] = valid[30, 0] = False
    valid[:, 3] = False
    valid[20, 3] = valid[40:42, 3] = valid[50:54, 3] = True  # runs of 1, 2 and 4 samples
    b, a = butterworth(6, 30)
    got = filtfilt(x, valid, b, a, 10)
    np.testing.assert_array_equal(got[~valid], x[~valid])
    try:
        from scipy.signal import filtfilt as scipy_filtfilt
    except ImportError:
        scipy_filtfilt = None
    for k in range(4):
        edges = np.diff(np.concatenate([[0], valid[:, k].astype(int), [0]]))
        for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            for c in (0, 1):
                run = x[s:e, k, c]
                np.testing.assert_allclose(got[s:e, k, c], _reference_filtfilt(run, 6, 30, 10),
                                           atol=1e-9)
                if scipy_filtfilt is not None:
                    np.testing.assert_allclose(got[s:e, k, c], scipy_filtfilt(
                        b, a, run, padtype="odd", padlen=min(10, e - s - 1)), atol=1e-9)
    np.testing.assert_allclose(got[20, 3], x[20, 3])  # a lone sample stays


def test_zero_lag_on_a_linear_ramp_and_the_causal_lag():
    """At 300 px/s the two-pass output is the ramp itself, ends included; the causal smoother
    trails it by about a frame of motion."""
    n = 60
    frames, truth = _video(lambda t: np.array([100 + 300 * t, 200 - 120 * t]), n)
    got = np.array([f.keypoints[0] for f in TwoPassSmoother()(frames, FPS)])
    assert np.abs(got - truth).max() < 5e-3  # the float32 results' rounding
    causal = KeypointSmoother()
    trail = np.array([causal(f, i / FPS).keypoints[0] for i, f in enumerate(frames)])
    speed = np.linalg.norm([300, 120])
    behind = np.linalg.norm(trail[-1] - truth[-1], axis=-1).mean()
    assert 0.3 * speed / FPS < behind < 3 * speed / FPS


def test_zero_lag_on_a_sine():
    """A 1.5 Hz swing comes out in phase (the best time shift onto the truth is 0) and with
    its amplitude (the filter is flat well below its 6 Hz cutoff)."""
    n = 150
    frames, truth = _video(lambda t: np.array([320 + 80 * math.sin(2 * math.pi * 1.5 * t),
                                               240.0]), n)
    got = np.array([f.keypoints[0, 0, 0] for f in TwoPassSmoother()(frames, FPS)])
    x = truth[:, 0, 0]
    middle = slice(15, n - 15)
    shifts = np.arange(-3, 4)
    fits = [np.abs(np.roll(got, s)[middle] - x[middle]).mean() for s in shifts]
    assert shifts[int(np.argmin(fits))] == 0
    assert np.ptp(got[middle]) == pytest.approx(np.ptp(x[middle]), rel=0.01)


def _rms(a, b):
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=-1))))


def _jitter(x):
    return float(np.sqrt(np.mean(np.sum(np.diff(x, n=2, axis=0) ** 2, axis=-1))))


@pytest.mark.parametrize("path", [
    lambda t: np.array([320.0, 240.0]),  # still
    lambda t: np.array([100 + 150 * t, 240 + 10 * math.sin(2 * math.pi * 2 * t)]),  # walk
    lambda t: np.array([320 + 80 * math.cos(2 * t), 240 + 80 * math.sin(2 * t)]),  # circle
    lambda t: np.array([320 + 60 * math.sin(2 * math.pi * 1.5 * t), 240.0]),  # fast swing
], ids=["still", "walk", "circle", "swing"])
def test_less_error_and_jitter_than_raw_on_noisy_paths(path):
    frames, truth = _video(path, 120, noise=3.0, seed=1)
    raw = np.array([f.keypoints[0] for f in frames], np.float64)
    got = np.array([f.keypoints[0] for f in TwoPassSmoother()(frames, FPS)], np.float64)
    assert _rms(got, truth) < 0.75 * _rms(raw, truth)
    assert _jitter(got - truth) < 0.3 * _jitter(raw - truth)  # the noise's share of jitter


def test_a_hidden_keypoint_is_filled_on_its_path():
    """A keypoint scoring 0.1 for 3 frames comes back on the (linear) path, with the lower of
    the two scores around the gap; a 7-frame gap (over max_gap 5) stays as it was."""
    n = 40
    scores = np.full((n, K), 0.9)
    scores[:, 7] = np.linspace(0.5, 0.8, n)
    scores[10:13, 7] = 0.1
    scores[20:27, 9] = 0.1
    frames, truth = _video(lambda t: np.array([50 + 200 * t, 80 + 30 * t]), n, scores)
    out = TwoPassSmoother()(frames, FPS)
    for f in range(10, 13):
        np.testing.assert_allclose(out[f].keypoints[0, 7], truth[f, 7], atol=0.05)
        assert out[f].scores[0, 7] == pytest.approx(min(scores[9, 7], scores[13, 7]))
    for f in range(20, 27):
        assert out[f].scores[0, 9] == pytest.approx(0.1)  # not filled
        np.testing.assert_array_equal(out[f].keypoints[0, 9], frames[f].keypoints[0, 9])


def test_a_person_lost_for_two_frames_is_joined_and_filled():
    """The tracker gives a person lost for two frames a new identity; the smoother joins the
    two tracks and puts the person back in the two frames, on its path."""
    n = 30
    scores = np.full((n, K), 0.9)
    scores[14:16] = 0.0  # frames 14, 15: nobody
    frames, truth = _video(lambda t: np.array([100 + 90 * t, 150.0]), n, scores,
                           track=lambda f: 3 if f < 14 else 8)
    out = TwoPassSmoother()(frames, FPS)
    assert [len(f) for f in out] == [1] * n
    assert {int(f.track_ids[0]) for f in out} == {3}
    for f in (14, 15):
        np.testing.assert_allclose(out[f].keypoints[0], truth[f], atol=0.05)
        assert (out[f].scores[0] == pytest.approx(0.9))
        np.testing.assert_allclose(out[f].boxes[0], (frames[13].boxes[0] * (16 - f) +
                                                     frames[16].boxes[0] * (f - 13)) / 3,
                                   atol=1e-3)
    got = np.array([f.keypoints[0] for f in out])
    assert np.abs(got - truth).max() < 0.05  # smoothed straight through the gap


def test_tracks_are_not_joined_across_long_gaps_or_far_apart():
    n = 30
    scores = np.full((n, K), 0.9)
    scores[10:17] = 0.0  # 7 frames: longer than max_gap
    frames, _ = _video(lambda t: np.array([200.0, 150.0]), n, scores,
                       track=lambda f: 1 if f < 10 else 2)
    out = TwoPassSmoother(max_gap=5)(frames, FPS)
    assert [len(f) for f in out[10:17]] == [0] * 7
    assert {int(f.track_ids[0]) for f in out if len(f)} == {1, 2}
    # a 2-frame gap, but the next person appears elsewhere: another person
    scores = np.full((n, K), 0.9)
    scores[10:12] = 0.0
    frames, _ = _video(lambda t: np.array([200.0 if t < 0.35 else 600.0, 150.0]), n, scores,
                       track=lambda f: 1 if f < 10 else 2)
    out = TwoPassSmoother()(frames, FPS)
    assert [len(f) for f in out[10:12]] == [0, 0]
    assert {int(f.track_ids[0]) for f in out if len(f)} == {1, 2}


def test_two_people_are_smoothed_apart_and_keep_their_order(rng):
    n = 40
    truth_a = np.array([_pose(np.array([150 + 100 * f / FPS, 200.0])) for f in range(n)])
    truth_b = np.array([_pose(np.array([500.0, 300 - 50 * f / FPS])) for f in range(n)])
    frames = []
    for f in range(n):
        a = (4, truth_a[f] + rng.normal(0, 2, (K, 2)), np.full(K, 0.9))
        b = (9, truth_b[f] + rng.normal(0, 2, (K, 2)), np.full(K, 0.8))
        frames.append(_frame([a, b] if f % 2 else [b, a]))
    out = TwoPassSmoother()(frames, FPS)
    for f, r in enumerate(out):
        assert r.track_ids.tolist() == frames[f].track_ids.tolist()
        np.testing.assert_array_equal(r.scores, frames[f].scores)
        for i, tid in enumerate(r.track_ids.tolist()):
            truth = truth_a if tid == 4 else truth_b
            if f in (0, n - 1):  # odd padding keeps a run's end samples
                np.testing.assert_allclose(r.keypoints[i], frames[f].keypoints[i], atol=1e-3)
            else:
                assert _rms(r.keypoints[i], truth[f]) < 0.8 * _rms(frames[f].keypoints[i],
                                                                   truth[f])
    assert out[0].keypoints.dtype == np.float32


def test_empty_and_invalid():
    assert TwoPassSmoother()([], FPS) == []
    empty = _frame([])
    out = TwoPassSmoother()([empty, empty], FPS)
    assert [len(r) for r in out] == [0, 0] and out[0].keypoints.shape == (0, K, 2)
    with pytest.raises(ValueError):
        TwoPassSmoother(max_gap=-1)
    with pytest.raises(ValueError):
        TwoPassSmoother()([empty], 0.0)
