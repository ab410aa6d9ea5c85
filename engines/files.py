"""Files written whole or not at all, durably, with every write checked: the one module that
writes files, on Windows, macOS and Linux alike.

``AtomicFile`` writes beside its destination under a hidden temporary name
(``.<stem>.<pid>.part<suffix>``) and renames it into place once complete. A reader, a crash or a
kill therefore never sees a half-written file, and an existing file is only ever replaced by a
complete one. A durable write also syncs the data before the rename and removes the temporary
files of the same destination that a killed process left behind. ``replace`` does the same for
a temporary file another writer filled (a video writer, an exporter), ``commit_dir`` for a
folder written whole (a capture).

The platforms' rules live here and nowhere else (``SYSTEM`` is ``sys.platform``; tests pose as
another system by setting it):

- Syncing goes through a handle opened for writing: Windows' ``FlushFileBuffers`` refuses a
  read-only one (``fsync`` then fails with EBADF). On macOS ``fsync`` stops at the drive's
  cache, so ``F_FULLFSYNC`` is asked first.
- A temporary file's writer is alive if ``os.kill(pid, 0)`` says so on POSIX. On Windows that
  call sends Ctrl+C (``CTRL_C_EVENT`` is 0) or raises, so ``OpenProcess`` and
  ``GetExitCodeProcess`` answer there. A writer whose state cannot be told is taken as alive:
  its file is kept, never the write refused.
- On Windows another program (an antivirus or the search indexer scanning a new file, a player
  or spreadsheet holding the old output) can hold a file without delete sharing, and a rename
  then fails with "Access is denied". Renames are retried for about 3 s; when one still fails,
  the finished output is kept beside its destination under a visible name the error gives.

Every failure is one line naming the file (``write_error``): a ``UserError`` (exit code 2)
when the path cannot be used as given (a folder where a file is expected, no permission, a
read-only file system), a ``FaultError`` (exit code 1) otherwise (disk full, I/O error).
A destination that exists and is neither a regular file nor a folder (``/dev/stdout``, a
pipe) is written directly: renaming over it would replace the device itself.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from .errors import DwposeError, FaultError, UserError

#: errno values meaning "this path cannot be used as given" (exit code 2); any other error is
#: a fault of the run (exit code 1).
PATH_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR,
                         errno.EEXIST, errno.ENOENT, errno.ENAMETOOLONG, errno.ELOOP})
_PART = ".part"
#: A name ``temp_path`` makes: ``.<stem>.<pid>.part<suffix>``.
_TEMP_NAME = re.compile(r"\.(?P<stem>.+)\.(?P<pid>\d+)\.part(?P<suffix>(?:\.[^.]*)?)")
#: The operating system whose rules apply (``sys.platform``); tests set another.
SYSTEM = sys.platform
#: Windows: the pauses between the tries of a rename another program blocks (about 3 s).
RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.5)


def write_error(path: str | Path, exc: OSError, what: str) -> DwposeError:
    """``exc``, raised while writing ``what`` to ``path``, as a one-line error."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    kept = "; the existing file is unchanged" if Path(path).is_file() else ""
    cls = UserError if exc.errno in PATH_ERRNOS else FaultError
    return cls(f"{path}: cannot write the {what} ({reason}){kept}")


def temp_path(path: str | Path) -> Path:
    """Where ``path`` is written before it is renamed into place: beside it (the rename stays
    on one file system), hidden, with this process's id, and with the same suffix (writers that
    choose the format by the suffix, such as ``cv2.VideoWriter``, still do)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}{_PART}{path.suffix}")


_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
_STILL_ACTIVE = 259
_ERROR_INVALID_PARAMETER = 87  # OpenProcess of a pid that no process has


def _kernel32() -> Any:
    """Windows' kernel32 with the signatures the liveness check uses (tests give a fake)."""
    k32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    k32.OpenProcess.argtypes = (ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong)
    k32.OpenProcess.restype = ctypes.c_void_p
    k32.GetExitCodeProcess.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_ulong))
    k32.GetExitCodeProcess.restype = ctypes.c_int
    k32.CloseHandle.argtypes = (ctypes.c_void_p,)
    return k32


def _last_error() -> int:
    return ctypes.get_last_error()  # type: ignore[attr-defined]


def _windows_alive(pid: int) -> bool:
    k32 = _kernel32()
    handle = k32.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:  # no such process, or another user's (access denied): alive
        return _last_error() != _ERROR_INVALID_PARAMETER
    try:
        code = ctypes.c_ulong(0)
        if not k32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == _STILL_ACTIVE
    finally:
        k32.CloseHandle(handle)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (True when that cannot be told)."""
    if SYSTEM == "win32":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process (EPERM), or no answer: keep its files
        return True
    return True


def _remove_stale(folder: Path, wanted: Callable[[str, str], bool]) -> list[Path]:
    """Delete the temporary files in ``folder`` (``wanted(stem, suffix)``) whose writer no
    longer runs; returns them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or not wanted(match["stem"], match["suffix"]):
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _alive(pid):
            continue
        try:
            Path(entry.path).unlink(missing_ok=True)
        except OSError:  # held by another program (Windows): left for a later run
            continue
        removed.append(Path(entry.path))
    return removed


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temporary files of ``path`` whose writer no longer runs (a kill -9 during a
    write); returns them."""
    path = Path(path)
    return _remove_stale(path.parent,
                         lambda stem, suffix: stem == path.stem and suffix == path.suffix)


def remove_stale_temps_in(folder: str | Path) -> list[Path]:
    """Delete every temporary file in ``folder`` whose writer no longer runs."""
    return _remove_stale(Path(folder), lambda _stem, _suffix: True)


def sync_fd(fd: int) -> None:
    """Flush a descriptor open for writing to the drive (macOS: past the drive's cache)."""
    if SYSTEM == "darwin":
        import fcntl

        full = getattr(fcntl, "F_FULLFSYNC", None)
        if full is not None:
            try:
                fcntl.fcntl(fd, full)
                return
            except OSError:  # a file system without it (SMB, some USB drives): plain fsync
                pass
    os.fsync(fd)


def sync_file(path: str | Path) -> None:
    """Flush the closed file ``path`` to the drive, through a handle opened for writing."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        sync_fd(fd)
    finally:
        os.close(fd)


def _retried(operation: Callable[[], None]) -> None:
    """Run ``operation``, again after each of ``RETRY_DELAYS`` on Windows while it fails
    with "Access is denied" or a sharing violation (another program holds the file)."""
    for delay in (*RETRY_DELAYS, None):
        try:
            operation()
            return
        except PermissionError:
            if SYSTEM != "win32" or delay is None:
                raise
            time.sleep(delay)


def _rename(src: Path, dst: Path) -> None:
    _retried(lambda: os.replace(src, dst))


def _keep_aside(tmp: Path, path: Path) -> Path:
    """Move the finished ``tmp`` of ``path`` to a visible free name beside it
    (``<stem>.new<suffix>``); returns where it is (``tmp`` itself when even that fails)."""
    for n in range(1, 100):
        kept = path.with_name(f"{path.stem}.new{'' if n == 1 else n}{path.suffix}")
        if not kept.exists():
            try:
                os.replace(tmp, kept)
            except OSError:
                return tmp
            return kept
    return tmp


def _not_placed(tmp: Path, path: Path, exc: OSError, what: str) -> DwposeError:
    """The error of a finished ``tmp`` that could not be renamed onto ``path``: nothing is
    lost, the output is kept aside and the error says where."""
    kept = _keep_aside(tmp, path) if tmp.is_file() else tmp
    reason = exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, PermissionError) and SYSTEM == "win32":
        reason += "; another program may hold it open"
    cls = type(write_error(path, exc, what))
    return cls(f"{path}: cannot put the new {what} in place ({reason}); the finished {what} "
               f"is kept as {kept}")


def replace(tmp: Path, path: Path, what: str, durable: bool = True) -> None:
    """Rename the complete ``tmp`` over ``path`` (syncing it first when ``durable``).

    A failed sync discards ``tmp`` (its data may not be on the drive); a failed rename keeps
    it aside and names it (``_not_placed``)."""
    if durable:
        try:
            sync_file(tmp)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise write_error(path, exc, what) from None
    try:
        _rename(tmp, path)
    except OSError as exc:
        raise _not_placed(tmp, path, exc, what) from None


@contextlib.contextmanager
def atomic_path(path: str | Path, what: str, durable: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that takes a file name (a quantizer, a
    copy); renamed into place when the block ends, removed if it raises."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if durable:
            remove_stale_temps(path)
    except OSError as exc:
        raise write_error(path, exc, what) from None
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    replace(tmp, path, what, durable)


def copy_file(src: str | Path, path: str | Path, what: str) -> Path:
    """Copy ``src`` to ``path`` atomically and durably; returns ``path``."""
    with atomic_path(path, what) as tmp:
        try:
            shutil.copyfile(src, tmp)
        except OSError as exc:
            raise write_error(path, exc, what) from None
    return Path(path)


def move(src: str | Path, path: str | Path, what: str) -> Path:
    """Rename ``src`` (complete, already synced) to ``path``, retried as every rename is;
    nothing is deleted when it fails."""
    try:
        _rename(Path(src), Path(path))
    except OSError as exc:
        raise write_error(path, exc, what) from None
    return Path(path)


def commit_dir(tmp: Path, path: Path, what: str) -> Path:
    """Rename the finished folder ``tmp`` to ``path``. A failure keeps ``tmp`` with everything
    in it and names it: a capture is a moment that cannot be taken again."""
    try:
        _rename(tmp, path)
    except OSError as exc:
        error = write_error(path, exc, what)
        held = (" (another program may hold a file in it open)"
                if isinstance(exc, PermissionError) and SYSTEM == "win32" else "")
        raise type(error)(f"{error}{held}; everything is kept in {tmp}") from None
    return path


def _open(path: Path, text: bool, append: bool = False) -> IO[Any]:
    """The one place files are opened for writing (tests replace it to fill the disk)."""
    mode = ("a" if append else "w") + ("" if text else "b")
    return open(path, mode, encoding="utf-8" if text else None)  # noqa: SIM115


def append_text(path: str | Path, text: str, what: str) -> None:
    """Add ``text`` (UTF-8, line ends as given) at the end of ``path`` (a log), retried as a
    rename is; a one-line error when it cannot."""
    def append() -> None:
        with _open(Path(path), text=False, append=True) as f:
            f.write(text.encode("utf-8"))

    try:
        _retried(append)
    except OSError as exc:
        raise write_error(path, exc, what) from None


def open_binary(path: str | Path, append: bool = False) -> IO[bytes]:
    """``path`` opened to write bytes (at its end with ``append``: a download resumed across
    runs), for a writer that renames it itself through ``replace``."""
    return _open(Path(path), text=False, append=append)


class AtomicFile:
    """A file written under a temporary name and renamed into place on ``commit``.

    Use it as a context manager (commit on success, discard on an exception) or call
    ``commit``/``discard``. ``write`` turns an ``OSError`` into the one-line error of
    ``write_error`` and remembers it, since some writers swallow what their file object raises
    (``torch.save`` reports a full disk as "unexpected pos"). ``durable`` syncs before the
    rename and cleans up after killed writers (results, checkpoints); it is off for the many
    small per-frame files.
    """

    def __init__(self, path: str | Path, what: str, *, text: bool = False,
                 durable: bool = True) -> None:
        self.path, self.what, self.durable = Path(path), what, durable
        if self.path.is_dir():
            raise UserError(f"{self.path}: is a folder; expected a file to write the {what} to")
        self.direct = self.path.exists() and not self.path.is_file()
        self.committed = False
        self.error: OSError | None = None  # the first failed write
        self.tmp = self.path if self.direct else temp_path(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if durable and not self.direct:
                remove_stale_temps(self.path)
            self._file = _open(self.tmp, text)
        except OSError as exc:
            raise write_error(self.path, exc, what) from None

    def _fail(self, exc: OSError) -> DwposeError:
        self.error = self.error or exc
        self.discard()
        return write_error(self.path, self.error, self.what)

    def write(self, data: str | bytes) -> int:
        try:
            return self._file.write(data)
        except OSError as exc:
            raise self._fail(exc) from None

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as exc:
            raise self._fail(exc) from None

    @property
    def closed(self) -> bool:
        return self._file.closed

    def commit(self) -> Path:
        """Finish the file and put it in place; returns its path."""
        if self.committed:
            return self.path
        if self.error is not None:
            raise write_error(self.path, self.error, self.what)
        if self._file.closed:
            raise ValueError(f"{self.path}: commit after discard")
        try:
            self._file.flush()
            if self.durable and not self.direct:  # devices and pipes cannot sync
                sync_fd(self._file.fileno())
            self._file.close()
        except OSError as exc:
            raise self._fail(exc) from None
        if not self.direct:
            replace(self.tmp, self.path, self.what, durable=False)  # synced above
        self.committed = True
        return self.path

    def discard(self) -> None:
        """Drop what was written; the destination stays as it was."""
        with contextlib.suppress(OSError):  # the buffered rest is dropped anyway
            self._file.close()
        if not self.direct:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 _tb: Any) -> None:
        if exc_type is None:
            self.commit()
            return
        self.discard()
        if isinstance(exc, OSError):  # raised by a caller writing to the file's object
            self.error = self.error or exc
        if self.error is not None:  # the cause, whatever the writer made of it
            raise write_error(self.path, self.error, self.what) from None


def write_file(path: str | Path, data: str | bytes, what: str, durable: bool = True) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; returns the path."""
    with AtomicFile(path, what, text=isinstance(data, str), durable=durable) as f:
        f.write(data)
    return Path(path)


def encode_image(image: np.ndarray, suffix: str, path: str | Path) -> bytes:
    """``image`` (BGR) encoded in the format ``suffix`` names (".png", ".jpg", ...)."""
    try:
        ok, data = cv2.imencode(suffix, image)
    except cv2.error:
        ok = False
    if not ok:
        raise UserError(f"{path}: cannot encode an image as {suffix or 'an unnamed format'} "
                        "(expected a suffix such as .png or .jpg)")
    return data.tobytes()


def write_image(path: str | Path, image: np.ndarray, what: str = "image",
                durable: bool = False) -> Path:
    """Encode ``image`` (BGR) by the suffix of ``path`` and write it atomically (unlike
    ``cv2.imwrite``, a failure is an error, not a False nobody reads)."""
    path = Path(path)
    return write_file(path, encode_image(image, path.suffix, path), what, durable=durable)


def _blocking_file(path: Path) -> Path | None:
    """The file standing where ``path`` needs a folder (``out.json/x`` -> ``out.json``)."""
    for parent in (path, *path.parents):
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def _writable_dir(path: Path, flag: str, shown: Path) -> None:
    """Create the folder ``path`` and a file in it (removed again): a one-line error about
    ``flag shown`` unless both work."""
    blocking = _blocking_file(path)
    if blocking is not None:
        raise UserError(f"{flag} {shown}: {blocking} is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = temp_path(path / "write-test")
        _open(probe, text=False).close()
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        cls = UserError if exc.errno in PATH_ERRNOS else FaultError
        raise cls(f"{flag} {shown}: cannot write there ({reason})") from None


def check_output_dir(path: str | Path, flag: str) -> Path:
    """Create the folder ``path`` (given as ``flag``) and make sure files can be made in it,
    before any work is done; a one-line ``UserError`` otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path}: is a file; expected a folder (or a new path)")
    _writable_dir(path, flag, path)
    return path


def check_output_file(path: str | Path, flag: str) -> Path:
    """Make sure the file ``path`` (given as ``flag``) can be written, before any work is
    done: not a folder, and its folder can take files."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a folder; expected a file name "
                        f"(such as {path / 'results.json'})")
    if not (path.exists() and not path.is_file()):  # devices and pipes are written directly
        _writable_dir(path.parent, flag, path)
    return path
