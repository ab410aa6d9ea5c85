"""Windows' and macOS's rules, posed on the machine that runs the tests.

Each platform-specific module reads its facts through a module attribute (``SYSTEM``, a fake
library, ...), so a Linux CI can walk the Windows and macOS code paths:

- ``windows_file_rules``: what Windows does that POSIX does not, for ``engines.files``:
  ``os.fsync`` of a descriptor opened read-only fails with EBADF (``FlushFileBuffers`` needs
  write access), ``os.kill(pid, 0)`` raises ``OSError`` [WinError 87] (it would send Ctrl+C),
  and liveness is asked of ``kernel32`` (a fake that answers from the real process table).
- ``FakeKernel32``: ``OpenProcess`` / ``GetExitCodeProcess`` / ``CloseHandle`` as Windows
  answers them.
- ``FullDisk``: a file whose every write fails with ENOSPC (``/dev/full`` exists on Linux
  only).
"""
from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engines import files

STILL_ACTIVE, EXITED = 259, 0


def _real_pid_alive(kill: Callable[[int, int], None], pid: int) -> bool:
    try:
        kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FakeKernel32:
    """``kernel32`` for the liveness check: a process that exists (asked of ``alive``) opens
    and is STILL_ACTIVE, one that does not fails with ERROR_INVALID_PARAMETER (87), and the
    pids in ``denied`` fail with ERROR_ACCESS_DENIED (5), as another user's processes do."""

    def __init__(self, alive: Callable[[int], bool], denied: frozenset[int] = frozenset()
                 ) -> None:
        self.alive, self.denied = alive, denied
        self.last_error = 0
        self.open_handles: set[int] = set()
        self.calls: list[str] = []

    def OpenProcess(self, access: int, inherit: bool, pid: int) -> int | None:  # noqa: N802
        self.calls.append(f"OpenProcess({access:#x}, {pid})")
        if pid in self.denied:
            self.last_error = 5
            return None
        if not self.alive(pid):
            self.last_error = 87
            return None
        handle = 0x100 + pid
        self.open_handles.add(handle)
        return handle

    def GetExitCodeProcess(self, handle: int, code: Any) -> int:  # noqa: N802
        assert handle in self.open_handles, "GetExitCodeProcess of a closed handle"
        code._obj.value = STILL_ACTIVE  # ctypes.byref(c_ulong)
        return 1

    def CloseHandle(self, handle: int) -> int:  # noqa: N802
        self.open_handles.remove(handle)
        return 1


def windows_file_rules(monkeypatch: pytest.MonkeyPatch) -> FakeKernel32 | None:
    """Pose as Windows for ``engines.files`` (module docstring); returns the fake kernel32.
    On Windows itself the real rules apply (None)."""
    monkeypatch.setattr(files, "RETRY_DELAYS", (0.001,) * len(files.RETRY_DELAYS))
    if os.name == "nt":
        return None
    real_fsync, real_kill = os.fsync, os.kill

    def fsync(fd: int) -> None:
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(errno.EBADF, "Bad file descriptor")
        real_fsync(fd)

    def kill(pid: int, sig: int) -> None:
        if sig == 0:  # CTRL_C_EVENT: GenerateConsoleCtrlEvent fails for a foreign pid
            raise OSError(errno.EINVAL, "The parameter is incorrect")
        real_kill(pid, sig)

    kernel32 = FakeKernel32(lambda pid: _real_pid_alive(real_kill, pid))
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "kill", kill)
    monkeypatch.setattr(files, "SYSTEM", "win32")
    monkeypatch.setattr(files, "_kernel32", lambda: kernel32)
    monkeypatch.setattr(files, "_last_error", lambda: kernel32.last_error)
    return kernel32


class FullDisk:
    """A file opened for writing on a full disk, buffered as Python's files are: writes land in
    an 8 KiB buffer, and whatever reaches the disk (a full buffer, ``flush``, ``close``) fails
    with ENOSPC, as ``/dev/full`` answers."""

    BUFFER = 8192

    def __init__(self, path: Path, text: bool, append: bool = False) -> None:
        self.path, self.closed, self.buffered = Path(path), False, 0

    def _full(self) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def write(self, data: Any) -> int:
        self.buffered += len(data)
        if self.buffered > self.BUFFER:
            raise self._full()
        return len(data)

    def flush(self) -> None:
        if self.buffered:
            raise self._full()

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "not a real file")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.flush()

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
