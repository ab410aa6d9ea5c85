"""CSPNeXt backbone (RTMDet's, as used by RTMPose/DWPose), P5 architecture."""
from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from .layers import DEFAULT_NORM, ConvModule, CSPLayer, NormConfig, SPPBottleneck

# Per stage: in_channels, out_channels, num_blocks, add_identity, use_spp (before widen/deepen).
ARCH_SETTINGS: dict[str, list[tuple[int, int, int, bool, bool]]] = {
    "P5": [(64, 128, 3, True, False), (128, 256, 6, True, False),
           (256, 512, 6, True, False), (512, 1024, 3, False, True)],
}


class CSPNeXt(nn.Module):
    """CSPNeXt backbone.

    A 3-conv stem (stride 2) and four stages, each a stride-2 ConvModule, an SPP block in the
    last stage, and a CSPLayer of CSPNeXt blocks. The output stride is 32.

    Args:
        arch: architecture, only ``"P5"`` (what RTMPose uses).
        deepen_factor: multiplies the number of blocks per stage (rounded, at least 1).
        widen_factor: multiplies the channels of every layer.
        out_indices: which outputs to return; 0 is the stem, 1-4 the stages. RTMPose uses
            ``(4,)``, the last stage only.
        expand_ratio: hidden channel ratio of the CSP layers.
        channel_attention: gate each CSP layer with ``ChannelAttention``.
        spp_kernel_sizes: max-pool kernels of the SPP block.
        norm: BatchNorm settings (eps 1e-5, momentum 0.1 as in the RTMPose configs).
    """

    def __init__(self, arch: str = "P5", deepen_factor: float = 1.0, widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (4,), expand_ratio: float = 0.5,
                 channel_attention: bool = True,
                 spp_kernel_sizes: Sequence[int] = (5, 9, 13),
                 norm: NormConfig = DEFAULT_NORM) -> None:
        super().__init__()
        settings = ARCH_SETTINGS[arch]
        if not set(out_indices) <= set(range(len(settings) + 1)):
            raise ValueError(f"out_indices {tuple(out_indices)} not in 0..{len(settings)}")
        self.out_indices = tuple(out_indices)
        stem_out = int(settings[0][0] * widen_factor)
        stem_mid = int(settings[0][0] * widen_factor // 2)
        self.stem = nn.Sequential(
            ConvModule(3, stem_mid, 3, stride=2, padding=1, norm=norm),
            ConvModule(stem_mid, stem_mid, 3, stride=1, padding=1, norm=norm),
            ConvModule(stem_mid, stem_out, 3, stride=1, padding=1, norm=norm))
        self.layers = ["stem"]
        for i, (in_ch, out_ch, num_blocks, add_identity, use_spp) in enumerate(settings):
            in_ch, out_ch = int(in_ch * widen_factor), int(out_ch * widen_factor)
            num_blocks = max(round(num_blocks * deepen_factor), 1)
            stage: list[nn.Module] = [ConvModule(in_ch, out_ch, 3, stride=2, padding=1, norm=norm)]
            if use_spp:
                stage.append(SPPBottleneck(out_ch, out_ch, spp_kernel_sizes, norm=norm))
            stage.append(CSPLayer(out_ch, out_ch, expand_ratio=expand_ratio,
                                  num_blocks=num_blocks, add_identity=add_identity,
                                  channel_attention=channel_attention, norm=norm))
            self.add_module(f"stage{i + 1}", nn.Sequential(*stage))
            self.layers.append(f"stage{i + 1}")
        self.out_channels = int(settings[-1][1] * widen_factor)
        self.init_weights()

    def init_weights(self) -> None:
        """mmdet's default: Kaiming-uniform convs (a=sqrt(5), fan_in), zero bias; BN 1 / 0.

        Upstream training starts the backbone from an ImageNet/COCO-pretrained CSPNeXt
        checkpoint instead; load one with ``trainer.checkpoint.load_checkpoint``.
        """
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), mode="fan_in",
                                         nonlinearity="leaky_relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        # [B, 3, H, W] -> stem [B, C0, H/2, W/2] -> stage i [B, Ci, H/2^(i+1), W/2^(i+1)]
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
