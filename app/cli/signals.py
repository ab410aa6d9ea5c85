"""SIGINT (Ctrl+C) and SIGTERM (``kill``, a service manager, a container stop) end a command
the same clean way.

- ``terminate_as_interrupt``: while a command runs, SIGTERM raises ``Terminated``, a
  ``KeyboardInterrupt``, so every ``finally`` and ``with`` runs (temporary files are removed,
  complete checkpoints stay) exactly as after Ctrl+C.
- ``StopSignals``: a frame loop's softer stop. The first SIGINT or SIGTERM only asks the loop
  to stop after the frame it is on, so results and videos are closed with every frame done;
  a second one stops at once.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: The exit code of a command ended by each signal (the shell's 128 + signal number).
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl+C's ``KeyboardInterrupt``."""


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _install(handler: Any) -> dict[int, Any]:
    """Set ``handler`` for SIGINT and SIGTERM; returns the previous handlers (none outside the
    main thread, where Python cannot set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in EXIT_CODES}


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises ``Terminated`` (and SIGINT ``KeyboardInterrupt``) inside the block."""
    previous = _install(_raise)
    try:
        yield
    finally:
        _restore(previous)


class StopSignals:
    """Inside ``with StopSignals() as stop:``, the first SIGINT/SIGTERM sets ``stop.signal``
    (the loop checks ``stop.requested`` after each frame); the second raises at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        """"SIGTERM" or "SIGINT" (Ctrl+C), for the summary."""
        return "" if self.signal is None else signal.Signals(self.signal).name

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            _raise(signum, frame)
        self.signal = signum

    def __enter__(self) -> StopSignals:
        self._previous = _install(self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        _restore(self._previous)
