"""Paths on Windows, macOS and Linux: where the model cache lives, whether two paths are one
file, and which files of a folder are the user's, in one order everywhere.

- The cache follows each system's convention: ``%LOCALAPPDATA%\\dwpose\\Cache`` on Windows,
  ``~/Library/Caches/dwpose`` on macOS, ``$XDG_CACHE_HOME/dwpose`` or ``~/.cache/dwpose``
  elsewhere; ``$DWPOSE_HOME`` overrides it, and a ``~/.cache/dwpose`` that already holds
  models (where earlier versions put it on every system) is kept.
- macOS and Windows file systems are case-insensitive (and macOS's also ignores Unicode
  normalisation), so ``Shots`` and ``shots`` can be one folder: comparing path strings cannot
  tell, the file system can (``same_file``).
- Listings skip hidden names: macOS writes AppleDouble ``._photo.jpg`` files beside every file
  on exFAT, FAT and network volumes, and our own temporaries start with a dot. They are sorted
  by name, code point by code point: Windows' paths compare case-insensitively, which would
  give another order (and other image ids) than macOS and Linux.

``SYSTEM`` is ``sys.platform`` (tests set another); ``ENVIRON`` is ``os.environ``.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Collection, Mapping
from pathlib import Path

#: The operating system whose rules apply (``sys.platform``); tests set another.
SYSTEM = sys.platform
#: The environment the cache location is read from; tests set another.
ENVIRON: Mapping[str, str] = os.environ
#: Overrides the model cache's location.
HOME_ENV = "DWPOSE_HOME"
APP = "dwpose"


def _legacy_cache(home: Path) -> Path:
    return home / ".cache" / APP


def default_cache_dir(home: Path | None = None) -> Path:
    """``$DWPOSE_HOME``, else an earlier ``~/.cache/dwpose`` that holds files, else the
    system's cache folder for user data (module docstring)."""
    override = ENVIRON.get(HOME_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    home = home or Path.home()
    legacy = _legacy_cache(home)
    if SYSTEM in ("win32", "darwin") and legacy.is_dir() and any(legacy.iterdir()):
        return legacy
    if SYSTEM == "win32":
        local = ENVIRON.get("LOCALAPPDATA", "").strip()
        return (Path(local) if local else home / "AppData" / "Local") / APP / "Cache"
    if SYSTEM == "darwin":
        return home / "Library" / "Caches" / APP
    xdg = ENVIRON.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else home / ".cache") / APP


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` are one file or folder (as the file system sees it: case and
    normalisation-insensitive where it is); False when either does not exist."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def visible_files(folder: str | Path, suffixes: Collection[str]) -> list[Path]:
    """The files in ``folder`` with one of ``suffixes`` (lower case), hidden names skipped,
    sorted by name as every system would sort it."""
    found = [p for p in Path(folder).iterdir()
             if not p.name.startswith(".") and p.suffix.lower() in suffixes and p.is_file()]
    return sorted(found, key=lambda p: p.name)
