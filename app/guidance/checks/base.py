"""What every check is given: the shot, the thresholds and the previous frame's outcome."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config import GuideConfig
from ..person import Person
from ..profiles import Profile
from ..results import CheckResult


@dataclass(frozen=True)
class Context:
    """A check's inputs besides the person: ``failed`` names the checks that failed on the
    previous frame (threshold hysteresis, :meth:`margin`)."""

    profile: Profile
    config: GuideConfig
    failed: frozenset[str] = frozenset()

    def margin(self, name: str, margin: float) -> float:
        """Hysteresis: 0 while check ``name`` passes, ``margin`` once it has failed, so that
        it passes again only that far inside its range."""
        return margin if name in self.failed else 0.0


#: A check of the guided person.
PersonCheck = Callable[[Person, Context], CheckResult]
