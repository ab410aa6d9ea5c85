"""RTMCCHead: the SimCC coordinate-classification head of RTMPose / DWPose."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .rtmcc_block import RTMCCBlock, ScaleNorm


class SimCCHead(nn.Module):
    """What RTMCCHead and RTMWHead share: their sizes, their x / y bins and mmpose's init.

    Subclasses build their layers (``gau`` among them), then call ``init_weights()``.
    """

    gau: RTMCCBlock

    def __init__(self, in_channels: int, out_channels: int, input_size: tuple[int, int],
                 in_featuremap_size: tuple[int, int], simcc_split_ratio: float) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.input_size = tuple(input_size)
        self.in_featuremap_size = tuple(in_featuremap_size)
        self.simcc_split_ratio = simcc_split_ratio

    @property
    def flatten_dims(self) -> int:
        """Pixels of the stride-32 feature map: the width of one keypoint's token before the MLP."""
        return self.in_featuremap_size[0] * self.in_featuremap_size[1]

    @property
    def bins(self) -> tuple[int, int]:
        """SimCC bins (x, y) = input (w, h) * split ratio."""
        return (int(self.input_size[0] * self.simcc_split_ratio),
                int(self.input_size[1] * self.simcc_split_ratio))

    def init_weights(self) -> None:
        """mmpose's SimCC head init: convs N(0, 0.001), linears N(0, 0.01), zero biases, BN 1 / 0.

        The GAU's ``gamma``/``beta`` are redrawn from U(0, 1) and the norm / residual scales
        reset to 1, so calling this gives a freshly built head (DWPose stage 2).
        """
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
                continue
            else:
                continue
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        with torch.no_grad():
            self.gau.gamma.uniform_(0, 1)
            self.gau.beta.uniform_(0, 1)
            for m in self.modules():
                if isinstance(m, ScaleNorm):
                    m.g.fill_(1.0)
            if self.gau.shortcut:
                self.gau.res_scale.scale.fill_(1.0)


class RTMCCHead(SimCCHead):
    """Large-kernel conv -> per-keypoint flatten -> ScaleNorm + Linear -> GAU -> x / y bins.

    Args:
        in_channels: channels of the backbone's last feature map.
        out_channels: number of keypoints (133 for COCO-WholeBody).
        input_size: network input ``(w, h)``.
        in_featuremap_size: backbone output ``(w, h)``, i.e. ``input_size // 32``.
        simcc_split_ratio: SimCC bins per input pixel (2.0).
        final_layer_kernel_size: kernel of the first conv (7 in the RTMPose configs).
        hidden_dims: token width of the GAU (256).
        s: GAU query/key width (128).
        expansion_factor: GAU expansion (2).
        act_fn: GAU activation (``"SiLU"``).

    ``forward`` returns ``simcc_x [B, K, w * ratio]`` and ``simcc_y [B, K, h * ratio]``.
    """

    def __init__(self, in_channels: int, out_channels: int, input_size: tuple[int, int],
                 in_featuremap_size: tuple[int, int], simcc_split_ratio: float = 2.0,
                 final_layer_kernel_size: int = 7, hidden_dims: int = 256, s: int = 128,
                 expansion_factor: float = 2, act_fn: str = "SiLU") -> None:
        super().__init__(in_channels, out_channels, input_size, in_featuremap_size,
                         simcc_split_ratio)
        flatten_dims, (bins_x, bins_y) = self.flatten_dims, self.bins
        self.final_layer = nn.Conv2d(in_channels, out_channels,
                                     kernel_size=final_layer_kernel_size, stride=1,
                                     padding=final_layer_kernel_size // 2)
        self.mlp = nn.Sequential(ScaleNorm(flatten_dims),
                                 nn.Linear(flatten_dims, hidden_dims, bias=False))
        self.gau = RTMCCBlock(out_channels, hidden_dims, hidden_dims, s=s,
                              expansion_factor=expansion_factor, act_fn=act_fn)
        self.cls_x = nn.Linear(hidden_dims, bins_x, bias=False)
        self.cls_y = nn.Linear(hidden_dims, bins_y, bias=False)
        self.init_weights()

    def forward(self, feats: Tensor | Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        # A backbone tuple is accepted; the last feature map is used (mmpose input_index=-1).
        x = feats if isinstance(feats, Tensor) else feats[-1]
        x = self.final_layer(x)        # [B, C, h/32, w/32] -> [B, K, h/32, w/32]
        x = torch.flatten(x, 2)        # -> [B, K, h/32 * w/32]
        x = self.mlp(x)                # -> [B, K, hidden]
        x = self.gau(x)                # -> [B, K, hidden]
        return self.cls_x(x), self.cls_y(x)  # -> [B, K, w*r], [B, K, h*r]
