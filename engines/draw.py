"""mmpose-style overlays: whole-body skeletons and detection boxes on a BGR image.

The look follows mmpose's ``PoseLocalVisualizer`` for COCO-WholeBody: links first, in the
skeleton's link order and colours, then filled keypoint circles on top, each in the keypoint's
colour (both palettes come from :mod:`engines.skeleton`, stored RGB and converted to BGR here).
A link is drawn when both its end points score above ``kpt_thr`` and its part is enabled; a
keypoint is drawn when it scores above ``kpt_thr`` and its part is enabled. Visibility is computed
with array operations; Python only loops over the visible links and points to call OpenCV.

Both functions draw in place on a ``uint8`` BGR image ``[H, W, 3]`` and return it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from engines import skeleton

__all__ = ["draw_skeleton", "draw_boxes", "default_radius", "default_thickness"]

_KPT_BGR: list[tuple[int, int, int]] = [
    tuple(int(c) for c in rgb[::-1]) for rgb in skeleton.KEYPOINT_COLORS
]
_LINK_BGR: list[tuple[int, int, int]] = [
    tuple(int(c) for c in rgb[::-1]) for rgb in skeleton.LINK_COLORS
]
_LINKS = np.asarray(skeleton.LINKS, dtype=np.intp).reshape(-1, 2)
_LINK_PART_NAMES = np.asarray(skeleton.LINK_PARTS)


def default_radius(shape: Sequence[int]) -> int:
    """Keypoint radius for an image ``shape`` (H, W, ...): 2 px at 480p, 3 at 720p, 4 at 1080p."""
    return max(1, round(min(shape[0], shape[1]) / 240))


def default_thickness(shape: Sequence[int]) -> int:
    """Link thickness for an image of ``shape`` (H, W, ...): 1 px at 480p, 2 at 720p and 1080p."""
    return max(1, round(min(shape[0], shape[1]) / 480))


def _link_mask(parts: Iterable[str]) -> np.ndarray:
    """Boolean [65]: links whose part is enabled by ``parts`` (same names as part_mask)."""
    kpt_mask = skeleton.part_mask(parts)
    enabled = {name for name, r in skeleton.PARTS.items() if kpt_mask[r.start]}
    return np.isin(_LINK_PART_NAMES, sorted(enabled))


def draw_skeleton(
    image: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    parts: Iterable[str] = ("body", "foot", "face", "hand"),
    kpt_thr: float = 0.3,
    radius: int | None = None,
    thickness: int | None = None,
) -> np.ndarray:
    """Draw whole-body skeletons on ``image`` (BGR uint8, in place) and return it.

    Args:
        image: ``[H, W, 3]`` uint8 BGR image, modified in place.
        keypoints: ``[N, 133, 2]`` pixel coordinates (x, y); ``[133, 2]`` is one person.
        scores: ``[N, 133]`` keypoint scores (``[133]`` for one person).
        parts: parts to draw: ``body``, ``foot``, ``face``, ``hand`` (both hands),
            ``left_hand``, ``right_hand``.
        kpt_thr: keypoints scoring ``<= kpt_thr`` are not drawn, nor links touching them.
        radius: keypoint circle radius in pixels; default scales with the image size.
        thickness: link thickness in pixels; default scales with the image size.
    """
    kpts = np.asarray(keypoints, dtype=np.float64)
    scs = np.asarray(scores, dtype=np.float64)
    if kpts.size == 0:
        return image
    if kpts.ndim == 2:
        kpts, scs = kpts[None], scs.reshape(1, -1)
    if kpts.shape[1:] != (skeleton.NUM_KEYPOINTS, 2) or scs.shape != kpts.shape[:2]:
        raise ValueError(
            f"expected keypoints [N,133,2] and scores [N,133], got {kpts.shape} and {scs.shape}"
        )
    r = default_radius(image.shape) if radius is None else int(radius)
    t = default_thickness(image.shape) if thickness is None else int(thickness)

    finite = np.isfinite(kpts).all(axis=-1)
    above = (scs > kpt_thr) & finite  # [N, 133]: may anchor a link
    points = above & skeleton.part_mask(parts)  # [N, 133]: circle drawn
    links = above[:, _LINKS[:, 0]] & above[:, _LINKS[:, 1]] & _link_mask(parts)  # [N, 65]
    pix = np.zeros(kpts.shape, dtype=np.int64)
    pix[finite] = np.rint(kpts[finite]).astype(np.int64)

    for n in range(kpts.shape[0]):
        p = pix[n].tolist()
        for li in np.flatnonzero(links[n]).tolist():
            a, b = _LINKS[li]
            cv2.line(image, p[a], p[b], _LINK_BGR[li], t, cv2.LINE_AA)
        for k in np.flatnonzero(points[n]).tolist():
            cv2.circle(image, p[k], r, _KPT_BGR[k], -1, cv2.LINE_AA)
    return image


def draw_boxes(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: list[str] | None = None,
    color: tuple[int, int, int] = (0, 255, 0),
    thickness: int | None = None,
) -> np.ndarray:
    """Draw ``[N, 4]`` xyxy boxes (and optional text labels) on ``image`` in place; return it.

    ``color`` is BGR. Labels are written on a filled tab above each box's top-left corner (inside
    the box when there is no room above).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if b.shape[0] == 0:
        return image
    if labels is not None and len(labels) != b.shape[0]:
        raise ValueError(f"{len(labels)} labels for {b.shape[0]} boxes")
    t = default_thickness(image.shape) if thickness is None else int(thickness)
    ok = np.isfinite(b).all(axis=1)
    pix = np.zeros(b.shape, dtype=np.int64)
    pix[ok] = np.rint(b[ok]).astype(np.int64)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4 * t
    text_color = (0, 0, 0) if sum(color) > 382 else (255, 255, 255)
    for i in np.flatnonzero(ok).tolist():
        x1, y1, x2, y2 = pix[i].tolist()
        cv2.rectangle(image, (x1, y1), (x2, y2), color, t)
        if labels is None or not labels[i]:
            continue
        (tw, th), base = cv2.getTextSize(labels[i], font, scale, 1)
        top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1
        cv2.rectangle(image, (x1, top), (x1 + tw + 2, top + th + base + 2), color, -1)
        cv2.putText(
            image, labels[i], (x1 + 1, top + th + 1), font, scale, text_color, 1, cv2.LINE_AA
        )
    return image
