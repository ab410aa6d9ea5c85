"""The per-frame fast paths give exactly what the plain formulas give (bit for bit)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.codec import get_simcc_maximum
from engines.models import load_model
from engines.pose import RTMPose
from engines.transforms import get_warp_matrix, letterbox, letterbox_blob


@pytest.mark.parametrize("shape, size", [((1024, 576, 3), 416), ((480, 640, 3), 640),
                                         ((101, 57, 3), 416), ((416, 416, 3), 416)])
def test_letterbox_blob_is_the_canvas_as_float_chw(rng, shape, size):
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    canvas, r = letterbox(img, size)
    blob, r_blob = letterbox_blob(img, size)
    assert r_blob == r and blob.dtype == np.float32 and blob.shape == (1, 3, size, size)
    np.testing.assert_array_equal(blob[0], canvas.transpose(2, 0, 1).astype(np.float32))


def test_lookup_normalisation_equals_float32_arithmetic(pose256, rng):
    mean, std = (10.5, 100.0, 200.25), (3.0, 57.12, 0.7)
    pose = RTMPose(load_model(pose256, "pose")[0], mean=mean, std=std)
    img = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    boxes = np.array([[20, 30, 150, 280], [-40, 0, 60, 120]], np.float32)
    batch = pose.preprocess(img, boxes)
    for i in range(2):
        crop = cv2.warpAffine(img, get_warp_matrix(batch.centers[i], batch.scales[i], 0,
                                                   (192, 256)), (192, 256), flags=cv2.INTER_LINEAR)
        rgb = crop[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)
        ref = (rgb - np.float32(mean)[:, None, None]) / np.float32(std)[:, None, None]
        np.testing.assert_array_equal(batch.blob[i], ref)


def test_simcc_maximum_values_are_the_maxima(rng):
    sx = rng.normal(size=(3, 133, 384)).astype(np.float32)
    sy = rng.normal(size=(3, 133, 512)).astype(np.float32)
    sx[0, 0, [5, 9]] = 50.0  # a tie: the first bin wins, as with argmax
    sx[1, 2] = -1.0  # all negative: location -1
    locs, vals = get_simcc_maximum(sx, sy)
    np.testing.assert_array_equal(vals, np.minimum(sx.max(-1), sy.max(-1)))
    assert locs[0, 0, 0] == 5 and (locs[1, 2] == -1).all()
    ok = vals > 0
    np.testing.assert_array_equal(locs[..., 0][ok], sx.argmax(-1)[ok])
