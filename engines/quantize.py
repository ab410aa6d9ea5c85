"""INT8 models for the CPU: ONNX Runtime static quantization, and what it costs in accuracy.

Activations are uint8 (asymmetric, ranges calibrated on real frames), weights int8 per output
channel: U8S8 is the fast path of ONNX Runtime's x86 kernels (S8S8 ran slower than FP32 on
the AVX2 CPU measured, which has no VNNI). Calibration batches come from
``calibration.ImageBatcher``, the stage's own preprocessing, so the ranges are those the app
feeds. Two graph formats: ``qdq`` (float ops between QuantizeLinear/DequantizeLinear pairs,
which the runtime fuses into integer kernels) and ``qoperator`` (QLinearConv,
QLinearSigmoid...). On the AVX2 CPU measured (no VNNI) they run within 10% of each other, QDQ
slightly ahead: it is the default.

``pose_agreement`` / ``detector_agreement`` compare an INT8 model with its FP32 original on
frames the calibration did not see; ``speed`` times both, interleaved.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .detectors import Detector
from .errors import ModelError
from .files import atomic_path
from .pose import RTMPose
from .tracking import box_iou

FORMATS = ("qdq", "qoperator")
METHODS = ("minmax", "entropy", "percentile")
#: What a pose model quantizes: its convolutions. The SimCC head's matrix products stay in
#: float: quantized, their logits take 256 levels and the argmax lands on a neighbouring bin
#: (measured on a trained DWPose-t: 43% of keypoints within 1 px of FP32 with every operator
#: quantized, 94% with the convolutions only, at nearly the same speed).
POSE_QUANTIZED_OPS = ["Conv"]
#: PCK thresholds, as fractions of the crop's long side.
PCK_ALPHAS = (0.01, 0.05)


class QuantizeError(ModelError):
    """Quantization failed or produced a file that does not load as the same stage."""


def _reader(batches: Iterable[np.ndarray], input_name: str,
            progress: Callable[[int], None] | None):
    """An ONNX Runtime ``CalibrationDataReader`` over ``batches`` (one feed dict per batch)."""
    from onnxruntime.quantization import CalibrationDataReader

    class BatchReader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches: Iterator[np.ndarray] = iter(batches)
            self.count = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            if batch is None:
                return None
            self.count += 1
            if progress is not None:
                progress(self.count)
            return {input_name: batch}

    return BatchReader()


def _prepare(src: str | Path, dst: Path) -> None:
    """ONNX Runtime's pre-processing (shape inference, fusions) into ``dst``, at opset >= 13:
    per-channel QDQ needs DequantizeLinear's ``axis`` (the YOLOX releases are opset 11)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(src), str(dst))
    model = onnx.load(str(dst))
    if next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) < 13:
        onnx.save(version_converter.convert_version(model, 13), str(dst))


def quantize(onnx_path: str | Path, output: str | Path, batches: Iterable[np.ndarray],
             fmt: str = "qdq", method: str = "minmax", per_channel: bool = True,
             progress: Callable[[int], None] | None = None) -> Path:
    """Write the INT8 version of ``onnx_path`` (a YOLOX or SimCC pose model) to ``output``.

    Args:
        batches: calibration inputs, e.g. an ``ImageBatcher`` over real frames.
        fmt: ``qdq`` or ``qoperator``.  method: calibration: minmax, entropy or percentile.
        per_channel: one weight scale per output channel (much better accuracy than per tensor).
        progress: called with the number of calibration batches consumed so far.

    The file is written through a temporary file beside it (``engines.files``) and must load
    as the same stage.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from .models import load_model
    from .trt.onnx_io import inspect_onnx

    if fmt not in FORMATS:
        raise QuantizeError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if method not in METHODS:
        raise QuantizeError(f"unknown calibration method {method!r} "
                            f"(expected one of {', '.join(METHODS)})")
    info = inspect_onnx(onnx_path)
    output = Path(output)
    reader = _reader(batches, info.input.name, progress)
    with atomic_path(output, "quantized model") as part, \
            tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:
            _prepare(onnx_path, prepared)
            quantize_static(
                str(prepared), str(part), reader,
                quant_format=QuantFormat.QOperator if fmt == "qoperator" else QuantFormat.QDQ,
                per_channel=per_channel, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=POSE_QUANTIZED_OPS if info.kind == "pose" else None,
                calibrate_method={"minmax": CalibrationMethod.MinMax,
                                  "entropy": CalibrationMethod.Entropy,
                                  "percentile": CalibrationMethod.Percentile}[method])
        except Exception as exc:  # ORT's quantizer raises assorted types
            if reader.count == 0:
                raise QuantizeError(f"{onnx_path}: no calibration batch (fewer frames or "
                                    "persons than one batch?)") from None
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise QuantizeError(f"{onnx_path}: quantization failed ({reason})") from None
        try:
            load_model(part, info.kind, "onnxruntime", device="cpu")
        except ModelError as exc:
            raise QuantizeError(f"{output}: the quantized model does not load ({exc})") from None
    return output


@dataclass
class PoseAgreement:
    """INT8 against FP32 keypoints on the same crops."""

    persons: int
    mean_px: float  # mean distance in image pixels
    mean_rel: float  # mean distance / the crop's long side
    pck: dict[float, float] = field(default_factory=dict)  # alpha -> fraction within alpha
    score_diff: float = 0.0  # mean |score_int8 - score_fp32|


def pose_agreement(reference: RTMPose, candidate: RTMPose, images: Iterable[np.ndarray],
                   find_boxes: Callable[[np.ndarray], np.ndarray] | None = None
                   ) -> PoseAgreement:
    """Run both estimators on the same crops of ``images`` and compare their keypoints.

    ``find_boxes`` gives the persons of an image; without it each whole image is one box.
    """
    dist, rel, score_diff = [], [], []
    for image in images:
        if find_boxes is None:
            boxes = np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32)
        else:
            boxes = np.asarray(find_boxes(image), np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            continue
        batch = reference.preprocess(image, boxes)
        k_ref, s_ref = reference.postprocess(*reference.infer(batch.blob), batch)
        k_new, s_new = candidate.postprocess(*candidate.infer(batch.blob), batch)
        d = np.linalg.norm(k_new - k_ref, axis=-1)  # [N, K]
        dist.append(d)
        rel.append(d / batch.scales.max(axis=1, keepdims=True))
        score_diff.append(np.abs(s_new - s_ref))
    if not dist:
        raise ValueError("no person to compare on (no image, or no boxes found)")
    d, r = np.concatenate(dist), np.concatenate(rel)
    return PoseAgreement(len(d), float(d.mean()), float(r.mean()),
                         {a: float((r <= a).mean()) for a in PCK_ALPHAS},
                         float(np.concatenate(score_diff).mean()))


@dataclass
class DetectorAgreement:
    """INT8 against FP32 person boxes on the same images."""

    images: int
    boxes: int  # FP32 boxes
    found: float  # fraction of FP32 boxes with an INT8 box at IoU >= 0.5
    mean_iou: float  # mean best IoU of each FP32 box among the INT8 boxes
    count_diff: float  # mean |#INT8 boxes - #FP32 boxes| per image


def detector_agreement(reference: Detector, candidate: Detector,
                       images: Iterable[np.ndarray]) -> DetectorAgreement:
    """Run both detectors on ``images`` and match INT8 boxes to the FP32 ones by IoU."""
    best, counts, n = [], [], 0
    for image in images:
        ref, new = reference(image), candidate(image)
        n += 1
        counts.append(abs(len(new) - len(ref)))
        if len(ref):
            iou = box_iou(ref.boxes, new.boxes)
            best.append(iou.max(axis=1) if len(new) else np.zeros(len(ref)))
    if n == 0:
        raise ValueError("no image to compare on")
    b = np.concatenate(best) if best else np.zeros(0)
    return DetectorAgreement(n, len(b), float((b >= 0.5).mean()) if len(b) else 1.0,
                             float(b.mean()) if len(b) else 1.0, float(np.mean(counts)))


def speed(reference: Callable[[], object], candidate: Callable[[], object],
          runs: int = 20, warmup: int = 3) -> tuple[float, float]:
    """Median ms of two calls, run alternately so that a busy machine slows both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    pairs = ((reference, times[0]), (candidate, times[1]))
    for i in range(warmup + runs):
        for fn, out in pairs if i % 2 else pairs[::-1]:
            start = time.perf_counter()
            fn()
            if i >= warmup:
                out.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times[0])), float(np.median(times[1]))
