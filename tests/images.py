"""Image folders for tests that need real files on disk (calibration, the precision gate)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engines.files import write_image


def noise_images(folder: Path, count: int, size: tuple[int, int] = (48, 64),
                 seed: int = 0) -> Path:
    """Write ``count`` uniform-noise PNGs of ``size`` (w, h) named ``f0.png``, ``f1.png``...
    into ``folder`` (made if needed); returns ``folder``. Written through ``write_image``,
    whose failures raise (``cv2.imwrite`` returns False, and on Windows cannot open a
    non-ASCII path such as a temporary folder under a user's name)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    for i in range(count):
        write_image(folder / f"f{i}.png", rng.integers(0, 255, (h, w, 3), np.uint8))
    return folder
