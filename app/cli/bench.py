"""``dwpose bench``: model latency, per-stage latency and end-to-end FPS on real frames."""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from engines.backends import Backend
from engines.errors import InputError
from engines.files import check_output_file, write_file
from engines.overlap import FrameRunner
from engines.pipeline import WholeBody

from .common import add_pipeline_args, positive_int
from .flags import number

#: Reported stages: reading the frame, the pipeline's own stages, then drawing the overlay.
BENCH_STAGES = ("read", "preprocess", "detector", "pose", "postprocess", "draw")
PIPELINES = {"serial": "serial pipeline",
             "overlap": "overlapped pipeline (detector of frame t during the pose model of "
                        "frame t-1; results one frame late)"}

DESCRIPTION = """\
First each model alone, as in the DWPose paper's speed table: model, input size, precision
and the median / p90 latency of one call (the detector on one frame, the pose model on one
person, or on a batch of --pose-batches copies of that person, --model-runs times) after a
warm-up; GPU backends also give the GPU time between CUDA events.
Then every stage of the pipeline (read, preprocess, detector, pose, postprocess, draw) over
N frames of a video, an image or a folder (looped as needed), after a warm-up: median / p90
milliseconds per stage and the end-to-end FPS (frames / time from the last warm-up result
to the last result). --pipeline measures the serial pipeline, the overlapped one (the
detector of frame t runs while the pose model of frame t-1 finishes; each result one frame
late) or both. The overlapped FPS is also given against 1 / max(detector, pose) per frame,
the rate of its slower stage, which bounds a perfect overlap.
--json writes the same numbers with the machine and versions."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure per-stage latency and end-to-end FPS",
                       description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--input", "-i", required=True, metavar="PATH",
                   help="video, image or folder of images to run on (looped)")
    p.add_argument("--frames", type=positive_int, default=100,
                   help="frames measured (default: %(default)s)")
    p.add_argument("--warmup", type=number(int, 0), default=5,
                   help="frames run first, not measured (default: %(default)s)")
    p.add_argument("--model-runs", type=positive_int, default=30, metavar="N",
                   help="calls per model for the latency table (default: %(default)s)")
    p.add_argument("--pose-batches", type=_batch_sizes, default=(1,), metavar="B[,B...]",
                   help="persons per pose call in the latency table, e.g. 1,4,8 (default: 1)")
    p.add_argument("--no-draw", action="store_true", help="skip the drawing stage")
    p.add_argument("--pipeline", choices=("serial", "overlap", "both"), default="both",
                   help="pipeline(s) to measure (default: %(default)s)")
    p.add_argument("--json", metavar="OUT.json", help="also write the results as JSON")
    add_pipeline_args(p)
    p.set_defaults(func=run)


def _batch_sizes(text: str) -> tuple[int, ...]:
    """``"1,4,8"`` -> ``(1, 4, 8)``: distinct positive batch sizes, in the order given."""
    try:
        sizes = tuple(dict.fromkeys(positive_int(v) for v in text.split(",")))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"expected batch sizes >= 1 separated by commas, e.g. 1,4,8; got {text!r}") from None
    return sizes


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


def measure(runner: FrameRunner, path: str, frames: int, warmup: int, draw: bool) -> dict:
    """Run ``warmup + frames`` frames; returns per-frame stage times (ms) and the wall time (s)
    from the last warm-up result to the last result."""
    from engines.draw import draw_skeleton

    times = {stage: [] for stage in BENCH_STAGES}
    persons, reads = [], []
    source = _frames(path)

    def images() -> Iterator[np.ndarray]:
        for _ in range(warmup + frames):
            start = time.perf_counter()
            image = next(source)
            reads.append((time.perf_counter() - start) * 1e3)
            yield image

    start = time.perf_counter()
    # Each image with its result: at once (serial) or one frame later (overlapped).
    for i, (image, result) in enumerate(runner.run((image, image) for image in images())):
        t0 = time.perf_counter()
        if draw:
            draw_skeleton(image, result.keypoints, result.scores)
        t1 = time.perf_counter()
        if i < warmup:
            start = t1
            continue
        times["read"].append(reads[i])
        for stage in ("preprocess", "detector", "pose", "postprocess"):
            times[stage].append(result.timings.get(stage, 0.0))
        times["draw"].append((t1 - t0) * 1e3)
        persons.append(len(result))
    return {"times_ms": times, "wall_s": time.perf_counter() - start, "persons": persons}


def model_latency(backend: Backend, feeds: dict[str, np.ndarray], runs: int,
                  warmup: int) -> dict:
    """Median / p90 milliseconds of one blocking call, and the runtime's own (GPU) time."""
    for _ in range(warmup):
        backend.submit(feeds).result()
    wall, runtime = [], []
    for _ in range(runs):
        start = time.perf_counter()
        job = backend.submit(feeds)
        job.result()
        wall.append((time.perf_counter() - start) * 1e3)
        runtime.append(job.elapsed_ms)
    return {"latency_ms": float(np.median(wall)), "p90_ms": float(np.percentile(wall, 90)),
            "gpu_ms": float(np.median(runtime)) if backend.on_gpu else None}


def model_table(pipeline: WholeBody, path: str, runs: int, warmup: int,
                pose_batches: Iterable[int] = (1,)) -> list[dict]:
    """The detector on the first frame and the pose model on its first person, alone; the pose
    model also on batches of copies of that person. A batch larger than a static-batch model
    takes is left out, with a line saying so."""
    image = next(_frames(path))
    blob, _ratio = pipeline.detector.preprocess(image)
    boxes = pipeline.detector(image).boxes[:1]
    if len(boxes) == 0:
        boxes = np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32)
    crop = pipeline.pose.preprocess(image, boxes).blob
    det, pose = pipeline.detector, pipeline.pose
    w, h = pose.input_size
    runs_of = [("detector", det, 1, det.feeds(blob), f"{det.input_size}x{det.input_size}")]
    for batch in pose_batches:
        if pose.static_batch is not None and batch != pose.static_batch:
            print(f"pose batch {batch}: left out, {pose.backend.path.name} takes exactly "
                  f"{pose.static_batch} crop(s) per call")
            continue
        if pose.backend.max_batch is not None and batch > pose.backend.max_batch:
            print(f"pose batch {batch}: left out, {pose.backend.path.name} takes at most "
                  f"{pose.backend.max_batch} person(s) per call")
            continue
        runs_of.append(("pose", pose, batch, {"input": np.repeat(crop, batch, axis=0)},
                        f"{h}x{w}"))
    return [{"stage": stage, "model": model.backend.path.name, "input_size": size,
             "batch": batch, "precision": model.backend.precision,
             **model_latency(model.backend, feeds, runs, warmup)}
            for stage, model, batch, feeds, size in runs_of]


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


def machine_info(backends: Iterable[Backend]) -> dict:
    import cv2
    import onnxruntime

    from engines.cpu import cpu_info

    info = {"cpu": cpu_info().name, "cpu_features": cpu_info().features(),
            "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "opencv": cv2.__version__, "onnxruntime": onnxruntime.__version__}
    for backend in backends:
        if backend.name == "torch":
            torch = sys.modules["torch"]
            info["torch"] = torch.__version__
            if backend.device.type == "cuda":
                info["gpu"] = torch.cuda.get_device_name(backend.device)
        elif backend.name == "tensorrt":
            info["tensorrt"], info["gpu"] = backend.trt.__version__, backend.gpu.describe()
        elif backend.name == "openvino":
            info["openvino"] = sys.modules["openvino"].__version__
    return info


def format_models(rows: list[dict]) -> str:
    lines = [f"{'model':<34}{'input':>9}{'batch':>6}{'precision':>11}{'latency ms':>12}"
             f"{'p90 ms':>9}{'GPU ms':>9}"]
    for r in rows:
        gpu = "-" if r["gpu_ms"] is None else f"{r['gpu_ms']:.2f}"
        lines.append(f"{r['stage'] + ' ' + r['model']:<34}{r['input_size']:>9}{r['batch']:>6}"
                     f"{r['precision']:>11}{r['latency_ms']:>12.2f}{r['p90_ms']:>9.2f}{gpu:>9}")
    return "\n".join(lines)


def format_table(summary: dict) -> str:
    lines = [f"{'stage':<12}{'median ms':>11}{'p90 ms':>10}{'mean ms':>10}"]
    for stage, s in summary["stages"].items():
        lines.append(f"{stage:<12}{s['median_ms']:>11.2f}{s['p90_ms']:>10.2f}{s['mean_ms']:>10.2f}")
    lines.append(f"end-to-end: {summary['fps']:.1f} FPS "
                 f"({summary['mean_persons']:.1f} persons per frame)")
    return "\n".join(lines)


def stage_bound(summary: dict) -> dict:
    """An overlapped run against its slower stage: at best the pipeline delivers a frame per
    max(detector, pose) mean milliseconds per frame (the runtimes' own times)."""
    slowest = max(summary["stages"]["detector"]["mean_ms"], summary["stages"]["pose"]["mean_ms"])
    bound = 1e3 / slowest
    return {"bound_fps": bound, "of_bound": summary["fps"] / bound}


def run(args: argparse.Namespace) -> int:
    from .common import pipeline_from_args

    if args.json:  # found before the models load and run, not after
        check_output_file(args.json, "--json")
    pipeline = pipeline_from_args(args, live=False)
    backends = (pipeline.detector.backend, pipeline.pose.backend)
    models = model_table(pipeline, args.input, args.model_runs, args.warmup,
                         args.pose_batches)
    modes = ("serial", "overlap") if args.pipeline == "both" else (args.pipeline,)
    summaries = {}
    for mode in modes:
        runner = FrameRunner(pipeline, mode)
        raw = measure(runner, args.input, args.frames, args.warmup, not args.no_draw)
        runner.close()
        summaries[mode] = summarize(raw, args.frames)
        if mode == "overlap":
            summaries[mode].update(stage_bound(summaries[mode]))
    report = {
        "backend": args.backend, "detector": str(backends[0].path),
        "pose": str(backends[1].path), "input": args.input, "frames": args.frames,
        "det_interval": pipeline.tracker.det_interval, "threads": args.threads,
        "machine": machine_info(backends), "models": models,
        "pipeline": modes[0], **summaries[modes[0]], "pipelines": summaries,
    }
    print(f"{args.backend}: {Path(report['detector']).name} + {Path(report['pose']).name}, "
          f"{args.frames} frames of {args.input}, detector every "
          f"{report['det_interval']} frame(s)")
    print(format_models(models))
    for mode, summary in summaries.items():
        print(f"\n{PIPELINES[mode]}:")
        print(format_table(summary))
        if "bound_fps" in summary:
            print(f"against its slower stage: {summary['of_bound']:.2f} x "
                  f"1 / max(detector, pose) = {summary['bound_fps']:.1f} FPS")
    if len(summaries) == 2:
        speedup = summaries["overlap"]["fps"] / summaries["serial"]["fps"]
        report["overlap_speedup"] = speedup
        print(f"\noverlap: {speedup:.2f}x the serial FPS")
    if args.json:
        write_file(args.json, json.dumps(report, indent=2), "--json report")
        print(f"wrote {args.json}")
    return 0
