"""Temporal smoothing of keypoints: the one-euro filter, one state per tracked person.

The one-euro filter (Casiez, Roussel and Vogel, CHI 2012) is an exponential low-pass filter
whose cutoff frequency rises with speed: at rest a low cutoff removes jitter, in motion a higher
cutoff removes lag. For a sample ``x`` at time ``t``, ``dt = t - t_prev``:

    alpha(fc)  = 1 / (1 + tau / dt),  tau = 1 / (2 pi fc)       (smoothing factor of cutoff fc)
    dx         = (x - x_hat_prev) / dt                          (raw speed)
    dx_hat     = dx_hat_prev + alpha(d_cutoff) * (dx - dx_hat_prev)
    fc         = min_cutoff + beta * |dx_hat|
    x_hat      = x_hat_prev + alpha(fc) * (x - x_hat_prev)

Defaults are for keypoints in pixels at about 30 FPS on 480p-1080p frames:

- ``min_cutoff = 1.0`` Hz: at dt = 1/30 s, alpha = 0.17, so a keypoint at rest keeps about a
  third of the pose model's frame-to-frame jitter (standard deviation x0.30).
- ``beta = 0.007`` per pixel: a hand waving at 500 px/s raises the cutoff to 4.5 Hz
  (alpha = 0.49), a lag of about 1 / (2 pi fc) = 35 ms, one frame; jitter at rest (tens of
  px/s after the derivative filter) barely moves it.
- ``d_cutoff = 1.0`` Hz: the paper's value for the speed estimate.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .pipeline import FrameResult

__all__ = ["OneEuroFilter", "KeypointSmoother"]


def _alpha(cutoff: np.ndarray | float, dt: np.ndarray) -> np.ndarray:
    """Exponential smoothing factor of a first-order low-pass at ``cutoff`` Hz, step ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-euro filter applied elementwise to arrays of a fixed shape (e.g. keypoints [K, 2]).

    Every element keeps its own estimate, speed and time of last update, so elements can be
    updated selectively (``mask``) and restarted (:meth:`forget`).

    Args:
        min_cutoff: cutoff (Hz) at zero speed; lower = smoother at rest.
        beta: cutoff increase (Hz) per unit/s of filtered speed; higher = less lag in motion.
        d_cutoff: cutoff (Hz) of the speed estimate.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.007,
                 d_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("cutoffs must be > 0 and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x_hat: np.ndarray | None = None  # estimate
        self.dx_hat: np.ndarray | None = None  # filtered speed
        self.last_t: np.ndarray | None = None  # time of each element's last update
        self.started: np.ndarray | None = None  # which elements have a state

    def reset(self) -> None:
        """Forget everything; the next sample is passed through."""
        self.x_hat = self.dx_hat = self.last_t = self.started = None

    def forget(self, mask: np.ndarray) -> None:
        """Drop the state of the masked elements: their next sample restarts them."""
        if self.started is not None:
            self.started &= ~self._expand(np.asarray(mask, bool))

    def _expand(self, mask: np.ndarray) -> np.ndarray:
        """Broadcast a mask over the leading axes (e.g. [K] for [K, 2]) to the sample shape."""
        assert self.started is not None
        return np.broadcast_to(mask.reshape(mask.shape + (1,) * (self.started.ndim - mask.ndim)),
                               self.started.shape)

    def __call__(self, x: np.ndarray, t: float, mask: np.ndarray | None = None) -> np.ndarray:
        """Filter sample ``x`` taken at ``t`` seconds; returns the new estimate (a new array).

        Only elements where ``mask`` is true (all by default; the mask may cover the leading
        axes only) are updated; the others keep their state and return their last estimate
        (or ``x`` when they have none). An element's first sample is returned unchanged. A
        repeated timestamp (dt = 0) returns the last estimate; an earlier one (dt < 0, the
        stream restarted) restarts the element from ``x``.
        """
        x = np.asarray(x, np.float64)
        if self.x_hat is None or self.x_hat.shape != x.shape:
            self.x_hat, self.dx_hat = x.copy(), np.zeros_like(x)
            self.last_t = np.full(x.shape, -np.inf)
            self.started = np.zeros(x.shape, bool)
        assert self.dx_hat is not None and self.last_t is not None and self.started is not None
        update = np.ones(x.shape, bool) if mask is None else self._expand(np.asarray(mask, bool))
        dt = t - self.last_t
        restart = update & (~self.started | (dt < 0))
        step = update & ~restart & (dt > 0)

        dt_s = np.where(step, dt, 1.0)
        dx = (x - self.x_hat) / dt_s
        dx_hat = self.dx_hat + _alpha(self.d_cutoff, dt_s) * (dx - self.dx_hat)
        cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
        x_hat = self.x_hat + _alpha(cutoff, dt_s) * (x - self.x_hat)

        self.x_hat = np.where(restart, x, np.where(step, x_hat, self.x_hat))
        self.dx_hat = np.where(restart, 0.0, np.where(step, dx_hat, self.dx_hat))
        self.last_t = np.where(restart | step, t, self.last_t)
        self.started = self.started | restart
        return np.where(self.started, self.x_hat, x)


class KeypointSmoother:
    """One-euro smoothing of every tracked person's keypoints, keyed by ``track_ids``.

    Low-score keypoints (``score <= score_thr``) are not fed to the filter: their position is
    the pose model's guess, and a 0-score jump must not drag the estimate. They keep their
    state (and return their last estimate) for up to ``hold_s`` seconds, so a point lost for a
    frame or two continues smoothly; a point that reappears after a longer gap restarts from
    its new position instead of sliding from a stale one. A track not seen for ``max_age_s``
    seconds (or last seen later than now: the clock went back) is dropped. Scores, boxes and
    identities are left as they are.

    Args:
        min_cutoff, beta, d_cutoff: :class:`OneEuroFilter` parameters (pixels, seconds).
        score_thr: keypoints above this score update the filter (the visibility threshold).
        hold_s: how long a low-score keypoint keeps its state.
        max_age_s: how long an unseen track keeps its state.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.007, d_cutoff: float = 1.0,
                 score_thr: float = 0.3, hold_s: float = 0.3, max_age_s: float = 1.0) -> None:
        self.params = (min_cutoff, beta, d_cutoff)
        OneEuroFilter(*self.params)  # validate now rather than at the first person
        self.score_thr, self.hold_s, self.max_age_s = score_thr, hold_s, max_age_s
        self._filters: dict[int, OneEuroFilter] = {}
        self._seen: dict[int, float] = {}

    def reset(self) -> None:
        """Forget every track (call when the video jumps)."""
        self._filters.clear()
        self._seen.clear()

    @property
    def track_ids(self) -> list[int]:
        """Identities that currently have a filter state."""
        return sorted(self._filters)

    def __call__(self, result: FrameResult, t: float) -> FrameResult:
        """A copy of ``result`` with smoothed keypoints (``t`` in seconds)."""
        keypoints = np.array(result.keypoints, np.float32, copy=True)
        for i, tid in enumerate(np.asarray(result.track_ids).tolist()):
            f = self._filters.get(tid)
            if f is None:
                f = self._filters[tid] = OneEuroFilter(*self.params)
            valid = np.asarray(result.scores[i]) > self.score_thr
            if f.last_t is not None:  # not updated for too long: stale, restart when seen
                f.forget(t - f.last_t[:, 0] > self.hold_s)
            keypoints[i] = f(result.keypoints[i], t, valid)
            self._seen[tid] = t
        for tid in [k for k, seen in self._seen.items() if t - seen > self.max_age_s or t < seen]:
            del self._filters[tid], self._seen[tid]
        return replace(result, keypoints=keypoints)
