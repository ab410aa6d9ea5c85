"""Gated Attention Unit (GAU) of the RTMPose head, with its ScaleNorm and Scale layers.

Only what the RTMPose/DWPose whole-body configs use is built: self-attention, no relative
position bias (``use_rel_bias=False``), no rotary position encoding (``pos_enc=False``), no
dropout and no drop-path. Parameter names follow mmpose: ``uv``, ``o``, ``gamma``, ``beta``,
``ln.g``, ``res_scale.scale``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ScaleNorm(nn.Module):
    """Scale Norm: ``x / (||x||_2 / sqrt(dim)) * g`` over the last axis, one learnt scalar ``g``.

    Reference: Transformers without Tears (https://arxiv.org/abs/1910.05895).
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.scale = dim ** -0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: Tensor) -> Tensor:
        # [..., dim] -> [..., dim]
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class Scale(nn.Module):
    """Learnt per-channel scale ``x * scale`` (``scale`` starts at ``init_value``)."""

    def __init__(self, dim: int, init_value: float = 1.0, trainable: bool = True) -> None:
        super().__init__()
        self.scale = nn.Parameter(init_value * torch.ones(dim), requires_grad=trainable)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class RTMCCBlock(nn.Module):
    """Self-attention Gated Attention Unit over keypoint tokens.

    Reference: Transformer Quality in Linear Time (https://arxiv.org/abs/2202.10447).

    Args:
        num_token: number of tokens (keypoints, 133); kept for the record, no parameter uses it
            without the relative position bias.
        in_token_dims: token width in (256).
        out_token_dims: token width out (256); when equal to ``in_token_dims`` the block is
            residual with a learnt ``res_scale``.
        expansion_factor: the value/gate width ``e`` is ``in_token_dims * expansion_factor``.
        s: width of the shared query/key base (128).
        eps: ScaleNorm clamp.
        act_fn: ``"SiLU"`` (RTMPose) or ``"ReLU"``.
        bias: bias in the ``uv`` and ``o`` projections (False upstream).
    """

    def __init__(self, num_token: int, in_token_dims: int, out_token_dims: int,
                 expansion_factor: float = 2, s: int = 128, eps: float = 1e-5,
                 act_fn: str = "SiLU", bias: bool = False) -> None:
        super().__init__()
        if act_fn not in ("SiLU", "ReLU"):
            raise ValueError(f"act_fn must be 'SiLU' or 'ReLU', not {act_fn!r}")
        self.num_token = num_token
        self.s = s
        self.e = int(in_token_dims * expansion_factor)
        self.o = nn.Linear(self.e, out_token_dims, bias=bias)
        self.uv = nn.Linear(in_token_dims, 2 * self.e + self.s, bias=bias)
        self.gamma = nn.Parameter(torch.rand((2, self.s)))
        self.beta = nn.Parameter(torch.rand((2, self.s)))
        self.ln = ScaleNorm(in_token_dims, eps=eps)
        nn.init.xavier_uniform_(self.uv.weight)
        self.act_fn = nn.SiLU(inplace=True) if act_fn == "SiLU" else nn.ReLU(inplace=True)
        self.shortcut = in_token_dims == out_token_dims
        if self.shortcut:
            self.res_scale = Scale(in_token_dims)
        self.sqrt_s = math.sqrt(s)

    def _attend(self, x: Tensor) -> Tensor:
        x = self.ln(x)
        # [B, K, C] -> [B, K, e + e + s]
        uv = self.act_fn(self.uv(x))
        # -> u, v [B, K, e]; base [B, K, s]
        u, v, base = torch.split(uv, [self.e, self.e, self.s], dim=2)
        # [B, K, 1, s] * [1, 1, 2, s] + [2, s] -> [B, K, 2, s] -> q, k [B, K, s]
        base = base.unsqueeze(2) * self.gamma[None, None, :] + self.beta
        q, k = torch.unbind(base, dim=2)
        # [B, K, s] x [B, s, K] -> [B, K, K]; squared-ReLU attention kernel
        qk = torch.bmm(q, k.permute(0, 2, 1))
        kernel = torch.square(F.relu(qk / self.sqrt_s))
        # [B, K, K] x [B, K, e] -> [B, K, e], gated by u, -> [B, K, out]
        return self.o(u * torch.bmm(kernel, v))

    def forward(self, x: Tensor) -> Tensor:
        # [B, K, in_token_dims] -> [B, K, out_token_dims]
        if self.shortcut:
            return self.res_scale(x) + self._attend(x)
        return self._attend(x)
