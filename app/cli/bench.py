"""``dwpose bench``: per-stage latency and end-to-end FPS of the pipeline on real frames."""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from engines.errors import InputError

from .common import add_pipeline_args, positive_int

#: Reported stages: reading the frame, the pipeline's own stages, then drawing the overlay.
BENCH_STAGES = ("read", "preprocess", "detector", "pose", "postprocess", "draw")

DESCRIPTION = """\
Time every stage of the pipeline (read, preprocess, detector, pose, postprocess, draw) over
N frames of a video, an image or a folder (looped as needed), after a warm-up, and print
median / p90 milliseconds per stage and the end-to-end FPS. --json writes the same numbers
with the machine and versions, for comparing runs."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure per-stage latency and end-to-end FPS",
                       description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--input", "-i", required=True, metavar="PATH",
                   help="video, image or folder of images to run on (looped)")
    p.add_argument("--frames", type=positive_int, default=100,
                   help="frames measured (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=5, help="frames run first, not measured "
                   "(default: %(default)s)")
    p.add_argument("--no-draw", action="store_true", help="skip the drawing stage")
    p.add_argument("--json", metavar="OUT.json", help="also write the results as JSON")
    add_pipeline_args(p)
    p.set_defaults(func=run)


def _frames(path: str):
    """Endless frames from ``path``, reopened at the end."""
    from engines.sources import open_source

    while True:
        count = 0
        with open_source(path) as source:
            for frame in source:
                if frame.image is not None:
                    count += 1
                    yield frame.image
        if count == 0:
            raise InputError(f"{path}: no readable frame")


def measure(pipeline, path: str, frames: int, warmup: int, draw: bool) -> dict:
    """Run ``warmup + frames`` frames; returns per-frame stage times (ms) and wall time (s)."""
    from engines.draw import draw_skeleton

    times = {stage: [] for stage in BENCH_STAGES}
    persons = []
    source = _frames(path)
    wall = 0.0
    for i in range(warmup + frames):
        t0 = time.perf_counter()
        image = next(source)
        t1 = time.perf_counter()
        result = pipeline(image)
        t2 = time.perf_counter()
        if draw:
            draw_skeleton(image, result.keypoints, result.scores)
        t3 = time.perf_counter()
        if i < warmup:
            continue
        wall += t3 - t0
        times["read"].append((t1 - t0) * 1e3)
        for stage in ("preprocess", "detector", "pose", "postprocess"):
            times[stage].append(result.timings.get(stage, 0.0))
        times["draw"].append((t3 - t2) * 1e3)
        persons.append(len(result))
    return {"times_ms": times, "wall_s": wall, "persons": persons}


def summarize(raw: dict, frames: int) -> dict:
    stages = {}
    for stage, values in raw["times_ms"].items():
        v = np.asarray(values)
        stages[stage] = {"median_ms": float(np.median(v)), "p90_ms": float(np.percentile(v, 90)),
                         "mean_ms": float(v.mean())}
    total = np.sum([raw["times_ms"][s] for s in BENCH_STAGES], axis=0)
    stages["total"] = {"median_ms": float(np.median(total)),
                       "p90_ms": float(np.percentile(total, 90)), "mean_ms": float(total.mean())}
    return {"stages": stages, "fps": frames / raw["wall_s"],
            "mean_persons": float(np.mean(raw["persons"]))}


def machine_info() -> dict:
    import cv2
    import onnxruntime

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "opencv": cv2.__version__, "onnxruntime": onnxruntime.__version__}


def format_table(summary: dict) -> str:
    lines = [f"{'stage':<12}{'median ms':>11}{'p90 ms':>10}{'mean ms':>10}"]
    for stage, s in summary["stages"].items():
        lines.append(f"{stage:<12}{s['median_ms']:>11.2f}{s['p90_ms']:>10.2f}{s['mean_ms']:>10.2f}")
    lines.append(f"end-to-end: {summary['fps']:.1f} FPS "
                 f"({summary['mean_persons']:.1f} persons per frame)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from .common import pipeline_from_args

    pipeline = pipeline_from_args(args, live=False)
    raw = measure(pipeline, args.input, args.frames, args.warmup, not args.no_draw)
    summary = summarize(raw, args.frames)
    report = {
        "backend": args.backend, "detector": str(pipeline.detector.backend.path),
        "pose": str(pipeline.pose.backend.path), "input": args.input, "frames": args.frames,
        "det_interval": pipeline.tracker.det_interval, "threads": args.threads,
        "machine": machine_info(), **summary,
    }
    print(f"{args.backend}: {Path(report['detector']).name} + {Path(report['pose']).name}, "
          f"{args.frames} frames of {args.input}, detector every "
          f"{report['det_interval']} frame(s)")
    print(format_table(summary))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0
