"""Cameras on Windows, macOS and Linux: the OpenCV capture backend that opens them, and what a
user is told when one does not open.

- Windows: Media Foundation (OpenCV's default there) with its hardware transforms off
  (``OPENCV_VIDEOIO_MSMF_ENABLE_HW_TRANSFORMS=0``: with them, opening a webcam can take several
  seconds), then DirectShow for a camera Media Foundation cannot open. Windows gives a webcam
  to one program at a time.
- macOS: AVFoundation. macOS asks once whether the program that runs Python (Terminal, iTerm,
  VS Code) may use the camera; until that is allowed the camera does not open, and the message
  says where to allow it.
- Linux: V4L2, then any backend OpenCV has.

The resolution is asked for when the camera opens, not after: changing it on an open Media
Foundation camera negotiates its format again. ``$DWPOSE_CAMERA_BACKEND`` (``msmf``, ``dshow``,
``avfoundation``, ``v4l2`` or ``any``) tries that backend only. ``SYSTEM`` is ``sys.platform``
and ``ENVIRON`` is ``os.environ``; tests set others.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Collection, Mapping, MutableMapping

import cv2

from .errors import InputError, UserError

SYSTEM = sys.platform
ENVIRON: MutableMapping[str, str] = os.environ
BACKEND_ENV = "DWPOSE_CAMERA_BACKEND"
#: OpenCV's capture backends by the names ``$DWPOSE_CAMERA_BACKEND`` takes.
BACKENDS: Mapping[str, int] = {"msmf": cv2.CAP_MSMF, "dshow": cv2.CAP_DSHOW,
                               "avfoundation": cv2.CAP_AVFOUNDATION, "v4l2": cv2.CAP_V4L2,
                               "any": cv2.CAP_ANY}
_ORDER = {"win32": ("msmf", "dshow"), "darwin": ("avfoundation",)}
_OTHER_ORDER = ("v4l2", "any")
_MSMF_HW_ENV = "OPENCV_VIDEOIO_MSMF_ENABLE_HW_TRANSFORMS"


def backend_order() -> tuple[str, ...]:
    """The backends tried, in order: ``$DWPOSE_CAMERA_BACKEND``'s, else this system's."""
    chosen = ENVIRON.get(BACKEND_ENV, "").strip().lower()
    if chosen:
        if chosen not in BACKENDS:
            raise UserError(f"{BACKEND_ENV}={chosen!r}: expected one of {', '.join(BACKENDS)} "
                            "(or leave it unset)")
        return (chosen,)
    return _ORDER.get(SYSTEM, _OTHER_ORDER)


def not_opened_reason() -> str:
    """Why a camera may not open on this system, and what to do about it."""
    if SYSTEM == "darwin":
        return ("no such camera, or this program may not use it: allow the program that runs "
                "Python (Terminal, iTerm, VS Code) in System Settings > Privacy & Security > "
                "Camera, then start it again")
    if SYSTEM == "win32":
        return ("no such camera, or another program has it (Windows lends a webcam to one "
                "program at a time: close the Camera app, Teams, Zoom or a browser using it), "
                "or desktop apps may not use it (Settings > Privacy & security > Camera)")
    return "no such camera, unplugged, or busy in another program (see ls /dev/video*)"


def open_camera(index: int, size: tuple[int, int] | None = None) -> tuple[cv2.VideoCapture, str]:
    """Camera ``index`` at ``size`` (w, h) when it offers it, and the backend that opened it;
    ``InputError`` with ``not_opened_reason`` when none does."""
    if SYSTEM == "win32":
        ENVIRON.setdefault(_MSMF_HW_ENV, "0")
    for name in backend_order():
        cap = _open(index, BACKENDS[name], size)
        if cap is not None:
            return cap, name
    raise InputError(f"camera {index}: does not open ({not_opened_reason()})")


def _open(index: int, backend: int, size: tuple[int, int] | None) -> cv2.VideoCapture | None:
    """Open with the size as an open parameter; a backend that refuses open parameters opens
    without them and is asked for the size afterwards."""
    attempts = [[]] if size is None else [[cv2.CAP_PROP_FRAME_WIDTH, int(size[0]),
                                           cv2.CAP_PROP_FRAME_HEIGHT, int(size[1])], []]
    for params in attempts:
        cap = cv2.VideoCapture(index, backend, params)
        if cap.isOpened():
            if size is not None and not params:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
            return cap
        cap.release()
    return None


def probe_cameras(count: int = 6, in_use: Collection[int] = ()) -> list[int]:
    """The indices below ``count`` of the cameras that open, plus those ``in_use`` (streaming
    in this program: on Windows opening one a second time could take it from its stream).
    OpenCV's warnings about absent cameras are silenced."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    found = []
    try:
        for index in range(count):
            if index in in_use:
                found.append(index)
                continue
            try:
                cap, _backend = open_camera(index)
            except InputError:
                continue
            cap.release()
            found.append(index)
    finally:
        cv2.utils.logging.setLogLevel(level)
    return found
