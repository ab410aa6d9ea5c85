"""``exposure``: too dark or washed out (nothing else is reliable without light)."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..direction import Direction
from ..results import CheckResult, fail
from .base import Context


class Exposure(NamedTuple):
    """Frame brightness statistics, all in [0, 1]."""

    mean: float  # mean grey level / 255
    dark_frac: float  # fraction of pixels at or below the dark level
    bright_frac: float  # fraction of pixels at or above the clipped level


#: Grey levels (0-255) counted as crushed black and as clipped white by :func:`exposure_stats`.
DARK_LEVEL, BRIGHT_LEVEL = 16, 250
#: Longest side of the grid :func:`exposure_stats` samples (a few thousand pixels suffice).
EXPOSURE_SIDE = 160
_BGR_TO_GREY = np.array([0.114, 0.587, 0.299], np.float32)  # ITU-R BT.601 luma, BGR order


def exposure_stats(image: np.ndarray, max_side: int = EXPOSURE_SIDE) -> Exposure:
    """Brightness of a BGR (or grey) uint8 image from a strided sample of at most ``max_side``.

    Striding instead of resizing keeps it well under a millisecond for a 1080p frame.
    """
    h, w = image.shape[:2]
    step = max(1, math.ceil(max(h, w) / max_side))
    small = image[::step, ::step]
    if small.ndim == 3 and small.shape[2] >= 3:
        grey = small[..., :3].astype(np.float32) @ _BGR_TO_GREY
    else:
        grey = small.reshape(small.shape[:2]).astype(np.float32)
    return Exposure(float(grey.mean() / 255.0), float((grey <= DARK_LEVEL).mean()),
                    float((grey >= BRIGHT_LEVEL).mean()))


def check_exposure(exposure: tuple[float, float, float] | None, ctx: Context) -> CheckResult:
    """Mean grey level and crushed / clipped fractions within bounds (passes when None)."""
    if exposure is None:
        return CheckResult("exposure", True, "not measured")
    cfg, (mean, dark, bright) = ctx.config, exposure
    m = ctx.margin("exposure", cfg.exposure_margin)
    if mean < cfg.dark_mean + m or dark > cfg.max_dark_frac - m:
        return fail("exposure", f"too dark (mean {mean:.2f})",
                    "It's too dark: turn on a light or face a window", Direction.NONE, mean)
    if mean > cfg.bright_mean - m or bright > cfg.max_bright_frac - m:
        return fail("exposure", f"washed out ({bright:.0%} clipped)",
                    "It's too bright: dim the light or avoid a bright light behind you",
                    Direction.NONE, mean)
    return CheckResult("exposure", True, f"exposure ok (mean {mean:.2f})", value=mean)
