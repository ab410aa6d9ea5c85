"""``person``: somebody in the frame to guide."""
from __future__ import annotations

from ..direction import Direction
from ..person import Person
from ..results import CheckResult, fail


def check_person(p: Person | None) -> CheckResult:
    """Fails when no detection counts as a person (:func:`~app.guidance.choose_person`)."""
    if p is None:
        return fail("person", "nobody in the frame", "Step into the frame", Direction.NONE)
    return CheckResult("person", True, "person found")
