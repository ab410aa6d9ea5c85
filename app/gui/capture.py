"""One capture = one folder with the frame, its keypoints and its ControlNet pose map.

``<capture dir>/<YYYYmmdd-HHMMSS-mmm>/`` holds:

- ``frame.png``: the camera frame as captured (not mirrored, no overlay),
- ``keypoints.json``: COCO keypoint results, one entry per person, 133 keypoints each
  (``engines.results.coco_results``, as ``dwpose predict`` writes them); the keypoints are
  the ones shown, smoothed per person by the app's one-euro filter (``dwpose predict --smooth``
  on a camera smooths the same way), so a capture holds no frame-to-frame jitter,
- ``openpose.json``: the OpenPose / sd-webui-controlnet JSON (``engines.openpose``),
- ``pose.png``: the OpenPose pose map ControlNet is conditioned on (``engines.openpose``).

Nothing is lost and nothing half-written is ever seen: the files are written and synced in a
hidden ``.<name>.part`` folder that is renamed into place in one step (``engines.files``: on
Windows the rename is retried while a scanner holds a new file, and a folder that still cannot
be renamed is kept and named, never deleted). Writing runs on a background thread
(:class:`CaptureWriter`) so a PNG of a large frame never stalls the view.
"""
from __future__ import annotations

import json
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from PyQt5.QtCore import QObject, pyqtSignal

from engines.files import commit_dir, encode_image, write_file
from engines.openpose import draw_pose_map, openpose_json
from engines.pipeline import FrameResult
from engines.results import coco_results

FRAME, KEYPOINTS, OPENPOSE, POSE_MAP = "frame.png", "keypoints.json", "openpose.json", "pose.png"


def _write(path: Path, data: bytes) -> None:
    write_file(path, data, "capture", durable=True)


def _json(doc: object) -> bytes:
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def _free_name(root: Path, when: datetime) -> str:
    stem = when.strftime("%Y%m%d-%H%M%S-") + f"{when.microsecond // 1000:03d}"
    name, n = stem, 1
    while (root / name).exists() or (root / f".{name}.part").exists():
        n += 1
        name = f"{stem}-{n}"
    return name


def write_capture(root: str | Path, image: np.ndarray, result: FrameResult,
                  frame_index: int = 0, when: datetime | None = None) -> Path:
    """Write one capture folder under ``root`` and return its path.

    ``image`` is the BGR frame the keypoints of ``result`` were computed on; ``frame_index``
    becomes the COCO ``image_id``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = _free_name(root, when or datetime.now())
    tmp, final = root / f".{name}.part", root / name
    tmp.mkdir()
    try:
        h, w = image.shape[:2]
        _write(tmp / FRAME, encode_image(image, ".png", final / FRAME))
        _write(tmp / KEYPOINTS, _json(coco_results(result, frame_index, FRAME)))
        _write(tmp / OPENPOSE, _json(openpose_json(result.keypoints, result.scores, h, w)))
        pose_map = draw_pose_map(result.keypoints, result.scores, h, w)
        _write(tmp / POSE_MAP, encode_image(cv2.cvtColor(pose_map, cv2.COLOR_RGB2BGR), ".png",
                                            final / POSE_MAP))
    except BaseException:  # nothing finished: the half-written folder goes
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return commit_dir(tmp, final, "capture")


class CaptureWriter(QObject):
    """Writes captures one after the other on a background thread.

    Signals (delivered in the GUI thread): ``saved(folder)``, ``failed(message)``.
    """

    saved = pyqtSignal(str)
    failed = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture-writer")

    def submit(self, root: Path, image: np.ndarray, result: FrameResult,
               frame_index: int) -> None:
        future = self._pool.submit(write_capture, root, image, result, frame_index)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        exc = future.exception()
        if exc is None:
            self.saved.emit(str(future.result()))
        else:
            self.failed.emit(f"capture not saved: {exc}")

    def close(self) -> None:
        """Finish the pending captures (nothing is dropped) and stop the thread."""
        self._pool.shutdown(wait=True)
