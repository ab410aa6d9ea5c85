"""A trainer, mmpose or DWPose checkpoint as a module the inference core's torch backend runs.

``checkpoint_loader`` is what the commands hand to ``engines.backends.torch.TorchBackend``
(``checkpoint=``): the trainer composes with the inference core from above, never the other
way round.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch import nn

from engines.backends.base import TensorSpec
from engines.errors import ModelError, UserError

from .checkpoint import check_state_dict, extract_state_dict, read_checkpoint
from .models import build_model, infer_variant

Loaded = tuple[nn.Module, list[TensorSpec], list[TensorSpec]]


def load_checkpoint_module(path: Path, arch: str | None = None,
                           input_size: str | None = None) -> Loaded:
    """The whole-body model in ``path`` with the official I/O of its variant.

    ``arch`` / ``input_size`` choose the variant (``"m"``, ``"256x192"``); each is read from
    the weights' shapes when not given.
    """
    state, _info = extract_state_dict(read_checkpoint(path), path)
    guess = infer_variant(state)
    arch = arch or (guess[0] if guess else None)
    input_size = input_size or (guess[1] if guess else None)
    if arch is None or input_size is None:
        raise ModelError(f"{path}: cannot tell the model variant from its weights; give the "
                         "architecture and input size (--pose-arch, --pose-input-size)")
    try:
        model = build_model(arch, input_size)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    check_state_dict(model, state, path)
    model.load_state_dict(state, strict=True)
    cfg = model.config
    (w, h), (bx, by) = cfg.input_size, cfg.simcc_bins
    f32 = np.dtype(np.float32)
    return (model, [TensorSpec("input", (None, 3, h, w), f32)],
            [TensorSpec("simcc_x", (None, cfg.num_keypoints, bx), f32),
             TensorSpec("simcc_y", (None, cfg.num_keypoints, by), f32)])


def checkpoint_loader(arch: str | None = None,
                      input_size: str | None = None) -> Callable[[Path], Loaded]:
    """The ``checkpoint=`` loader of ``TorchBackend`` for variant ``arch`` / ``input_size``."""
    return lambda path: load_checkpoint_module(path, arch, input_size)
