"""``build_model``: an RTMPose / DWPose whole-body variant (``configs``) as a torch module."""
from __future__ import annotations

from .configs import get_config
from .cspnext import CSPNeXt
from .pose_estimator import RTMPose
from .rtmcc_head import RTMCCHead


def build_model(arch: str, input_size: str | tuple[int, int] = "256x192") -> RTMPose:
    """A randomly initialised RTMPose/DWPose whole-body model (mmpose's initialisation)."""
    cfg = get_config(arch, input_size)
    backbone = CSPNeXt(arch="P5", deepen_factor=cfg.deepen_factor,
                       widen_factor=cfg.widen_factor, out_indices=(4,), expand_ratio=0.5,
                       channel_attention=True)
    if backbone.out_channels != cfg.in_channels:  # a table typo would otherwise fail late
        raise AssertionError(f"{cfg.name}: backbone gives {backbone.out_channels} channels, "
                             f"head expects {cfg.in_channels}")
    head = RTMCCHead(cfg.in_channels, cfg.num_keypoints, input_size=cfg.input_size,
                     in_featuremap_size=cfg.in_featuremap_size,
                     simcc_split_ratio=cfg.simcc_split_ratio, final_layer_kernel_size=7,
                     hidden_dims=256, s=128, expansion_factor=2, act_fn="SiLU")
    model = RTMPose(backbone, head)
    model.config = cfg
    return model
