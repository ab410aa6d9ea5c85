"""Memory of the headless pipeline over a long run: steady-state RSS and growth.

Runs detector + pose + tracking + drawing (no window, nothing written) for N frames of a
looped video with the 384x288 pose model, and samples the resident set size every
``--every`` frames. Steady state is the RSS after the warm-up (sessions built, buffers sized);
growth is the last sample minus that, plus a least-squares slope over the samples after the
warm-up, so a slow leak shows even when the last sample is noisy.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.compare import (  # noqa: E402
    DEFAULT_DET,
    DEFAULT_VIDEOS,
    check_inputs,
    pose_model,
    real_input,
)
from benchmarks.peers.harness import looped_frames, peak_rss_mb, rss_mb  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", help="input video, looped (default: the real test video "
                                   f"../shared/data/{DEFAULT_VIDEOS[0]})")
    p.add_argument("--det", help="YOLOX ONNX (default: the real YOLOX-Nano, "
                                 "../shared/data/models/yolox_nano.onnx or 'dwpose fetch "
                                 "yolox_nano')")
    p.add_argument("--pose", default="l", help="pose model: l (384x288, exported as in "
                   "compare.py), m, or an .onnx path (default: %(default)s)")
    p.add_argument("--frames", type=int, default=10000, help="frames to run (default: 10000)")
    p.add_argument("--warmup", type=int, default=200,
                   help="frames before the steady-state sample (default: %(default)s)")
    p.add_argument("--every", type=int, default=500, help="sample RSS every N frames")
    p.add_argument("--interval", type=int, default=1, help="detector every N frames")
    p.add_argument("--work-dir", type=Path, default=ROOT / "out" / "bench")
    p.add_argument("--json", type=Path, help="write the samples and summary here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.video = args.video or real_input(DEFAULT_VIDEOS[0], "--video CLIP.mp4")
    args.det = args.det or real_input(DEFAULT_DET, "--det YOLOX.onnx")
    check_inputs([args.video], args.det, [args.pose])
    from engines.draw import draw_skeleton
    from engines.files import write_file
    from engines.pipeline import build_pipeline

    args.work_dir.mkdir(parents=True, exist_ok=True)
    pose = pose_model(args.pose, args.work_dir)
    start_rss = rss_mb()
    pipeline = build_pipeline(args.det, str(pose), det_interval=args.interval, device="cpu")
    loaded_rss = rss_mb()
    samples: list[tuple[int, float]] = []
    frames = looped_frames(args.video)
    t0, i = time.perf_counter(), 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` reports like Ctrl+C
    try:
        for i in range(1, args.frames + 1):
            image = next(frames)
            result = pipeline(image)
            draw_skeleton(image, result.keypoints, result.scores)
            if i == args.warmup or i % args.every == 0 or i == args.frames:
                samples.append((i, rss_mb()))
                print(f"frame {i:>6}: RSS {samples[-1][1]:7.1f} MB "
                      f"({i / (time.perf_counter() - t0):.1f} FPS)", flush=True)
    except KeyboardInterrupt:  # Ctrl+C or kill: report the frames run so far
        print(f"interrupted after {i} frames", flush=True)
    if not samples or samples[-1][0] < args.warmup:
        raise SystemExit("stopped before the end of the warm-up: nothing to report")
    steady = next(r for i, r in samples if i >= args.warmup)
    after = np.array([(i, r) for i, r in samples if i >= args.warmup])
    slope = float(np.polyfit(after[:, 0], after[:, 1], 1)[0] * 1000) if len(after) > 2 else 0.0
    summary = {"video": args.video, "det": args.det, "pose": str(pose), "frames": samples[-1][0],
               "interval": args.interval, "rss_before_models_mb": start_rss,
               "rss_loaded_mb": loaded_rss, "rss_steady_mb": steady,
               "rss_peak_mb": peak_rss_mb(),
               "rss_final_mb": samples[-1][1],
               "growth_mb": samples[-1][1] - steady, "slope_mb_per_1k_frames": slope,
               "samples": samples}
    print(f"steady state {steady:.1f} MB (models loaded: {loaded_rss:.1f} MB), final "
          f"{samples[-1][1]:.1f} MB: growth {summary['growth_mb']:+.1f} MB over "
          f"{samples[-1][0] - args.warmup} frames ({slope:+.2f} MB per 1000 frames)")
    if args.json:
        write_file(args.json, json.dumps(summary, indent=2), "memory report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
