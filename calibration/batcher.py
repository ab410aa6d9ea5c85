"""Exact batches of preprocessed calibration samples from a folder of images or a video.

A sample is what the model being calibrated sees in the app: the detector's letterbox (and
its family's normalisation) for a detector, an ``RTMPose.preprocess`` crop (RGB, mean/std)
for a pose model, made by the stage classes themselves so calibration and inference cannot
drift apart.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from engines.detectors import create_detector, load_detector, registry_hints
from engines.errors import InputError
from engines.paths import visible_files
from engines.pose import RTMPose
from engines.sources import IMAGE_SUFFIXES, read_image
from engines.trt.onnx_io import ModelInfo, inspect_onnx

#: Finds person boxes [N, 4] (xyxy) in a BGR image, e.g. ``lambda img: detector(img).boxes``.
BoxFinder = Callable[[np.ndarray], np.ndarray]


class ImageBatcher:
    """Yields float32 batches of exactly ``batch_size`` samples; the remainder is dropped.

    Args:
        source: a folder of images or a video file.
        onnx_path: the model to calibrate; its input size and stage pick the preprocessing.
        batch_size: samples per batch of a pose model (a static-batch model forces its own;
            a detector is calibrated one image per batch, as it runs).
        max_images: at most this many images (or video frames) are read.
        shuffle: pick images / frames in a random order (``seed``), not in name order.
        find_boxes: person boxes for pose crops; None crops each whole frame as one person.
        det_size, det_norm: what a detector file leaves open (``--det-size``, ``--det-norm``).
    """

    def __init__(self, source: str | Path, onnx_path: str | Path, batch_size: int = 8,
                 max_images: int = 512, shuffle: bool = True, seed: int = 0,
                 find_boxes: BoxFinder | None = None, det_size: int | None = None,
                 det_norm: str | None = None) -> None:
        self.source = Path(source)
        det_size, size_source, registry_norm = registry_hints(onnx_path, det_size)
        info = inspect_onnx(onnx_path, det_size, size_source)
        self.kind = info.kind
        # a detector runs on one image per call, as its engine's profile says
        self.batch_size = info.static_batch or (1 if info.kind == "detector" else batch_size)
        w, h = info.input_size
        self.shape = (self.batch_size, 3, h, w)
        self.dtype = np.dtype(np.float32)
        self._preprocess = self._stage_preprocess(info, find_boxes, det_norm, registry_norm)
        self._video = not self.source.is_dir()
        items = self._list_items()
        if shuffle:
            items = [items[i] for i in np.random.default_rng(seed).permutation(len(items))]
        self.items = items[:max_images]
        if not self.items:
            raise InputError(f"{self.source}: no images or frames to calibrate with")

    @staticmethod
    def _stage_preprocess(info: ModelInfo, find_boxes: BoxFinder | None, det_norm: str | None,
                          registry_norm: str | None) -> Callable[[np.ndarray], np.ndarray]:
        """image -> [n, 3, H, W] samples, through the stage's own preprocessing."""
        if info.kind == "detector":
            detector = create_detector(info.signature, info.io, norm=det_norm,
                                       registry_norm=registry_norm)
            return lambda image: detector.preprocess(image)[0]
        pose = RTMPose(info.signature)

        def crops(image: np.ndarray) -> np.ndarray:
            if find_boxes is None:
                boxes = np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32)
            else:
                boxes = np.asarray(find_boxes(image), np.float32).reshape(-1, 4)
            return pose.preprocess(image, boxes).blob

        return crops

    def _list_items(self) -> list:
        if not self.source.exists():
            raise InputError(f"{self.source}: no such folder or video")
        if not self._video:
            return visible_files(self.source, IMAGE_SUFFIXES)
        cap = cv2.VideoCapture(str(self.source))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
        cap.release()
        if count <= 0:
            raise InputError(f"{self.source}: not a folder of images or a readable video")
        return list(range(count))

    def split(self, count: int) -> tuple[ImageBatcher, ImageBatcher]:
        """Two batchers over disjoint parts of the chosen items: the first ``count`` (to
        calibrate on) and the rest (held out, to measure the calibrated model on)."""
        first, rest = copy.copy(self), copy.copy(self)
        first.items, rest.items = self.items[:count], self.items[count:]
        return first, rest

    def images(self) -> Iterator[np.ndarray]:
        """The chosen BGR images / frames, in batching order (unreadable ones skipped)."""
        if not self._video:
            for path in self.items:
                image = read_image(path)
                if image is not None:
                    yield image
            return
        cap = cv2.VideoCapture(str(self.source))
        try:
            for index in self.items:
                cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                ok, image = cap.read()
                if ok:
                    yield image
        finally:
            cap.release()

    def __iter__(self) -> Iterator[np.ndarray]:
        """[batch_size, 3, H, W] float32 batches; fewer samples than a batch at the end are
        dropped so that every batch has exactly the calibration shape."""
        batch = np.empty(self.shape, self.dtype)
        filled = 0
        for image in self.images():
            for sample in self._preprocess(image):
                batch[filled] = sample
                filled += 1
                if filled == self.batch_size:
                    yield batch.copy()
                    filled = 0


def detector_boxes(detector_onnx: str | Path, det_size: int | None = None,
                   det_norm: str | None = None) -> BoxFinder:
    """Person boxes from a detector ONNX model on ONNX Runtime; the whole frame when it finds
    nobody (as the official pipeline does), so every calibration image gives a crop."""
    detector = load_detector(detector_onnx, "onnxruntime", det_size, det_norm, device="auto")

    def find(image: np.ndarray) -> np.ndarray:
        boxes = detector(image).boxes
        if len(boxes):
            return boxes
        return np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32)

    return find
