"""Distiller checkpoint -> plain pose checkpoint (DWPose's ``pth_transfer.py``, COMPAT section 6).

- Stage 1: keep ``student.*`` with the prefix stripped; the teacher and the feature loss's align
  conv (``distill_losses.loss_fea.align.*``) are dropped.
- Stage 2: keep ``teacher.backbone.*`` (the shared, frozen backbone) and ``student.head.*`` (the
  trained head), prefixes stripped; everything else is dropped.

The stage is the one recorded in the checkpoint's ``meta['distill_stage']`` (``dwpose distill``
writes it), else detected from the keys (``detect_stage``). The result is
``{'state_dict': ..., 'meta': {...}}``: mmpose ``TopdownPoseEstimator`` keys that load strictly
into ``trainer.models.build_model(arch, size)``; it is checked against that model before it is
written, and written atomically. Reading is ``torch.load(weights_only=True)``
(``trainer.checkpoint.read_checkpoint``).

``load_pose_model`` reads any checkpoint (plain, transferred, or a distiller's, transferred in
memory) into the model it holds: the teacher of ``dwpose distill`` and ``dwpose eval`` use it.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from engines.errors import ModelError
from engines.paths import same_file

from .checkpoint import atomic_save, check_state_dict, extract_state_dict, read_checkpoint
from .models import FEATURE_PARTS, RTMPose, build_model, infer_variant

__all__ = ["detect_stage", "load_pose_model", "read_pose_checkpoint", "recorded_stage",
           "transfer_checkpoint", "transfer_state_dict"]

_ALIGN_MARKERS = ("distill_losses.loss_fea.align.", "align.")


def _sub(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def detect_stage(state: Mapping[str, torch.Tensor]) -> tuple[int, str]:
    """``(stage, reason)`` of a distiller state dict (``teacher.*`` / ``student.*`` keys).

    Stage 1 when the feature loss's align conv is present or the teacher and student differ in
    architecture (upstream stage 1 always distils a bigger teacher into a smaller student);
    stage 2 when the student has no backbone of its own, shares the teacher's, or has the
    teacher's architecture (upstream stage 2 is self-KD: the stage-1 model teaches itself).

    Raises:
        ModelError: (path-less message) when this is not a distiller state dict.
    """
    teacher, student = _sub(state, "teacher."), _sub(state, "student.")
    if not teacher or not student:
        raise ModelError("not a distiller checkpoint (needs both 'teacher.*' and 'student.*' "
                         "keys; a plain pose checkpoint needs no transfer)")
    if any(k.startswith(_ALIGN_MARKERS) for k in state):
        return 1, "feature-loss align conv present"
    student_backbone = _sub(student, "backbone.")
    if not student_backbone:
        return 2, "student has no backbone (uses the teacher's)"
    shapes_t = {k: tuple(v.shape) for k, v in teacher.items()}
    shapes_s = {k: tuple(v.shape) for k, v in student.items()}
    if shapes_t != shapes_s:
        return 1, "teacher and student differ in architecture"
    teacher_backbone = _sub(teacher, "backbone.")
    if all(torch.equal(v, teacher_backbone[k]) for k, v in student_backbone.items()):
        return 2, "student shares the teacher's backbone"
    return 2, "teacher and student have the same architecture (self-distillation)"


def recorded_stage(checkpoint: Any) -> int | None:
    """``meta['distill_stage']`` of a loaded checkpoint: 0 (trained without distillation),
    1 or 2 when ``dwpose train`` / ``distill`` / ``transfer`` wrote it, else None (unknown)."""
    meta = checkpoint.get("meta") if isinstance(checkpoint, Mapping) else None
    stage = meta.get("distill_stage") if isinstance(meta, Mapping) else None
    return int(stage) if isinstance(stage, int) and stage in (0, 1, 2) else None


def transfer_state_dict(state: Mapping[str, torch.Tensor], stage: int | None = None,
                        reason: str = "forced"
                        ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The pose state dict of a distiller state dict and ``{'stage', 'reason', 'dropped'}``;
    ``stage`` None detects it, else ``reason`` says where it came from."""
    if stage is None:
        stage, reason = detect_stage(state)
    elif stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage!r}")
    if stage == 1:
        out = _sub(state, "student.")
        if not out:
            raise ModelError("stage 1: no 'student.*' keys")
    else:
        # the shared feature extractor (backbone, RTMW's neck) is the teacher's
        features = {p + k: v for p in FEATURE_PARTS for k, v in _sub(state, "teacher." + p).items()}
        head = {f"head.{k}": v for k, v in _sub(state, "student.head.").items()}
        if not any(k.startswith("backbone.") for k in features) or not head:
            which = "'student.head.*'" if features else "'teacher.backbone.*'"
            raise ModelError(f"stage 2: no {which} keys")
        out = {**features, **head}
    return out, {"stage": stage, "reason": reason, "dropped": len(state) - len(out)}


def _transfer_loaded(loaded: Any, path: Path, stage: int | None = None
                     ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``transfer_state_dict`` of a loaded checkpoint at ``stage``, else the recorded stage,
    else the detected one; errors name ``path``."""
    state, _info = extract_state_dict(loaded, path, prefix="")
    reason = "forced"
    if stage is None and recorded_stage(loaded) in (1, 2):
        stage, reason = recorded_stage(loaded), "recorded in the checkpoint"
    try:
        return transfer_state_dict(state, stage, reason)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None


def transfer_checkpoint(checkpoint: str | Path, output: str | Path, stage: int | None = None
                        ) -> dict[str, Any]:
    """Turn the distiller checkpoint ``checkpoint`` into the pose checkpoint ``output``.

    Args:
        checkpoint: DWPose / ``trainer.distill`` distiller ``.pth``.
        output: where to write ``{'state_dict': ..., 'meta': ...}`` (replaced atomically).
        stage: 1 or 2, or None for the recorded stage (``recorded_stage``), else the detected
            one (``detect_stage``).

    Returns:
        ``{'output', 'stage', 'reason', 'arch', 'input_size', 'num_keys', 'dropped'}``.

    Raises:
        ModelError: unreadable file, not a distiller checkpoint, or a result that does not
            load strictly into any RTMPose whole-body variant.
    """
    checkpoint, output = Path(checkpoint), Path(output)
    if same_file(output, checkpoint):
        raise ModelError(f"{output}: the output would overwrite the input checkpoint")
    pose_state, info = _transfer_loaded(read_checkpoint(checkpoint), checkpoint, stage)
    variant = infer_variant(pose_state)
    if variant is None:
        raise ModelError(f"{checkpoint}: the stage-{info['stage']} result is not an RTMPose "
                         "whole-body model (no backbone stem / SimCC head of a known variant)")
    arch, size = variant
    check_state_dict(build_model(arch, size), pose_state, checkpoint)
    meta = {"distill_stage": int(info["stage"]), "arch": arch, "input_size": size,
            "source": checkpoint.name}
    atomic_save({"state_dict": pose_state, "meta": meta}, output)
    return {"output": str(output), "stage": info["stage"], "reason": info["reason"],
            "arch": arch, "input_size": size, "num_keys": len(pose_state),
            "dropped": info["dropped"]}


def _is_distiller(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith("teacher.") for k in state) and any(
        k.startswith("student.") for k in state)


def read_pose_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The pose state dict held by any checkpoint, and where it came from.

    A distiller checkpoint (``teacher.*`` + ``student.*``) is transferred in memory with the
    stage-1 / stage-2 rules; any other is read as ``trainer.checkpoint.extract_state_dict``
    does (a lone ``student.``/``teacher.`` prefix is stripped).

    Returns:
        ``(state, info)``; ``info``: ``distiller`` (bool), ``stage`` (the distillation stage
        that produced the weights: 1 or 2, 0 for plain training, None when unknown), ``reason``
        (how a distiller's stage was found) and ``variant`` (``(arch, "HxW")`` or None).

    Raises:
        ModelError: unreadable file, or no pose state dict in it.
    """
    path = Path(path)
    loaded = read_checkpoint(path)
    raw, _info = extract_state_dict(loaded, path, prefix="")
    stage, reason = recorded_stage(loaded), ""
    distiller = _is_distiller(raw)
    if distiller:
        state, found = _transfer_loaded(loaded, path)
        stage, reason = found["stage"], found["reason"]
    else:
        state, _info = extract_state_dict(loaded, path)  # strips a lone distiller prefix
    return state, {"distiller": distiller, "stage": stage, "reason": reason,
                   "variant": infer_variant(state)}


def load_pose_model(path: str | Path, arch: str | None = None,
                    input_size: str | None = None) -> tuple[RTMPose, dict[str, Any]]:
    """Build the RTMPose variant a checkpoint holds and load it strictly (``read_pose_checkpoint``).

    ``arch`` / ``input_size`` ("HxW"), when given, must match the checkpoint; when omitted they
    are inferred from its tensor shapes. Returns ``(model, info)``, ``info`` as
    ``read_pose_checkpoint``'s plus ``arch`` and ``input_size``.

    Raises:
        ModelError: unreadable, not a whole-body RTMPose, or not the variant asked for.
    """
    state, info = read_pose_checkpoint(path)
    variant = info["variant"]
    if variant is None and (arch is None or input_size is None):
        raise ModelError(f"{path}: not an RTMPose whole-body checkpoint (no backbone stem / "
                         "SimCC head of a known variant)")
    arch = arch or variant[0]
    input_size = input_size or variant[1]
    model = build_model(arch, input_size)
    check_state_dict(model, state, path)
    model.load_state_dict(state, strict=True)
    return model, {**info, "arch": arch, "input_size": input_size}
