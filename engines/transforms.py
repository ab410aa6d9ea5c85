"""Geometry shared by inference and training: boxes, affine crops, the YOLOX letterbox.

Conventions follow mmpose: a box is (x1, y1, x2, y2); a crop is described by its ``center``
and ``scale`` (the crop's width and height in image pixels); ``input_size`` is (w, h).
"""
from __future__ import annotations

import cv2
import numpy as np


def bbox_xyxy2cs(bbox: np.ndarray, padding: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """[..., 4] boxes -> center [..., 2] and scale [..., 2] (width, height times ``padding``)."""
    bbox = np.asarray(bbox, dtype=np.float32)
    x1, y1, x2, y2 = np.moveaxis(bbox, -1, 0)
    center = np.stack([x1 + x2, y1 + y2], axis=-1) * 0.5
    scale = np.stack([x2 - x1, y2 - y1], axis=-1) * padding
    return center, scale


def bbox_cs2xyxy(center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Inverse of ``bbox_xyxy2cs`` without padding: [..., 2] x2 -> [..., 4]."""
    return np.concatenate([center - scale * 0.5, center + scale * 0.5], axis=-1)


def fix_aspect_ratio(scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Grow the short side of [..., 2] (w, h) scales so that w / h == ``aspect_ratio``."""
    scale = np.asarray(scale, dtype=np.float32)
    w, h = scale[..., 0:1], scale[..., 1:2]
    return np.where(w > h * aspect_ratio,
                    np.concatenate([w, w / aspect_ratio], axis=-1),
                    np.concatenate([h * aspect_ratio, h], axis=-1))


def _rotate(point: np.ndarray, angle_rad: float) -> np.ndarray:
    sn, cs = np.sin(angle_rad), np.cos(angle_rad)
    return np.array([point[0] * cs - point[1] * sn, point[0] * sn + point[1] * cs])


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The point that makes (a, b, c) a right angle at b, turning counter-clockwise."""
    d = a - b
    return b + np.array([-d[1], d[0]])


def get_warp_matrix(center: np.ndarray, scale: np.ndarray, rot: float,
                    output_size: tuple[int, int], shift: tuple[float, float] = (0.0, 0.0),
                    inv: bool = False) -> np.ndarray:
    """2x3 affine matrix mapping the crop (center, scale, rotation in degrees) to
    ``output_size`` (w, h); ``inv`` gives the way back.

    Built from three point pairs and ``cv2.getAffineTransform`` on float32 points, exactly as
    mmpose does, so crops are bit-identical to the official preprocessing.
    """
    center = np.asarray(center, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    src_w = scale[0]
    dst_w, dst_h = output_size
    src_dir = _rotate(np.array([0.0, src_w * -0.5]), np.deg2rad(rot))
    dst_dir = np.array([0.0, dst_w * -0.5])

    src = np.zeros((3, 2), dtype=np.float32)
    src[0] = center + scale * shift
    src[1] = center + src_dir + scale * shift
    src[2] = _third_point(src[0], src[1])
    dst = np.zeros((3, 2), dtype=np.float32)
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    dst[2] = _third_point(dst[0], dst[1])
    if inv:
        return cv2.getAffineTransform(dst, src)
    return cv2.getAffineTransform(src, dst)


def affine_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine ``matrix`` to [..., 2] points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def crop_to_image(points: np.ndarray, center: np.ndarray, scale: np.ndarray,
                  input_size: tuple[int, int]) -> np.ndarray:
    """Map [N, K, 2] points in network-input pixels back to the image (rotation-free crops).

    ``kp / input_size * scale + center - scale / 2``: the official inverse of the crop.
    """
    size = np.asarray(input_size, dtype=np.float32)
    center = np.asarray(center, dtype=np.float32)[:, None, :]
    scale = np.asarray(scale, dtype=np.float32)[:, None, :]
    return points / size * scale + center - scale * 0.5


def letterbox_size(shape: tuple[int, ...], size: int) -> tuple[float, int, int]:
    """Ratio r and resized (w, h) of an image of ``shape`` (H, W, ...) in the YOLOX letterbox."""
    h, w = shape[:2]
    r = min(size / h, size / w)
    return r, int(w * r), int(h * r)


def letterbox(image: np.ndarray, size: int, pad_value: int = 114) -> tuple[np.ndarray, float]:
    """Resize ``image`` into the top-left corner of a ``size`` x ``size`` canvas (YOLOX).

    Returns the canvas (HWC, same dtype) and the ratio r: network coords = image coords * r.
    """
    r, new_w, new_h = letterbox_size(image.shape, size)
    canvas = np.full((size, size, image.shape[2]), pad_value, dtype=image.dtype)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return canvas, r


def letterbox_blob(image: np.ndarray, size: int, pad_value: int = 114) -> tuple[np.ndarray, float]:
    """``letterbox`` straight into a [1, C, size, size] float32 network blob (same values).

    The resized image is written once into the blob's planes and only the padding is filled,
    instead of building the HWC canvas and converting all of it.
    """
    r, new_w, new_h = letterbox_size(image.shape, size)
    blob = np.empty((1, image.shape[2], size, size), np.float32)
    blob[0, :, new_h:] = pad_value
    blob[0, :, :new_h, new_w:] = pad_value
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    blob[0, :, :new_h, :new_w] = resized.transpose(2, 0, 1)
    return blob, r
