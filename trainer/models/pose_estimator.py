"""RTMPose: a top-down pose estimator (backbone [+ neck] + SimCC head), mmpose's
TopdownPoseEstimator.

The module tree is ``backbone`` (+ ``neck`` for RTMW) + ``head``, so the state dict is
key-for-key the one of an mmpose whole-body ``TopdownPoseEstimator`` checkpoint (mmpose's data
preprocessor keeps its mean/std as non-persistent buffers, so it adds no keys). The input is
the normalised RGB crop (mean/std applied by the caller), exactly what the released ONNX models
take.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

if TYPE_CHECKING:
    from ..variants import ModelConfig
    from .cspnext import CSPNeXt
    from .cspnext_pafpn import CSPNeXtPAFPN
    from .rtmcc_head import RTMCCHead
    from .rtmw_head import RTMWHead

#: State-dict prefixes of the feature extractor (what DWPose stage 2 shares and freezes).
FEATURE_PARTS = ("backbone.", "neck.")


class RTMPose(nn.Module):
    """Backbone [+ neck] + head; ``forward(x [B,3,H,W]) -> (simcc_x [B,K,W*r], simcc_y [B,K,H*r])``.

    Attributes:
        backbone: the CSPNeXt backbone (returns a tuple of feature maps).
        neck: RTMW's CSPNeXtPAFPN, or None (RTMPose / DWPose).
        head: the RTMCCHead, or RTMW's RTMWHead.
        input_size: network input ``(w, h)``.
        config: the variant's ``ModelConfig`` when built by ``build_model``, else None.
    """

    def __init__(self, backbone: CSPNeXt, head: RTMCCHead | RTMWHead,
                 neck: CSPNeXtPAFPN | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck  # None adds no keys: RTMPose's state dict stays backbone + head
        self.head = head
        self.input_size: tuple[int, int] = tuple(head.input_size)
        self.config: ModelConfig | None = None

    def extract_feat(self, x: Tensor) -> tuple[Tensor, ...]:
        """What the head takes: RTMPose ``(stage4 [B, C, H/32, W/32],)``; RTMW the neck's
        ``([B, C/2, H/16, W/16], [B, C, H/32, W/32])``. The last is always the stride-32 map."""
        feats = self.backbone(x)
        return feats if self.neck is None else self.neck(feats)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # [B, 3, H, W] -> ([B, K, W*r], [B, K, H*r])
        return self.head(self.extract_feat(x))
