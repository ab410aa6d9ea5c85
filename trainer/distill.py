"""DWPose's Two-stage Pose Distillation (TPD), following the upstream code (COMPAT section 6).

Upstream: ``PoseEstimatorDistiller`` in IDEA-Research/DWPose
(``mmpose/models/pose_estimators/distiller.py``) with the ``configs/distiller/*/s1_dis`` and
``s2_dis`` configs.

State-dict layout (as upstream, so its distiller checkpoints load and ``trainer.transfer``
reads both): ``teacher.*`` and ``student.*`` (mmpose ``TopdownPoseEstimator`` keys under each)
plus, in stage 1, ``distill_losses.loss_fea.align.{weight,bias}`` (the feature loss's 1x1 conv,
only when the channel counts differ). The loss modules hold no other state.

Both distillers take a batch as ``inputs [N, 3, H, W]`` (normalised crops) and, in stage 1,
``targets``: the SimCC labels ``{'x_labels' [N,K,Bx], 'y_labels' [N,K,By], 'weights' [N,K]}``
(``engines.codec.SimCCCodec.encode``, as tensors) or the tuple ``(x_labels, y_labels,
weights)``. ``losses(...)`` returns a dict of scalar losses; the training loss is the sum of its
values (mmengine sums the ``loss*`` entries the same way).

``load_teacher`` reads a stage's teacher from a checkpoint and enforces the stage's rules.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from engines.errors import ModelError

from .losses import FeatureLoss, KLDiscretLoss, LogitLoss
from .models import FEATURE_PARTS, RTMPose
from .transfer import load_pose_model

__all__ = ["Stage1Distiller", "Stage2Distiller", "decay_factor", "load_teacher",
           "split_targets"]


def decay_factor(epoch: int, max_epochs: int) -> float:
    """Stage-1 weight decay of the distillation terms: ``1 - epoch / max_epochs``.

    ``epoch`` is 0-based (mmengine's ``epoch`` info during training): 1.0 in the first epoch,
    ``1 / max_epochs`` in the last.
    """
    if max_epochs < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")
    if not 0 <= epoch < max_epochs:
        raise ValueError(f"epoch {epoch} outside [0, {max_epochs}) (epochs are 0-based)")
    return 1.0 - epoch / max_epochs


def split_targets(targets: Mapping[str, Tensor] | Sequence[Tensor]
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """``(x_labels, y_labels, weights)`` from the codec's dict or a 3-tuple."""
    if isinstance(targets, Mapping):
        missing = [k for k in ("x_labels", "y_labels", "weights") if k not in targets]
        if missing:
            raise KeyError(f"targets lack {', '.join(missing)}")
        return targets["x_labels"], targets["y_labels"], targets["weights"]
    x_labels, y_labels, weights = targets
    return x_labels, y_labels, weights


def _freeze(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()


def _channels(model: RTMPose) -> int:
    return int(model.head.in_channels)


class Stage1Distiller(nn.Module):
    """Stage 1: a frozen (bigger) teacher distils into the student.

    ``loss_kpt = KLDiscretLoss(student)`` (ground truth, never decayed);
    ``loss_fea = d * FeatureLoss(student, teacher)`` on the last backbone stage;
    ``loss_logit = d * LogitLoss(student, teacher)``; ``d = 1 - epoch / max_epochs``.

    The teacher is frozen and kept in eval mode throughout: ``train()`` is overridden so the
    teacher's BatchNorm layers never switch back to training mode. (Upstream only calls
    ``teacher.eval()`` once in ``__init__``; the runner's ``model.train()`` then puts the
    teacher's BatchNorm back in training mode, so its forward uses batch statistics and its
    running statistics drift during distillation. We do not reproduce that quirk.)

    Args:
        teacher: the trained teacher (e.g. RTMPose-x); its weights are frozen here.
        student: the student (e.g. RTMPose-l).
        alpha_fea: feature-loss weight (upstream code 0.00007).
        w_logit: logit-loss weight (0.1).
        max_epochs: length of the run, for the decay (270 upstream).
        beta: softmax temperature of the gt and logit losses (the student loss's beta, 10).
    """

    def __init__(self, teacher: RTMPose, student: RTMPose, alpha_fea: float = 0.00007,
                 w_logit: float = 0.1, max_epochs: int = 270, beta: float = 10.0) -> None:
        super().__init__()
        if teacher is student:
            raise ValueError("teacher and student must be different models")
        decay_factor(0, max_epochs)  # validates max_epochs
        self.teacher = teacher
        _freeze(self.teacher)
        self.student = student
        self.max_epochs = int(max_epochs)
        self.gt_loss = KLDiscretLoss(beta=beta, label_softmax=True, use_target_weight=True)
        self.distill_losses = nn.ModuleDict({
            "loss_fea": FeatureLoss(_channels(student), _channels(teacher), alpha=alpha_fea),
            "loss_logit": LogitLoss(beta=beta, weight=w_logit),
        })

    @property
    def align(self) -> nn.Conv2d | None:
        """The feature loss's 1x1 conv (``distill_losses.loss_fea.align``), or None."""
        return self.distill_losses["loss_fea"].align

    def train(self, mode: bool = True) -> Stage1Distiller:
        """Set the student (and align conv) to ``mode``; the teacher always stays in eval."""
        super().train(mode)
        self.teacher.eval()
        return self

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """What the optimiser updates: the student and the align conv."""
        yield from self.student.parameters()
        yield from self.distill_losses.parameters()

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Inference: the student's SimCC logits."""
        return self.student(inputs)

    def losses(self, inputs: Tensor, targets: Mapping[str, Tensor] | Sequence[Tensor],
               epoch: int) -> dict[str, Tensor]:
        """``{'loss_kpt', 'loss_fea', 'loss_logit'}`` for one batch in 0-based ``epoch``."""
        x_labels, y_labels, weights = split_targets(targets)
        decay = decay_factor(epoch, self.max_epochs)
        with torch.no_grad():
            feats_t = self.teacher.extract_feat(inputs)
            pred_t = self.teacher.head(feats_t)
        feats_s = self.student.extract_feat(inputs)
        pred_s = self.student.head(feats_s)
        return {
            "loss_kpt": self.gt_loss(pred_s, (x_labels, y_labels), weights),
            "loss_fea": decay * self.distill_losses["loss_fea"](feats_s[-1], feats_t[-1]),
            "loss_logit": decay * self.distill_losses["loss_logit"](pred_s, pred_t),
        }


class Stage2Distiller(nn.Module):
    """Stage 2 (head-aware self-KD): the stage-1 model teaches a fresh head on its own backbone.

    ``teacher`` is the stage-1 model, entirely frozen. ``student`` is an ``RTMPose`` whose
    ``backbone`` (and RTMW's ``neck``) ARE the teacher's objects (shared and frozen) and whose
    ``head`` is a copy of the teacher's head re-initialised with its ``init_weights()``. One
    feature pass feeds both heads. ``loss_logit = LogitLoss(weight=1)`` is the only loss: no
    ground-truth term, no decay. Only the student head is trainable
    (``trainable_parameters()``); as in stage 1 the teacher (so the shared backbone) stays in
    eval mode throughout, unlike upstream where its BatchNorm drifts.

    ``state_dict()`` has ``teacher.*`` and ``student.*`` as upstream; ``student.backbone.*``
    repeats ``teacher.backbone.*`` (one module; RTMW's ``neck.*`` likewise). ``load_state_dict``
    takes them from the teacher (upstream's unused ``student.backbone.*`` is ignored).

    Args:
        stage1_model: the stage-1 result (e.g. RTMPose-l loaded from ``dwpose transfer``).
        beta: softmax temperature (10).
        w_logit: logit-loss weight (1).
    """

    def __init__(self, stage1_model: RTMPose, beta: float = 10.0, w_logit: float = 1.0) -> None:
        super().__init__()
        self.teacher = stage1_model
        _freeze(self.teacher)
        head = copy.deepcopy(stage1_model.head)
        head.init_weights()
        head.requires_grad_(True)
        self.student = RTMPose(stage1_model.backbone, head, stage1_model.neck)
        self.student.config = stage1_model.config
        self.distill_losses = nn.ModuleDict({"loss_logit": LogitLoss(beta=beta, weight=w_logit)})
        self.train(self.training)

    def train(self, mode: bool = True) -> Stage2Distiller:
        """Set the student head to ``mode``; the teacher and shared backbone stay in eval."""
        super().train(mode)
        self.teacher.eval()
        return self

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """What the optimiser updates: the student head only."""
        return self.student.head.parameters()

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Inference: the shared backbone + the student head."""
        return self.student.head(self.teacher.extract_feat(inputs))

    def losses(self, inputs: Tensor, targets: Any = None, epoch: int | None = None
               ) -> dict[str, Tensor]:
        """``{'loss_logit'}``; ``targets`` and ``epoch`` are accepted and ignored."""
        with torch.no_grad():
            feats = self.teacher.extract_feat(inputs)
            pred_t = self.teacher.head(feats)
        pred_s = self.student.head(feats)
        return {"loss_logit": self.distill_losses["loss_logit"](pred_s, pred_t)}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> Any:
        """Load with ``student.{backbone,neck}.*`` replaced by the teacher's (shared)."""
        state = {k: v for k, v in state_dict.items()
                 if not k.startswith(tuple("student." + p for p in FEATURE_PARTS))}
        for key, value in list(state.items()):
            if key.startswith(tuple("teacher." + p for p in FEATURE_PARTS)):
                state["student." + key[len("teacher."):]] = value
        return super().load_state_dict(state, strict=strict, assign=assign)


def load_teacher(path: str | Path, stage: int, arch: str | None = None,
                 input_size: str | None = None) -> tuple[RTMPose, dict[str, Any]]:
    """The teacher of distillation ``stage`` from a checkpoint, checked against the stage's rules.

    Any checkpoint ``trainer.transfer.load_pose_model`` reads is accepted (a distiller's is
    transferred in memory). Stage 1 takes any trained pose model (e.g. RTMPose-x). Stage 2's
    teacher is the stage-1 model: a checkpoint recorded as plain training (``dwpose train``) or
    as a stage-2 result is refused; one of unknown provenance (an mmpose / DWPose release) is
    accepted and ``info['stage']`` is None, for the caller to say so.

    Args:
        path: the checkpoint.
        stage: 1 or 2.
        arch: the teacher's variant; None infers it from the checkpoint.
        input_size: the student's input ("HxW"): the teacher must have the same one, since the
            logit loss compares their SimCC bins one to one. None accepts the teacher's.

    Returns:
        ``(teacher, info)`` with ``info`` as ``load_pose_model`` gives it.

    Raises:
        ModelError: one line naming the file: unreadable, not a whole-body RTMPose, not
            ``arch``, another input size, or not a stage-1 model for stage 2.
    """
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage!r}")
    teacher, info = load_pose_model(path, arch=arch)
    if input_size is not None and info["input_size"] != input_size:
        raise ModelError(f"{path}: the teacher's input is {info['input_size']}, the student's "
                         f"{input_size}: they must be the same (the logit loss compares their "
                         "SimCC bins)")
    if stage == 2 and info["stage"] in (0, 2):
        what = ("was trained without distillation ('dwpose train')" if info["stage"] == 0
                else "is already a stage-2 result")
        raise ModelError(f"{path}: {what}; stage 2 needs the stage-1 model as its teacher "
                         "(the output of 'dwpose distill --stage 1')")
    return teacher, info
