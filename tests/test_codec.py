"""SimCC codec: known-answer decoding, mmpose encoding quirks, encode/decode round trip."""
from __future__ import annotations

import numpy as np

from engines.codec import SimCCCodec, get_simcc_maximum


def test_decode_peaks_at_known_bins():
    x = np.zeros((1, 2, 576), np.float32)
    y = np.zeros((1, 2, 768), np.float32)
    x[0, 0, 101], y[0, 0, 333] = 0.9, 0.7  # score = min(0.9, 0.7)
    x[0, 1, 10], y[0, 1, 20] = 0.5, 0.8
    points, scores = SimCCCodec((288, 384)).decode(x, y)
    np.testing.assert_allclose(points[0], [[50.5, 166.5], [5.0, 10.0]])
    np.testing.assert_allclose(scores[0], [0.7, 0.5])


def test_score_is_min_and_nonpositive_marks_minus_one():
    x = np.full((1, 3, 8), -1.0, np.float32)
    y = np.full((1, 3, 8), -1.0, np.float32)
    x[0, 0, 3], y[0, 0, 5] = 2.0, 3.0
    x[0, 1, 3], y[0, 1, 5] = 0.0, 3.0  # min is 0 -> location -1
    locs, vals = get_simcc_maximum(x, y)
    np.testing.assert_allclose(vals[0], [2.0, 0.0, -1.0])
    np.testing.assert_allclose(locs[0], [[3, 5], [-1, -1], [-1, -1]])
    points, _ = SimCCCodec((4, 4)).decode(x, y)
    np.testing.assert_allclose(points[0, 1], [-0.5, -0.5])  # -1 divided by the split ratio


def test_encode_gaussian_known_values_and_round_half_even():
    codec = SimCCCodec((192, 256), sigma=(4.9, 5.66))
    kpts = np.array([[[10.25, 20.75]]])  # * 2 = 20.5 -> 20 (half to even), 41.5 -> 42
    out = codec.encode(kpts, np.ones((1, 1)))
    assert out["x_labels"].shape == (1, 1, 384) and out["y_labels"].shape == (1, 1, 512)
    assert out["x_labels"][0, 0].argmax() == 20 and out["y_labels"][0, 0].argmax() == 42
    np.testing.assert_allclose(out["x_labels"][0, 0, 22], np.exp(-4 / (2 * 4.9 ** 2)), rtol=1e-6)
    np.testing.assert_allclose(out["y_labels"][0, 0, 40], np.exp(-4 / (2 * 5.66 ** 2)), rtol=1e-6)
    assert out["x_labels"].dtype == np.float32


def test_encode_invisible_and_outside_keypoints():
    codec = SimCCCodec((192, 256), sigma=(4.9, 5.66))
    kpts = np.array([[[50, 50], [50, 50], [-5, 50], [-20, 50]]], np.float64)
    vis = np.array([[1.0, 0.3, 1.0, 1.0]])
    out = codec.encode(kpts, vis)
    # Invisible: zero labels, weight keeps the visibility (mmpose quirk).
    assert not out["x_labels"][0, 1].any() and out["weights"][0, 1] == np.float32(0.3)
    # Slightly outside (-10 bins, 3 sigma = 14.7): still labelled, weight 1.
    assert out["x_labels"][0, 2].any() and out["weights"][0, 2] == 1
    # Far outside (-40 bins): window misses the input -> weight 0.
    assert out["weights"][0, 3] == 0


def test_encode_decode_round_trip():
    codec = SimCCCodec((288, 384), sigma=(6.0, 6.93))
    rng = np.random.default_rng(0)
    kpts = rng.uniform(0, 280, (2, 133, 2))
    out = codec.encode(kpts)
    points, scores = codec.decode(out["x_labels"], out["y_labels"])
    np.testing.assert_allclose(points, np.around(kpts * 2) / 2)
    np.testing.assert_allclose(scores, 1.0)
