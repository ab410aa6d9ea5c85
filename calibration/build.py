"""The whole ``dwpose build`` / ``dwpose calibrate`` flow: a calibrator for INT8, then the
engine builder of ``engines.trt`` (the builder only takes the calibrator it is handed), and the
frames the precision gate checks the engine on."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engines.errors import UserError
from engines.trt import builder as trt_builder
from engines.trt.metadata import EngineMetadata

from .batcher import BoxFinder, ImageBatcher
from .calibrator import create_entropy_calibrator, require_calibrator


def make_calibrator(onnx_path: str | Path, images: str | Path | None, cache: str | Path | None,
                    batch: int = 8, max_images: int = 512, find_boxes: BoxFinder | None = None,
                    recalibrate: bool = False, det_size: int | None = None,
                    det_norm: str | None = None):
    """An entropy calibrator over ``images`` (a folder or a video) with the ``cache`` file:
    the cache is used when it exists (unless ``recalibrate``), else written after calibrating."""
    require_calibrator()  # TensorRT 11 has none: say so before reading any image
    if cache is None:
        raise UserError("INT8 needs a calibration cache file to read or write (--calib-cache)")
    cache = Path(cache)
    if recalibrate and images is None:
        raise UserError("recalibrating needs calibration images (a folder or a video)")
    if images is None and not cache.is_file():
        raise UserError(f"INT8 needs calibration images (--calib-images DIR or VIDEO) or an "
                        f"existing calibration cache; {cache} does not exist")
    batcher = None
    if images is not None and (recalibrate or not cache.is_file()):
        batcher = ImageBatcher(images, onnx_path, batch, max_images, find_boxes=find_boxes,
                               det_size=det_size, det_norm=det_norm)
    return create_entropy_calibrator(batcher, cache, read_cache=not recalibrate)


def build_engine(onnx_path: str | Path, output: str | Path | None, precision: str = "fp16",
                 max_batch: int = trt_builder.DEFAULT_MAX_BATCH,
                 opt_batch: int = trt_builder.DEFAULT_OPT_BATCH,
                 workspace_mb: int = trt_builder.DEFAULT_WORKSPACE_MB,
                 timing_cache: str | Path | None = None,
                 calib_images: str | Path | None = None, calib_cache: str | Path | None = None,
                 calib_batch: int = 8, calib_max_images: int = 512,
                 find_boxes: BoxFinder | None = None, recalibrate: bool = False,
                 verbose: bool = False, log: Callable[[str], None] = trt_builder.stderr_log,
                 det_size: int | None = None, det_norm: str | None = None) -> EngineMetadata:
    """Parse, (calibrate,) build and write one engine: ``engines.trt.builder.build_engine``
    with, for INT8, the calibrator ``make_calibrator`` gives."""
    calibrator = None
    if precision == "int8":
        calibrator = make_calibrator(onnx_path, calib_images, calib_cache, calib_batch,
                                     calib_max_images, find_boxes, recalibrate, det_size,
                                     det_norm)
    return trt_builder.build_engine(onnx_path, output, precision, max_batch, opt_batch,
                                    workspace_mb, timing_cache, calibrator, calib_cache,
                                    verbose, log, det_size, det_norm)


def gate_frames(images: str | Path, onnx_path: str | Path, count: int,
                calibrated_on: int | None = None, find_boxes: BoxFinder | None = None,
                det_size: int | None = None, det_norm: str | None = None
                ) -> tuple[ImageBatcher, bool]:
    """``count`` frames of ``images`` for the precision gate, and whether the calibration saw
    them. ``calibrated_on``: the calibration read the first that many of the same shuffled
    frames (``make_calibrator``'s batcher, same seed); the gate takes the ones after them, or,
    where none are left, the first ``count`` (seen by the calibration)."""
    if calibrated_on is None:
        return ImageBatcher(images, onnx_path, max_images=count, find_boxes=find_boxes,
                            det_size=det_size, det_norm=det_norm), False
    frames = ImageBatcher(images, onnx_path, max_images=calibrated_on + count,
                          find_boxes=find_boxes, det_size=det_size, det_norm=det_norm)
    seen, held = frames.split(calibrated_on)
    if held.items:
        return held, False
    return seen.split(count)[0], True
