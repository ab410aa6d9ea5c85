"""Our pipeline as a contender, and the model-only floor.

``--floor``: the two models alone. A first pass runs our pipeline over the measured frames to
record what each frame needs (the detector's letterbox blob when the detector runs, the pose
crops); the timed pass then only calls the two ONNX Runtime sessions, frame by frame, with the
same detector schedule and the same crops. Its ms per frame is the floor no pipeline built on
these two models can beat on this machine.

Run by ``benchmarks/compare.py`` with our interpreter, from the repository root.
"""
from __future__ import annotations

import itertools
import time

import numpy as np
from harness import StepResult, arg_parser, finish, looped_frames, rss_mb, run

from engines.draw import draw_skeleton
from engines.pipeline import STAGES, WholeBody, build_pipeline

#: Frames recorded for the floor (their blobs stay in memory).
FLOOR_FRAMES = 100


def floor(pipeline: WholeBody, video: str, frames: int, warmup: int) -> dict:
    """Model-only ms per frame over the schedule our pipeline follows on ``video``."""
    frames = min(frames, FLOOR_FRAMES)
    plan: list[tuple[np.ndarray | None, np.ndarray | None]] = []
    source = looped_frames(video)
    for i in range(warmup + frames):
        image = next(source)
        result = pipeline(image)
        if i < warmup:
            continue
        det = pipeline.detector.preprocess(image)[0] if result.detected else None
        crops = pipeline.pose.preprocess(image, result.boxes).blob if len(result) else None
        plan.append((det, crops))
    times = []
    for det, crops in itertools.chain(plan[:warmup], plan):
        start = time.perf_counter()
        if det is not None:
            pipeline.detector.infer(det)
        if crops is not None:
            pipeline.pose.infer(crops)
        times.append((time.perf_counter() - start) * 1e3)
    t = np.asarray(times[-len(plan):])
    return {"frames": frames, "floor_ms": {"median": float(np.median(t)),
                                           "mean": float(t.mean())},
            "fps": 1e3 / float(t.mean()), "rss_mb": rss_mb()}


def main() -> None:
    p = arg_parser(__doc__)
    p.add_argument("--floor", action="store_true", help="time the two models alone")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    args = p.parse_args()
    import onnxruntime

    pipeline = build_pipeline(args.det, args.pose, det_interval=args.interval,
                              device="cpu", threads=args.threads)
    if args.floor:
        finish(args, floor(pipeline, args.video, args.frames, args.warmup), contender="floor",
               onnxruntime=onnxruntime.__version__)
        return
    state = {}

    def step(image: np.ndarray) -> StepResult:
        state["r"] = r = pipeline(image)
        return StepResult(len(r), r.detected, {s: r.timings.get(s, 0.0) for s in STAGES})

    def draw(image: np.ndarray) -> None:
        draw_skeleton(image, state["r"].keypoints, state["r"].scores)

    summary = run(step, None if args.no_draw else draw, args.video, args.frames, args.warmup)
    finish(args, summary, contender="ours", onnxruntime=onnxruntime.__version__)


if __name__ == "__main__":
    main()
