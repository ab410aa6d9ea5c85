"""Build TensorRT engines from the ONNX models, in the style of TensorRT's Python samples.

``EngineBuilder`` parses an ONNX file (every parser error is printed), sets the precision,
an optimization profile for the dynamic axes (the pose batch; a detector's symbolic input
size is fixed to the size it runs at), an optional INT8 calibrator and a timing cache, builds
the plan and writes it with its ``EngineMetadata`` header, which records the input
normalisation (for an end2end detector: the one its file or registry entry states).

TensorRT 10: FP16 and INT8 are builder flags; INT8 scales come from an entropy calibrator.
TensorRT 11: networks are strongly typed and the flags and the calibrator are gone, so FP16
is built from an FP16 copy of the ONNX model (``fp16.convert_to_fp16``) and calibrated INT8
is refused with a clear message.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import onnx

from ..detectors import NORMALIZATIONS, YOLOX_NORM, create_detector, registry_hints
from ..errors import ModelError, UserError
from ..files import write_file
from ..pose import MEAN_RGB, STD_RGB
from .fp16 import convert_to_fp16
from .metadata import EngineMetadata, file_sha256, write_engine
from .onnx_io import ModelInfo, inspect_onnx
from .runtime import (
    INT8_NEEDS_TRT10,
    CudaContext,
    import_cuda,
    import_tensorrt,
    major_version,
)

PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_MAX_BATCH = 8
DEFAULT_OPT_BATCH = 4  # typical number of persons in a frame
DEFAULT_WORKSPACE_MB = 1024


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class EngineBuilder:
    """Parses an ONNX model into a TensorRT network and builds a serialized engine.

    Args:
        workspace_mb: builder workspace memory pool limit (MiB).
        verbose: TensorRT INFO messages instead of warnings only.
        device_index: the CUDA device to build for.
        log: where progress lines go (stderr by default).
    """

    def __init__(self, workspace_mb: int = DEFAULT_WORKSPACE_MB, verbose: bool = False,
                 device_index: int = 0, log: Callable[[str], None] = stderr_log) -> None:
        self.trt = trt = import_tensorrt()
        self.cuda = import_cuda()
        self.major = major_version(trt)
        self.log = log
        self.context = CudaContext(self.cuda, device_index)
        self.logger = trt.Logger(trt.Logger.INFO if verbose else trt.Logger.WARNING)
        self.builder = trt.Builder(self.logger)
        self.config = self.builder.create_builder_config()
        self.config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
        self.workspace_mb = workspace_mb
        self.network = None
        self.parser = None
        self.info: ModelInfo | None = None
        self.onnx_path: Path | None = None
        self.strongly_typed = self.major >= 11

    def create_network(self, onnx_path: str | Path, precision: str = "fp16",
                       det_size: int | None = None, det_norm: str | None = None) -> ModelInfo:
        """Parse ``onnx_path``; with TensorRT 11 and FP16 the FP16-converted copy is parsed.

        ``det_size`` / ``det_norm``: what a detector file leaves open (``load_detector``).
        """
        trt = self.trt
        if precision not in PRECISIONS:
            raise UserError(f"precision {precision!r}: choose from {', '.join(PRECISIONS)}")
        if precision == "int8" and self.major >= 11:
            raise UserError(INT8_NEEDS_TRT10.format(version=trt.__version__))
        self.onnx_path = Path(onnx_path).resolve()
        det_size, size_source, registry_norm = registry_hints(self.onnx_path, det_size)
        self.info = inspect_onnx(self.onnx_path, det_size, size_source)
        self.norm = YOLOX_NORM
        if self.info.kind == "detector":
            self.norm = create_detector(self.info.signature, self.info.io, norm=det_norm,
                                        registry_norm=registry_norm).norm
        flags = 0
        if self.strongly_typed:
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        self.network = self.builder.create_network(flags)
        self.parser = trt.OnnxParser(self.network, self.logger)
        if self.strongly_typed and precision == "fp16":
            try:
                model = convert_to_fp16(onnx.load(str(self.onnx_path)))
            except (ValueError, onnx.checker.ValidationError) as exc:
                raise ModelError(f"{self.onnx_path}: FP16 conversion failed ({exc})") from None
            self.log(f"converted {self.onnx_path.name} to FP16 (inputs/outputs stay FP32) "
                     "for a strongly typed build")
            ok = self.parser.parse(model.SerializeToString(), str(self.onnx_path))
        else:
            ok = self.parser.parse_from_file(str(self.onnx_path))
        if not ok:
            errors = [str(self.parser.get_error(i)) for i in range(self.parser.num_errors)]
            for error in errors:
                self.log(f"ONNX parser error: {error}")
            raise ModelError(f"{self.onnx_path}: TensorRT's ONNX parser failed with "
                             f"{len(errors)} error(s) (printed above)")
        for kind, count, get in (("input", self.network.num_inputs, self.network.get_input),
                                 ("output", self.network.num_outputs, self.network.get_output)):
            for i in range(count):
                tensor = get(i)
                self.log(f"network {kind} {tensor.name!r} shape {tuple(tensor.shape)} "
                         f"dtype {tensor.dtype}")
        return self.info

    def _input_shape(self, tensor, batch: int) -> tuple[int, ...]:
        """``tensor``'s shape at ``batch`` with its image axes at the size the model runs at
        (a detector's symbolic input size is settled by ``check_detector``)."""
        w, h = self.info.input_size
        shape = (batch, *tuple(tensor.shape)[1:])
        if len(shape) == 4:
            shape = (batch, shape[1], shape[2] if shape[2] >= 0 else h,
                     shape[3] if shape[3] >= 0 else w)
        if any(d < 0 for d in shape[1:]):
            raise ModelError(f"{self.onnx_path}: input {tensor.name!r} has dynamic axes "
                             f"besides the batch and image size ({tuple(tensor.shape)})")
        return shape

    def _batch_profile(self, max_batch: int, opt_batch: int) -> tuple[int, int]:
        """Add the optimization profile of the dynamic axes; returns (max, opt) batch."""
        static = self.info.static_batch
        if static is not None:
            max_batch = opt_batch = static
        elif self.info.kind == "detector":  # the app sends one letterboxed image per call
            max_batch = opt_batch = 1
        opt_batch = max(1, min(opt_batch, max_batch))
        if not any(-1 in tuple(self.network.get_input(i).shape)
                   for i in range(self.network.num_inputs)):
            return max_batch, opt_batch
        profile = self.builder.create_optimization_profile()
        for i in range(self.network.num_inputs):
            tensor = self.network.get_input(i)
            low, opt, high = (self._input_shape(tensor, b) for b in (1, opt_batch, max_batch))
            if static is not None:
                low = opt = high
            profile.set_shape(tensor.name, low, opt, high)
            self.log(f"profile {tensor.name!r}: min {low}, opt {opt}, max {high}")
        if self.config.add_optimization_profile(profile) < 0:
            raise ModelError(f"{self.onnx_path}: TensorRT rejected the optimization profile")
        return max_batch, opt_batch

    def _set_precision(self, precision: str, calibrator) -> None:
        trt, config = self.trt, self.config
        if self.strongly_typed:
            return  # precision is in the (converted) model's tensor types
        if precision in ("fp16", "int8"):
            if not self.builder.platform_has_fast_fp16:
                self.log("warning: this GPU has no fast FP16; FP16 may not be faster than FP32")
            config.set_flag(trt.BuilderFlag.FP16)
        if precision == "int8":
            if not self.builder.platform_has_fast_int8:
                self.log("warning: this GPU has no fast INT8; INT8 may not be faster")
            if calibrator is None:
                raise UserError("INT8 needs calibration images or an existing calibration cache")
            config.set_flag(trt.BuilderFlag.INT8)
            config.int8_calibrator = calibrator
            if self.info.static_batch is None:
                batch = calibrator.get_batch_size()
                profile = self.builder.create_optimization_profile()
                for i in range(self.network.num_inputs):
                    tensor = self.network.get_input(i)
                    shape = self._input_shape(tensor, batch)
                    profile.set_shape(tensor.name, shape, shape, shape)
                config.set_calibration_profile(profile)

    def _load_timing_cache(self, path: Path | None):
        data = path.read_bytes() if path is not None and path.is_file() else b""
        cache = self.config.create_timing_cache(data)
        if cache is None and data:
            self.log(f"warning: {path}: unreadable timing cache, starting a new one")
            cache = self.config.create_timing_cache(b"")
        if not self.config.set_timing_cache(cache, ignore_mismatch=False):
            self.log(f"warning: {path}: timing cache from another GPU/TensorRT, starting anew")
            self.config.set_timing_cache(self.config.create_timing_cache(b""), False)
        elif data:
            self.log(f"timing cache: reusing {path}")

    def create_engine(self, output: str | Path | None, precision: str = "fp16",
                      max_batch: int = DEFAULT_MAX_BATCH, opt_batch: int = DEFAULT_OPT_BATCH,
                      calibrator=None, timing_cache: str | Path | None = None,
                      calib_cache: str | Path | None = None) -> EngineMetadata:
        """Build the parsed network and write it to ``output`` (None: build only, e.g. to
        produce a calibration cache). Returns the engine's metadata."""
        if self.network is None:
            raise RuntimeError("create_network must come before create_engine")
        trt, info = self.trt, self.info
        if max_batch < 1:
            raise UserError(f"max batch {max_batch}: expected an integer >= 1")
        max_batch, opt_batch = self._batch_profile(max_batch, opt_batch)
        self._set_precision(precision, calibrator)
        timing_path = Path(timing_cache) if timing_cache else None
        self._load_timing_cache(timing_path)
        self.log(f"building {precision.upper()} {info.kind} engine from {self.onnx_path.name} "
                 f"with TensorRT {trt.__version__} for {self.context.gpu.describe()}; "
                 "this can take a few minutes")
        start = time.perf_counter()
        with self.context:
            plan = self.builder.build_serialized_network(self.network, self.config)
        if plan is None:
            raise ModelError(f"{self.onnx_path}: TensorRT could not build an engine "
                             "(its errors are printed above)")
        self.log(f"built in {time.perf_counter() - start:.1f} s "
                 f"({memoryview(plan).nbytes / 1e6:.1f} MB)")
        if timing_path is not None:
            write_file(timing_path, bytes(memoryview(self.config.get_timing_cache().serialize())),
                       "timing cache")
            self.log(f"timing cache saved to {timing_path}")
        meta = self._metadata(precision, max_batch, opt_batch, calib_cache)
        if output is not None:
            write_engine(output, meta, bytes(memoryview(plan)))
            self.log(f"wrote {output}")
        return meta

    def _metadata(self, precision: str, max_batch: int, opt_batch: int,
                  calib_cache: str | Path | None) -> EngineMetadata:
        info, pose, norm = self.info, self.info.kind == "pose", self.norm
        return EngineMetadata(
            kind=info.kind, input_name=info.input.name, input_size=info.input_size,
            color="RGB" if pose or norm.rgb else "BGR", mean=MEAN_RGB if pose else norm.mean,
            std=STD_RGB if pose else norm.std, split_ratio=info.io.split_ratio if pose else None,
            norm=None if pose else norm.name,
            precision=precision, max_batch=max_batch, opt_batch=opt_batch,
            workspace_mb=self.workspace_mb, tensorrt=str(self.trt.__version__),
            gpu_name=self.context.gpu.name,
            compute_capability=self.context.gpu.compute_capability,
            onnx_path=str(self.onnx_path), onnx_sha256=file_sha256(self.onnx_path),
            strongly_typed=self.strongly_typed,
            calib_cache=str(Path(calib_cache).resolve()) if calib_cache else None,
            built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def close(self) -> None:
        self.context.close()


def build_engine(onnx_path: str | Path, output: str | Path | None, precision: str = "fp16",
                 max_batch: int = DEFAULT_MAX_BATCH, opt_batch: int = DEFAULT_OPT_BATCH,
                 workspace_mb: int = DEFAULT_WORKSPACE_MB,
                 timing_cache: str | Path | None = None, calibrator=None,
                 calib_cache: str | Path | None = None, verbose: bool = False,
                 log: Callable[[str], None] = stderr_log, det_size: int | None = None,
                 det_norm: str | None = None) -> EngineMetadata:
    """Parse, build and write one engine.

    INT8 needs ``calibrator`` (TensorRT 10's calibrator interface; ``calibration`` makes one
    from images or a cache, ``calibration.build_engine`` is the whole ``dwpose build`` flow);
    ``calib_cache`` is recorded in the header. It is freed once the build is over.
    ``det_size`` / ``det_norm``: what a detector file leaves open.
    """
    builder = EngineBuilder(workspace_mb, verbose, log=log)
    try:
        builder.create_network(onnx_path, precision, det_size, det_norm)
        return builder.create_engine(output, precision, max_batch, opt_batch, calibrator,
                                     timing_cache, calib_cache)
    finally:
        if calibrator is not None:
            with builder.context:
                calibrator.free()
        builder.close()


def rebuild_engine(meta: EngineMetadata, output: str | Path,
                   log: Callable[[str], None] = stderr_log, calibrator=None) -> EngineMetadata:
    """Build ``output`` again from the ONNX model and settings recorded in ``meta`` (an INT8
    engine needs the ``calibrator`` of its recorded cache)."""
    if meta.precision == "int8" and calibrator is None:
        cache = f" --calib-cache {meta.calib_cache}" if meta.calib_cache else ""
        raise UserError(f"an INT8 engine is rebuilt with its calibration: dwpose build --onnx "
                        f"{meta.onnx_path} --int8{cache} --output {output}")
    return build_engine(meta.onnx_path, output, meta.precision, meta.max_batch, meta.opt_batch,
                        meta.workspace_mb, calibrator=calibrator, calib_cache=meta.calib_cache,
                        log=log, det_size=meta.input_size[0] if meta.kind == "detector" else None,
                        det_norm=meta.norm if meta.norm in NORMALIZATIONS else None)
