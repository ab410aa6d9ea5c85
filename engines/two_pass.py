"""Zero-lag smoothing of a whole video's keypoints, with short gaps filled (``dwpose predict
--smooth`` on video files).

A causal filter (``engines.smoothing``, for cameras) must trail the motion; a file's frames
are all known, so each keypoint can be filtered forward and then backward in time, and the
backward pass's delay cancels the forward one's. :class:`TwoPassSmoother`:

1. Joins tracks: the tracker gives a person lost for even one frame a new identity, so a track
   that ends and one that starts 1..``max_gap`` frames later, with boxes that overlap by
   ``iou_thr`` or more, become one person (the best overlaps first).
2. Fills gaps of at most ``max_gap`` frames by linear interpolation (:func:`fill_gaps`): a
   person missing between two frames that have it (box, box score and keypoints), and a
   keypoint scoring ``<= score_thr`` between two frames where it scores above (it gets the
   lower of those two scores). Longer gaps stay gaps.
3. Filters each keypoint's runs of confident frames with a second-order Butterworth low-pass at
   ``cutoff`` Hz, forward then backward over the result: zero phase, the square of the
   filter's response (flat up to about two thirds of the cutoff, then falling as the fourth
   power of the frequency). This is ``scipy.signal.filtfilt`` with odd padding (:func:`filtfilt`:
   each run extended at both ends by its point reflection about its end sample, the filter
   started in its steady state). The default cutoff, 6 Hz, is what biomechanics uses for
   human motion (Winter, "Biomechanics and Motor Control of Human Movement"); a first-order
   filter run both ways (the one-euro of ``engines.smoothing``) bends motions of 1-2 Hz, a
   dance's sway, long before it removes the jitter (docs/smoothing.md).

Keypoints at or below ``score_thr`` that are not filled are left as they are (no output draws
them); boxes and scores are the tracker's, but for the filled ones.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .pipeline import FrameResult
from .tracking import box_iou

__all__ = ["TwoPassSmoother", "fill_gaps", "butterworth"]


def fill_gaps(values: np.ndarray, valid: np.ndarray, max_gap: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation over the gaps of at most ``max_gap`` samples between valid ones.

    Args:
        values: ``[T, ...]`` samples along axis 0 (e.g. ``[T, K, 2]`` keypoints).
        valid: ``[T, ...]`` mask over the leading axes of ``values`` (e.g. ``[T, K]``).
        max_gap: the longest run of invalid samples filled (0: none).

    Returns:
        the values with the short gaps filled (a new float64 array) and the mask of the filled
        samples. A gap before the first or after the last valid sample is never filled.
    """
    T = valid.shape[0]
    t = np.arange(T).reshape((T,) + (1,) * (valid.ndim - 1))
    prev = np.maximum.accumulate(np.where(valid, t, -1), axis=0)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(valid, t, T), 0), axis=0), 0)
    filled = ~valid & (prev >= 0) & (nxt < T) & (nxt - prev - 1 <= max_gap)
    out = np.array(values, np.float64, copy=True)
    if filled.any():
        shape = filled.shape + (1,) * (out.ndim - valid.ndim)  # broadcasts over the values
        p = np.where(filled, prev, 0).reshape(shape)
        q = np.where(filled, nxt, 0).reshape(shape)
        w = (t.reshape(t.shape + (1,) * (out.ndim - valid.ndim)) - p) / np.maximum(q - p, 1)
        a = np.take_along_axis(out, np.broadcast_to(p, out.shape), axis=0)
        b = np.take_along_axis(out, np.broadcast_to(q, out.shape), axis=0)
        out = np.where(filled.reshape(shape), a + w * (b - a), out)
    return out, filled


def butterworth(cutoff: float, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """``(b, a)`` of the second-order Butterworth low-pass at ``cutoff`` Hz for samples at
    ``fps`` (bilinear transform with the cutoff prewarped: ``scipy.signal.butter(2, ...)``)."""
    k = math.tan(math.pi * cutoff / fps)
    norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
    b0 = k * k * norm
    return (np.array([b0, 2 * b0, b0]),
            np.array([1.0, 2.0 * (k * k - 1.0) * norm, (1.0 - math.sqrt(2.0) * k + k * k) * norm]))


def _runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], valid.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _lfilter(v: np.ndarray, start: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The biquad along axis 0 of ``v`` [n, K, 2], restarted in its steady state for the sample
    where ``start`` [n, K] is set (a constant input then comes out unchanged)."""
    x1 = x2 = y1 = y2 = v[0]
    out = np.empty_like(v)
    for i in range(len(v)):
        s = start[i][:, None]
        x1, x2, y1, y2 = (np.where(s, v[i], u) for u in (x1, x2, y1, y2))
        y = b[0] * v[i] + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2
        x2, x1, y2, y1 = x1, v[i], y1, y
        out[i] = y
    return out


def filtfilt(x: np.ndarray, valid: np.ndarray, b: np.ndarray, a: np.ndarray,
             pad: int) -> np.ndarray:
    """``scipy.signal.filtfilt(b, a, run, padtype="odd", padlen=p)`` on each run of valid
    samples of each keypoint, ``p = min(pad, len(run) - 1)``; invalid samples come back as they
    are. (Odd padding reflects a run about its end samples, so the output keeps them: a run's
    first and last sample are not smoothed, the next ones less than the rest.)

    ``x`` is ``[T, K, 2]``, ``valid`` ``[T, K]``. The padded runs of each keypoint are laid end
    to end in a column of their own, so one loop over the longest column filters every keypoint
    at once.
    """
    T, K = valid.shape
    columns = []
    for k in range(K):
        src, ref, odd, out, start, mirror = [], [], [], [], [], []
        for s, e in _runs(valid[:, k]):
            p, n = min(pad, e - s - 1), e - s
            first = len(src)
            # 2 x[s] - x[s + j] for j = p..1, the run, 2 x[e - 1] - x[e - 1 - j] for j = 1..p
            src += [s] * p + list(range(s, e)) + [e - 1] * p
            ref += list(range(s + p, s, -1)) + list(range(s, e)) + list(range(e - 2, e - 2 - p,
                                                                               -1))
            odd += [1.0] * p + [0.0] * n + [1.0] * p
            out += [-1] * p + list(range(s, e)) + [-1] * p
            start += [True] + [False] * (n + 2 * p - 1)
            mirror += list(range(first + n + 2 * p - 1, first - 1, -1))
        columns.append((src, ref, odd, out, start, mirror))
    length = max((len(col[0]) for col in columns), default=0)
    if length == 0:
        return np.array(x, np.float64, copy=True)

    def stacked(i: int, fill: float, dtype: type) -> np.ndarray:
        return np.array([col[i] + [fill] * (length - len(col[i])) for col in columns], dtype).T

    src, ref = stacked(0, 0, np.intp), stacked(1, 0, np.intp)
    odd, out = stacked(2, 0.0, np.float64), stacked(3, -1, np.intp)
    start, mirror = stacked(4, False, bool), stacked(5, 0, np.intp)
    rows = np.arange(length)[:, None]
    mirror = np.where(rows >= np.array([len(col[0]) for col in columns]), rows, mirror)
    keys = np.broadcast_to(np.arange(K), src.shape)
    xs, xr = x[src, keys], x[ref, keys]
    v = xs + odd[..., None] * (xs - xr)  # (1 + odd) x[src] - odd x[ref]
    forward = _lfilter(v, start, b, a)
    backward = _lfilter(forward[mirror, keys], start, b, a)[mirror, keys]
    result = np.array(x, np.float64, copy=True)
    real = out >= 0
    result[out[real], keys[real]] = backward[real]
    return result


class TwoPassSmoother:
    """Zero-lag smoothing of a video's results with short gaps filled (module docstring).

    Args:
        cutoff: the low-pass cutoff in Hz (at most 0.45 of the frame rate is used).
        score_thr: keypoints above this score are smoothed and anchor gaps.
        max_gap: the longest gap filled and the longest a track may be lost to be joined, in
            frames (0: no filling, no joining).
        iou_thr: the box overlap (IoU) across a gap that makes two tracks one person.
    """

    def __init__(self, cutoff: float = 6.0, score_thr: float = 0.3, max_gap: int = 5,
                 iou_thr: float = 0.3) -> None:
        if not cutoff > 0 or max_gap < 0:
            raise ValueError("cutoff must be > 0 and max_gap >= 0")
        self.cutoff, self.score_thr, self.max_gap, self.iou_thr = (
            cutoff, score_thr, max_gap, iou_thr)

    def __call__(self, results: Sequence[FrameResult], fps: float) -> list[FrameResult]:
        """The results of consecutive frames at ``fps``, smoothed, with identities joined and
        gaps filled (filled persons come after a frame's own, ordered by identity)."""
        if not fps > 0:
            raise ValueError("fps must be > 0")
        b, a = butterworth(min(self.cutoff, 0.45 * fps), fps)
        pad = math.ceil(2 * fps / min(self.cutoff, 0.45 * fps))  # a few impulse responses
        ids = [np.asarray(r.track_ids).tolist() for r in results]
        joined = self._join(results, ids)
        ids = [[joined.get(t, t) for t in frame_ids] for frame_ids in ids]
        tracks: dict[int, list[tuple[int, int]]] = {}  # id -> [(frame, person index)]
        for f, frame_ids in enumerate(ids):
            for i, tid in enumerate(frame_ids):
                tracks.setdefault(tid, []).append((f, i))
        keypoints = [np.array(r.keypoints, np.float64) for r in results]
        scores = [np.array(r.scores, np.float64) for r in results]
        added: list[list[tuple]] = [[] for _ in results]
        for tid, seen in sorted(tracks.items()):
            self._track(results, seen, tid, (b, a), pad, keypoints, scores, added)
        return [self._frame(r, keypoints[f], scores[f], ids[f], added[f])
                for f, r in enumerate(results)]

    @staticmethod
    def _frame(r: FrameResult, keypoints: np.ndarray, scores: np.ndarray, ids: list[int],
               extra: list[tuple]) -> FrameResult:
        """``r`` with new keypoints, scores and identities, and the filled persons after its
        own."""
        k = r.keypoints.shape[1:]
        return replace(
            r,
            boxes=np.concatenate([np.asarray(r.boxes, np.float32).reshape(-1, 4)]
                                 + [e[3].reshape(1, 4) for e in extra]).astype(np.float32),
            box_scores=np.concatenate([np.asarray(r.box_scores, np.float32).reshape(-1),
                                       np.array([e[4] for e in extra], np.float32)]),
            keypoints=np.concatenate([keypoints.reshape(-1, *k)] + [e[1][None] for e in extra]
                                     ).astype(np.float32),
            scores=np.concatenate([scores.reshape(-1, *k[:1])] + [e[2][None] for e in extra]
                                  ).astype(np.float32),
            track_ids=np.array(ids + [e[0] for e in extra], np.int64))

    def _join(self, results: Sequence[FrameResult], ids: list[list[int]]) -> dict[int, int]:
        """Identity -> the identity it continues (step 1 of the module docstring)."""
        first: dict[int, tuple[int, np.ndarray]] = {}
        last: dict[int, tuple[int, np.ndarray]] = {}
        for f, (r, frame_ids) in enumerate(zip(results, ids)):
            for i, tid in enumerate(frame_ids):
                first.setdefault(tid, (f, np.asarray(r.boxes[i])))
                last[tid] = (f, np.asarray(r.boxes[i]))
        starting: dict[int, list[int]] = {}  # frame -> identities starting there
        for tid, (begin, _) in first.items():
            starting.setdefault(begin, []).append(tid)
        pairs = []
        for a, (end, box_a) in last.items():
            for begin in range(end + 2, end + 2 + self.max_gap):  # 1..max_gap frames lost
                for b in starting.get(begin, []):
                    iou = float(box_iou(box_a, first[b][1])[0, 0])
                    if iou >= self.iou_thr:
                        pairs.append((-iou, a, b))
        successor: dict[int, int] = {}
        predecessor: dict[int, int] = {}
        for _, a, b in sorted(pairs):
            if a not in successor and b not in predecessor:
                successor[a], predecessor[b] = b, a
        root: dict[int, int] = {}
        for b in sorted(predecessor, key=lambda tid: first[tid][0]):
            root[b] = root.get(predecessor[b], predecessor[b])
        return root

    def _track(self, results: Sequence[FrameResult], seen: list[tuple[int, int]], tid: int,
               coeffs: tuple[np.ndarray, np.ndarray], pad: int, keypoints: list[np.ndarray],
               scores: list[np.ndarray], added: list[list[tuple]]) -> None:
        """Fill and smooth one identity over its frames, in place in ``keypoints`` and
        ``scores``; its filled frames go to ``added`` as (id, keypoints, scores, box, score)."""
        begin, L = seen[0][0], seen[-1][0] + 1 - seen[0][0]
        K = results[begin].keypoints.shape[1]
        here = np.zeros(L, bool)
        kp, sc = np.zeros((L, K, 2)), np.zeros((L, K))
        boxes, box_scores = np.zeros((L, 4)), np.zeros(L)
        for f, i in seen:
            j = f - begin
            here[j] = True
            kp[j], sc[j] = keypoints[f][i], scores[f][i]
            boxes[j], box_scores[j] = results[f].boxes[i], results[f].box_scores[i]
        kp, person_filled = fill_gaps(kp, here, self.max_gap)
        boxes = fill_gaps(boxes, here, self.max_gap)[0]
        box_scores = fill_gaps(box_scores, here, self.max_gap)[0]
        valid = (sc > self.score_thr) & here[:, None]
        kp, filled = fill_gaps(kp, valid, self.max_gap)
        filled &= (here | person_filled)[:, None]
        t = np.arange(L)[:, None]
        before = np.maximum.accumulate(np.where(valid, t, 0), axis=0)
        after = np.flip(np.minimum.accumulate(np.flip(np.where(valid, t, L - 1), 0), 0), 0)
        columns = np.arange(K)
        sc = np.where(filled, np.minimum(sc[before, columns], sc[after, columns]), sc)
        valid |= filled
        smooth = filtfilt(kp, valid, *coeffs, pad)
        for f, i in seen:
            keypoints[f][i], scores[f][i] = smooth[f - begin], sc[f - begin]
        for j in np.flatnonzero(person_filled).tolist():
            added[begin + j].append((tid, smooth[j], sc[j], boxes[j], float(box_scores[j])))
