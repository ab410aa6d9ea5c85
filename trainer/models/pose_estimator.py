"""RTMPose: a top-down pose estimator (backbone + SimCC head), mmpose's TopdownPoseEstimator.

The module tree is ``backbone`` + ``head``, so the state dict is key-for-key the one of an
mmpose whole-body ``TopdownPoseEstimator`` checkpoint (mmpose's data preprocessor keeps its
mean/std as non-persistent buffers, so it adds no keys). The input is the normalised RGB crop
(mean/std applied by the caller), exactly what the released ONNX models take.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

from .cspnext import CSPNeXt
from .rtmcc_head import RTMCCHead

if TYPE_CHECKING:
    from .configs import ModelConfig


class RTMPose(nn.Module):
    """Backbone + RTMCCHead; ``forward(x [B,3,H,W]) -> (simcc_x [B,K,W*r], simcc_y [B,K,H*r])``.

    Attributes:
        backbone: the CSPNeXt backbone (returns a tuple of feature maps).
        head: the RTMCCHead.
        input_size: network input ``(w, h)``.
        config: the variant's ``ModelConfig`` when built by ``build_model``, else None.
    """

    def __init__(self, backbone: CSPNeXt, head: RTMCCHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.input_size: tuple[int, int] = tuple(head.input_size)
        self.config: ModelConfig | None = None

    def extract_feat(self, x: Tensor) -> tuple[Tensor, ...]:
        """Backbone features: ``(stage4 [B, C, H/32, W/32],)`` with ``out_indices=(4,)``."""
        return self.backbone(x)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # [B, 3, H, W] -> ([B, K, W*r], [B, K, H*r])
        return self.head(self.extract_feat(x))
