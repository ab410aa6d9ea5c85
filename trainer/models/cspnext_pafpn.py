"""CSPNeXtPAFPN: the path-aggregation neck RTMW puts between CSPNeXt and its head (mmpose's).

RTMW's configs build it with ``out_channels=None`` (no output convs) and ``out_indices=(1, 2)``:
the head gets the stride-16 and stride-32 maps. Submodule names follow mmpose
(``reduce_layers``, ``top_down_blocks``, ``downsamples``, ``bottom_up_blocks``) so an RTMW
checkpoint's ``neck.*`` keys load as they are.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .layers import DEFAULT_NORM, ConvModule, CSPLayer, NormConfig


class CSPNeXtPAFPN(nn.Module):
    """Top-down then bottom-up fusion of the backbone's last ``len(in_channels)`` stages.

    Args:
        in_channels: channels of the input maps, finest first (RTMW: ``[C/4, C/2, C]`` at
            strides 8, 16, 32).
        out_indices: which fused maps to return (finest = 0). Each keeps its input's channels.
        num_csp_blocks: CSPNeXt blocks per CSP layer (2 in RTMW).
        expand_ratio: hidden channel ratio of the CSP layers.
        norm: BatchNorm settings (RTMW's ``SyncBN``: PyTorch's defaults).
    """

    def __init__(self, in_channels: Sequence[int], out_indices: Sequence[int] = (1, 2),
                 num_csp_blocks: int = 2, expand_ratio: float = 0.5,
                 norm: NormConfig = DEFAULT_NORM) -> None:
        super().__init__()
        self.in_channels = tuple(in_channels)
        if not set(out_indices) <= set(range(len(self.in_channels))):
            raise ValueError(f"out_indices {tuple(out_indices)} not in "
                             f"0..{len(self.in_channels) - 1}")
        self.out_indices = tuple(out_indices)
        n = len(self.in_channels)

        def csp(cin: int, cout: int) -> CSPLayer:
            return CSPLayer(cin, cout, expand_ratio=expand_ratio, num_blocks=num_csp_blocks,
                            add_identity=False, channel_attention=False, norm=norm)

        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        # top-down, coarsest first: 1x1 reduce to the finer map's width, upsample, concat, fuse
        self.reduce_layers = nn.ModuleList(
            ConvModule(self.in_channels[i], self.in_channels[i - 1], 1, norm=norm)
            for i in range(n - 1, 0, -1))
        self.top_down_blocks = nn.ModuleList(
            csp(2 * self.in_channels[i - 1], self.in_channels[i - 1]) for i in range(n - 1, 0, -1))
        # bottom-up, finest first: stride-2 3x3 conv, concat with the top-down map, fuse
        self.downsamples = nn.ModuleList(
            ConvModule(self.in_channels[i], self.in_channels[i], 3, stride=2, padding=1, norm=norm)
            for i in range(n - 1))
        self.bottom_up_blocks = nn.ModuleList(
            csp(2 * self.in_channels[i], self.in_channels[i + 1]) for i in range(n - 1))

    def forward(self, feats: Sequence[Tensor]) -> tuple[Tensor, ...]:
        # [B, C_i, H_i, W_i] per level (H_i = 2 H_{i+1}) -> the same shapes at out_indices
        if len(feats) != len(self.in_channels):
            raise ValueError(f"expected {len(self.in_channels)} feature maps, got {len(feats)}")
        n = len(feats)
        inner = [feats[-1]]                     # top-down results, finest first
        for step, i in enumerate(range(n - 1, 0, -1)):
            high = self.reduce_layers[step](inner[0])
            inner[0] = high
            fused = self.top_down_blocks[step](torch.cat([self.upsample(high), feats[i - 1]], 1))
            inner.insert(0, fused)
        outs = [inner[0]]
        for i in range(n - 1):
            down = self.downsamples[i](outs[-1])
            outs.append(self.bottom_up_blocks[i](torch.cat([down, inner[i + 1]], 1)))
        return tuple(outs[i] for i in self.out_indices)
