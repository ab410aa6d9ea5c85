"""Top-down evaluation of a pose model on a COCO-WholeBody-format set, as mmpose's test loop.

For every person box (the ground-truth boxes of the annotation file, or a detector's boxes from
a ``bbox_file`` as mmpose evaluates COCO val): the val pipeline (box x 1.25, widened to the
input aspect, affine crop), the model with mmpose's SimCC flip test, argmax decoding, the
keypoints mapped back through the box, then ``trainer.evaluation.evaluate_wholebody``
(rescoring, OKS-NMS, COCO-WholeBody AP/AR per part).

``CocoValidator`` is both the trainer's ``val_fn`` and the engine of ``dwpose eval
--checkpoint``; ``predict`` gives the results list (``dwpose predict``'s format plus
``bbox_score``), so a results file written from it evaluates to the same numbers.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from engines.codec import SimCCCodec
from engines.pipeline import rescore
from engines.skeleton import FLIP_INDICES

from .data import CocoWholeBodyDataset, DetectionsDataset, build_pipeline, make_loader
from .evaluation import evaluate_wholebody

__all__ = ["CocoValidator", "flip_test", "make_coco_val_fn"]


def flip_test(model: nn.Module, inputs: Tensor,
              flip_indices: Sequence[int] = FLIP_INDICES) -> tuple[Tensor, Tensor]:
    """SimCC logits averaged over the crop and its mirror (mmpose ``RTMCCHead.predict`` with
    ``test_cfg=dict(flip_test=True)``).

    The mirrored crop's outputs are mapped back with mmpose's ``flip_vectors``: keypoints
    swapped with their left/right partner (``flip_indices``), ``simcc_x`` reversed along its
    bins (``simcc_y`` is unchanged by a horizontal flip); then
    ``(orig + flipped_back) * 0.5`` per axis, before decoding.
    """
    index = torch.tensor(np.array(flip_indices), dtype=torch.long, device=inputs.device)
    x, y = (t.float() for t in model(inputs))
    fx, fy = (t.float() for t in model(inputs.flip(-1)))
    return (x + fx[:, index].flip(-1)) * 0.5, (y + fy[:, index]) * 0.5


class CocoValidator:
    """``validator(model) -> {part: {AP, ...}}``: top-down AP of ``model`` on ``ann_file``.

    Args:
        ann_file: COCO-WholeBody-format annotations (the ground truth).
        img_dir: its image folder.
        input_size: the model input ``(w, h)``.
        batch_size: crops per forward pass.
        workers: data-loader processes.
        flip_test: average in the mirrored crop (mmpose's RTMPose test config: on).
        bbox_file: person detections (COCO results JSON) to use instead of the ground-truth
            boxes; see ``trainer.data.DetectionsDataset``.
        det_score_thr: drop detections scoring below this (mmpose's default: 0).
    """

    def __init__(self, ann_file: str | Path, img_dir: str | Path, input_size: tuple[int, int],
                 batch_size: int = 32, workers: int = 0, flip_test: bool = True,
                 bbox_file: str | Path | None = None, det_score_thr: float = 0.0) -> None:
        self.ann_file = Path(ann_file)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.flip_test = flip_test
        pipeline = build_pipeline(self.input_size, "val")
        self.dataset = (CocoWholeBodyDataset(ann_file, img_dir, pipeline) if bbox_file is None
                        else DetectionsDataset(ann_file, img_dir, bbox_file, pipeline,
                                               score_thr=det_score_thr))
        self.loader = make_loader(self.dataset, batch_size, workers, seed=0, shuffle=False)
        self.codec = SimCCCodec(self.input_size, split_ratio=2.0)

    @torch.no_grad()
    def predict(self, model: nn.Module, progress: bool = False) -> list[dict[str, Any]]:
        """One result per box: ``{"image_id", "category_id", "keypoints" (133 x, y, score),
        "score" (rescored), "bbox_score", "bbox" [x, y, w, h]}``, image coordinates."""
        from tqdm import tqdm

        device = next(model.parameters()).device
        size = np.asarray(self.input_size, np.float32)
        results = []
        for batch in tqdm(self.loader, desc="predict", disable=not progress, leave=False,
                          dynamic_ncols=True):
            inputs = batch["inputs"].to(device)
            if self.flip_test:
                simcc_x, simcc_y = flip_test(model, inputs)
            else:
                simcc_x, simcc_y = (t.float() for t in model(inputs))
            locs, scores = self.codec.decode(simcc_x.cpu().numpy(), simcc_y.cpu().numpy())
            centers = batch["bbox_center"].numpy()[:, None]
            scales = batch["bbox_scale"].numpy()[:, None]
            kpts = locs / size * scales + centers - 0.5 * scales
            boxes = batch["bbox"].numpy()
            box_scores = (batch["bbox_score"].numpy() if "bbox_score" in batch
                          else np.ones(len(kpts)))
            final = rescore(box_scores, scores)
            for i in range(len(kpts)):
                x1, y1, x2, y2 = (float(v) for v in boxes[i])
                results.append({
                    "image_id": int(batch["img_id"][i]), "category_id": 1,
                    "keypoints": np.concatenate([kpts[i], scores[i][:, None]], 1)
                    .reshape(-1).tolist(),
                    "score": float(final[i]), "bbox_score": float(box_scores[i]),
                    "bbox": [x1, y1, x2 - x1, y2 - y1]})
        return results

    def evaluate(self, results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
        """COCO-WholeBody AP/AR of ``results`` against ``ann_file`` (mmpose's metric)."""
        return evaluate_wholebody(self.ann_file, results)

    def __call__(self, model: nn.Module) -> dict[str, dict[str, float]]:
        return self.evaluate(self.predict(model))


def make_coco_val_fn(ann_file: str | Path, img_dir: str | Path, input_size: tuple[int, int],
                     batch_size: int = 32, workers: int = 0, flip_test: bool = True
                     ) -> CocoValidator:
    """The trainer's ``val_fn``: COCO-WholeBody AP on the ground-truth boxes of ``ann_file``."""
    return CocoValidator(ann_file, img_dir, input_size, batch_size, workers, flip_test)
