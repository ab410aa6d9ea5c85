"""Expected failures: the command line and the app report them in one line, never a traceback.

``UserError`` (exit code 2): something the user gave cannot be used (a file, a path, an
option). ``FaultError`` (exit code 1): the run itself failed on the way (a full disk, an I/O
error, a video that ends before its header says, a training loss that became NaN). Both
derive from ``DwposeError``, whose ``exit_code`` the command line returns. Any other exception
that escapes is a bug and keeps its traceback.
"""
from __future__ import annotations


class DwposeError(Exception):
    """An expected failure, reported as one line; ``exit_code`` is what the command returns."""

    exit_code = 1


class UserError(DwposeError):
    """A problem with what the user gave us (a file, a path, an option): exit code 2."""

    exit_code = 2


class ModelError(UserError):
    """A model file is missing, is not what its format claims, or does not fit the stage."""


class InputError(UserError):
    """An input image, folder, video or camera cannot be used."""


class FaultError(DwposeError):
    """The run failed at run time through no fault of its options (disk full, I/O error,
    truncated input, diverged training): exit code 1."""


#: What the command line and the app report in one line: our own errors, and the operating
#: system's (a file or device that fails where no code was ready for it is not a bug).
EXPECTED = (DwposeError, OSError, MemoryError)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (library messages may span several)."""
    if isinstance(exc, MemoryError):
        return "out of memory" + (f" ({exc})" if str(exc) else "")
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return f"{where}{exc.strerror}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__
