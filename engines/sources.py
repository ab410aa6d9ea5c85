"""Frames from an image, a folder of images, a video file or a camera, behind one iterator.

``open_source("3")`` is camera 3, a folder yields its images in name order, anything else is
read as an image when its suffix says so and as a video otherwise. Unreadable images are
yielded with ``image=None`` so the caller can warn and count them without losing its place.
A video that stops before the frame count of its header (a truncated or damaged file) says so
through ``ended_early()``.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .camera import open_camera
from .errors import InputError
from .paths import visible_files

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


@dataclass
class Frame:
    index: int  # position in the source (frame number for videos and cameras)
    name: str  # file name for images; "<stem>_<index>" style names are the caller's choice
    image: np.ndarray | None  # BGR uint8, or None when the file could not be decoded


class FrameSource:
    """Iterable of ``Frame``; ``len()`` is known for files, ``None`` for cameras."""

    kind = ""
    live = False  # True for cameras: frames arrive in real time
    fps: float = 0.0
    name = ""

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def __len__(self) -> int:
        return 0

    def ended_early(self) -> str | None:
        """After a full pass: why it stopped short of its announced length, else None."""
        return None

    def close(self) -> None:
        """Release the device or file."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_image(path: str | Path) -> np.ndarray | None:
    """Decode an image file to BGR uint8 (also for non-ASCII paths); None when unreadable."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


class ImageFiles(FrameSource):
    """One image or the images of a folder (sorted by name)."""

    kind = "images"

    def __init__(self, paths: list[Path], name: str) -> None:
        self.paths, self.name = paths, name

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            yield Frame(i, path.name, read_image(path))


class VideoCapture(FrameSource):
    """A video file or a camera (``engines.camera``, at ``size`` when given) read with OpenCV."""

    def __init__(self, target: str | int, name: str, live: bool,
                 size: tuple[int, int] | None = None) -> None:
        self.target, self.name, self.live = target, name, live
        self.frames_read, self.at_end = 0, False
        self.kind = "camera" if live else "video"
        if live:
            self.cap, self.backend = open_camera(int(target), size)
        else:
            self.cap, self.backend = cv2.VideoCapture(target), ""
            if not self.cap.isOpened():
                raise InputError(f"{target}: cannot open as a video (expected an image, a "
                                 "folder of images, a video file or a camera index)")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
        self._count = 0 if live else int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Frame]:
        self.frames_read, self.at_end = 0, False
        while True:
            ok, image = self.cap.read()
            if not ok:
                self.at_end = True
                return
            index = self.frames_read
            self.frames_read += 1
            yield Frame(index, f"{self.name}_{index:06d}", image)

    def ended_early(self) -> str | None:
        if self.live or not self.at_end or self.frames_read >= self._count:
            return None
        return (f"{self.target}: the video ended after {self.frames_read} of the "
                f"{self._count} frames its header announces (truncated or damaged?)")

    def close(self) -> None:
        self.cap.release()


def open_source(spec: str | int | Path, camera_size: tuple[int, int] | None = None
                ) -> FrameSource:
    """Open an image, a folder of images, a video file or a camera index (at ``camera_size``
    (w, h) when the camera offers it)."""
    text = str(spec)
    if text.isdigit():
        return VideoCapture(int(text), f"camera{text}", live=True, size=camera_size)
    path = Path(text)
    if path.is_dir():
        images = visible_files(path, IMAGE_SUFFIXES)
        if not images:
            raise InputError(f"{path}: folder has no images "
                             f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        return ImageFiles(images, path.name)
    if not path.exists():
        raise InputError(f"{path}: no such file, folder or camera index")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFiles([path], path.stem)
    return VideoCapture(str(path), path.stem, live=False)
