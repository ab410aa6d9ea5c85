"""``build_model``: an RTMPose / DWPose or RTMW variant (``trainer.variants``) as a module."""
from __future__ import annotations

from ..variants import get_config
from .cspnext import CSPNeXt
from .cspnext_pafpn import CSPNeXtPAFPN
from .pose_estimator import RTMPose
from .rtmcc_head import RTMCCHead
from .rtmw_head import RTMWHead


def build_model(arch: str, input_size: str | tuple[int, int] = "256x192") -> RTMPose:
    """A randomly initialised whole-body model (mmpose's initialisation).

    RTMPose / DWPose: CSPNeXt's last stage -> RTMCCHead. RTMW: CSPNeXt's stages 2-4 ->
    CSPNeXtPAFPN (its stride-16 and stride-32 maps) -> RTMWHead.
    """
    cfg = get_config(arch, input_size)
    c = cfg.in_channels
    backbone = CSPNeXt(arch="P5", deepen_factor=cfg.deepen_factor,
                       widen_factor=cfg.widen_factor,
                       out_indices=(2, 3, 4) if cfg.rtmw else (4,), expand_ratio=0.5,
                       channel_attention=True)
    if backbone.out_channels != c:  # a table typo would otherwise fail late
        raise AssertionError(f"{cfg.name}: backbone gives {backbone.out_channels} channels, "
                             f"head expects {c}")
    head_cls = RTMWHead if cfg.rtmw else RTMCCHead
    head = head_cls(c, cfg.num_keypoints, input_size=cfg.input_size,
                    in_featuremap_size=cfg.in_featuremap_size,
                    simcc_split_ratio=cfg.simcc_split_ratio, final_layer_kernel_size=7,
                    hidden_dims=256, s=128, expansion_factor=2, act_fn="SiLU")
    neck = CSPNeXtPAFPN([c // 4, c // 2, c], out_indices=(1, 2), num_csp_blocks=2,
                        expand_ratio=0.5) if cfg.rtmw else None
    model = RTMPose(backbone, head, neck)
    model.config = cfg
    return model
