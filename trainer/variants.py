"""The RTMPose / DWPose and RTMW whole-body variants (mmpose configs): sizes, widths, codec.

``t``..``x`` are RTMPose / DWPose (CSPNeXt + RTMCCHead on the last stage); ``rtmw-m``,
``rtmw-l`` and ``rtmw-x`` are RTMW (the same CSPNeXt sizes, a CSPNeXtPAFPN neck and the
two-resolution RTMWHead). The released ``rtmw-dw-l-m`` / ``rtmw-dw-x-l`` files are RTMW-m /
RTMW-l students. Sizes are written ``HxW`` in names (``"256x192"``, as in the config file names)
and ``(w, h)`` in tuples (as mmpose's codec ``input_size``).
"""
from __future__ import annotations

from dataclasses import dataclass

NUM_KEYPOINTS = 133
SIMCC_SPLIT_RATIO = 2.0

#: arch -> (deepen_factor, widen_factor, head in_channels)
ARCH_FACTORS: dict[str, tuple[float, float, int]] = {
    "t": (0.167, 0.375, 384),
    "s": (0.33, 0.5, 512),
    "m": (0.67, 0.75, 768),
    "l": (1.0, 1.0, 1024),
    "x": (1.33, 1.25, 1280),
}
#: RTMW variants: "rtmw-" + the CSPNeXt size they use (mmpose's cocktail14 configs)
RTMW_PREFIX = "rtmw-"
RTMW_ARCHS = tuple(RTMW_PREFIX + a for a in ("m", "l", "x"))
ARCHS = tuple(ARCH_FACTORS) + RTMW_ARCHS

#: "HxW" -> (w, h) input size and the SimCC label sigma (x, y) of its configs
INPUT_SIZES: dict[str, tuple[tuple[int, int], tuple[float, float]]] = {
    "256x192": ((192, 256), (4.9, 5.66)),
    "384x288": ((288, 384), (6.0, 6.93)),
}


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes one variant's architecture and its SimCC codec."""

    arch: str                              # "t".."x", or "rtmw-m" / "rtmw-l" / "rtmw-x"
    input_size: tuple[int, int]            # (w, h)
    deepen_factor: float
    widen_factor: float
    in_channels: int                       # backbone output = head input channels
    in_featuremap_size: tuple[int, int]    # (w, h) // 32
    sigma: tuple[float, float]             # SimCC label sigma (x, y)
    simcc_split_ratio: float = SIMCC_SPLIT_RATIO
    num_keypoints: int = NUM_KEYPOINTS

    @property
    def rtmw(self) -> bool:
        """RTMW (neck + RTMWHead) rather than RTMPose / DWPose (RTMCCHead)."""
        return self.arch.startswith(RTMW_PREFIX)

    @property
    def name(self) -> str:
        w, h = self.input_size
        return f"{model_name(self.arch)}_{h}x{w}"

    @property
    def simcc_bins(self) -> tuple[int, int]:
        """Output bins (x, y) = input (w, h) * split ratio."""
        w, h = self.input_size
        return int(w * self.simcc_split_ratio), int(h * self.simcc_split_ratio)


def model_name(arch: str) -> str:
    """What a variant is called in messages: ``"rtmpose-m"``, ``"rtmw-l"``."""
    return arch if arch.startswith(RTMW_PREFIX) else f"rtmpose-{arch}"


def parse_input_size(size: str | tuple[int, int]) -> tuple[int, int]:
    """``"256x192"`` (HxW) or ``(w, h)`` -> ``(w, h)``; only the two released sizes."""
    if isinstance(size, str):
        if size not in INPUT_SIZES:
            raise ValueError(f"input size {size!r} not one of {', '.join(INPUT_SIZES)} (HxW)")
        return INPUT_SIZES[size][0]
    w, h = (int(v) for v in size)
    for (known, _sigma) in INPUT_SIZES.values():
        if known == (w, h):
            return known
    raise ValueError(f"input size (w, h) = {(w, h)} is not one of "
                     f"{', '.join(str(v[0]) for v in INPUT_SIZES.values())}")


def get_config(arch: str, input_size: str | tuple[int, int] = "256x192") -> ModelConfig:
    """The config of variant ``arch`` (``ARCHS``) at ``input_size`` ("HxW" or (w, h))."""
    if arch not in ARCHS:
        raise ValueError(f"arch {arch!r} not one of {', '.join(ARCHS)}")
    w, h = parse_input_size(input_size)
    sigma = INPUT_SIZES[f"{h}x{w}"][1]
    deepen, widen, in_channels = ARCH_FACTORS[arch.removeprefix(RTMW_PREFIX)]
    return ModelConfig(arch=arch, input_size=(w, h), deepen_factor=deepen, widen_factor=widen,
                       in_channels=in_channels, in_featuremap_size=(w // 32, h // 32),
                       sigma=sigma)


def infer_variant(state: dict) -> tuple[str, str] | None:
    """Guess ``(arch, "HxW")`` of a whole-body state dict from its stem and SimCC widths
    (``neck.*`` keys make it RTMW)."""
    stem = state.get("backbone.stem.0.conv.weight")
    cls_x, cls_y = state.get("head.cls_x.weight"), state.get("head.cls_y.weight")
    if stem is None or cls_x is None or cls_y is None:
        return None
    arch = next((a for a, (_deepen, widen, _c) in ARCH_FACTORS.items()
                 if int(64 * widen // 2) == stem.shape[0]), None)  # stem widths are unique
    bins = (int(cls_x.shape[0] / SIMCC_SPLIT_RATIO), int(cls_y.shape[0] / SIMCC_SPLIT_RATIO))
    size = next((name for name, (wh, _s) in INPUT_SIZES.items() if wh == bins), None)
    if arch and any(k.startswith("neck.") for k in state):
        arch = RTMW_PREFIX + arch if RTMW_PREFIX + arch in RTMW_ARCHS else None
    return (arch, size) if arch and size else None
