"""The :class:`Guide`: runs the checks in priority order, keeps the instruction steady and
times readiness and automatic capture."""
from __future__ import annotations

from dataclasses import replace

from engines.pipeline import FrameResult

from .checks.base import Context, PersonCheck
from .checks.centre import check_centre
from .checks.distance import check_distance
from .checks.exposure import Exposure, check_exposure
from .checks.facing import check_facing
from .checks.hands import check_hands
from .checks.head_room import check_head_room
from .checks.in_frame import check_in_frame
from .checks.motion import MotionWindow, check_motion
from .checks.person import check_person
from .checks.single import check_single
from .config import GuideConfig
from .debounce import Debounce
from .person import Person, choose_person, measure
from .profiles import FULL_BODY, Profile
from .results import CHECKS, CheckResult, GuidanceState, Instruction

#: The checks of the guided person, run in :data:`CHECKS` order after exposure and person.
_PERSON_CHECKS: dict[str, PersonCheck] = {
    "in_frame": check_in_frame, "distance": check_distance, "centre": check_centre,
    "head_room": check_head_room, "facing": check_facing, "hands": check_hands,
    "single": check_single, "motion": check_motion,
}


class Guide:
    """Turns frame results into one steady instruction, per-check status and readiness.

    Args:
        profile: the kind of shot (:data:`FULL_BODY`, :data:`UPPER_BODY`, ...).
        config: thresholds; defaults are tuned for a webcam at 30 FPS.
    """

    def __init__(self, profile: Profile = FULL_BODY, config: GuideConfig | None = None) -> None:
        self.profile = profile
        self.config = config or GuideConfig()
        self.reset()

    def reset(self) -> None:
        """Forget the history (guided person, hysteresis, motion, readiness)."""
        self._track: int | None = None
        self._failed: frozenset[str] = frozenset()
        self._motion = MotionWindow()
        self._debounce = Debounce()
        self._ready_since: float | None = None
        self._captured = False

    def set_profile(self, profile: Profile) -> None:
        """Switch the kind of shot and start over."""
        self.profile = profile
        self.reset()

    def update(self, result: FrameResult, image_shape: tuple[int, ...], t: float,
               exposure: Exposure | tuple[float, float, float] | None = None,
               mirror: bool = False) -> GuidanceState:
        """Evaluate one frame taken at ``t`` seconds and return what to show.

        Args:
            result: the pipeline's result for the frame (camera-image coordinates).
            image_shape: the frame's (h, w, ...).
            exposure: :func:`exposure_stats` of the frame, or None to skip that check.
            mirror: the GUI shows the frame flipped left-right (selfie view).
        """
        cfg = self.config
        index, people = choose_person(result, image_shape, cfg, self._track)
        track = None if index is None else int(result.track_ids[index])
        if track != self._track:
            self._motion.clear()
        self._track = track
        person = None
        if index is not None:
            person = measure(result, index, image_shape, len(people) - 1, cfg)
            self._motion.add(person, t, self.profile.framed_points(), cfg.motion_window)
            person = replace(person, speed=self._motion.speed())

        checks = _evaluate(person, exposure, Context(self.profile, cfg, self._failed))
        self._failed = frozenset(c.name for c in checks if not c.ok)
        candidate = next((c.instruction for c in checks if not c.ok and c.instruction), None)
        shown = self._debounce.update(candidate, t, cfg.switch_frames, cfg.switch_seconds)

        ready = shown is None  # checks fail without an instruction only after one that has it
        if not ready:
            self._ready_since, self._captured = None, False
        elif self._ready_since is None:
            self._ready_since = t
        ready_for = 0.0 if self._ready_since is None else max(0.0, t - self._ready_since)
        capture = (ready and not self._captured and candidate is None
                   and ready_for >= cfg.capture_after)
        self._captured |= capture

        def display(instr: Instruction | None) -> Instruction | None:
            return instr.mirrored() if instr is not None and mirror else instr

        shown_checks = tuple(replace(c, instruction=display(c.instruction)) for c in checks)
        return GuidanceState(display(shown), display(candidate), shown_checks, ready, ready_for,
                             capture, index, track)


def _evaluate(p: Person | None, exposure: tuple[float, float, float] | None,
              ctx: Context) -> list[CheckResult]:
    """Every check's result, in :data:`CHECKS` order (those of the person wait for one)."""
    results = [check_exposure(exposure, ctx), check_person(p)]
    if p is None:
        return results + [CheckResult(n, False, "waiting for a person") for n in CHECKS[2:]]
    return results + [_PERSON_CHECKS[n](p, ctx) for n in CHECKS[2:]]
