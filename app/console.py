"""Console output that never fails on a character, on Windows, macOS and Linux.

Windows writes redirected or piped output in the ANSI code page (cp1252 in much of the world),
which has no CJK, Polish or Greek letters: printing such a file or user name would raise
``UnicodeEncodeError`` after the work is done. Characters the stream cannot encode are
written as escapes (``\\u0141``) instead. A real console (UTF-16) and UTF-8 streams are
unchanged.
"""
from __future__ import annotations

import sys


def safe_output() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` escape what their encoding cannot write."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "strict") == "strict":
            reconfigure(errors="backslashreplace")
