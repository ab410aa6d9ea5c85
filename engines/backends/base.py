"""The interface every runtime implements: load a model, describe its tensors, run a batch."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (``None`` on a dynamic axis) and dtype of one model input or output."""

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype

    def describe(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} {np.dtype(self.dtype).name}[{dims}]"


class Backend(ABC):
    """One model loaded in one runtime.

    Subclasses fill ``inputs`` / ``outputs`` at load time and implement ``infer``; the
    stage classes (detector, pose) only ever talk to this interface.
    """

    #: Short name used on the command line (``--backend``).
    name: str = ""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []

    @abstractmethod
    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch; ``feeds`` maps input names to arrays, the result maps output names."""

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.infer(feeds)

    @property
    def max_batch(self) -> int | None:
        """Largest batch one call accepts: ``None`` when the batch axis is dynamic."""
        return self.inputs[0].shape[0] if self.inputs else None

    def describe(self) -> str:
        ins = ", ".join(t.describe() for t in self.inputs)
        outs = ", ".join(t.describe() for t in self.outputs)
        return f"inputs {ins}; outputs {outs}"
