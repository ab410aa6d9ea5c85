"""RTMPose's learning-rate schedule and EMA, as closed-form functions of the iteration.

mmpose's RTMPose configs use, with ``base_lr = 4e-3`` and ``max_epochs = 270``::

    LinearLR(start_factor=1e-5, by_epoch=False, begin=0, end=1000)
    CosineAnnealingLR(eta_min=base_lr * 0.05, begin=max_epochs // 2, end=max_epochs,
                      T_max=max_epochs // 2, by_epoch=True, convert_to_iter_based=True)

mmengine applies both recursively, once per iteration; written in closed form, iteration ``i``
(0-based, global) trains with ``lr(i)`` below. The EMA is mmdet/mmpose ``ExpMomentumEMA``
(momentum 0.0002, gamma 2000) driven by mmengine's ``EMAHook(update_buffers=True)``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ExpMomentumEMA", "LRSchedule"]


@dataclass(frozen=True)
class LRSchedule:
    """Linear warm-up by iteration, then cosine annealing from ``cosine_begin_epoch`` to the end.

    Args:
        base_lr: the peak learning rate (4e-3).
        max_epochs: length of the run.
        iters_per_epoch: optimizer steps per epoch (cosine is converted to iterations).
        warmup_iters: warm-up length in iterations (1000); 0 disables it.
        warmup_start_factor: lr factor at iteration 0 (1e-5), rising linearly to 1.
        eta_min_factor: final lr = ``base_lr * eta_min_factor`` (0.05).
        cosine_begin_epoch: first epoch of the cosine (default ``max_epochs // 2``).
    """

    base_lr: float
    max_epochs: int
    iters_per_epoch: int
    warmup_iters: int = 1000
    warmup_start_factor: float = 1e-5
    eta_min_factor: float = 0.05
    cosine_begin_epoch: int | None = None

    @property
    def total_iters(self) -> int:
        return self.max_epochs * self.iters_per_epoch

    def warmup_factor(self, iteration: int) -> float:
        """mmengine ``LinearLR``: ``start + (1 - start) * min(i, W) / W``."""
        if self.warmup_iters <= 0:
            return 1.0
        done = min(iteration, self.warmup_iters) / self.warmup_iters
        return self.warmup_start_factor + (1.0 - self.warmup_start_factor) * done

    def __call__(self, iteration: int) -> float:
        """The learning rate of 0-based global ``iteration``.

        The cosine's period is ``(max_epochs - begin) * iters_per_epoch`` iterations, so the lr
        ends at ``eta_min`` for odd ``max_epochs`` too (mmengine's ``T_max = max_epochs // 2``
        gives the same schedule for even ``max_epochs``, the released configs).
        """
        begin_epoch = (self.max_epochs // 2 if self.cosine_begin_epoch is None
                       else self.cosine_begin_epoch)
        begin = begin_epoch * self.iters_per_epoch
        period = max(self.total_iters - begin, 1)
        lr = self.base_lr
        if iteration >= begin:
            eta_min = self.base_lr * self.eta_min_factor
            t = min(iteration - begin, period)
            lr = eta_min + (self.base_lr - eta_min) * (1.0 + math.cos(math.pi * t / period)) / 2.0
        return lr * self.warmup_factor(iteration)


class ExpMomentumEMA:
    """Exponential moving average with exponentially decaying momentum (mmdet/mmpose).

    At update ``n`` (0-based ``steps``): ``n == 0`` copies the source; otherwise every
    floating-point entry of the state dict (parameters *and* buffers: ``update_buffers=True``)
    becomes ``avg = (1 - m) * avg + m * src`` with
    ``m = (1 - momentum) * exp(-(1 + n) / gamma) + momentum``. Integer buffers
    (``num_batches_tracked``) keep their step-0 value, as in mmengine.

    Entries that cannot change are left alone: frozen parameters and the buffers of modules in
    eval mode (a distiller's teacher; the Trainer updates right after a training step). Their
    average is the constant itself, so this only removes float rounding drift: a frozen teacher
    stays bit-identical. A tensor shared under two names (stage 2's backbone) is updated once.

    Attributes:
        module: the averaged copy (eval mode, no gradients).
        steps: number of updates so far.
    """

    def __init__(self, model: nn.Module, momentum: float = 0.0002, gamma: float = 2000.0) -> None:
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"EMA momentum must be in (0, 1), got {momentum}")
        if gamma <= 0:
            raise ValueError(f"EMA gamma must be > 0, got {gamma}")
        self.momentum = float(momentum)
        self.gamma = float(gamma)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.steps = 0

    def momentum_at(self, steps: int) -> float:
        """The weight ``m`` of the source at update ``steps`` (>= 1)."""
        return (1.0 - self.momentum) * math.exp(-float(1 + steps) / self.gamma) + self.momentum

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold ``model``'s current state into the average."""
        src = model.state_dict()
        avg = self.module.state_dict()
        if self.steps == 0:
            for key, value in avg.items():
                value.copy_(src[key])
        else:
            m = self.momentum_at(self.steps)
            frozen = _constant_keys(model)
            done: set[int] = set()
            for key, value in avg.items():
                if (not value.dtype.is_floating_point or key in frozen
                        or value.data_ptr() in done):
                    continue
                done.add(value.data_ptr())
                value.mul_(1.0 - m).add_(src[key].to(value.device), alpha=m)
        self.steps += 1


def _constant_keys(model: nn.Module) -> set[str]:
    """State-dict keys that training cannot change: frozen parameters, and the buffers of
    modules in eval mode (their BatchNorm statistics are not updated)."""
    keys: set[str] = set()
    for name, module in model.named_modules(remove_duplicate=False):
        prefix = f"{name}." if name else ""
        keys.update(prefix + k for k, p in module._parameters.items()
                    if p is not None and not p.requires_grad)
        if not module.training:
            keys.update(prefix + k for k in module._buffers)
    return keys
