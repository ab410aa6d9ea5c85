"""Load mmpose / DWPose checkpoints (``.pth``) into the plain-PyTorch models, safely and strictly.

Files are read with ``torch.load(..., weights_only=True)``: tensors, plain containers and numpy
arrays (mmengine stores dataset metadata as numpy arrays) are accepted; a file that needs any
other pickled Python object is refused, because unpickling it could run arbitrary code.
Every problem is a one-line ``ModelError`` naming the file.
"""
from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engines.errors import ModelError
from engines.files import AtomicFile

#: Prefixes of DWPose's distiller checkpoints (stage 1 and stage 2).
DISTILL_PREFIXES = ("student.", "teacher.")
_LIST_LIMIT = 5


def _numpy_safe_globals() -> list[tuple[Any, str]]:
    """numpy objects a plain numeric array or scalar needs to unpickle, under every name
    numpy 1.x and 2.x write (``numpy.core`` became ``numpy._core``)."""
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    entries: list[tuple[Any, str]] = [(np.ndarray, "numpy.ndarray"), (np.dtype, "numpy.dtype")]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        entries += [(multiarray._reconstruct, f"{module}._reconstruct"),
                    (multiarray.scalar, f"{module}.scalar")]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25 pickles dtypes by their class
    if dtypes is not None:
        entries += [(getattr(dtypes, n), f"numpy.dtypes.{n}") for n in dir(dtypes)
                    if n.endswith("DType") and n != "StringDType"]
    return entries


def _unsafe_globals(path: Path, exc: Exception) -> list[str]:
    """Names of the pickled globals ``weights_only`` refused (empty: not a refusal)."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # legacy (non-zip) files: the error names the first one
        names = re.findall(r"GLOBAL ([\w.]+) was not an allowed global", str(exc))
    if not names:
        names = re.findall(r"but got <class '([\w.]+)'>", str(exc))
    return list(dict.fromkeys(names))


def _short_list(items: list[str], limit: int = _LIST_LIMIT) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" ... (+{len(items) - limit} more)" if len(items) > limit else "")


def read_checkpoint(path: str | Path) -> Any:
    """``torch.load`` the file safely (weights only, numpy arrays allowed), on the CPU."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: checkpoint file not found")
    if path.is_dir():
        raise ModelError(f"{path}: is a folder; expected a PyTorch checkpoint file (.pth)")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: is empty (0 bytes); expected a PyTorch checkpoint (.pth)")
    try:
        return _load(path)
    except pickle.UnpicklingError as exc:
        refused = _unsafe_globals(path, exc)
        if not refused:
            raise ModelError(f"{path}: not a PyTorch checkpoint ({_first_line(exc)})") from None
        first_error: Exception = exc
    except Exception as exc:  # torch raises RuntimeError/KeyError/EOFError/... on junk
        raise ModelError(f"{path}: not a PyTorch checkpoint ({_first_line(exc)})") from None
    # Retry allowing numpy arrays only; anything else stays refused.
    allowed = _numpy_safe_globals()
    allowed_names = {name for _obj, name in allowed}
    others = [n for n in refused if n not in allowed_names]
    if not others:
        try:
            with torch.serialization.safe_globals(allowed):
                return _load(path)
        except pickle.UnpicklingError as exc:
            others = [n for n in _unsafe_globals(path, exc) if n not in allowed_names]
            first_error = exc
        except Exception as exc:
            raise ModelError(f"{path}: not a PyTorch checkpoint ({_first_line(exc)})") from None
    names = _short_list(others) if others else _first_line(first_error)
    raise ModelError(f"{path}: contains pickled Python objects ({names}); refused for safety "
                     "(only tensors, plain containers and numpy arrays are loaded): re-save its "
                     "state_dict in an environment you trust")


def _first_line(exc: BaseException) -> str:
    """A short reason: torch's own unpickler line when there is one, else the first line."""
    text = str(exc).strip()
    found = re.search(r"WeightsUnpickler error:\s*(\S.*)", text)
    if found:
        text = found.group(1)
    line = text.splitlines()[0][:160] if text else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _load(path: Path) -> Any:
    with warnings.catch_warnings():  # "Detected pickle protocol N": the outcome says it all
        warnings.filterwarnings("ignore", message=".*pickle protocol", category=UserWarning)
        return torch.load(str(path), map_location="cpu", weights_only=True)


def extract_state_dict(checkpoint: Any, path: str | Path,
                       prefix: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """The model state dict of a loaded checkpoint, with any distiller prefix stripped.

    Args:
        checkpoint: what ``read_checkpoint`` returned: ``{'state_dict': {...}, ...}`` (mmengine)
            or a bare ``{name: tensor}``.
        path: the file, for messages.
        prefix: ``"student"`` / ``"teacher"`` (with or without the dot) to take that model of a
            DWPose distiller checkpoint, ``""`` for none, or None to detect: ``student.`` when
            present, else ``teacher.``, else no prefix. When the student has no backbone but
            ``teacher.backbone.*`` exists (DWPose stage 2 shares the teacher's backbone), the
            backbone (and RTMW's neck) come from the teacher.

    Returns:
        ``(state_dict, info)``; ``info`` has ``prefix`` and ``backbone_from_teacher``.
    """
    if not isinstance(checkpoint, Mapping):
        raise ModelError(f"{path}: not a model checkpoint (holds a {type(checkpoint).__name__})")
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping) or not state:
        raise ModelError(f"{path}: no state_dict found (top-level keys: "
                         f"{_short_list([str(k) for k in checkpoint])})")
    not_tensors = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ModelError(f"{path}: no state_dict found (entries that are not tensors: "
                         f"{_short_list(not_tensors)})")
    state = {str(k): v for k, v in state.items()}
    if prefix is None:
        prefix = next((p for p in DISTILL_PREFIXES if any(k.startswith(p) for k in state)), "")
    elif prefix and not prefix.endswith("."):
        prefix += "."
    info = {"prefix": prefix or None, "backbone_from_teacher": False}
    if not prefix:
        return state, info
    stripped = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not stripped:
        raise ModelError(f"{path}: no keys start with {prefix!r} "
                         f"(first keys: {_short_list(list(state), 4)})")
    if prefix == "student." and not any(k.startswith("backbone.") for k in stripped):
        teacher_backbone = {k[len("teacher."):]: v for k, v in state.items()
                            if k.startswith(("teacher.backbone.", "teacher.neck."))}
        if teacher_backbone:
            stripped.update(teacher_backbone)
            info["backbone_from_teacher"] = True
    return stripped, info


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor],
                     path: str | Path) -> None:
    """Raise ``ModelError`` unless ``state`` has exactly the model's keys and shapes."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [f"{k} {list(state[k].shape)} != {list(v.shape)}" for k, v in expected.items()
                 if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or misshaped):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing: {_short_list(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected: {_short_list(unexpected)}")
    if misshaped:
        parts.append(f"{len(misshaped)} mis-shaped (checkpoint != model): "
                     f"{_short_list(misshaped)}")
    name = getattr(getattr(model, "config", None), "name", type(model).__name__)
    hint = ""
    if misshaped:
        from .variants import infer_variant

        guess = infer_variant(dict(state))
        if guess:
            hint = f" (it looks like arch {guess[0]!r} at input size {guess[1]})"
    raise ModelError(f"{path}: does not fit {name}{hint}: " + "; ".join(parts))


def load_checkpoint(model: nn.Module, path: str | Path, prefix: str | None = None) -> dict:
    """Load an mmpose/DWPose checkpoint into ``model`` strictly (all keys, all shapes).

    Args:
        model: e.g. ``trainer.models.build_model("l", "384x288")``.
        path: ``.pth`` file holding ``{'state_dict': ...}`` or a bare state dict.
        prefix: distiller prefix to take (``"student"``/``"teacher"``), ``""`` for none, None
            to detect it (see ``extract_state_dict``).

    Returns:
        ``{'path', 'prefix', 'num_keys', 'backbone_from_teacher', 'meta'}``.

    Raises:
        ModelError: missing file, not a checkpoint, pickled objects, or keys/shapes that do
            not fit the model.
    """
    checkpoint = read_checkpoint(path)
    state, info = extract_state_dict(checkpoint, path, prefix)
    check_state_dict(model, state, path)
    model.load_state_dict(state, strict=True)
    meta = checkpoint.get("meta") if isinstance(checkpoint, Mapping) else None
    return {"path": str(path), "prefix": info["prefix"], "num_keys": len(state),
            "backbone_from_teacher": info["backbone_from_teacher"], "meta": meta}


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` through ``engines.files.AtomicFile``: a failure or a kill mid-write
    leaves the previous file intact, and a full disk is a one-line ``FaultError``."""
    with AtomicFile(path, "checkpoint") as f:
        torch.save(obj, f)
    return Path(path)
