"""Smoothing measured against the truth: raw keypoints vs the causal and the two-pass smoother.

Real poses, synthetic motion: each COCO-WholeBody person of ../shared/data/coco_wholebody
with at least 12 annotated body points is scaled to 360 px tall, centred in a 1280x720 frame
and moved along smooth paths (a similarity transform of time: shift, scale, rotation about
the pose's centre) for 4 s at 30 FPS. Only its annotated points count.

The "model" output is the true path plus model-like errors, per keypoint ``k`` of a person
whose box is ``s`` px across (``sqrt(w h)``, as OKS measures size), with COCO-WholeBody's OKS
sigma ``sigma_k`` (its annotators' spread, larger for the hips than the eyes):

- jitter: white Gaussian noise, std ``0.5 + 0.1 sigma_k s`` px per axis (about 0.8 px on the
  face, 1 px on the hands, 2-3 px on the hips of a 360 px person), plus a slow drift of the same
  size (AR(1), 0.8 per frame), as a model's error on nearly the same crop persists;
- glitches: 0.3 % of the points are off by 8 such stds for one frame;
- dropouts: a point's score falls to 0.1 for 1-4 frames (1.5 % of the frames start one), and
  the whole person is missed for 1-3 frames twice per clip, coming back under a new track id
  (what the tracker does); other scores are uniform in [0.5, 0.95].

Measured per path, averaged over the persons, on the points each method outputs (score above
0.3, the visibility threshold every output uses):

- error: RMS distance to the true position (px) over the points the raw output has (the same
  points for every method); filled error: the same over the points only gap filling gives;
  coverage: the share of the true points out;
- jitter: RMS of the second difference of consecutive outputs (px per frame squared), the
  truth's own for reference;
- lag: the delay of the output behind the true path (ms; a causal filter trails, > 0): the
  least-squares fit of ``output - truth = -lag * velocity`` over the points out (on the
  still path the velocity is tiny and the fit mostly noise).

The plot (``--plot``, default docs/smoothing.png) shows one keypoint on one path: its x over
one second, and each output's distance from the truth over the clip.
``python benchmarks/smoothing.py`` prints the table (``--json`` writes it).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines import skeleton  # noqa: E402
from engines.files import write_file  # noqa: E402
from engines.pipeline import FrameResult  # noqa: E402
from engines.smoothing import KeypointSmoother  # noqa: E402
from engines.two_pass import TwoPassSmoother  # noqa: E402

FPS, SECONDS = 30.0, 4.0
FRAME_W, FRAME_H, HEIGHT = 1280, 720, 360.0
DEFAULT_COCO = ROOT.parent / "shared" / "data" / "coco_wholebody" / "test_coco_wholebody.json"


@dataclass(frozen=True)
class Motion:
    """A similarity transform at time t: shift (px), scale, rotation (degrees)."""

    dx: float
    dy: float
    scale: float = 1.0
    angle: float = 0.0


def _sin(amplitude: float, hz: float, t: float, phase: float = 0.0) -> float:
    return amplitude * math.sin(2 * math.pi * hz * t + phase)


#: The paths: a person standing (breathing sway), walking across with a 2 Hz bob, turning and
#: coming closer, dancing (1 Hz sway, 2 Hz bounce, tilt), and a fast side step (750 px/s).
PATHS: dict[str, Callable[[float], Motion]] = {
    "still": lambda t: Motion(_sin(2, 0.2, t), _sin(1, 0.3, t)),
    "walk": lambda t: Motion(-360 + 180 * t, _sin(6, 2, t)),
    "turn+zoom": lambda t: Motion(0, 0, 1 + 0.2 * math.sin(2 * math.pi * 0.25 * t),
                                  _sin(15, 0.3, t)),
    "dance": lambda t: Motion(_sin(50, 1, t), _sin(10, 2, t, 0.5), 1.0, _sin(8, 0.5, t)),
    "fast": lambda t: Motion(_sin(80, 1.5, t), 0.0),
}


def load_people(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(keypoints [133, 2] centred, 360 px tall; annotated [133]) of each usable person."""
    data = json.loads(path.read_text())
    people = []
    for a in data["annotations"]:
        rows = np.array(a["keypoints"] + a["foot_kpts"] + a["face_kpts"] + a["lefthand_kpts"]
                        + a["righthand_kpts"], np.float64).reshape(skeleton.NUM_KEYPOINTS, 3)
        seen = rows[:, 2] > 0
        if seen[:17].sum() < 12:
            continue
        pts = rows[seen, :2]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        kp = (rows[:, :2] - (lo + hi) / 2) * (HEIGHT / (hi[1] - lo[1]))
        people.append((kp + [FRAME_W / 2, FRAME_H / 2], seen))
    return people


def truth_at(pose: np.ndarray, path: Callable[[float], Motion], times: np.ndarray) -> np.ndarray:
    """``pose`` [K, 2] along ``path`` at ``times`` [T] (about the frame's centre): [T, K, 2]."""
    m = [path(float(t)) for t in times]
    shift = np.array([[v.dx, v.dy] for v in m])[:, None]
    scale = np.array([v.scale for v in m])[:, None, None]
    a = np.radians([v.angle for v in m])
    cos, sin = np.cos(a)[:, None], np.sin(a)[:, None]
    c = np.array([FRAME_W / 2, FRAME_H / 2])
    x, y = (pose - c)[None, :, 0], (pose - c)[None, :, 1]
    rotated = np.stack([cos * x - sin * y, sin * x + cos * y], axis=-1)
    return c + scale * rotated + shift


def simulate(pose: np.ndarray, seen: np.ndarray, path: Callable[[float], Motion],
             rng: np.random.Generator) -> tuple[list[FrameResult], np.ndarray]:
    """The model's results over the clip (module docstring) and the truth [T, 133, 2]."""
    T, K = int(SECONDS * FPS), skeleton.NUM_KEYPOINTS
    truth = truth_at(pose, path, np.arange(T) / FPS)
    size = math.sqrt(np.prod(np.ptp(pose[seen], axis=0)))
    std = 0.5 + 0.1 * skeleton.SIGMAS * size  # [K]
    white = rng.normal(0, 1, (T, K, 2))
    drift = np.zeros((T, K, 2))
    innovation = rng.normal(0, math.sqrt(1 - 0.8**2), (T, K, 2))
    for t in range(1, T):
        drift[t] = 0.8 * drift[t - 1] + innovation[t]
    noise = (white + drift) * std[None, :, None] / math.sqrt(2)
    glitch = rng.uniform(size=(T, K)) < 0.003
    noise[glitch] *= 8
    observed = truth + noise
    scores = rng.uniform(0.5, 0.95, (T, K))
    for k in range(K):
        t = 0
        while t < T:
            if rng.uniform() < 0.015:
                n = int(rng.integers(1, 5))
                scores[t:t + n, k] = 0.1
                observed[t:t + n, k] += rng.normal(0, 5 * std[k], (min(n, T - t), 2))
                t += n
            t += 1
    scores[:, ~seen] = 0.0
    missed = np.zeros(T, bool)
    for start in rng.choice(np.arange(10, T - 10, 30), size=2, replace=False):
        missed[start:start + int(rng.integers(1, 4))] = True
    frames, track = [], 0
    for t in range(T):
        if missed[t]:
            track += not missed[t - 1]
            frames.append(_result(np.zeros((0, K, 2)), np.zeros((0, K)), []))
            continue
        frames.append(_result(observed[t][None], scores[t][None], [track]))
    return frames, truth


def _result(kp: np.ndarray, sc: np.ndarray, ids: list[int]) -> FrameResult:
    ok = sc > 0.3
    boxes = np.array([[*kp[i][ok[i]].min(axis=0), *kp[i][ok[i]].max(axis=0)]
                      for i in range(len(ids))], np.float32).reshape(-1, 4)
    return FrameResult(boxes=boxes, box_scores=np.full(len(ids), 0.9, np.float32),
                       keypoints=kp.astype(np.float32), scores=sc.astype(np.float32),
                       track_ids=np.array(ids, np.int64), detected=True)


def outputs(frames: list[FrameResult]) -> tuple[np.ndarray, np.ndarray]:
    """The single person's keypoints [T, K, 2] (NaN where absent) and scores [T, K]."""
    T, K = len(frames), skeleton.NUM_KEYPOINTS
    kp, sc = np.full((T, K, 2), np.nan), np.zeros((T, K))
    for t, r in enumerate(frames):
        if len(r):
            kp[t], sc[t] = r.keypoints[0], r.scores[0]
    return kp, sc


def measure(frames: list[FrameResult], truth: np.ndarray, velocity: np.ndarray,
            seen: np.ndarray, raw_out: np.ndarray) -> dict[str, float]:
    """The metrics of one output against the truth [T, K, 2] and its velocity (px/s);
    ``raw_out`` [T, K]: the points the model's own output has."""
    kp, sc = outputs(frames)
    out = (sc > 0.3) & seen
    err = kp - truth
    dist = np.linalg.norm(err, axis=-1)
    both, added = out & raw_out, out & ~raw_out
    triple = out[2:] & out[1:-1] & out[:-2]
    accel = np.linalg.norm(kp[2:] - 2 * kp[1:-1] + kp[:-2], axis=-1)
    # output(t) = truth(t - lag) = truth(t) - lag * velocity(t): least squares over the points
    lag = -np.sum(err[both] * velocity[both]) / np.sum(velocity[both] ** 2)
    return {"error": float(np.sqrt(np.mean(dist[both] ** 2))),
            "filled_error": float(np.sqrt(np.mean(dist[added] ** 2))) if added.any() else 0.0,
            "coverage": float(out.sum() / (seen.sum() * len(frames))),
            "jitter": float(np.sqrt(np.mean(accel[triple] ** 2))),
            "lag_ms": float(1000 * lag)}


def run(coco: Path, seed: int, two_pass: TwoPassSmoother, causal: Callable[[], KeypointSmoother]
        ) -> tuple[dict, dict]:
    """Per path and method, the metrics averaged over the persons; and the plotted series."""
    people = load_people(coco)
    rng = np.random.default_rng(seed)
    table: dict[str, dict[str, dict[str, float]]] = {}
    plotted = {}
    for name, path in PATHS.items():
        rows: dict[str, list[dict[str, float]]] = {"raw": [], "causal": [], "two-pass": []}
        truth_jitter = []
        for p, (pose, seen) in enumerate(people):
            frames, truth = simulate(pose, seen, path, rng)
            times, h = np.arange(len(frames)) / FPS, 1e-4
            velocity = (truth_at(pose, path, times + h) - truth_at(pose, path, times - h)) / (2 * h)
            smoother = causal()
            results = {"raw": frames,
                       "causal": [smoother(r, t / FPS) for t, r in enumerate(frames)],
                       "two-pass": two_pass(frames, FPS)}
            raw_out = (outputs(frames)[1] > 0.3) & seen
            for method, res in results.items():
                rows[method].append(measure(res, truth, velocity, seen, raw_out))
            accel = np.linalg.norm(np.diff(truth, n=2, axis=0), axis=-1)[:, seen]
            truth_jitter.append(float(np.sqrt(np.mean(accel ** 2))))
            if name == "dance" and p == 0:
                plotted = {m: outputs(r) for m, r in results.items()} | {"truth": truth}
        table[name] = {m: {k: float(np.mean([r[k] for r in v])) for k in v[0]}
                       for m, v in rows.items()}
        table[name]["truth"] = {"jitter": float(np.mean(truth_jitter))}
    return table, plotted


def print_table(table: dict) -> None:
    print(f"{'path':10} {'method':9} {'error px':>9} {'filled px':>9} {'coverage':>9} "
          f"{'jitter':>8} {'lag ms':>7}")
    for name, rows in table.items():
        for method in ("raw", "causal", "two-pass"):
            r = rows[method]
            filled = f"{r['filled_error']:9.2f}" if r["filled_error"] else f"{'-':>9}"
            print(f"{name:10} {method:9} {r['error']:9.2f} {filled} {100 * r['coverage']:8.1f}% "
                  f"{r['jitter']:8.2f} {r['lag_ms']:7.0f}")
        print(f"{name:10} {'truth':9} {'':9} {'':9} {'':9} {rows['truth']['jitter']:8.2f}")


def plot(series: dict, path: Path, keypoint: str = "right_wrist") -> None:
    """One keypoint on the 'dance' path: its x over one second (the truth, the raw output and
    both smoothers), and each output's distance from the truth in x over the whole clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = skeleton.KEYPOINT_INDEX[keypoint]
    truth = series["truth"][:, k, 0]
    t = np.arange(len(truth)) / FPS
    x = {m: np.where(series[m][1][:, k] > 0.3, series[m][0][:, k, 0], np.nan)
         for m in ("raw", "causal", "two-pass")}
    style = {"raw": dict(color="grey", marker=".", ls="none", ms=5, label="raw (model)"),
             "causal": dict(color="tab:orange", lw=1.5, label="causal"),
             "two-pass": dict(color="tab:blue", lw=1.5, label="two-pass")}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), dpi=80)
    span = (t >= 1.0) & (t <= 2.0)
    top.plot(t[span], truth[span], color="black", lw=2, label="true path")
    for m, values in x.items():
        top.plot(t[span], values[span], **style[m])
    top.set_ylabel(f"{keypoint} x (px)")
    top.set_title(f"'dance' path, one COCO-WholeBody person, {keypoint}")
    top.legend(loc="upper right", fontsize=8, ncol=2)
    for m, values in x.items():
        bottom.plot(t, values - truth, **style[m])
    bottom.axhline(0, color="black", lw=1)
    bottom.set_ylabel("x - true x (px)")
    for ax in (top, bottom):
        ax.set_xlabel("time (s)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    write_file(path, buffer.getvalue(), "plot")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coco", type=Path, default=DEFAULT_COCO,
                   help="COCO-WholeBody annotations (default: ../shared/data/...)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", type=Path, default=ROOT / "docs" / "smoothing.png")
    p.add_argument("--json", type=Path, help="write the table here")
    args = p.parse_args(argv)
    if not args.coco.is_file():
        print(f"{args.coco}: not found (the COCO-WholeBody annotations of ../shared/data)",
              file=sys.stderr)
        return 2
    table, series = run(args.coco, args.seed, TwoPassSmoother(), KeypointSmoother)
    print(f"{len(load_people(args.coco))} persons x {len(PATHS)} paths, {SECONDS:g} s at "
          f"{FPS:g} FPS each; smoothers at their defaults")
    print_table(table)
    if args.json:
        write_file(args.json, json.dumps(table, indent=1), "results")
    if args.plot:
        plot(series, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
