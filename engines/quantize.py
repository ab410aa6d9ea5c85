"""INT8 models for the CPU, calibrated on real frames: one quantizer per runtime.

- ``openvino``: NNCF (``quantize_nncf``), OpenVINO's own post-training quantizer, through its
  ONNX backend: a QDQ ``.onnx`` (one file, ``<model>.int8.onnx``) whose Q/DQ pairs OpenVINO
  turns into integer kernels. NNCF quantizes the convolutions' inputs and also the additions
  and concatenations between them. Measured (docs/quantization.md,
  OpenVINO 2026.4, one crop): on DWPose-m 2.1x OpenVINO FP32, against 1.4-1.5x for the same
  model quantized by ONNX Runtime's quantizer and for NNCF's OpenVINO IR output, which
  leaves the depthwise convolutions in float. Under ONNX Runtime the same file runs
  slower than FP32 (int8 activations are not its fast path): it is an OpenVINO file.
  Plain NNCF moved a trained DWPose-t's hands far from FP32 (a quarter of the persons at OKS
  >= 0.9 against FP32), and keeping the SimCC head in float (``head_float``) did not help;
  ``AccuracyControl`` (NNCF's accuracy-aware quantization with the precision gate's
  worst-part OKS) did, by putting the harmful convolutions back in float.
- ``onnxruntime``: ONNX Runtime's static quantization (``quantize``). Activations are uint8
  (asymmetric), weights int8 per output channel: U8S8 is the fast path of ONNX Runtime's x86
  kernels (S8S8 ran slower than FP32 on the AVX2 CPU measured, which has no VNNI). Two graph
  formats: ``qdq`` (float ops between QuantizeLinear/DequantizeLinear pairs, fused by the
  runtime into integer kernels) and ``qoperator`` (QLinearConv, QLinearSigmoid...), within 10%
  of each other on the AVX2 CPU measured, QDQ slightly ahead: it is the default.

Calibration samples come from ``calibration.ImageBatcher``, the stage's own preprocessing, so
the ranges are those the app feeds. A pose model's INT8 file is checked by the precision gate
(``engines.precision_gate``); ``detector_agreement`` compares a detector's boxes with FP32, and
``speed`` times two models, interleaved.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .detectors import Detector
from .errors import ModelError, one_line
from .files import atomic_path
from .pose import RTMPose
from .tracking import box_iou

#: The runtime an INT8 file is made for -> its quantizer (see above).
RUNTIMES = ("openvino", "onnxruntime")
FORMATS = ("qdq", "qoperator")
METHODS = ("minmax", "entropy", "percentile")
#: What a pose model quantizes: its convolutions. The SimCC head's matrix products stay in
#: float: quantized, their logits take 256 levels and the argmax lands on a neighbouring bin
#: (measured on a trained DWPose-t: 43% of keypoints within 1 px of FP32 with every operator
#: quantized, 94% with the convolutions only, at nearly the same speed).
POSE_QUANTIZED_OPS = ["Conv"]


def int8_path(path: str | Path) -> Path:
    """Where ``dwpose quantize`` writes the INT8 model of ``path`` by default, and where
    ``--precision int8`` and ``auto`` look for it: ``<model>.int8.onnx`` beside it."""
    path = Path(path)
    return path.with_name(path.stem + ".int8.onnx")


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


def _opset13(model):
    """``model`` at opset >= 13: per-channel QDQ needs DequantizeLinear's ``axis`` (the YOLOX
    releases are opset 11)."""
    from onnx import version_converter

    if next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) < 13:
        return version_converter.convert_version(model, 13)
    return model


def _prepare(src: str | Path, dst: Path) -> None:
    """ONNX Runtime's pre-processing (shape inference, fusions) into ``dst``, at opset >= 13."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(src), str(dst))
    onnx.save(_opset13(onnx.load(str(dst))), str(dst))


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
class AccuracyControl:
    """NNCF's accuracy-aware quantization: layers go back to float, the most harmful first,
    until the metric on ``frames`` drops by at most ``max_drop`` from FP32's. The metric is
    the precision gate's (``engines.precision_gate.worst_part_oks``): each person's lowest
    part OKS against FP32, averaged, so a part that few keypoints make (a hand) weighs as
    much as the face. ``reference``: the FP32 model; ``find_boxes``: the persons of a frame
    (None: the whole frame).

    NNCF validates many candidates, most of them one frame at a time: the FP32 keypoints of
    each frame are computed once, and a candidate is compiled once for all its frames.
    """

    max_drop: float
    reference: RTMPose
    frames: list[np.ndarray]
    find_boxes: Callable[[np.ndarray], np.ndarray] | None = None
    _references: list = field(init=False, repr=False)
    _compiled: tuple = field(init=False, repr=False, default=(None, None))

    def __post_init__(self) -> None:
        from .precision_gate import person_boxes

        self._references = []
        for frame in self.frames:
            boxes = person_boxes(frame, self.find_boxes)
            batch = self.reference.preprocess(frame, boxes)
            keypoints, scores = self.reference.postprocess(*self.reference.infer(batch.blob),
                                                           batch)
            self._references.append((batch, keypoints, scores, boxes))

    @property
    def items(self) -> list[int]:
        """NNCF's validation items: the frames' indices."""
        return list(range(len(self._references)))

    def _candidate(self, model) -> RTMPose:
        """``model`` (an ``onnx.ModelProto``, FP32 or quantized) compiled by OpenVINO."""
        import onnx

        from .models import load_model

        if self._compiled[0] is not model:
            quantized = any(node.op_type == "QuantizeLinear" for node in model.graph.node)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "candidate.onnx"
                onnx.save(model, str(path))
                backend = load_model(path, "pose", "openvino", compile_cache="",
                                     precision="int8" if quantized else "fp32")[0]
            self._compiled = (model, RTMPose(backend))
        return self._compiled[1]

    def validate(self, model, items: Iterable[int]) -> tuple[float, list[float]]:
        """NNCF's validation function: the metric of ``model`` under OpenVINO against FP32 on
        the frames ``items``, and each frame's."""
        from .precision_gate import PosePairs, worst_part_oks

        candidate, values = self._candidate(model), []
        for index in items:
            batch, keypoints, scores, boxes = self._references[index]
            new, _ = candidate.postprocess(*candidate.infer(batch.blob), batch)
            oks = worst_part_oks(PosePairs(keypoints, scores, new, boxes, 1))
            values.append(float(oks.mean()) if len(oks) else 1.0)
        return float(np.mean(values)), values


def quantize_nncf(onnx_path: str | Path, output: str | Path, batches: Iterable[np.ndarray],
                  accuracy: AccuracyControl | None = None, head_float: bool = False,
                  progress: Callable[[int], None] | None = None) -> Path:
    """Write the INT8 QDQ version of ``onnx_path`` for OpenVINO to ``output``, made by NNCF.

    Args:
        batches: calibration inputs, e.g. an ``ImageBatcher``; NNCF sees each sample alone.
        accuracy: run NNCF's accuracy-aware quantization instead of the plain one.
        head_float: a pose model's SimCC head keeps its matrix products in float (NNCF's
            ignored scope: every MatMul of the model, all of them in the head); measured no
            better under NNCF (the module docstring), so off: benchmarks/int8_gate.py
            compares it.
        progress: called with the number of calibration batches read so far.

    The file is written through a temporary file beside it and must load under OpenVINO as
    the same stage.
    """
    import logging

    import nncf
    import onnx

    from .models import load_model
    from .trt.onnx_io import inspect_onnx

    info = inspect_onnx(onnx_path)
    samples = []
    for count, batch in enumerate(batches, 1):
        samples += [{info.input.name: sample[None]} for sample in batch]
        if progress is not None:
            progress(count)
    if not samples:
        raise QuantizeError(f"{onnx_path}: no calibration batch (no frames or persons?)")
    nncf.set_log_level(logging.WARNING)
    options = {"subset_size": len(samples), "ignored_scope": (
        nncf.IgnoredScope(types=["MatMul"]) if head_float and info.kind == "pose" else None)}
    model = _opset13(onnx.load(str(onnx_path)))
    try:
        if accuracy is None:
            quantized = nncf.quantize(model, nncf.Dataset(samples), **options)
        else:
            quantized = nncf.quantize_with_accuracy_control(
                model, nncf.Dataset(samples), nncf.Dataset(accuracy.items),
                accuracy.validate, max_drop=accuracy.max_drop, **options)
    except Exception as exc:  # NNCF raises assorted types
        raise QuantizeError(f"{onnx_path}: NNCF quantization failed ({one_line(exc)[:300]})"
                            ) from None
    if not any(node.op_type == "QuantizeLinear" for node in quantized.graph.node):
        raise QuantizeError(f"{onnx_path}: accuracy control put every layer back in float (no "
                            f"INT8 layer keeps the OKS drop within {accuracy.max_drop:g}); "
                            "nothing written")
    output = Path(output)
    with atomic_path(output, "quantized model") as part:
        onnx.save(quantized, str(part))
        try:
            load_model(part, info.kind, "openvino", precision="int8", compile_cache="")
        except ModelError as exc:
            raise QuantizeError(f"{output}: the quantized model does not load ({exc})") from None
    return output


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
