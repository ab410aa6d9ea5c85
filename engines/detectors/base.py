"""The detector interface every family implements: letterbox -> model -> person boxes.

A detector is split the rtmlib way, so that the serial pipeline, the overlapped one (which
submits the model call on its own stream) and calibration share every step:
``preprocess`` (image -> blob, ratio), ``feeds`` (blob -> the model's inputs), the model call
through the backend, and ``postprocess`` (the model's outputs -> ``Detections`` in image
pixels). Both families letterbox the BGR image into the top-left corner of an S x S canvas
padded with 114; they differ in the normalisation of that canvas and in their outputs.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..backends import Backend
from ..models import DetectorIO
from ..transforms import letterbox_blob


@dataclass
class Detections:
    boxes: np.ndarray  # [M, 4] xyxy in image pixels (not clipped, as upstream)
    scores: np.ndarray  # [M] person score

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))


@dataclass(frozen=True)
class Normalization:
    """How the letterboxed canvas becomes the network input.

    ``mean`` / ``std`` are per channel of the network input, after the optional BGR -> RGB
    swap; ``None`` keeps the raw 0-255 values (YOLOX).
    """

    name: str
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    rgb: bool = False

    def describe(self) -> str:
        order = "RGB" if self.rgb else "BGR"
        if self.mean is None:
            return f"{self.name}: {order} 0-255"
        return f"{self.name}: {order} mean {list(self.mean)} std {list(self.std)}"


#: YOLOX (Megvii's raw exports and mmdet's YOLOX alike): BGR 0-255, no mean/std.
YOLOX_NORM = Normalization("yolox")
#: RTMDet (mmdet data_preprocessor, bgr_to_rgb=False): BGR mean/std.
RTMDET_NORM = Normalization("rtmdet", (103.53, 116.28, 123.675), (57.375, 57.12, 58.395))
NORMALIZATIONS = {n.name: n for n in (YOLOX_NORM, RTMDET_NORM)}


class Detector(ABC):
    """Finds people in a BGR image.

    Args:
        backend: the loaded model.  io: what ``check_detector`` read off it.
        score_thr: final person score threshold (official 0.3).
        norm: the input normalisation the model was trained with.
    """

    #: Family name, as ``DetectorIO.family``.
    family: str = ""

    def __init__(self, backend: Backend, io: DetectorIO, score_thr: float,
                 norm: Normalization) -> None:
        self.backend, self.io = backend, io
        self.input_name, self.input_size = io.input_name, io.input_size
        self.score_thr, self.norm = score_thr, norm
        if norm.mean is not None:
            self._mean = np.asarray(norm.mean, np.float32).reshape(1, 3, 1, 1)
            self._std = np.asarray(norm.std, np.float32).reshape(1, 3, 1, 1)

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """BGR uint8 image -> [1, 3, S, S] float32 blob and the letterbox ratio r."""
        blob, ratio = letterbox_blob(image, self.input_size)
        if self.norm.rgb:
            blob = np.ascontiguousarray(blob[:, ::-1])
        if self.norm.mean is not None:
            blob -= self._mean
            blob /= self._std
        return blob, ratio

    def feeds(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        """The model's inputs for one blob."""
        return {self.input_name: blob}

    def infer(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        """Run the model on one blob; its outputs by name."""
        return self.backend(self.feeds(blob))

    @abstractmethod
    def postprocess(self, outputs: Mapping[str, np.ndarray], ratio: float) -> Detections:
        """The model's outputs -> person boxes in image pixels, best first."""

    def __call__(self, image: np.ndarray) -> Detections:
        blob, ratio = self.preprocess(image)
        return self.postprocess(self.infer(blob), ratio)

    def describe(self) -> str:
        """One line for start-up messages: family, input size and its source, normalisation."""
        return f"{self.io.describe()}, {self.norm.describe()}"
