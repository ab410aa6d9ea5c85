"""The engine file: a small JSON header saying how and for what the plan was built, then the plan.

Layout (all little-endian)::

    bytes 0-7    magic b"DWPTRT\\x00\\x01" (format version 1)
    bytes 8-11   uint32 N: length of the JSON header
    bytes 12..   N bytes of UTF-8 JSON (``EngineMetadata`` fields)
    rest         the serialized TensorRT plan, unchanged

One file keeps the build information with the plan when it is copied. A file without the
magic is treated as a bare plan (e.g. from ``trtexec``) and loaded without metadata; a file
with the magic but a damaged or truncated header is rejected with a clear ``ModelError``.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import ModelError
from ..files import write_file
from .runtime import GpuInfo

MAGIC = b"DWPTRT\x00\x01"
_LENGTH = struct.Struct("<I")
_PREFIX = len(MAGIC) + _LENGTH.size
_MAX_HEADER = 1 << 20


@dataclass
class EngineMetadata:
    """How an engine was built, for which GPU and TensorRT, and what it expects as input."""

    kind: str  # "detector" or "pose"
    input_name: str
    input_size: tuple[int, int]  # (w, h) of the network input
    color: str  # channel order the model expects: "BGR" (YOLOX) or "RGB" (DWPose)
    mean: tuple[float, ...] | None  # per channel, in ``color`` order; None: raw 0-255
    std: tuple[float, ...] | None
    split_ratio: float | None  # SimCC bins per pixel (pose models only)
    precision: str  # "fp32", "fp16" or "int8"
    max_batch: int
    opt_batch: int
    workspace_mb: int
    tensorrt: str  # version that built the plan; plans only load in that exact version
    gpu_name: str
    compute_capability: tuple[int, int]
    onnx_path: str  # absolute path of the source model, for rebuilding
    onnx_sha256: str
    strongly_typed: bool = False
    norm: str | None = None  # detectors: the normalisation's name ("yolox", "rtmdet", ...)
    calib_cache: str | None = None
    built_at: str = ""
    format: int = field(default=1)

    @property
    def gpu(self) -> GpuInfo:
        return GpuInfo(self.gpu_name, tuple(self.compute_capability))

    def incompatibility(self, trt_version: str, gpu: GpuInfo) -> str | None:
        """Why this engine cannot run here (another TensorRT or GPU), or None when it can."""
        reasons = []
        if self.tensorrt != trt_version:
            reasons.append(f"TensorRT {self.tensorrt} (this is {trt_version})")
        if self.gpu != gpu:
            reasons.append(f"{self.gpu.describe()} (this is {gpu.describe()})")
        return f"built with {' for '.join(reasons)}" if reasons else None

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: dict) -> EngineMetadata:
        known = {f.name for f in fields(cls)}
        meta = cls(**{k: v for k, v in data.items() if k in known})
        meta.input_size = tuple(meta.input_size)
        meta.compute_capability = tuple(meta.compute_capability)
        for name in ("mean", "std"):
            if getattr(meta, name) is not None:
                setattr(meta, name, tuple(getattr(meta, name)))
        return meta


def pack_engine(meta: EngineMetadata, plan: bytes) -> bytes:
    """Header + plan, ready to be written as one file."""
    header = meta.to_json()
    return MAGIC + _LENGTH.pack(len(header)) + header + bytes(plan)


def unpack_engine(data: bytes, path: str | Path) -> tuple[EngineMetadata | None, bytes]:
    """Split a file's bytes into (metadata or None for a bare plan, plan)."""
    if not data.startswith(MAGIC):
        return None, data
    damaged = f"{path}: damaged or truncated engine file"
    if len(data) < _PREFIX:
        raise ModelError(f"{damaged} (header cut short)")
    (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    if length > _MAX_HEADER or len(data) < _PREFIX + length:
        raise ModelError(f"{damaged} (header of {length} bytes, file has {len(data)})")
    try:
        meta = EngineMetadata.from_json(json.loads(data[_PREFIX:_PREFIX + length]))
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{damaged} (unreadable header: {exc})") from None
    plan = data[_PREFIX + length:]
    if not plan:
        raise ModelError(f"{damaged} (no TensorRT plan after the header)")
    return meta, plan


def read_metadata(path: str | Path) -> EngineMetadata | None:
    """The header of the engine file ``path`` without reading its plan (None for a bare
    plan); ``ModelError`` for a damaged header."""
    with open(path, "rb") as f:
        head = f.read(_PREFIX)
        if not head.startswith(MAGIC):
            return None
        if len(head) < _PREFIX:
            raise ModelError(f"{path}: damaged or truncated engine file (header cut short)")
        (length,) = _LENGTH.unpack_from(head, len(MAGIC))
        data = head + f.read(min(length, _MAX_HEADER)) + f.read(1)  # and the plan's first byte
    return unpack_engine(data, path)[0]


def write_engine(path: str | Path, meta: EngineMetadata, plan: bytes) -> Path:
    """Write atomically: a half-written engine never replaces a good one."""
    return write_file(path, pack_engine(meta, plan), "TensorRT engine")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
