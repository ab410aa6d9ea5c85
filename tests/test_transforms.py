"""Affine and letterbox geometry: known answers and round trips."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.transforms import (
    affine_points,
    bbox_cs2xyxy,
    bbox_xyxy2cs,
    crop_to_image,
    fix_aspect_ratio,
    get_warp_matrix,
    letterbox,
)


def test_bbox_center_scale_known_values():
    center, scale = bbox_xyxy2cs(np.array([10, 20, 110, 220]), padding=1.25)
    np.testing.assert_allclose(center, [60, 120])
    np.testing.assert_allclose(scale, [125, 250])
    np.testing.assert_allclose(bbox_cs2xyxy(*bbox_xyxy2cs(np.array([10, 20, 110, 220]))),
                               [10, 20, 110, 220])


def test_fix_aspect_ratio_grows_the_short_side():
    # Tall box: width grows to h * 0.75; wide box: height grows to w / 0.75.
    np.testing.assert_allclose(fix_aspect_ratio(np.array([[100, 400]]), 0.75), [[300, 400]])
    np.testing.assert_allclose(fix_aspect_ratio(np.array([[300, 100]]), 0.75), [[300, 400]])


def test_warp_matrix_maps_crop_corners_to_the_output():
    center, scale = np.array([200.0, 150.0]), np.array([150.0, 200.0])
    m = get_warp_matrix(center, scale, 0, (192, 256))
    corners = np.array([[125, 50], [275, 250], [200, 150]], np.float64)
    np.testing.assert_allclose(affine_points(corners, m), [[0, 0], [192, 256], [96, 128]],
                               atol=1e-3)


@pytest.mark.parametrize("rot", [0.0, 30.0, -90.0])
def test_warp_matrix_inverse_round_trip(rot):
    center, scale = np.array([320.0, 240.0]), np.array([180.0, 240.0])
    m = get_warp_matrix(center, scale, rot, (288, 384))
    m_inv = get_warp_matrix(center, scale, rot, (288, 384), inv=True)
    pts = np.random.default_rng(1).uniform(0, 640, (50, 2))
    np.testing.assert_allclose(affine_points(affine_points(pts, m), m_inv), pts, atol=1e-2)


def test_rotation_turns_the_crop():
    # A 90 degree crop rotation maps a point above the centre to the right of the output centre.
    m = get_warp_matrix(np.array([100.0, 100.0]), np.array([100.0, 100.0]), 90, (100, 100))
    np.testing.assert_allclose(affine_points(np.array([[100.0, 90.0]]), m), [[40, 50]], atol=1e-3)


def test_crop_to_image_inverts_the_warp():
    """The official decode formula equals the inverse affine for rotation-free crops."""
    center = np.array([[210.0, 160.0]], np.float32)
    scale = np.array([[180.0, 240.0]], np.float32)
    m_inv = get_warp_matrix(center[0], scale[0], 0, (288, 384), inv=True)
    pts = np.random.default_rng(2).uniform(0, 288, (1, 20, 2)).astype(np.float32)
    np.testing.assert_allclose(crop_to_image(pts, center, scale, (288, 384))[0],
                               affine_points(pts[0], m_inv), atol=1e-3)


def test_warp_affine_crop_lands_pixels_where_the_matrix_says():
    img = np.zeros((480, 640, 3), np.uint8)
    cv2.circle(img, (400, 300), 3, (255, 255, 255), -1)
    center, scale = np.array([380.0, 260.0]), np.array([150.0, 200.0])
    m = get_warp_matrix(center, scale, 0, (192, 256))
    crop = cv2.warpAffine(img, m, (192, 256), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(crop[..., 0] > 128)
    np.testing.assert_allclose([xs.mean(), ys.mean()], affine_points(np.array([400, 300]), m),
                               atol=0.6)


def test_letterbox_top_left_with_pad_114():
    img = np.full((200, 400, 3), 7, np.uint8)
    canvas, r = letterbox(img, 416)
    assert r == pytest.approx(416 / 400)
    assert canvas.shape == (416, 416, 3)
    new_h = int(200 * r)
    assert (canvas[:new_h] == 7).all() and (canvas[new_h:] == 114).all()
    # Round trip: a point mapped into the network and back lands where it started.
    p = np.array([123.0, 77.0])
    np.testing.assert_allclose((p * r) / r, p)
