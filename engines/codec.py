"""SimCC coordinate classification: label encoding (training) and decoding (inference).

SimCC represents each keypoint coordinate as a 1-D classification over ``input * k`` bins
(k = ``split_ratio``, 2.0 for every released RTMPose/DWPose model), one vector along x and
one along y. Semantics follow mmpose's ``SimCCLabel`` codec exactly, including its quirks:

- encoding rounds ``keypoint * k`` half-to-even (``np.around``);
- a keypoint with visibility < 0.5 gets all-zero labels but keeps its visibility as weight;
- a visible keypoint whose 3-sigma window misses the input entirely gets weight 0, so points
  slightly outside the crop still get (truncated) labels;
- decoding scores a keypoint with min(max_x, max_y) of the raw logits and marks a score
  <= 0 with location -1 *before* dividing by k (so such points come out at -1 / k).
"""
from __future__ import annotations

import numpy as np


def get_simcc_maximum(simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax locations [N, K, 2] (in bins) and scores [N, K] of SimCC logits.

    Args:
        simcc_x: [N, K, Wx] logits along x.  simcc_y: [N, K, Wy] logits along y.
    """
    n, k, _ = simcc_x.shape
    sx = simcc_x.reshape(n * k, -1)
    sy = simcc_y.reshape(n * k, -1)
    ix, iy = sx.argmax(axis=1), sy.argmax(axis=1)
    locs = np.stack([ix, iy], axis=-1).astype(np.float32)
    # The maxima are the values at the argmax: one pass over the logits, not two.
    vals = np.minimum(np.take_along_axis(sx, ix[:, None], 1)[:, 0],
                      np.take_along_axis(sy, iy[:, None], 1)[:, 0])
    locs[vals <= 0] = -1
    return locs.reshape(n, k, 2), vals.reshape(n, k)


class SimCCCodec:
    """Encode keypoints to SimCC labels and decode SimCC logits to keypoints.

    Args:
        input_size: (w, h) of the network input.
        sigma: Gaussian sigma (x, y) in bins; (4.9, 5.66) at 256x192, (6.0, 6.93) at 384x288.
        split_ratio: bins per input pixel.
        normalize: divide labels by sigma * sqrt(2 pi) (off in every RTMPose config).
    """

    def __init__(self, input_size: tuple[int, int], sigma: float | tuple[float, float] = 6.0,
                 split_ratio: float = 2.0, normalize: bool = False) -> None:
        self.input_size = tuple(input_size)
        self.sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (2,)).copy()
        self.split_ratio = float(split_ratio)
        self.normalize = normalize
        w, h = self.input_size
        self.num_bins = (int(np.around(w * split_ratio)), int(np.around(h * split_ratio)))

    def encode(self, keypoints: np.ndarray,
               visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Gaussian labels for [N, K, 2] keypoints in input pixels.

        Returns ``x_labels`` [N, K, Wx], ``y_labels`` [N, K, Wy] (float32) and
        ``weights`` [N, K] (float32).
        """
        n, k, _ = keypoints.shape
        if visible is None:
            visible = np.ones((n, k), dtype=np.float32)
        wx, wy = self.num_bins
        mu = np.around(keypoints * self.split_ratio).astype(np.int64)  # [N, K, 2]
        weights = np.asarray(visible, dtype=np.float32).copy()
        radius = self.sigma * 3
        lo = mu - radius
        hi = mu + radius + 1
        outside = (lo[..., 0] >= wx) | (lo[..., 1] >= wy) | (hi[..., 0] < 0) | (hi[..., 1] < 0)
        labelled = visible >= 0.5
        weights[labelled & outside] = 0
        active = (labelled & ~outside)[..., None]

        x = np.arange(wx, dtype=np.float64)
        y = np.arange(wy, dtype=np.float64)
        x_labels = np.exp(-((x - mu[..., 0:1]) ** 2) / (2 * self.sigma[0] ** 2))
        y_labels = np.exp(-((y - mu[..., 1:2]) ** 2) / (2 * self.sigma[1] ** 2))
        x_labels = np.where(active, x_labels, 0).astype(np.float32)
        y_labels = np.where(active, y_labels, 0).astype(np.float32)
        if self.normalize:
            norm = self.sigma * np.sqrt(2 * np.pi)
            x_labels /= norm[0]
            y_labels /= norm[1]
        return {"x_labels": x_labels, "y_labels": y_labels, "weights": weights}

    def decode(self, simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SimCC logits -> keypoints [N, K, 2] in input pixels and scores [N, K]."""
        locs, scores = get_simcc_maximum(simcc_x, simcc_y)
        return locs / self.split_ratio, scores
