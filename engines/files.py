"""Files written whole or not at all, with every write checked.

``AtomicFile`` writes beside its destination under a hidden temporary name
(``.<stem>.<pid>.part<suffix>``) and renames it into place once complete. A reader, a crash or a
kill therefore never sees a half-written file, and an existing file is only ever replaced by a
complete one. A durable write also syncs the data before the rename and removes the temporary
files of the same destination that a killed process left behind.

Every failure is one line naming the file (``write_error``): a ``UserError`` (exit code 2)
when the path cannot be used as given (a folder where a file is expected, no permission, a
read-only file system), a ``FaultError`` (exit code 1) otherwise (disk full, I/O error).
A destination that exists and is neither a regular file nor a folder (``/dev/stdout``, a
pipe) is written directly: renaming over it would replace the device itself.
"""
from __future__ import annotations

import contextlib
import errno
import os
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temporary files of ``path`` whose writer no longer runs (a kill -9 during a
    write); returns them."""
    path = Path(path)
    head, tail = f".{path.stem}.", f"{_PART}{path.suffix}"
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        pid = name[len(head):-len(tail)] if name.startswith(head) and name.endswith(tail) \
            else ""
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


def replace(tmp: Path, path: Path, what: str, durable: bool = True) -> None:
    """Rename the complete ``tmp`` over ``path`` (syncing it first when ``durable``)."""
    try:
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(path, exc, what) from None


def _open(path: Path, text: bool) -> IO[Any]:
    """The one place files are opened for writing (tests replace it to fill the disk)."""
    return open(path, "w" if text else "wb", encoding="utf-8" if text else None)  # noqa: SIM115


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
                os.fsync(self._file.fileno())
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
