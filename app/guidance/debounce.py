"""Debounce: the shown instruction changes only once a new one has persisted."""
from __future__ import annotations

from dataclasses import dataclass

from .direction import Direction
from .results import Instruction


@dataclass
class Debounce:
    """The shown instruction and the candidate waiting to replace it.

    A different instruction (or "ready", None) replaces the shown one only after it has been
    the top candidate for ``frames`` consecutive updates *and* ``seconds``; the first update
    after a reset is shown at once.
    """

    shown: Instruction | None = None
    pending: tuple[str, Direction] | None = None
    pending_count: int = 0
    pending_since: float = 0.0
    started: bool = False

    def update(self, candidate: Instruction | None, t: float, frames: int,
               seconds: float) -> Instruction | None:
        """The instruction to show at ``t``: ``candidate`` once it has persisted long enough."""
        key = None if candidate is None else candidate.key
        shown_key = None if self.shown is None else self.shown.key
        if not self.started or key == shown_key:
            self.started, self.shown, self.pending = True, candidate, None
            return self.shown
        if self.pending != key:
            self.pending, self.pending_count, self.pending_since = key, 0, t
        self.pending_count += 1
        if self.pending_count >= frames and t - self.pending_since >= seconds:
            self.shown, self.pending, self.pending_count = candidate, None, 0
        return self.shown
