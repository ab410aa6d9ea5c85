"""The guided person: who to guide (:func:`choose_person`) and what the checks see of them
(:class:`Person`, :func:`measure`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.pipeline import FrameResult
from engines.prominence import prominence

from .config import GuideConfig
from .keypoints import BODY, box_touches_edges, head_top, visible
from .orientation import Orientation, orientation


def choose_person(result: FrameResult, shape: tuple[int, ...], cfg: GuideConfig,
                  previous_track: int | None = None) -> tuple[int | None, list[int]]:
    """Pick the person to guide: the most prominent (``engines.prominence``: box area times
    centrality), sticky by track id.

    Returns the chosen index (None when nobody counts as a person) and the indices of every
    person that counts. The previously guided track keeps the guidance unless someone else
    scores ``person_switch_ratio`` times more (no ping-pong between two similar people).
    """
    h, w = shape[:2]
    people = [i for i in range(len(result))
              if visible(result.keypoints[i, BODY], result.scores[i, BODY], w, h,
                         cfg.kpt_thr).sum() >= cfg.min_person_keypoints]
    if not people:
        return None, []
    score = prominence(np.asarray(result.boxes)[people], shape)
    best = int(np.argmax(score))
    ids = np.asarray(result.track_ids)[people].tolist()
    if previous_track in ids:
        keep = ids.index(previous_track)
        if score[best] < cfg.person_switch_ratio * score[keep]:
            best = keep
    return people[best], people


@dataclass(frozen=True)
class Person:
    """The guided person's measurements for one frame (camera-image pixels).

    ``others`` counts the other people in the frame; ``speed`` is the keypoint speed over the
    motion window (body heights per second), None until it can be measured.
    """

    kp: np.ndarray  # [133, 2]
    vis: np.ndarray  # [133] visible
    box_edges: frozenset[str]
    w: float
    h: float
    head_top: float | None
    orientation: Orientation
    others: int
    speed: float | None = None


def measure(result: FrameResult, i: int, shape: tuple[int, ...], others: int,
            cfg: GuideConfig) -> Person:
    """Person ``i`` of ``result`` in an image of ``shape`` (h, w, ...), ``speed`` not set."""
    h, w = (float(v) for v in shape[:2])
    kp = np.asarray(result.keypoints[i], np.float64)
    vis = visible(kp, np.asarray(result.scores[i]), w, h, cfg.kpt_thr)
    edges = box_touches_edges(result.boxes[i], shape, cfg.box_margin)
    facing = orientation(kp, vis, cfg.frontal_torso_ratio, cfg.frontal_neck_ratio)
    return Person(kp, vis, edges, w, h, head_top(kp, vis, cfg.head_top_ratio), facing, others)
