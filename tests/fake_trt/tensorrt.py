"""A fake of the TensorRT 10 Python API subset the project uses (and its TensorRT 11 variant).

Builds are real enough to test against: the ONNX parser reads the model with ``onnx`` (network
inputs/outputs get the model's names, shapes and types; broken files give parser errors) and,
as TensorRT's own shape analysis does, works out the output dimensions the file declares
symbolically (ONNX Runtime's symbolic shape inference): a dimension that follows from
constants becomes static (the keypoint axis the OpenMMLab exports lose), one that follows an
input stays tied to it, and one that depends on the data (NonMaxSuppression, NonZero) is -1 at
run time too: such outputs need an ``IOutputAllocator``, as in TensorRT 10.
``build_serialized_network`` validates flags, optimization profiles, the calibration profile
and the calibrator and returns a plan that embeds the model, its I/O and profiles. The
runtime deserializes only its own plans of the same version and compute capability, and
``execute_async_v3`` checks shapes, profile bounds and tensor addresses before it runs the
embedded ONNX model with ONNX Runtime on the fake device memory (``tests.fake_trt.cuda``).

Where real TensorRT logs an error and returns False, the fake logs it too and, with
``STATE.strict`` (the default), also raises ``FakeTensorRTError`` so that a caller which
ignores the return value cannot pass; builds and deserialization return None as TensorRT does.
"""
from __future__ import annotations

import base64
import enum
import hashlib
import json
import struct
import sys
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto

from . import cuda

__version__ = "10.3.0"


class FakeTensorRTError(RuntimeError):
    """Raised on API misuse that real TensorRT reports through its logger."""


@dataclass
class _State:
    version: str = "10.3.0"
    strict: bool = True
    messages: list[tuple[int, str]] = field(default_factory=list)
    builds: list[dict] = field(default_factory=list)  # one summary per successful build

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def errors(self) -> list[str]:
        return [m for s, m in self.messages if s <= Logger.ERROR]


STATE = _State()


def _removed_in_11(what: str) -> None:
    if STATE.major >= 11:
        raise AttributeError(f"TensorRT {STATE.version} has no {what} (removed in 11.0)")


# -- enums -------------------------------------------------------------------------------

class DataType(enum.IntEnum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    UINT8 = 5
    INT64 = 8

    def __str__(self) -> str:
        return f"DataType.{self.name}"


float32, float16, int8, int32, uint8, int64 = (
    DataType.FLOAT, DataType.HALF, DataType.INT8, DataType.INT32, DataType.UINT8, DataType.INT64)

_NP = {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT8: np.int8,
       DataType.INT32: np.int32, DataType.BOOL: np.bool_, DataType.UINT8: np.uint8,
       DataType.INT64: np.int64}
_FROM_ONNX = {TensorProto.FLOAT: DataType.FLOAT, TensorProto.FLOAT16: DataType.HALF,
              TensorProto.INT8: DataType.INT8, TensorProto.INT32: DataType.INT32,
              TensorProto.BOOL: DataType.BOOL, TensorProto.UINT8: DataType.UINT8,
              TensorProto.INT64: DataType.INT64}


def nptype(dtype: DataType) -> type:
    return _NP[DataType(dtype)]


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0
    DLA_MANAGED_SRAM = 1
    DLA_LOCAL_DRAM = 2
    DLA_GLOBAL_DRAM = 3
    TACTIC_DRAM = 4


class BuilderFlag(enum.IntEnum):
    FP16 = 0
    INT8 = 1
    DEBUG = 2
    GPU_FALLBACK = 3
    REFIT = 5
    TF32 = 7
    OBEY_PRECISION_CONSTRAINTS = 10
    PREFER_PRECISION_CONSTRAINTS = 11
    DIRECT_IO = 12
    VERSION_COMPATIBLE = 15


class BuilderFlag11(enum.IntEnum):
    """TensorRT 11: the precision flags are gone (strong typing is always on)."""

    DEBUG = 2
    GPU_FALLBACK = 3
    REFIT = 5
    TF32 = 7
    VERSION_COMPATIBLE = 15


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0  # deprecated and ignored in TensorRT 10
    STRONGLY_TYPED = 1


class NetworkDefinitionCreationFlag11(enum.IntEnum):
    STRONGLY_TYPED = 0  # deprecated and ignored: every network is strongly typed


# -- logging -----------------------------------------------------------------------------

class Logger:
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = 0, 1, 2, 3, 4

    def __init__(self, min_severity: int = 2) -> None:
        self.min_severity = min_severity

    def log(self, severity: int, msg: str) -> None:
        STATE.messages.append((severity, msg))
        if severity <= self.min_severity:
            print(f"[fake TensorRT] {msg}", file=sys.stderr)


def _error(logger: Logger, msg: str) -> None:
    logger.log(Logger.ERROR, msg)


def _misuse(logger: Logger, msg: str):
    """TensorRT logs API misuse and returns False; the strict fake raises as well."""
    _error(logger, msg)
    if STATE.strict:
        raise FakeTensorRTError(msg)
    return False


class IHostMemory(bytes):
    """Serialized data (plans, caches); supports the buffer protocol like TensorRT's."""

    @property
    def nbytes(self) -> int:
        return len(self)


# -- network and parser ------------------------------------------------------------------

@dataclass
class ITensor:
    name: str
    shape: tuple[int, ...]
    dtype: DataType
    is_network_input: bool
    dims: list  # ints or symbol names (the ONNX dim params), to infer output shapes


class INetworkDefinition:
    def __init__(self, flags: int) -> None:
        creation = NetworkDefinitionCreationFlag11 if STATE.major >= 11 else \
            NetworkDefinitionCreationFlag
        known = sum(1 << int(f) for f in creation)
        if flags & ~known:
            raise FakeTensorRTError(f"create_network: unknown creation flags {flags:#x}")
        self.strongly_typed = STATE.major >= 11 or bool(
            flags & (1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED)))
        self.inputs: list[ITensor] = []
        self.outputs: list[ITensor] = []
        self.onnx_bytes = b""
        self.float16_weights = 0

    num_inputs = property(lambda self: len(self.inputs))
    num_outputs = property(lambda self: len(self.outputs))

    def get_input(self, index: int) -> ITensor:
        return self.inputs[index]

    def get_output(self, index: int) -> ITensor:
        return self.outputs[index]


class ParserError:
    def __init__(self, desc: str, node: int = -1) -> None:
        self._desc, self._node = desc, node

    def desc(self) -> str:
        return self._desc

    def node(self) -> int:
        return self._node

    def code(self) -> int:
        return 1

    def __str__(self) -> str:
        return f"In node {self._node} (parseGraph): INVALID_GRAPH: {self._desc}"


def _tensor(info: onnx.ValueInfoProto, is_input: bool) -> ITensor:
    tensor = info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in tensor.shape.dim]
    shape = tuple(d if isinstance(d, int) else -1 for d in dims)
    return ITensor(info.name, shape, _FROM_ONNX[tensor.elem_type], is_input, dims)


def _analysed_outputs(proto: onnx.ModelProto) -> dict[str, list]:
    """Output dims as shape analysis finds them: ints where they follow from constants, the
    inputs' symbols where they follow the inputs, other symbols where they depend on data."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    try:
        inferred = SymbolicShapeInference.infer_shapes(proto, auto_merge=True)
    except Exception:  # an op it does not know: keep the declared dims
        return {}
    return {v.name: [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                     for d in v.type.tensor_type.shape.dim] for v in inferred.graph.output}


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: Logger) -> None:
        self.network, self.logger = network, logger
        self.errors: list[ParserError] = []

    num_errors = property(lambda self: len(self.errors))

    def get_error(self, index: int) -> ParserError:
        return self.errors[index]

    def clear_errors(self) -> None:
        self.errors = []

    def parse_from_file(self, model: str) -> bool:
        try:
            with open(model, "rb") as f:
                data = f.read()
        except OSError as exc:
            self.errors.append(ParserError(f"Failed to open {model}: {exc}"))
            return False
        return self.parse(data, model)

    def parse(self, model: bytes, path: str | None = None) -> bool:
        if self.network.inputs:
            raise FakeTensorRTError("parse: the network was already populated")
        try:
            proto = onnx.load_from_string(bytes(model))
            onnx.checker.check_model(proto)
        except Exception as exc:  # DecodeError, ValidationError
            self.errors.append(ParserError(f"Failed to parse ONNX model ({path}): {exc}"))
            self.errors.append(ParserError("Network must have at least one output"))
            return False
        graph = proto.graph
        for node in graph.node:
            if node.domain not in ("", "ai.onnx"):
                self.errors.append(ParserError(
                    f"No importer registered for op: {node.op_type} ({node.domain})"))
        if self.errors:
            return False
        weights = {t.name for t in graph.initializer}
        self.network.inputs = [_tensor(v, True) for v in graph.input if v.name not in weights]
        self.network.outputs = [_tensor(v, False) for v in graph.output]
        analysed = _analysed_outputs(proto)
        for tensor in self.network.outputs:
            dims = analysed.get(tensor.name)
            if dims is not None and len(dims) == len(tensor.dims):
                tensor.dims = [a if isinstance(a, int) and a > 0 else d
                               for a, d in zip(dims, tensor.dims)]
                tensor.shape = tuple(d if isinstance(d, int) else -1 for d in tensor.dims)
        self.network.onnx_bytes = proto.SerializeToString()
        self.network.float16_weights = sum(t.data_type == TensorProto.FLOAT16
                                           for t in graph.initializer)
        return True


# -- builder -----------------------------------------------------------------------------

class IOptimizationProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[tuple, tuple, tuple]] = {}
        self.valid = True

    def set_shape(self, input: str, min, opt, max) -> None:  # noqa: A002 (TensorRT's names)
        lo, mid, hi = tuple(min), tuple(opt), tuple(max)
        if not (len(lo) == len(mid) == len(hi)) or any(
                not 1 <= a <= b <= c for a, b, c in zip(lo, mid, hi)):
            Logger().log(Logger.ERROR, f"IOptimizationProfile::setDimensions: {input}: "
                                       f"need 1 <= min <= opt <= max, got {lo} {mid} {hi}")
            self.valid = False
        self.shapes[input] = (lo, mid, hi)

    def get_shape(self, input: str) -> list[tuple]:  # noqa: A002
        return list(self.shapes[input])


class ITimingCache:
    MAGIC = b"fakeTRTtiming\x00"

    def __init__(self, entries: dict[str, float], version: str, cc: list[int]) -> None:
        self.entries, self.version, self.cc = dict(entries), version, list(cc)

    def serialize(self) -> IHostMemory:
        body = json.dumps({"version": self.version, "cc": self.cc, "entries": self.entries})
        return IHostMemory(self.MAGIC + body.encode())

    def combine(self, other: ITimingCache, ignore_mismatch: bool) -> bool:
        self.entries.update(other.entries)
        return True


class IBuilderConfig:
    def __init__(self) -> None:
        self.flags: set[int] = set()
        self.pool_limits: dict[MemoryPoolType, int] = {}
        self.profiles: list[IOptimizationProfile] = []
        self._calibrator = None
        self._calibration_profile: IOptimizationProfile | None = None
        self.timing_cache: ITimingCache | None = None

    def set_memory_pool_limit(self, pool: MemoryPoolType, pool_size: int) -> None:
        if pool_size < 0:
            raise FakeTensorRTError("negative memory pool limit")
        self.pool_limits[MemoryPoolType(pool)] = int(pool_size)

    def get_memory_pool_limit(self, pool: MemoryPoolType) -> int:
        return self.pool_limits.get(MemoryPoolType(pool), 1 << 40)

    def set_flag(self, flag) -> None:
        self.flags.add(int(flag))

    def clear_flag(self, flag) -> None:
        self.flags.discard(int(flag))

    def get_flag(self, flag) -> bool:
        return int(flag) in self.flags

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        if not profile.valid or not profile.shapes:
            return -1
        self.profiles.append(profile)
        return len(self.profiles) - 1

    @property
    def int8_calibrator(self):
        _removed_in_11("IBuilderConfig.int8_calibrator")
        return self._calibrator

    @int8_calibrator.setter
    def int8_calibrator(self, calibrator) -> None:
        _removed_in_11("IBuilderConfig.int8_calibrator")
        if not isinstance(calibrator, IInt8Calibrator):
            raise TypeError("int8_calibrator must be an IInt8Calibrator")
        self._calibrator = calibrator

    def set_calibration_profile(self, profile: IOptimizationProfile) -> bool:
        _removed_in_11("IBuilderConfig.set_calibration_profile")
        if not profile.valid:
            return False
        self._calibration_profile = profile
        return True

    def get_calibration_profile(self) -> IOptimizationProfile | None:
        _removed_in_11("IBuilderConfig.get_calibration_profile")
        return self._calibration_profile

    def create_timing_cache(self, serialized_timing_cache: bytes) -> ITimingCache | None:
        data = bytes(serialized_timing_cache)
        if not data:
            return ITimingCache({}, STATE.version, list(cuda.STATE.compute_capability))
        try:
            assert data.startswith(ITimingCache.MAGIC)
            body = json.loads(data[len(ITimingCache.MAGIC):])
            return ITimingCache(body["entries"], body["version"], body["cc"])
        except (AssertionError, ValueError, KeyError):
            Logger().log(Logger.ERROR, "ITimingCache: deserialization failed (corrupt cache)")
            return None

    def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool) -> bool:
        if cache is None:
            raise TypeError("set_timing_cache(): incompatible function arguments (None)")
        here = (STATE.version, list(cuda.STATE.compute_capability))
        if (cache.version, cache.cc) != here and not ignore_mismatch:
            Logger().log(Logger.WARNING, "timing cache was made by another device/version")
            return False
        self.timing_cache = cache
        return True

    def get_timing_cache(self) -> ITimingCache | None:
        return self.timing_cache


class _PybindMeta(type):
    """pybind11 refuses an instance whose ``__init__`` did not call the base ``__init__``."""

    def __call__(cls, *args, **kwargs):
        instance = super().__call__(*args, **kwargs)
        if not getattr(instance, "_fake_initialised", False):
            raise TypeError(f"{cls.__name__}.__init__() must be called when overriding "
                            "__init__")
        return instance


class IOutputAllocator(metaclass=_PybindMeta):
    """Base of the allocators TensorRT asks for the memory of data-dependent outputs."""

    def __init__(self) -> None:
        self._fake_initialised = True


class IInt8Calibrator(metaclass=_PybindMeta):
    """Base of the calibrators; subclasses must call its ``__init__``."""

    def __init__(self) -> None:
        self._fake_initialised = True


class IInt8EntropyCalibrator2(IInt8Calibrator):
    pass


class Builder:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    @property
    def platform_has_fast_fp16(self) -> bool:
        _removed_in_11("Builder.platform_has_fast_fp16")
        return tuple(cuda.STATE.compute_capability) >= (5, 3)

    @property
    def platform_has_fast_int8(self) -> bool:
        _removed_in_11("Builder.platform_has_fast_int8")
        return tuple(cuda.STATE.compute_capability) >= (6, 1)

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(flags)

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    def build_serialized_network(self, network: INetworkDefinition,
                                 config: IBuilderConfig) -> IHostMemory | None:
        try:
            return _build(network, config, self.logger)
        except _BuildFailed as exc:
            _error(self.logger, str(exc))
            return None


class _BuildFailed(Exception):
    pass


def _check_profiles(network: INetworkDefinition, profiles: list[IOptimizationProfile],
                    what: str) -> None:
    dynamic = [t for t in network.inputs if -1 in t.shape]
    if dynamic and not profiles:
        raise _BuildFailed("Error Code 4: API Usage Error (Network has dynamic or shape inputs, "
                           "but no optimization profile has been defined.)")
    names = {t.name: t for t in network.inputs}
    for index, profile in enumerate(profiles):
        for name in profile.shapes:
            if name not in names:
                raise _BuildFailed(f"{what} {index}: {name!r} is not a network input")
        for tensor in dynamic:
            if tensor.name not in profile.shapes:
                raise _BuildFailed(f"Error Code 4: {what} {index} has no shape for dynamic "
                                   f"input {tensor.name!r}")
        for name, shapes in profile.shapes.items():
            fixed = names[name].shape
            for shape in shapes:
                if len(shape) != len(fixed) or any(
                        f != -1 and s != f for s, f in zip(shape, fixed)):
                    raise _BuildFailed(f"{what} {index}: {name!r} shape {shape} does not fit "
                                       f"the network input {fixed}")


def _calibrate(network: INetworkDefinition, config: IBuilderConfig, logger: Logger) -> dict:
    calibrator = config._calibrator
    cached = calibrator.read_calibration_cache()
    header = f"TRT-{_version_code()}-EntropyCalibration2"
    if cached:
        if not bytes(cached).decode(errors="replace").startswith(header):
            raise _BuildFailed("Calibration cache was made by another TensorRT version or "
                               "calibrator")
        return {"calibrated": False, "batches": 0, "cache": True}
    dynamic = any(-1 in t.shape for t in network.inputs)
    profile = config._calibration_profile
    if dynamic and profile is None:
        raise _BuildFailed("Error Code 4: Calibration profile must be provided when calibrating "
                           "a network with dynamic shapes")
    batch = calibrator.get_batch_size()
    shapes = {}
    for tensor in network.inputs:
        shape = profile.shapes[tensor.name][1] if dynamic else tensor.shape
        if shape[0] != batch:
            raise _BuildFailed(f"calibrator batch size {batch} does not match the calibration "
                               f"shape {shape} of {tensor.name!r}")
        shapes[tensor.name] = shape
    names = [t.name for t in network.inputs]
    session, absmax, batches = _session(network.onnx_bytes), {}, 0
    while True:
        pointers = calibrator.get_batch(names)
        if not pointers:
            break
        if len(pointers) != len(names):
            raise _BuildFailed(f"get_batch returned {len(pointers)} pointers for {len(names)} "
                               "inputs")
        feeds = {}
        for name, pointer in zip(names, pointers):
            dtype = np.dtype(nptype(next(t.dtype for t in network.inputs if t.name == name)))
            nbytes = int(np.prod(shapes[name])) * dtype.itemsize
            feeds[name] = cuda.device_view(int(pointer), nbytes).view(dtype).reshape(
                shapes[name]).copy()
        outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
        for name, value in {**feeds, **outputs}.items():
            absmax[name] = max(absmax.get(name, 0.0), float(np.abs(value).max()))
        batches += 1
    if batches == 0:
        raise _BuildFailed("Calibration failure occurred with no scaling factors detected: "
                           "the calibrator gave no batch")
    lines = [header] + [f"{name}: {struct.pack('>f', v / 127).hex()}"
                        for name, v in sorted(absmax.items())]
    calibrator.write_calibration_cache(IHostMemory("\n".join(lines).encode()))
    return {"calibrated": True, "batches": batches, "batch_size": batch, "cache": False}


def _version_code() -> str:
    major, minor, patch = (STATE.version.split(".") + ["0", "0"])[:3]
    return f"{int(major)}{int(minor):02d}{int(patch):02d}"


PLAN_MAGIC = b"fakeTRTplan\x00"


def _build(network: INetworkDefinition, config: IBuilderConfig, logger: Logger) -> IHostMemory:
    if not network.outputs:
        raise _BuildFailed("Error Code 4: Network must have at least one output")
    if network.strongly_typed and config.flags & {int(BuilderFlag.FP16), int(BuilderFlag.INT8)}:
        raise _BuildFailed("Error Code 4: API Usage Error (precision builder flags (FP16/INT8) "
                           "cannot be used with a strongly typed network)")
    _check_profiles(network, config.profiles, "optimization profile")
    int8 = STATE.major < 11 and int(BuilderFlag.INT8) in config.flags
    calibration = {}
    if int8:
        if config._calibrator is None:
            logger.log(Logger.WARNING, "INT8 without calibrator or Q/DQ scales: layers stay "
                                       "in higher precision")
        else:
            if config._calibration_profile is not None:
                _check_profiles(network, [config._calibration_profile], "calibration profile")
            calibration = _calibrate(network, config, logger)
    elif STATE.major < 11 and config._calibrator is not None:
        logger.log(Logger.WARNING, "calibrator set but INT8 flag not set: calibrator ignored")
    profiles = config.profiles or [IOptimizationProfile()]
    for tensor in network.inputs:
        if tensor.name not in profiles[0].shapes:
            profiles[0].shapes[tensor.name] = (tensor.shape,) * 3
    precision = ("int8" if int8 else "fp16" if int(BuilderFlag.FP16) in config.flags
                 else "typed" if network.strongly_typed else "fp32")
    key = hashlib.sha256(network.onnx_bytes + precision.encode()).hexdigest()[:16]
    timing = None
    if config.timing_cache is not None:
        timing = "hit" if key in config.timing_cache.entries else "miss"
        config.timing_cache.entries[key] = 0.42
    summary = {
        "version": STATE.version, "cc": list(cuda.STATE.compute_capability),
        "gpu": cuda.STATE.gpu_name, "precision": precision,
        "strongly_typed": network.strongly_typed, "flags": sorted(config.flags),
        "workspace": config.pool_limits.get(MemoryPoolType.WORKSPACE),
        "float16_weights": network.float16_weights, "calibration": calibration,
        "timing_cache": timing,
        "tensors": [{"name": t.name, "mode": int(TensorIOMode.INPUT if t.is_network_input
                                                 else TensorIOMode.OUTPUT),
                     "shape": list(t.shape), "dims": t.dims, "dtype": int(t.dtype)}
                    for t in network.inputs + network.outputs],
        "profiles": [{n: [list(s) for s in shapes] for n, shapes in p.shapes.items()}
                     for p in profiles],
    }
    STATE.builds.append(summary)
    body = json.dumps({**summary, "onnx": base64.b64encode(network.onnx_bytes).decode()})
    payload = body.encode()
    digest = hashlib.sha256(payload).digest()
    return IHostMemory(PLAN_MAGIC + struct.pack("<Q", len(payload)) + digest + payload)


# -- runtime -----------------------------------------------------------------------------

def _session(onnx_bytes: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


class Runtime:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, serialized_engine) -> ICudaEngine | None:
        data = bytes(serialized_engine)
        head = len(PLAN_MAGIC) + 8 + 32
        if not data.startswith(PLAN_MAGIC) or len(data) < head:
            _error(self.logger, "Error Code 1: Serialization (Serialization assertion "
                                "magicTagRead == kMAGIC_TAG failed.Magic tag does not match)")
            return None
        (length,) = struct.unpack_from("<Q", data, len(PLAN_MAGIC))
        payload = data[head:head + length]
        if len(payload) != length or hashlib.sha256(payload).digest() != data[head - 32:head]:
            _error(self.logger, "Error Code 1: Serialization (truncated or corrupt plan)")
            return None
        plan = json.loads(payload)
        if plan["version"] != STATE.version:
            _error(self.logger, "Error Code 6: API Usage Error (The engine plan file is not "
                                "compatible with this version of TensorRT, expecting library "
                                f"version {STATE.version} got {plan['version']}, please "
                                "rebuild.)")
            return None
        if tuple(plan["cc"]) != tuple(cuda.STATE.compute_capability):
            _error(self.logger, "Error Code 1: Serialization (the engine plan was built for "
                                f"compute capability {plan['cc']}, this device is "
                                f"{list(cuda.STATE.compute_capability)})")
            return None
        if plan["gpu"] != cuda.STATE.gpu_name:
            self.logger.log(Logger.WARNING, "Using an engine plan file across different models "
                                            "of devices is not recommended")
        return ICudaEngine(plan, self.logger)


class ICudaEngine:
    def __init__(self, plan: dict, logger: Logger) -> None:
        self.plan, self.logger = plan, logger
        self.tensors = {t["name"]: t for t in plan["tensors"]}
        self.onnx_bytes = base64.b64decode(plan["onnx"])
        self._session = None

    @property
    def num_io_tensors(self) -> int:
        return len(self.tensors)

    @property
    def num_optimization_profiles(self) -> int:
        return len(self.plan["profiles"])

    def _tensor(self, name: str) -> dict:
        if name not in self.tensors:
            _misuse(self.logger, f"Error Code 3: API Usage Error (tensor {name!r} not found)")
        return self.tensors[name]

    def get_tensor_name(self, index: int) -> str:
        return self.plan["tensors"][index]["name"]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return TensorIOMode(self._tensor(name)["mode"])

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._tensor(name)["shape"])

    def get_tensor_dtype(self, name: str) -> DataType:
        return DataType(self._tensor(name)["dtype"])

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[tuple]:
        if self.get_tensor_mode(name) != TensorIOMode.INPUT:
            _misuse(self.logger, f"get_tensor_profile_shape: {name!r} is not an input")
        return [tuple(s) for s in self.plan["profiles"][profile_index][name]]

    def create_execution_context(self) -> IExecutionContext:
        return IExecutionContext(self)

    def session(self):
        if self._session is None:
            self._session = _session(self.onnx_bytes)
        return self._session


class IExecutionContext:
    def __init__(self, engine: ICudaEngine) -> None:
        self.engine = engine
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}
        self.allocators: dict[str, IOutputAllocator] = {}
        self.runs = 0

    def _inputs(self) -> list[dict]:
        return [t for t in self.engine.plan["tensors"] if t["mode"] == TensorIOMode.INPUT]

    def set_input_shape(self, name: str, shape) -> bool:
        tensor = self.engine._tensor(name)
        shape = tuple(int(d) for d in shape)
        if tensor["mode"] != TensorIOMode.INPUT:
            return _misuse(self.engine.logger, f"set_input_shape: {name!r} is not an input")
        lo, _, hi = self.engine.plan["profiles"][0][name]
        if len(shape) != len(lo) or any(not a <= s <= b for a, s, b in zip(lo, shape, hi)):
            return _misuse(self.engine.logger,
                           f"Error Code 3: API Usage Error (setInputShape: {name!r} shape "
                           f"{shape} is outside the profile [{tuple(lo)}, {tuple(hi)}])")
        self.shapes[name] = shape
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        tensor = self.engine._tensor(name)
        if tensor["mode"] == TensorIOMode.INPUT:
            return self.shapes.get(name, tuple(tensor["shape"]))
        symbols = {}
        for t in self._inputs():
            shape = self.shapes.get(t["name"], tuple(t["shape"]))
            symbols.update({d: s for d, s in zip(t["dims"], shape) if isinstance(d, str)})
        return tuple(d if isinstance(d, int) else symbols.get(d, -1) for d in tensor["dims"])

    def set_tensor_address(self, name: str, memory: int) -> bool:
        if name not in self.engine.tensors:
            return _misuse(self.engine.logger, f"set_tensor_address: no tensor {name!r}")
        self.addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name: str) -> int:
        return self.addresses.get(name, 0)

    def set_output_allocator(self, name: str, output_allocator: IOutputAllocator) -> bool:
        tensor = self.engine._tensor(name)
        if tensor["mode"] != TensorIOMode.OUTPUT:
            return _misuse(self.engine.logger, f"set_output_allocator: {name!r} is not an output")
        self.allocators[name] = output_allocator
        return True

    def get_output_allocator(self, name: str) -> IOutputAllocator | None:
        return self.allocators.get(name)

    def _data_dependent(self) -> list[str]:
        """Outputs whose shape is known only once the engine ran."""
        return [name for name, t in self.engine.tensors.items()
                if t["mode"] == TensorIOMode.OUTPUT and -1 in self.get_tensor_shape(name)]

    def _views(self, skip: list[str]) -> dict[str, np.ndarray]:
        """Device memory of every tensor at its current shape (bounds checked now), but for the
        data-dependent outputs in ``skip``."""
        views = {}
        for name, tensor in self.engine.tensors.items():
            if name in skip:
                continue
            shape = self.get_tensor_shape(name)
            if -1 in shape:
                raise FakeTensorRTError(f"shape of {name!r} unknown")
            dtype = np.dtype(nptype(DataType(tensor["dtype"])))
            nbytes = int(np.prod(shape)) * dtype.itemsize
            views[name] = cuda.device_view(self.addresses[name], nbytes).view(dtype).reshape(
                shape)
        return views

    def execute_async_v3(self, stream_handle: int) -> bool:
        logger = self.engine.logger
        for tensor in self._inputs():
            if -1 in tensor["shape"] and tensor["name"] not in self.shapes:
                return _misuse(logger, f"Error Code 3: API Usage Error (input {tensor['name']!r}"
                                       " has dynamic dimensions but no shape was set)")
        dynamic = self._data_dependent()
        for name in self.engine.tensors:
            if name in dynamic and name not in self.allocators:
                return _misuse(logger, f"Error Code 3: API Usage Error (tensor {name!r} has a "
                                       "data-dependent shape: it needs an IOutputAllocator)")
            if name not in dynamic and name not in self.addresses:
                return _misuse(logger, f"Error Code 3: API Usage Error (Parameter check failed, "
                                       f"condition: address of tensor {name!r} is set)")
        stream = cuda.stream_by_handle(int(stream_handle))
        views = self._views(dynamic)  # raises on freed or too-small buffers
        inputs = {t["name"] for t in self._inputs()}
        session = self.engine.session()

        def run() -> dict[str, np.ndarray]:
            feeds = {n: views[n].copy() for n in inputs}
            names = [o.name for o in session.get_outputs()]
            results = dict(zip(names, session.run(names, feeds)))
            for name in views:
                if name in results:
                    views[name][...] = results[name]
            return results

        def tick() -> None:
            cuda.STATE.clock_ms += cuda.STATE.kernel_ms

        if dynamic:  # the shapes are needed now: run what is queued, then the engine
            stream.synchronize()
            results = run()
            for name in dynamic:
                value = np.ascontiguousarray(results[name], nptype(DataType(
                    self.engine.tensors[name]["dtype"])))
                allocator = self.allocators[name]
                address = allocator.reallocate_output_async(
                    name, self.addresses.get(name, 0), max(value.nbytes, 1), 256, stream_handle)
                if not address:
                    return _misuse(logger, f"IOutputAllocator gave no memory for {name!r}")
                self.addresses[name] = int(address)
                cuda.device_view(int(address), value.nbytes)[...] = value.view(np.uint8).reshape(-1)
                allocator.notify_shape(name, tuple(value.shape))
            stream.enqueue(tick)
        else:
            stream.enqueue(lambda: (run(), tick()))
        self.runs += 1
        return True
