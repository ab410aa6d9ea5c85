"""Person detectors behind one ``Detector`` interface, one module per family.

- ``base``     the interface, ``Detections`` and the input normalisations.
- ``yolox``    raw YOLOX exports: grid decode and NMS of ours (the official DWPose detector).
- ``end2end``  mmdeploy end2end exports with NMS inside the graph (YOLOX or RTMDet trained).

``create_detector`` picks the family from the model's outputs (``engines.models``).
"""
from __future__ import annotations

from pathlib import Path

from ..backends import Backend
from ..models import END2END, DetectorIO, check_detector, load_model
from .base import NORMALIZATIONS, RTMDET_NORM, YOLOX_NORM, Detections, Detector, Normalization
from .end2end import End2EndDetector, norm_for
from .yolox import YOLOX, nms


def create_detector(backend: Backend, io: DetectorIO | None = None, score_thr: float = 0.3,
                    nms_thr: float = 0.45, norm: str | None = None,
                    registry_norm: str | None = None) -> Detector:
    """The detector for ``backend``'s family.

    ``nms_thr`` applies to raw YOLOX (end2end graphs run their own NMS); ``norm`` is the
    user's choice of an end2end model's normalisation, ``registry_norm`` the registry's.
    """
    io = io or check_detector(backend)
    if io.family == END2END:
        registry = NORMALIZATIONS[registry_norm] if registry_norm else None
        chosen, source = norm_for(backend, norm, registry)
        return End2EndDetector(backend, io, score_thr, chosen, source)
    return YOLOX(backend, io, score_thr, nms_thr)


def registry_hints(path: str | Path, size: int | None = None,
                   cache_dir: str | Path | None = None) -> tuple[int | None, str, str | None]:
    """(input size, its source, normalisation) the registry adds for a cached release.

    ``size`` (the user's ``--det-size``) wins over the registry entry's size.
    """
    from ..hub import release_of

    release = release_of(path, cache_dir)
    if release is None or release.stage != "detector":
        return size, "--det-size", None
    if size is not None:
        return size, "--det-size", release.det_norm
    return release.input_size[0], f"registry entry {release.name}", release.det_norm


def load_detector(path: str | Path, backend: str = "onnxruntime", size: int | None = None,
                  norm: str | None = None, cache_dir: str | Path | None = None,
                  score_thr: float = 0.3, nms_thr: float = 0.45, **options) -> Detector:
    """Load ``path`` with runtime ``backend`` as the detector of its family.

    ``size`` / ``norm`` settle what an end2end file leaves open (``--det-size``,
    ``--det-norm``); for a release in the cache (``cache_dir``) its registry entry fills them.
    """
    size, size_source, registry_norm = registry_hints(path, size, cache_dir)
    model, io = load_model(path, "detector", backend, det_size=size,
                           det_size_source=size_source, **options)
    return create_detector(model, io, score_thr, nms_thr, norm, registry_norm)


__all__ = ["NORMALIZATIONS", "RTMDET_NORM", "YOLOX", "YOLOX_NORM", "Detections", "Detector",
           "End2EndDetector", "Normalization", "create_detector", "load_detector", "nms",
           "norm_for", "registry_hints"]
