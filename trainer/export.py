"""Export an RTMPose/DWPose model to ONNX with the official I/O, and prove the file is right.

The file has the released models' signature: input ``input`` float32 ``[B,3,H,W]`` (normalised
RGB crop), outputs ``simcc_x [B,133,W*2]`` and ``simcc_y [B,133,H*2]``, batch dynamic, H and W
static. It is one self-contained ``.onnx`` (weights inside, no ``.onnx.data``), checked with
``onnx.checker``, compared with the PyTorch model under ONNX Runtime on a batch of 2, and
loaded through ``engines.models.load_model(path, "pose")`` before it replaces ``output``.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engines.errors import ModelError
from engines.files import atomic_path, temp_path

DEFAULT_OPSET = 17
#: Max |onnx - torch| allowed, relative to max(1, max |torch output|).
DEFAULT_TOLERANCE = 1e-4
INPUT_NAMES = ["input"]
OUTPUT_NAMES = ["simcc_x", "simcc_y"]


class ExportError(ModelError):
    """The exported file is not what it should be (external data, mismatch with PyTorch...)."""


def _export(model: nn.Module, dummy: torch.Tensor, path: Path, opset: int) -> None:
    dynamic_axes = {name: {0: "batch"} for name in INPUT_NAMES + OUTPUT_NAMES}
    with warnings.catch_warnings():  # dynamo=False is deprecated; tracer notes are noise here
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), str(path), input_names=INPUT_NAMES,
                          output_names=OUTPUT_NAMES, dynamic_axes=dynamic_axes,
                          opset_version=opset, do_constant_folding=True, dynamo=False,
                          external_data=False)


def _set_output_shapes(path: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    """Write the static output dims into the graph (``[batch, K, bins]``).

    The TorchScript exporter loses K after the dynamic-batch flatten and declares
    ``[batch, ?, bins]``; the pose model check (and TensorRT) want K static.
    """
    import onnx

    proto = onnx.load(str(path))
    for value in proto.graph.output:
        dims = value.type.tensor_type.shape.dim
        for i, size in enumerate(shapes[value.name]):
            if i == 0:
                dims[i].dim_param = "batch"
            else:
                dims[i].dim_value = size
    onnx.save(proto, str(path))


def _check_self_contained(path: Path) -> None:
    import onnx

    stray = path.with_name(path.name + ".data")
    if stray.exists():
        stray.unlink()
        raise ExportError(f"{path}: the exporter wrote external weights ({stray.name}); "
                          "expected one self-contained .onnx")
    proto = onnx.load(str(path), load_external_data=False)
    external = [t.name for t in proto.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise ExportError(f"{path}: {len(external)} weights stored outside the file "
                          f"(e.g. {external[0]}); expected one self-contained .onnx")
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # onnx raises ValidationError / InferenceError
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"{path}: exported graph fails the ONNX check ({line})") from None


def _parity(model: nn.Module, path: Path, input_size: tuple[int, int], batch: int,
            seed: int) -> tuple[float, float, float]:
    """Max |ORT - torch| on each output and max |torch| over both, for a random batch."""
    import onnxruntime as ort

    w, h = input_size
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, h, w, generator=generator)
    device = next(model.parameters()).device
    with torch.no_grad():
        ref = [t.float().cpu().numpy() for t in model(x.to(device))]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = session.run(OUTPUT_NAMES, {INPUT_NAMES[0]: x.numpy()})
    for name, r, g in zip(OUTPUT_NAMES, ref, got):
        if r.shape != g.shape:
            raise ExportError(f"{path}: ONNX Runtime gives {name} {list(g.shape)}, "
                              f"PyTorch {list(r.shape)}")
    diff_x, diff_y = (float(np.max(np.abs(r - g))) for r, g in zip(ref, got))
    scale = max(float(np.max(np.abs(r))) for r in ref)
    return diff_x, diff_y, scale


def export_onnx(model: nn.Module, output: str | Path, input_size: tuple[int, int] | None = None,
                opset: int = DEFAULT_OPSET, tolerance: float = DEFAULT_TOLERANCE,
                seed: int = 0) -> dict:
    """Export ``model`` to ``output`` (atomically) and verify it.

    Args:
        model: an ``RTMPose`` (any module mapping ``[B,3,H,W]`` to ``(simcc_x, simcc_y)``).
        output: the ``.onnx`` path; written through a temporary file (``engines.files``), so an
            existing file is only replaced by a verified one. Missing folders are created.
        input_size: ``(w, h)``; defaults to ``model.input_size``.
        opset: ONNX opset (17).
        tolerance: largest allowed max-abs difference between ONNX Runtime and PyTorch,
            relative to ``max(1, max |output|)``.
        seed: seed of the random verification batch.

    Returns:
        ``{'output', 'input_size', 'opset', 'size_bytes', 'num_keypoints', 'simcc_bins',
        'max_abs_diff', 'max_abs_diff_x', 'max_abs_diff_y', 'tolerance', 'seconds'}``.

    Raises:
        ExportError: external weights, a failed ONNX check, outputs that differ from PyTorch,
            or a file ``load_model(..., "pose")`` rejects.
    """
    from engines.models import load_model

    start = time.perf_counter()
    if input_size is None:
        input_size = getattr(model, "input_size", None)
        if input_size is None:
            raise ValueError("input_size (w, h) not given and the model has no input_size")
    w, h = (int(v) for v in input_size)
    output = Path(output)
    if output.is_dir():
        raise ModelError(f"{output}: is a folder; give the .onnx file to write")
    was_training = model.training
    model.eval()
    try:
        with atomic_path(output, "ONNX model") as tmp:
            device = next(model.parameters()).device
            dummy = torch.zeros(1, 3, h, w, device=device)
            with torch.no_grad():
                shapes = dict(zip(OUTPUT_NAMES, (tuple(t.shape) for t in model(dummy))))
            _export(model, dummy, tmp, opset)
            _set_output_shapes(tmp, shapes)
            _check_self_contained(tmp)
            diff_x, diff_y, scale = _parity(model, tmp, (w, h), batch=2, seed=seed)
            max_diff = max(diff_x, diff_y)
            if not max_diff <= tolerance * max(1.0, scale):
                raise ExportError(f"{output}: ONNX Runtime differs from PyTorch by "
                                  f"{max_diff:.3g} (allowed {tolerance:g} x max(1, {scale:.3g}))")
            try:
                _backend, pose_io = load_model(tmp, "pose", device="cpu")
            except ModelError as exc:
                raise ExportError(f"{output}: exported file fails the pose model check: "
                                  f"{str(exc).split(': ', 1)[-1]}") from None
            if tuple(pose_io.input_size) != (w, h):
                raise ExportError(f"{output}: exported input size {pose_io.input_size} != "
                                  f"{(w, h)}")
    finally:  # weights an exporter wrote beside the file (refused above) go too
        model.train(was_training)
        temp_path(output).with_name(temp_path(output).name + ".data").unlink(missing_ok=True)
    return {"output": str(output), "input_size": (w, h), "opset": opset,
            "size_bytes": output.stat().st_size, "num_keypoints": pose_io.num_keypoints,
            "simcc_bins": (int(w * pose_io.split_ratio), int(h * pose_io.split_ratio)),
            "max_abs_diff": max_diff, "max_abs_diff_x": diff_x, "max_abs_diff_y": diff_y,
            "tolerance": tolerance, "seconds": time.perf_counter() - start}
