"""Frames from an image, a folder of images, a video file or a camera, behind one iterator.

``open_source("3")`` is camera 3, a folder yields its images in name order, anything else is
read as an image when its suffix says so and as a video otherwise. Unreadable images are
yielded with ``image=None`` so the caller can warn and count them without losing its place.
A video that stops before the frame count of its header (a truncated or damaged file) says so
through ``ended_early()``.

``list_inputs`` turns a command line's inputs (paths, globs, folders walked with
``recursive``) into the sources of a batch, each with the output folder it gets; ``shard``
splits them over machines.
"""
from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .camera import open_camera
from .errors import InputError
from .paths import visible_files

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
#: What a glob or a folder walk takes as a video (a path given by name opens whatever it is).
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".ts", ".mts"}


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


@dataclass(frozen=True)
class Input:
    """One source of a batch: ``spec`` is what ``open_source`` opens, ``key`` its output
    folder under the batch's: the path relative to the folder that holds every input (parts
    joined by ``/``), without the file's suffix (with it where two inputs would share one)."""

    spec: str
    key: str


def is_glob(text: str) -> bool:
    """Whether ``text`` is a pattern for ``list_inputs`` to expand (not an existing path)."""
    return glob.has_magic(text) and not Path(text).exists()


def _walk(folder: Path, exclude: Path | None) -> list[Path]:
    """The inputs under ``folder``: itself when it holds images, each video, then each
    sub-folder's (hidden names and ``exclude`` skipped, in code point order)."""
    if exclude is not None and folder.resolve() == exclude:
        return []
    found = [folder] if visible_files(folder, IMAGE_SUFFIXES) else []
    found += visible_files(folder, VIDEO_SUFFIXES)
    subfolders = sorted((p for p in folder.iterdir()
                         if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    for sub in subfolders:
        found += _walk(sub, exclude)
    return found


def _keys(paths: list[Path]) -> list[str]:
    """Each path relative to the folder holding them all, suffix dropped (kept where that
    would make two keys one), parts joined by ``/``."""
    absolute = [p.resolve() for p in paths]
    try:
        root = Path(os.path.commonpath([p.parent for p in absolute]))
        relative = [p.relative_to(root) for p in absolute]
    except ValueError:  # on different drives (Windows): the drive is the first part
        relative = [Path(p.drive.strip(":\\/") or "root", p.relative_to(p.anchor))
                    for p in absolute]
    stems = [r.with_suffix("") if p.is_file() else r for r, p in zip(relative, absolute)]
    keys = ["/".join(s.parts) for s in stems]
    shared = {k for k in keys if keys.count(k) > 1}
    return ["/".join(r.parts) if k in shared else k for k, r in zip(keys, relative)]


def list_inputs(specs: Sequence[str], recursive: bool = False,
                exclude: str | Path | None = None) -> list[Input]:
    """The sources of ``specs``, sorted by key, each once.

    A spec is a camera index (alone: a camera runs until stopped), an image, a video, a folder
    of images or a glob (``*``, ``?``, ``[...]``; ``**`` spans folders), which is expanded
    here so that quoting it works in every shell, PowerShell and cmd included; a glob takes
    folders and the files with an image or video suffix. With ``recursive``, a folder stands
    for itself when it holds images, its videos and those of every sub-folder. ``exclude``
    (the output folder) is never taken. Raises ``InputError`` for a spec that names nothing.
    """
    if any(str(s).isdigit() for s in specs):
        if len(specs) > 1 or recursive:
            raise InputError("a camera runs until it is stopped: give it as the only input")
        return [Input(str(specs[0]), f"camera{specs[0]}")]
    skip = Path(exclude).resolve() if exclude is not None else None
    paths: list[Path] = []
    for spec in specs:
        if is_glob(spec):
            matches = [Path(m) for m in sorted(glob.glob(spec, recursive=True))]
            matches = [m for m in matches if m.is_dir() or m.suffix.lower() in
                       IMAGE_SUFFIXES | VIDEO_SUFFIXES]
            if not matches:
                raise InputError(f"{spec}: no file or folder matches")
        else:
            matches = [Path(spec)]
            if not matches[0].exists():
                raise InputError(f"{spec}: no such file, folder or camera index")
        for path in matches:
            paths += _walk(path, skip) if recursive and path.is_dir() else [path]
    seen: set[tuple[int, int]] = set()
    unique = []
    for path in paths:
        st = path.stat()
        if (st.st_dev, st.st_ino) not in seen and (skip is None or path.resolve() != skip):
            seen.add((st.st_dev, st.st_ino))
            unique.append(path)
    if not unique:
        raise InputError(f"{', '.join(specs)}: no image or video found")
    inputs = [Input(str(p), k) for p, k in zip(unique, _keys(unique))]
    return sorted(inputs, key=lambda i: i.key)


def shard(inputs: Sequence[Input], index: int, count: int) -> list[Input]:
    """The ``index``-th (1-based) of ``count`` shards: every ``count``-th input of the sorted
    list from the ``index``-th on, so shards differ by at most one input, and every machine
    that lists the same inputs takes its own."""
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: expected 1 <= I <= N")
    return list(inputs[index - 1::count])
