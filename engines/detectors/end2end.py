"""mmdeploy end2end detectors: NMS inside the graph, ``dets`` [1, N, 5] + ``labels`` [1, N].

rtmlib's default detectors (YOLOX-tiny/m/x trained on COCO + Human-Art) and RTMDet-nano
person are exported this way (COMPAT section 2b). The model's boxes are in network pixels:
``dets[0, :, :4] / r`` are the boxes in the image, ``dets[0, :, 4]`` their scores. We keep label
0 (person) above ``score_thr``; there is no grid decode and no NMS of ours. N can be 0.

The input normalisation is the one of the model's training config: YOLOX feeds BGR 0-255,
RTMDet BGR normalised with mean/std. The file itself must say which (``norm_for``): a TensorRT
engine header, the ``pipeline.json`` of the OpenMMLab SDK beside it, a registry record, or the
names of its head in the graph; else the user says (``--det-norm``).
"""
from __future__ import annotations

import json
import mmap
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..backends import Backend
from ..errors import ModelError
from ..models import END2END, DetectorIO, check_detector
from .base import NORMALIZATIONS, RTMDET_NORM, YOLOX_NORM, Detections, Detector, Normalization

#: Parameter names of each family's head, as they appear in its exported graph (mmdet's
#: YOLOXHead and RTMDetSepBNHead modules).
_HEAD_NAMES = ((b"multi_level_conv_obj", YOLOX_NORM), (b"rtm_cls", RTMDET_NORM))
PERSON_LABEL = 0


def pipeline_norm(path: Path) -> Normalization | None:
    """The normalisation an OpenMMLab SDK's ``pipeline.json`` states (None: unreadable)."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        tasks = spec["pipeline"]["tasks"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    transforms = [t for task in tasks if isinstance(task, dict)
                  for t in task.get("transforms", []) if isinstance(t, dict)]
    for t in transforms:
        if t.get("type") != "Normalize":
            continue
        mean, std = [float(v) for v in t["mean"]], [float(v) for v in t["std"]]
        rgb = bool(t.get("to_rgb", True))  # mmdeploy's default when the key is absent
        if mean == [0.0] * 3 and std == [1.0] * 3:
            return Normalization("yolox" if not rgb else "pipeline.json", None, None, rgb)
        return Normalization("pipeline.json", tuple(mean), tuple(std), rgb)
    return YOLOX_NORM


def _graph_norm(path: Path) -> Normalization | None:
    """The family whose head names the file holds (one family's names only)."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            found = {norm for name, norm in _HEAD_NAMES if data.find(name) >= 0}
    except (OSError, ValueError):
        return None
    return found.pop() if len(found) == 1 else None


def norm_for(backend: Backend, choice: str | None = None,
             registry: Normalization | None = None) -> tuple[Normalization, str]:
    """The input normalisation of an end2end detector, and where it was read from.

    ``choice`` ("yolox" or "rtmdet", the user's ``--det-norm``) wins; then an engine header,
    the SDK's ``pipeline.json``, the registry record, the head names in the graph.
    """
    if choice:
        if choice not in NORMALIZATIONS:
            raise ModelError(f"--det-norm {choice!r}: choose {' or '.join(NORMALIZATIONS)}")
        return NORMALIZATIONS[choice], "--det-norm"
    meta = getattr(backend, "metadata", None)
    if meta is not None and meta.kind == "detector":
        if meta.mean is None:
            return YOLOX_NORM, "engine header"
        return Normalization("engine header", tuple(meta.mean), tuple(meta.std),
                             meta.color == "RGB"), "engine header"
    sdk = backend.path.with_name("pipeline.json")
    if sdk.is_file() and (stated := pipeline_norm(sdk)) is not None:
        return stated, str(sdk)
    if registry is not None:
        return registry, "registry"
    if (named := _graph_norm(backend.path)) is not None:
        return named, "head names in the graph"
    raise ModelError(
        f"{backend.path}: an end2end detector that does not say how it was trained: no "
        "pipeline.json beside it, no registry record, no YOLOX or RTMDet head names in the "
        "graph; pass --det-norm yolox (BGR 0-255) or --det-norm rtmdet (BGR mean/std)")


class End2EndDetector(Detector):
    """An mmdeploy end2end export (YOLOX or RTMDet preprocessing).

    Args:
        backend: the loaded model.  io: its checked I/O (read from ``backend`` when omitted).
        score_thr: person score threshold (official 0.3).
        norm: the input normalisation (``norm_for`` finds it when omitted).
        norm_source: where ``norm`` was read from, for ``describe``.
    """

    family = END2END

    def __init__(self, backend: Backend, io: DetectorIO | None = None, score_thr: float = 0.3,
                 norm: Normalization | None = None, norm_source: str = "") -> None:
        io = io or check_detector(backend)
        if io.family != END2END:
            raise ValueError(f"{backend.path}: not an end2end detector ({io.describe()})")
        if norm is None:
            norm, norm_source = norm_for(backend)
        super().__init__(backend, io, score_thr, norm)
        self.norm_source = norm_source

    def describe(self) -> str:
        source = f" (from {self.norm_source})" if self.norm_source else ""
        return f"{super().describe()}{source}"

    def postprocess(self, outputs: Mapping[str, np.ndarray], ratio: float) -> Detections:
        dets = np.asarray(outputs["dets"], np.float32).reshape(-1, 5)
        labels = np.asarray(outputs["labels"]).reshape(-1)
        keep = np.flatnonzero((labels == PERSON_LABEL) & (dets[:, 4] > self.score_thr))
        keep = keep[np.argsort(-dets[keep, 4], kind="stable")]
        return Detections(dets[keep, :4] / np.float32(ratio), dets[keep, 4].copy())
