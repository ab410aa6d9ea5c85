"""Convolution building blocks of CSPNeXt, named like mmcv/mmdet so state dicts match.

Every module here keeps mmcv's submodule names (``conv``, ``bn``, ``depthwise_conv``,
``pointwise_conv``, ``main_conv``, ``short_conv``, ``final_conv``, ``blocks``, ``attention``,
``poolings``): an mmpose/mmdet checkpoint loads into them key for key.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class NormConfig:
    """BatchNorm settings.

    The RTMPose/DWPose configs give the backbone ``norm_cfg=dict(type='SyncBN')``, i.e.
    PyTorch's defaults eps 1e-5 and momentum 0.1 (CSPNeXt's own default, eps 1e-3 and momentum
    0.03, is overridden). eps changes the outputs of trained weights, so it must match.
    """

    eps: float = 1e-5
    momentum: float = 0.1


DEFAULT_NORM = NormConfig()


class ConvModule(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + SiLU: mmcv ``ConvModule`` with a norm and SiLU.

    mmcv drops the conv bias when a norm follows (``bias='auto'``), so the state dict holds
    ``conv.weight`` and ``bn.{weight,bias,running_mean,running_var,num_batches_tracked}``.
    ``act`` is the activation's class (RTMW's head uses ``nn.ReLU``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int = 0, groups: int = 1,
                 norm: NormConfig = DEFAULT_NORM, act: type[nn.Module] = nn.SiLU) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=norm.eps, momentum=norm.momentum)
        self.activate = act(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        # [B, Cin, H, W] -> [B, Cout, H/stride, W/stride]
        return self.activate(self.bn(self.conv(x)))


class DepthwiseSeparableConvModule(nn.Module):
    """Depthwise k x k ConvModule followed by a pointwise 1x1 ConvModule (each with BN + SiLU)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int = 0, norm: NormConfig = DEFAULT_NORM) -> None:
        super().__init__()
        self.depthwise_conv = ConvModule(in_channels, in_channels, kernel_size, stride=stride,
                                         padding=padding, groups=in_channels, norm=norm)
        self.pointwise_conv = ConvModule(in_channels, out_channels, 1, norm=norm)

    def forward(self, x: Tensor) -> Tensor:
        # [B, Cin, H, W] -> [B, Cin, H', W'] -> [B, Cout, H', W']
        return self.pointwise_conv(self.depthwise_conv(x))


class ChannelAttention(nn.Module):
    """Squeeze-excitation style gate: global average pool, 1x1 conv (with bias), hard sigmoid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, channels, 1, 1, 0, bias=True)
        self.act = nn.Hardsigmoid(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        # [B, C, H, W] -> [B, C, 1, 1] gate, broadcast over H, W
        gate = self.act(self.fc(self.global_avgpool(x)))
        return x * gate


class CSPNeXtBlock(nn.Module):
    """CSPNeXt bottleneck: 3x3 ConvModule then a large-kernel (5x5) depthwise separable conv.

    The identity is added only when ``add_identity`` and the channel counts agree.
    """

    def __init__(self, in_channels: int, out_channels: int, expansion: float = 0.5,
                 add_identity: bool = True, kernel_size: int = 5,
                 norm: NormConfig = DEFAULT_NORM) -> None:
        super().__init__()
        hidden_channels = int(out_channels * expansion)
        self.conv1 = ConvModule(in_channels, hidden_channels, 3, stride=1, padding=1, norm=norm)
        self.conv2 = DepthwiseSeparableConvModule(hidden_channels, out_channels, kernel_size,
                                                  stride=1, padding=kernel_size // 2, norm=norm)
        self.add_identity = add_identity and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        # [B, Cin, H, W] -> [B, Cout, H, W]
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class CSPLayer(nn.Module):
    """Cross Stage Partial layer with CSPNeXt blocks and optional channel attention.

    ``main_conv`` -> blocks and ``short_conv`` each take ``out_channels * expand_ratio``
    channels; their concatenation is gated by ``attention`` and fused by ``final_conv``.
    """

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float = 0.5,
                 num_blocks: int = 1, add_identity: bool = True,
                 channel_attention: bool = True, norm: NormConfig = DEFAULT_NORM) -> None:
        super().__init__()
        mid_channels = int(out_channels * expand_ratio)
        self.channel_attention = channel_attention
        self.main_conv = ConvModule(in_channels, mid_channels, 1, norm=norm)
        self.short_conv = ConvModule(in_channels, mid_channels, 1, norm=norm)
        self.final_conv = ConvModule(2 * mid_channels, out_channels, 1, norm=norm)
        self.blocks = nn.Sequential(*[
            CSPNeXtBlock(mid_channels, mid_channels, 1.0, add_identity, norm=norm)
            for _ in range(num_blocks)])
        if channel_attention:
            self.attention = ChannelAttention(2 * mid_channels)

    def forward(self, x: Tensor) -> Tensor:
        # [B, Cin, H, W] -> 2 x [B, Cmid, H, W] -> [B, 2*Cmid, H, W] -> [B, Cout, H, W]
        x_short = self.short_conv(x)
        x_main = self.blocks(self.main_conv(x))
        x_final = torch.cat((x_main, x_short), dim=1)
        if self.channel_attention:
            x_final = self.attention(x_final)
        return self.final_conv(x_final)


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling (YOLOv3-SPP): 1x1 conv, parallel max pools, concat, 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_sizes: Sequence[int] = (5, 9, 13),
                 norm: NormConfig = DEFAULT_NORM) -> None:
        super().__init__()
        mid_channels = in_channels // 2
        self.conv1 = ConvModule(in_channels, mid_channels, 1, norm=norm)
        self.poolings = nn.ModuleList([
            nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2) for k in kernel_sizes])
        self.conv2 = ConvModule(mid_channels * (len(kernel_sizes) + 1), out_channels, 1,
                                norm=norm)

    def forward(self, x: Tensor) -> Tensor:
        # [B, Cin, H, W] -> [B, Cin/2, H, W] -> [B, Cin/2 * (1 + n_pools), H, W] -> [B, Cout, H, W]
        x = self.conv1(x)
        x = torch.cat([x] + [pool(x) for pool in self.poolings], dim=1)
        return self.conv2(x)
