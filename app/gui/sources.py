"""What the capture thread reads: a camera, a video file or a folder of images, in real time.

Opening is ``engines.sources.open_source``'s job; this adds what a live view needs on top:
the camera resolution, real-time pacing of files (a video plays at its frame rate, each image
of a folder stays on screen for :data:`IMAGE_HOLD_S` so the guide can settle on it), fitting
large frames into the chosen resolution. The cameras that open are ``engines.camera``'s.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engines.errors import InputError
from engines.sources import Frame, FrameSource, open_source

#: Seconds each image of a folder stays on screen, and how often it is repeated meanwhile.
IMAGE_HOLD_S = 2.0
IMAGE_FPS = 10.0


@dataclass(frozen=True)
class SourceSpec:
    """Which frames to show.

    Attributes:
        kind: "camera", "video" or "images".
        target: camera index (as text) or path.
        loop: start a video or folder again at its end (otherwise the stream stops there).
        resolution: (w, h) asked of a camera; files larger than it are fitted into it.
    """

    kind: str
    target: str
    loop: bool = True
    resolution: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        """Short name for messages: "camera 0", "video clip.mp4", "images shots"."""
        if self.kind == "camera":
            return f"camera {self.target}"
        return f"{self.kind} {Path(self.target).name or self.target}"


def parse_resolution(text: str) -> tuple[int, int] | None:
    """ "1280x720" -> (1280, 720); "" or anything unreadable -> None (native size)."""
    w, _, h = text.lower().partition("x")
    return (int(w), int(h)) if w.isdigit() and h.isdigit() else None


def open_spec(spec: SourceSpec) -> FrameSource:
    """Open the source; a camera is asked for ``spec.resolution``. Raises ``InputError``."""
    if not spec.target:
        raise InputError(f"no {spec.kind} chosen")
    return open_source(spec.target, camera_size=spec.resolution)


def fit(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Shrink ``image`` to fit ``size`` (either orientation), keeping its aspect ratio."""
    if size is None:
        return image
    h, w = image.shape[:2]
    long_side, short_side = max(size), min(size)
    scale = min(long_side / max(h, w), short_side / min(h, w), 1.0)
    if scale >= 1.0:
        return image
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def paced(source: FrameSource, stop: threading.Event) -> Iterator[Frame]:
    """One pass through ``source`` in real time; ends early when ``stop`` is set.

    Cameras deliver at their own pace. A video plays at its frame rate; each image is repeated
    at :data:`IMAGE_FPS` for :data:`IMAGE_HOLD_S`. A reader that falls behind does not try to
    catch up (the clock restarts from now).
    """
    images = source.kind == "images"
    period = 0.0 if source.live else 1.0 / (IMAGE_FPS if images else source.fps or 30.0)
    repeats = max(1, round(IMAGE_HOLD_S * IMAGE_FPS)) if images else 1
    due = time.perf_counter()
    for frame in source:
        for _ in range(repeats):
            if period:
                if stop.wait(max(0.0, due - time.perf_counter())):
                    return
                due = max(due + period, time.perf_counter())
            if stop.is_set():
                return
            yield frame
