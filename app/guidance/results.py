"""What the checks report: :class:`CheckResult` with its :class:`Instruction`, and the
:class:`GuidanceState` the guide returns for a frame."""
from __future__ import annotations

from dataclasses import dataclass, replace

from .direction import Direction

#: Check names, most urgent first.
CHECKS = ("exposure", "person", "in_frame", "distance", "centre", "head_room", "facing",
          "hands", "single", "motion")


@dataclass(frozen=True)
class Instruction:
    """What to tell the person: ``text`` in plain words and a ``direction`` arrow.

    ``priority`` is higher for more urgent checks (``len(CHECKS)`` for the first).
    """

    check: str
    text: str
    direction: Direction
    priority: int

    @property
    def key(self) -> tuple[str, Direction]:
        """Identity for debouncing: same check, same arrow (the text may vary in detail)."""
        return self.check, self.direction

    def mirrored(self) -> Instruction:
        return replace(self, direction=self.direction.mirrored())


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome for the UI's status list.

    ``instruction`` is set when the check failed and knows what to ask; a check that cannot be
    evaluated (its inputs are missing because an earlier check failed) fails without one.
    ``value`` is the measured quantity where there is one (for display and tuning).
    """

    name: str
    ok: bool
    message: str
    instruction: Instruction | None = None
    value: float | None = None


def fail(name: str, message: str, text: str, direction: Direction,
         value: float | None = None) -> CheckResult:
    """A failed check ``name`` asking the person to do ``text``, at the check's priority."""
    instr = Instruction(name, text, direction, len(CHECKS) - CHECKS.index(name))
    return CheckResult(name, False, message, instr, value)


@dataclass
class GuidanceState:
    """What the GUI shows after one frame (directions already in the display's frame).

    Attributes:
        instruction: the debounced instruction to show; None when ready.
        candidate: this frame's top failing check's instruction (undebounced), or None.
        checks: every check in :data:`CHECKS` order.
        ready: all checks pass (debounced).
        ready_for: seconds the state has been ready (0 when not).
        capture: true on the one update where ``ready_for`` reaches ``capture_after`` while
            this frame still passes; fires again only after readiness was lost.
        person: index of the guided person in the FrameResult, or None.
        track_id: their track id, or None.
    """

    instruction: Instruction | None
    candidate: Instruction | None
    checks: tuple[CheckResult, ...]
    ready: bool
    ready_for: float
    capture: bool
    person: int | None
    track_id: int | None

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``."""
        return next(c for c in self.checks if c.name == name)
