"""RTMPose / DWPose top-down estimator: affine RGB crops -> SimCC logits -> image keypoints.

Official preprocessing: box -> (center, scale) with padding 1.25, scale widened to the model's
aspect ratio, rotation-free affine warp (INTER_LINEAR, zeros outside the image) to the input
size, **RGB**, mean/std normalisation. All persons of a frame go through the model in one call
when its batch axis is dynamic. A model with a static batch B (``dw-ll_ucoco_384.onnx`` has 1,
ComfyUI's ``*_bs5`` files 5) or an engine with a largest batch gets chunks of B; a static
batch's last chunk is padded with zero crops whose rows are dropped from the result.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .backends import Backend
from .codec import SimCCCodec
from .models import check_pose
from .transforms import bbox_xyxy2cs, crop_to_image, fix_aspect_ratio, get_warp_matrix

MEAN_RGB = (123.675, 116.28, 103.53)
STD_RGB = (58.395, 57.12, 57.375)
BBOX_PADDING = 1.25


@dataclass
class PoseBatch:
    """Network input for a batch of crops and what is needed to map results back."""

    blob: np.ndarray  # [N, 3, H, W] float32, normalised RGB
    centers: np.ndarray  # [N, 2]
    scales: np.ndarray  # [N, 2] crop size in image pixels (aspect-fixed)


class RTMPose:
    """Estimates 133 whole-body keypoints for each box of a BGR image.

    Args:
        backend: a loaded SimCC pose model; input size and split ratio are read from it.
        mean, std: RGB normalisation (the official values by default).
    """

    def __init__(self, backend: Backend, mean=MEAN_RGB, std=STD_RGB) -> None:
        io = check_pose(backend)
        self.backend = backend
        self.input_size = io.input_size  # (w, h)
        self.num_keypoints = io.num_keypoints
        self.static_batch = io.batch
        self.codec = SimCCCodec(io.input_size, split_ratio=io.split_ratio)
        # Normalisation as one table per RGB channel: uint8 value -> (value - mean) / std,
        # computed in float32 exactly as the arithmetic on the crop would be.
        values = np.arange(256, dtype=np.float32)
        self._luts = [(values - np.float32(m)) / np.float32(s) for m, s in zip(mean, std)]

    def preprocess(self, image: np.ndarray, boxes: np.ndarray) -> PoseBatch:
        """BGR image + [N, 4] xyxy boxes -> normalised RGB crops [N, 3, H, W]."""
        w, h = self.input_size
        centers, scales = bbox_xyxy2cs(np.asarray(boxes, np.float32).reshape(-1, 4), BBOX_PADDING)
        scales = fix_aspect_ratio(scales, w / h)
        blob = np.empty((len(centers), 3, h, w), dtype=np.float32)
        for i, (c, s) in enumerate(zip(centers, scales)):
            crop = cv2.warpAffine(image, get_warp_matrix(c, s, 0, (w, h)), (w, h),
                                  flags=cv2.INTER_LINEAR)
            # HWC BGR uint8 -> CHW RGB float32: RGB channel c is BGR plane 2 - c, looked up
            # in its table straight into the blob.
            planes = cv2.split(crop)
            for c in range(3):
                cv2.LUT(planes[2 - c], self._luts[c], dst=blob[i, c])
        return PoseBatch(blob, centers, scales)

    def describe(self) -> str:
        """One line for start-up messages: input size, keypoints, batch."""
        w, h = self.input_size
        batch = f"static batch {self.static_batch}" if self.static_batch else "any batch"
        return f"{self.num_keypoints} keypoints, input {h}x{w} (HxW), {batch}"

    def chunks(self, blob: np.ndarray) -> list[tuple[np.ndarray, int]]:
        """The model calls for ``blob`` [N, 3, H, W]: (batch, rows of it that are real crops)."""
        step = max(self.backend.max_batch or len(blob), 1)
        calls = []
        for start in range(0, len(blob), step):
            part = blob[start:start + step]
            count = len(part)
            if self.static_batch is not None and count < self.static_batch:
                part = np.concatenate([part, np.zeros((self.static_batch - count, *part.shape[1:]),
                                                      part.dtype)])
            calls.append((part, count))
        return calls

    @staticmethod
    def merge(outputs: list[dict[str, np.ndarray]],
              counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The chunks' outputs back into (simcc_x [N, K, Wx], simcc_y [N, K, Wy])."""
        if len(outputs) == 1:
            out, n = outputs[0], counts[0]
            return out["simcc_x"][:n], out["simcc_y"][:n]
        return tuple(np.concatenate([o[name][:n] for o, n in zip(outputs, counts)])
                     for name in ("simcc_x", "simcc_y"))

    def infer(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[N, 3, H, W] -> (simcc_x [N, K, Wx], simcc_y [N, K, Wy]); batched when possible."""
        calls = self.chunks(blob)
        return self.merge([self.backend({"input": part}) for part, _ in calls],
                          [count for _, count in calls])

    def postprocess(self, simcc_x: np.ndarray, simcc_y: np.ndarray,
                    batch: PoseBatch) -> tuple[np.ndarray, np.ndarray]:
        """SimCC logits -> keypoints [N, K, 2] in image pixels and scores [N, K]."""
        points, scores = self.codec.decode(simcc_x, simcc_y)
        return crop_to_image(points, batch.centers, batch.scales, self.input_size), scores

    def __call__(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            k = self.num_keypoints
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
        batch = self.preprocess(image, boxes)
        return self.postprocess(*self.infer(batch.blob), batch)
