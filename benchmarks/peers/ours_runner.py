"""Our pipeline as a contender, and the model-only floor.

``--backend`` / ``--precision``: the runtime, as ``dwpose predict`` takes them (``auto``: the
machine's choice, ``engines.backends.auto``); ``--pipeline``: serial, overlapped, frames in
parallel (``throughput``), or what ``--pipeline auto`` of ``dwpose predict`` picks for a video
with that backend. Overlapped or in parallel, each step returns an earlier frame's result
(the harness counts and draws it).

``--floor``: the two models alone, with the same runtime and precision. A first pass runs our
pipeline over the measured frames to record what each frame needs (the detector's letterbox
blob when the detector runs, the pose crops); the timed pass then only calls the two models,
frame by frame and one after the other, with the same detector schedule and the same crops.
Its ms per frame is the floor no serial pipeline built on these two models can beat here.

Run by ``benchmarks/compare.py`` with our interpreter, from the repository root.
"""
from __future__ import annotations

import itertools
import time

import numpy as np
from harness import StepResult, arg_parser, finish, looped_frames, rss_mb, run

from engines.backends.auto import choose_backend
from engines.draw import draw_skeleton
from engines.overlap import FILE_PIPELINE_MODES, FrameRunner
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
    p.add_argument("--threads", type=int, default=0, help="inference threads, 0 = per core")
    p.add_argument("--backend", default="auto", help="auto, onnxruntime or openvino")
    p.add_argument("--precision", default="auto", help="auto, fp32, bf16 or int8 (openvino)")
    p.add_argument("--pipeline", default="auto", choices=FILE_PIPELINE_MODES)
    args = p.parse_args()
    import onnxruntime

    choice = choose_backend(args.backend, "cpu", args.precision)
    options = {"device": "cpu", "threads": args.threads}
    if choice.name == "openvino":
        options["precision"] = choice.precision
    # streams as dwpose predict loads them for a video; the floor stays one call at a time
    # with every core (the lowest latency)
    if args.pipeline in ("auto", "throughput") and not args.floor:
        options["streams"] = 0
    pipeline = build_pipeline(args.det, args.pose, backend=choice.name,
                              det_interval=args.interval, **options)
    runner = FrameRunner(pipeline, args.pipeline)
    # ONNX Runtime runs an INT8 file's own precision; its backend reports the input dtype
    int8 = args.precision == "int8"
    info = {"backend": choice.name,
            "precision": "int8" if int8 else pipeline.pose.backend.precision,
            "det_precision": "int8" if int8 else pipeline.detector.backend.precision,
            "reason": choice.reason,
            "pipeline": runner.kind, "onnxruntime": onnxruntime.__version__}
    if choice.name == "openvino":
        import openvino

        info["openvino"] = openvino.__version__
    if args.floor:
        finish(args, floor(pipeline, args.video, args.frames, args.warmup), contender="floor",
               **info)
        return
    state = {}

    def step(image: np.ndarray) -> StepResult:
        done = runner.push(None, image)
        if done is None:  # overlapped: the first frame is still in flight
            return StepResult(0, True)
        state["r"] = r = done[1]
        return StepResult(len(r), r.detected, {s: r.timings.get(s, 0.0) for s in STAGES})

    def draw(image: np.ndarray) -> None:
        if "r" in state:
            draw_skeleton(image, state["r"].keypoints, state["r"].scores)

    summary = run(step, None if args.no_draw else draw, args.video, args.frames, args.warmup)
    runner.close()
    finish(args, summary, contender="ours", **info)


if __name__ == "__main__":
    main()
