"""RTMWHead: RTMW's SimCC head, which fuses the neck's stride-32 and stride-16 maps.

Submodule names follow mmpose (``final_layer``, ``ps``, ``conv_dec``, ``final_layer2``, ``mlp``,
``mlp2``, ``gau``, ``cls_x``, ``cls_y``), so an RTMW checkpoint's ``head.*`` keys load as they are.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .layers import ConvModule
from .rtmcc_block import RTMCCBlock, ScaleNorm
from .rtmcc_head import SimCCHead


class RTMWHead(SimCCHead):
    """Two-resolution SimCC head.

    The coarse map ``enc_t`` [B, C, h, w] gives one token per keypoint (7x7 conv, flatten,
    ScaleNorm + Linear to ``hidden_dims / 2``); pixel-shuffled to 2h x 2w and concatenated with
    the finer ``enc_b`` [B, C/2, 2h, 2w] it gives a second one; the two halves are joined, passed
    through the GAU and classified into x / y bins.

    Args:
        in_channels: channels of ``enc_t`` (the backbone's last stage, C).
        out_channels: number of keypoints (133).
        input_size: network input ``(w, h)``.
        in_featuremap_size: ``enc_t``'s ``(w, h)``, i.e. ``input_size // 32``.
        simcc_split_ratio: SimCC bins per input pixel (2.0).
        final_layer_kernel_size: kernel of the three convs (7 in the RTMW configs).
        hidden_dims, s, expansion_factor, act_fn: the GAU's (256, 128, 2, ``"SiLU"``).

    ``forward((enc_b, enc_t))`` returns ``simcc_x [B, K, w * ratio]`` and
    ``simcc_y [B, K, h * ratio]``.
    """

    def __init__(self, in_channels: int, out_channels: int, input_size: tuple[int, int],
                 in_featuremap_size: tuple[int, int], simcc_split_ratio: float = 2.0,
                 final_layer_kernel_size: int = 7, hidden_dims: int = 256, s: int = 128,
                 expansion_factor: float = 2, act_fn: str = "SiLU") -> None:
        super().__init__(in_channels, out_channels, input_size, in_featuremap_size,
                         simcc_split_ratio)
        k, pad, ps = final_layer_kernel_size, final_layer_kernel_size // 2, 2
        flatten_dims, (bins_x, bins_y) = self.flatten_dims, self.bins
        self.ps = nn.PixelShuffle(ps)
        self.conv_dec = ConvModule(in_channels // ps ** 2, in_channels // 4, k, padding=pad,
                                   act=nn.ReLU)
        self.final_layer = ConvModule(in_channels, out_channels, k, padding=pad, act=nn.ReLU)
        self.final_layer2 = ConvModule(in_channels // ps + in_channels // 4, out_channels, k,
                                       padding=pad, act=nn.ReLU)
        self.mlp = nn.Sequential(ScaleNorm(flatten_dims),
                                 nn.Linear(flatten_dims, hidden_dims // 2, bias=False))
        self.mlp2 = nn.Sequential(ScaleNorm(flatten_dims * ps ** 2),
                                  nn.Linear(flatten_dims * ps ** 2, hidden_dims // 2, bias=False))
        self.gau = RTMCCBlock(out_channels, hidden_dims, hidden_dims, s=s,
                              expansion_factor=expansion_factor, act_fn=act_fn)
        self.cls_x = nn.Linear(hidden_dims, bins_x, bias=False)
        self.cls_y = nn.Linear(hidden_dims, bins_y, bias=False)
        self.init_weights()

    def forward(self, feats: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        enc_b, enc_t = feats[-2], feats[-1]    # [B, C/2, 2h, 2w], [B, C, h, w]
        tokens_t = self.mlp(torch.flatten(self.final_layer(enc_t), 2))   # -> [B, K, hidden/2]
        dec_t = self.conv_dec(self.ps(enc_t))                             # -> [B, C/4, 2h, 2w]
        enc_b = torch.cat([dec_t, enc_b], dim=1)                          # -> [B, 3C/4, 2h, 2w]
        tokens_b = self.mlp2(torch.flatten(self.final_layer2(enc_b), 2))  # -> [B, K, hidden/2]
        x = self.gau(torch.cat([tokens_t, tokens_b], dim=2))              # -> [B, K, hidden]
        return self.cls_x(x), self.cls_y(x)    # -> [B, K, w*r], [B, K, h*r]
