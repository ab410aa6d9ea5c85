"""One-euro filter and per-track keypoint smoothing."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engines.pipeline import FrameResult
from engines.smoothing import KeypointSmoother, OneEuroFilter

DT = 1 / 30


def _alpha(cutoff: float, dt: float) -> float:
    return 1 / (1 + 1 / (2 * math.pi * cutoff) / dt)


def test_first_sample_passes_through_and_constant_stays():
    f = OneEuroFilter()
    x = np.array([[10.0, 20.0], [30.0, 40.0]])
    np.testing.assert_array_equal(f(x, 0.0), x)
    for i in range(1, 10):
        np.testing.assert_allclose(f(x, i * DT), x)


def test_one_step_matches_the_formula():
    min_cutoff, beta, d_cutoff = 1.0, 0.007, 1.0
    f = OneEuroFilter(min_cutoff, beta, d_cutoff)
    f(np.array([0.0]), 0.0)
    out = f(np.array([6.0]), DT)
    dx_hat = _alpha(d_cutoff, DT) * 6.0 / DT
    expected = _alpha(min_cutoff + beta * abs(dx_hat), DT) * 6.0
    assert out[0] == pytest.approx(expected)
    assert 0 < out[0] < 6.0


def test_reduces_jitter_at_rest(rng):
    f = OneEuroFilter()
    noisy = 100 + rng.normal(0, 2.0, (300, 17, 2))
    out = np.array([f(x, i * DT) for i, x in enumerate(noisy)])
    assert out[60:].std() < 0.45 * noisy[60:].std()


def test_beta_reduces_lag_in_motion():
    # A keypoint moving at 600 px/s: the adaptive cutoff follows it much more closely.
    t = np.arange(60) * DT
    ramp = 600 * t
    lag = {}
    for beta in (0.0, 0.007):
        f = OneEuroFilter(beta=beta)
        out = np.array([f(np.array([x]), ti)[0] for x, ti in zip(ramp, t)])
        lag[beta] = ramp[-1] - out[-1]
    assert lag[0.007] < 0.4 * lag[0.0]
    assert lag[0.007] < 600 * 0.07  # under ~2 frames of motion


def test_repeated_timestamp_returns_the_last_estimate():
    f = OneEuroFilter()
    f(np.array([0.0]), 0.0)
    a = f(np.array([10.0]), DT)
    b = f(np.array([50.0]), DT)  # same time again: no division by zero, no update
    np.testing.assert_array_equal(a, b)
    c = f(np.array([10.0]), 2 * DT)
    assert c[0] == pytest.approx(f.x_hat[0]) and np.isfinite(c).all()


def test_time_going_back_restarts():
    f = OneEuroFilter()
    f(np.array([0.0]), 5.0)
    f(np.array([10.0]), 5.0 + DT)
    np.testing.assert_array_equal(f(np.array([99.0]), 1.0), [99.0])


def test_mask_holds_state_and_forget_restarts():
    f = OneEuroFilter()
    f(np.zeros((3, 2)), 0.0)
    out = f(np.full((3, 2), 100.0), DT, mask=np.array([True, False, True]))
    assert out[1].tolist() == [0.0, 0.0]  # held: its last estimate, not the jump
    assert 0 < out[0, 0] < 100
    f.forget(np.array([False, False, True]))
    out = f(np.full((3, 2), 100.0), 2 * DT)
    assert out[2].tolist() == [100.0, 100.0]  # restarted from its new sample
    assert out[1, 0] < 100


def test_invalid_parameters():
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0)
    with pytest.raises(ValueError):
        OneEuroFilter(beta=-1)


def _result(kps, scores, ids) -> FrameResult:
    n = len(ids)
    return FrameResult(boxes=np.zeros((n, 4), np.float32), box_scores=np.ones(n, np.float32),
                       keypoints=np.asarray(kps, np.float32).reshape(n, 133, 2),
                       scores=np.asarray(scores, np.float32).reshape(n, 133),
                       track_ids=np.asarray(ids, np.int64), detected=True)


def test_smoother_keeps_one_state_per_track(rng):
    sm = KeypointSmoother()
    base = np.stack([np.full((133, 2), 100.0), np.full((133, 2), 500.0)])
    scores = np.full((2, 133), 0.9)
    for i in range(60):
        noisy = base + rng.normal(0, 2.0, base.shape)
        out = sm(_result(noisy, scores, [4, 9]), i * DT)
    assert sm.track_ids == [4, 9]
    np.testing.assert_allclose(out.keypoints[0], 100, atol=3)
    np.testing.assert_allclose(out.keypoints[1], 500, atol=3)
    assert out.keypoints.std() > 0 and out.keypoints.dtype == np.float32
    # The order of the persons may change between frames; identities decide.
    swapped = sm(_result(base[::-1], scores, [9, 4]), 60 * DT)
    np.testing.assert_allclose(swapped.keypoints[0], 500, atol=3)


def test_smoother_returns_a_copy_with_only_keypoints_changed():
    sm = KeypointSmoother()
    r = _result(np.zeros((1, 133, 2)), np.full((1, 133), 0.9), [0])
    sm(r, 0.0)
    r2 = _result(np.full((1, 133, 2), 10.0), np.full((1, 133), 0.9), [0])
    out = sm(r2, DT)
    assert out is not r2 and out.scores is r2.scores and out.boxes is r2.boxes
    assert (r2.keypoints == 10).all() and (out.keypoints < 10).all()


def test_zero_score_jump_does_not_move_the_state():
    sm = KeypointSmoother()
    kp = np.full((1, 133, 2), 100.0)
    scores = np.full((1, 133), 0.9)
    for i in range(10):
        sm(_result(kp, scores, [0]), i * DT)
    jump = kp.copy()
    jump[0, 5] = 900
    low = scores.copy()
    low[0, 5] = 0.0
    out = sm(_result(jump, low, [0]), 10 * DT)
    np.testing.assert_allclose(out.keypoints[0, 5], 100)  # the held estimate, not the jump
    out = sm(_result(kp, scores, [0]), 11 * DT)
    np.testing.assert_allclose(out.keypoints[0, 5], 100, atol=1e-4)  # no transient


def test_keypoint_reappearing_after_a_gap_restarts_there():
    sm = KeypointSmoother(hold_s=0.2)
    kp = np.full((1, 133, 2), 100.0)
    scores = np.full((1, 133), 0.9)
    for i in range(10):
        sm(_result(kp, scores, [0]), i * DT)
    low = scores.copy()
    low[0, 7] = 0.0
    for i in range(10, 20):  # hidden for a third of a second
        sm(_result(kp, low, [0]), i * DT)
    moved = kp.copy()
    moved[0, 7] = 300
    out = sm(_result(moved, scores, [0]), 20 * DT)
    np.testing.assert_allclose(out.keypoints[0, 7], 300)  # no slide from the stale 100
    np.testing.assert_allclose(out.keypoints[0, 6], 100)


def test_unseen_tracks_are_dropped():
    sm = KeypointSmoother(max_age_s=0.5)
    kp, scores = np.zeros((1, 133, 2)), np.full((1, 133), 0.9)
    sm(_result(kp, scores, [1]), 0.0)
    sm(_result(kp, scores, [2]), 0.3)
    assert sm.track_ids == [1, 2]
    sm(_result(kp, scores, [2]), 0.6)
    assert sm.track_ids == [2]
    sm(_result(np.zeros((0, 133, 2)), np.zeros((0, 133)), []), 1.2)
    assert sm.track_ids == []
    sm(_result(kp, scores, [3]), 2.0)
    sm.reset()
    assert sm.track_ids == []
