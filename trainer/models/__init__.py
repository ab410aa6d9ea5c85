"""RTMPose / DWPose whole-body models in plain PyTorch, state-dict compatible with mmpose."""
from __future__ import annotations

from .builder import build_model
from .configs import (
    ARCH_FACTORS,
    ARCHS,
    INPUT_SIZES,
    ModelConfig,
    get_config,
    infer_variant,
    parse_input_size,
)
from .cspnext import CSPNeXt
from .layers import NormConfig
from .pose_estimator import RTMPose
from .rtmcc_block import RTMCCBlock, Scale, ScaleNorm
from .rtmcc_head import RTMCCHead

__all__ = [
    "ARCHS", "ARCH_FACTORS", "INPUT_SIZES", "CSPNeXt", "ModelConfig", "NormConfig",
    "RTMCCBlock", "RTMCCHead", "RTMPose", "Scale", "ScaleNorm", "build_model", "get_config",
    "infer_variant", "parse_input_size",
]
