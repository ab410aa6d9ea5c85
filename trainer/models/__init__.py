"""RTMPose / DWPose and RTMW whole-body models in plain PyTorch, state dicts as mmpose's."""
from __future__ import annotations

from ..variants import (
    ARCH_FACTORS,
    ARCHS,
    INPUT_SIZES,
    RTMW_ARCHS,
    ModelConfig,
    get_config,
    infer_variant,
    model_name,
    parse_input_size,
)
from .builder import build_model
from .cspnext import CSPNeXt
from .cspnext_pafpn import CSPNeXtPAFPN
from .layers import NormConfig
from .pose_estimator import FEATURE_PARTS, RTMPose
from .rtmcc_block import RTMCCBlock, Scale, ScaleNorm
from .rtmcc_head import RTMCCHead
from .rtmw_head import RTMWHead

__all__ = [
    "ARCHS", "ARCH_FACTORS", "FEATURE_PARTS", "INPUT_SIZES", "RTMW_ARCHS", "CSPNeXt",
    "CSPNeXtPAFPN", "ModelConfig", "NormConfig", "RTMCCBlock", "RTMCCHead", "RTMPose", "RTMWHead",
    "Scale", "ScaleNorm", "build_model", "get_config", "infer_variant", "model_name",
    "parse_input_size",
]
