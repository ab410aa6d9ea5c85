"""The losses of RTMPose training and DWPose's two-stage distillation, as coded upstream.

- ``KLDiscretLoss``: mmpose's SimCC ground-truth loss (``mmpose/models/losses/
  classification_loss.py``), with the RTMPose config values as defaults.
- ``FeatureLoss``: DWPose's ``FeaLoss`` (``mmpose/models/losses/fea.py``).
- ``LogitLoss``: DWPose's ``KDLoss`` (``mmpose/models/losses/kd.py``).

Notation: N batch, K keypoints, B bins of one axis; ``softmax`` / ``log_softmax`` run over
the bins. ``KL(p || q) = sum_b p_b (log p_b - log q_b)`` with ``0 log 0 = 0``
(``F.kl_div``). Every SimCC loss is computed per axis and the x and y terms are added.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FeatureLoss", "KLDiscretLoss", "LogitLoss"]


def _kl_rows(log_q: Tensor, p: Tensor) -> Tensor:
    """Element-wise ``p * (log p - log_q)`` (0 where ``p == 0``), mmpose's ``KLDivLoss('none')``."""
    return F.kl_div(log_q, p, reduction="none")


class KLDiscretLoss(nn.Module):
    """SimCC ground-truth loss (mmpose ``KLDiscretLoss``; RTMPose: beta 10, label_softmax).

    Per axis, for every (n, k)::

        l[n,k] = mean_b KL_b( P || softmax(pred[n,k] * beta) ),
        P = softmax(label[n,k] * label_beta)  if label_softmax  else  label[n,k]

    and ``loss = sum_axes sum_{n,k} w[n,k] * m[k] * l[n,k] / K`` where ``w`` is the keypoint
    weight (1 when ``use_target_weight`` is off) and ``m[k] = mask_weight`` for the keypoints in
    ``mask``, 1 otherwise. The KL is *averaged* over the bins (not summed), summed over N and K,
    divided by K only (not by N).

    Args:
        beta: temperature of the prediction's softmax (RTMPose configs: 10).
        label_softmax: softmax the labels first (RTMPose configs: True).
        label_beta: temperature of the labels' softmax (mmpose's default 10, same as beta).
        use_target_weight: multiply by the keypoint weights.
        mask: keypoint indices whose loss is scaled by ``mask_weight`` (unused by RTMPose).
        mask_weight: the scale of the masked keypoints.
    """

    def __init__(self, beta: float = 10.0, label_softmax: bool = True, label_beta: float = 10.0,
                 use_target_weight: bool = True, mask: Sequence[int] | None = None,
                 mask_weight: float = 1.0) -> None:
        super().__init__()
        self.beta = float(beta)
        self.label_softmax = label_softmax
        self.label_beta = float(label_beta)
        self.use_target_weight = use_target_weight
        self.mask = list(mask) if mask is not None else None
        self.mask_weight = float(mask_weight)

    def criterion(self, pred: Tensor, label: Tensor) -> Tensor:
        """``[M, B]`` logits and labels -> ``[M]`` bin-averaged KL."""
        log_pt = F.log_softmax(pred * self.beta, dim=1)
        if self.label_softmax:
            label = F.softmax(label * self.label_beta, dim=1)
        return _kl_rows(log_pt, label).mean(dim=1)

    def forward(self, pred_simcc: Sequence[Tensor], gt_simcc: Sequence[Tensor],
                target_weight: Tensor | None = None) -> Tensor:
        """``pred_simcc``/``gt_simcc``: ``(x [N,K,Bx], y [N,K,By])``; weights ``[N, K]``."""
        n, k, _ = pred_simcc[0].shape
        if self.use_target_weight:
            if target_weight is None:
                raise ValueError("KLDiscretLoss(use_target_weight=True) needs target_weight")
            weight: Tensor | float = target_weight.reshape(-1)
        else:
            weight = 1.0
        loss = pred_simcc[0].new_zeros(())
        for pred, label in zip(pred_simcc, gt_simcc):
            per_kpt = self.criterion(pred.reshape(-1, pred.shape[-1]),
                                     label.reshape(-1, label.shape[-1])) * weight
            if self.mask is not None:
                scale = per_kpt.new_ones(k)
                scale[self.mask] = self.mask_weight
                per_kpt = (per_kpt.reshape(n, k) * scale).reshape(-1)
            loss = loss + per_kpt.sum()
        return loss / k


class FeatureLoss(nn.Module):
    """DWPose feature distillation (``FeaLoss``) on the last backbone stage.

    ``loss = alpha * sum((align(f_s) - f_t)^2) / N`` with ``align`` a 1x1 conv (with bias)
    from the student's to the teacher's channels, present only when they differ (identity
    otherwise); the squared error is summed over all N*C*H*W elements and divided by N only.

    Args:
        student_channels: channels of the student's feature map.
        teacher_channels: channels of the teacher's feature map.
        alpha: loss weight (DWPose code 0.00007; the paper says 5e-5).
    """

    def __init__(self, student_channels: int, teacher_channels: int,
                 alpha: float = 0.00007) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.align: nn.Conv2d | None = None
        if student_channels != teacher_channels:
            self.align = nn.Conv2d(student_channels, teacher_channels, kernel_size=1, stride=1,
                                   padding=0)

    def forward(self, feat_s: Tensor, feat_t: Tensor) -> Tensor:
        """``feat_s [N, Cs, H, W]``, ``feat_t [N, Ct, H, W]`` -> scalar loss."""
        if self.align is not None:
            feat_s = self.align(feat_s)
        return F.mse_loss(feat_s, feat_t.detach(), reduction="sum") / feat_t.shape[0] * self.alpha


class LogitLoss(nn.Module):
    """DWPose logit distillation (``KDLoss``) between student and teacher SimCC logits.

    Per axis::

        l = weight * mean_n sum_k sum_b KL_b( softmax(t[n,k] * beta) || softmax(s[n,k] * beta) )

    and ``loss = (l_x + l_y) / K``. The KL is *summed* over the bins (unlike
    ``KLDiscretLoss``), averaged over the batch, and divided by K. No keypoint weights (invisible
    keypoints are distilled too) and no T^2 factor; the teacher's logits are detached.

    Args:
        beta: softmax temperature (upstream passes the student loss's beta, 10).
        weight: loss weight (stage 1: 0.1, stage 2: 1).
    """

    def __init__(self, beta: float = 10.0, weight: float = 0.1) -> None:
        super().__init__()
        self.beta = float(beta)
        self.weight = float(weight)

    def axis_loss(self, logit_s: Tensor, logit_t: Tensor) -> Tensor:
        """One axis: ``[N, K, B]`` student and teacher logits -> weighted scalar (not / K)."""
        n, k, bins = logit_s.shape
        log_s = F.log_softmax(logit_s.reshape(n * k, bins) * self.beta, dim=1)
        p_t = F.softmax(logit_t.detach().reshape(n * k, bins) * self.beta, dim=1)
        per_kpt = _kl_rows(log_s, p_t).sum(dim=1)
        return self.weight * per_kpt.reshape(n, k).sum(dim=1).mean()

    def forward(self, pred_s: Sequence[Tensor], pred_t: Sequence[Tensor]) -> Tensor:
        """``pred_s``/``pred_t``: ``(x [N,K,Bx], y [N,K,By])`` -> scalar loss."""
        k = pred_s[0].shape[1]
        loss = self.axis_loss(pred_s[0], pred_t[0]) + self.axis_loss(pred_s[1], pred_t[1])
        return loss / k

