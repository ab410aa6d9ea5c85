"""Framing guidance: from one frame's keypoints to the one thing the person should do next.

Pure logic (no Qt, no drawing): the GUI feeds every :class:`~engines.pipeline.FrameResult`
(preferably smoothed by :class:`~engines.smoothing.KeypointSmoother`) to :meth:`Guide.update`
and shows the returned :class:`GuidanceState`: one instruction, a status line per check, and
``ready`` / ``ready_for`` / ``capture`` for automatic capture.

- ``guide``       :class:`Guide`: runs the checks in priority order, readiness and capture timing.
- ``checks/``     one module per check, most urgent first (the shown instruction comes from the
  first failing one):

  1. ``exposure``   too dark or washed out; also :func:`exposure_stats`.
  2. ``person``     nobody in the frame.
  3. ``in_frame``   a needed part cut off at an edge or hidden.
  4. ``distance``   too close / too far.
  5. ``centre``     off-centre left / right.
  6. ``head_room``  too little / too much space above the head.
  7. ``facing``     back turned, body or head turned away (a tilted head or a lean is no turn).
  8. ``hands``      a needed hand not visible, cut off, reported twice, swapped or without
     its fingers.
  9. ``single``     other people in the frame.
  10. ``motion``    moving too much for a sharp capture.

  ``cutoff`` holds what ``in_frame`` and ``hands`` share; ``base`` the ``Context`` each check
  gets, whose ``margin`` is the threshold hysteresis (a check that failed on the previous
  frame passes again only with a margin inside its range).
- ``debounce``    the shown instruction changes only after a new one persisted
  (``switch_frames`` frames and ``switch_seconds``).
- ``person``      :func:`choose_person` (largest and most central, sticky by track id) and the
  guided person's measurements.
- ``orientation`` which way the person faces: head yaw from the face, torso yaw from the
  shoulders against the torso, the turned back.
- ``keypoints``   keypoint groups (:data:`GROUPS`, :data:`EDGES`) and geometry on keypoints.
- ``profiles``    :class:`Profile` and :data:`PROFILES` (the kinds of shot).
- ``config``      :class:`GuideConfig`, every threshold.
- ``results``     :data:`CHECKS`, :class:`CheckResult`, :class:`Instruction`,
  :class:`GuidanceState`.
- ``direction``   :class:`Direction` arrows on the displayed image (mirror view included).
"""
from __future__ import annotations

from .checks.exposure import Exposure, exposure_stats
from .config import GuideConfig
from .direction import Direction
from .guide import Guide
from .keypoints import EDGES, GROUPS, box_touches_edges
from .person import choose_person
from .profiles import FULL_BODY, HANDS, PORTRAIT, PROFILES, UPPER_BODY, Profile
from .results import CHECKS, CheckResult, GuidanceState, Instruction

__all__ = [
    "CHECKS",
    "EDGES",
    "GROUPS",
    "PROFILES",
    "FULL_BODY",
    "UPPER_BODY",
    "PORTRAIT",
    "HANDS",
    "CheckResult",
    "Direction",
    "Exposure",
    "Guide",
    "GuideConfig",
    "GuidanceState",
    "Instruction",
    "Profile",
    "box_touches_edges",
    "choose_person",
    "exposure_stats",
]
