"""The measurement loop every contender runs in its own process (numpy, OpenCV and stdlib only).

Each runner (``ours``, ``rtmlib_runner``, ``mediapipe_runner``) builds its pipeline, wraps it in
a ``Step`` and calls :func:`run`: the same looped video, the same decode (``cv2.VideoCapture``),
the same warm-up, the same clocks. Only the runners differ, so the numbers are comparable. It
runs under our interpreter and under the peers' virtual environment, so it imports nothing
from this repository.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

#: Stages every contender reports (those it cannot split stay 0); "other" is the rest of
#: the step (tracking, glue), so the stages add up to the frame time.
STAGES = ("read", "preprocess", "detector", "pose", "postprocess", "draw", "other")


@dataclass
class StepResult:
    """What one contender made of one frame."""

    persons: int
    detected: bool  # whether its detector ran on this frame
    stages_ms: dict[str, float] = field(default_factory=dict)


#: A contender: BGR frame -> its result; drawing is a second callable so it is timed apart.
Step = Callable[[np.ndarray], StepResult]


class StageClock:
    """Accumulates milliseconds per stage; ``wrap`` times a method of a peer's object."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - start) * 1e3

    def wrap(self, obj: object, method: str, stage: str) -> None:
        """Replace ``obj.method`` by a timed call (the peer's code itself is unchanged)."""
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            with self(stage):
                return inner(*args, **kwargs)

        setattr(obj, method, timed)

    def take(self) -> dict[str, float]:
        """This frame's stage times; the clock starts over."""
        ms, self.ms = self.ms, {}
        return ms


def looped_frames(video: str) -> Iterator[np.ndarray]:
    """Decoded BGR frames of ``video``, reopened at the end (decode cost stays in the loop)."""
    while True:
        cap = cv2.VideoCapture(video)
        count = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            count += 1
            yield frame
        cap.release()
        if count == 0:
            raise SystemExit(f"{video}: no readable frame")


def rss_mb() -> float:
    """Current resident set size in MiB (psutil where installed, else Linux's /proc)."""
    try:
        import psutil
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """The largest resident set size so far in MiB: getrusage's ru_maxrss (KiB on Linux,
    bytes on macOS), psutil's peak working set on Windows."""
    try:
        import resource
    except ImportError:  # Windows
        import psutil

        return psutil.Process().memory_info().peak_wset / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def load_average() -> float | None:
    """The 1-minute load average (None on Windows, which has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def run(step: Step, draw: Callable[[np.ndarray], None] | None, video: str, frames: int,
        warmup: int) -> dict:
    """Time ``warmup + frames`` frames; returns the summary (JSON-ready)."""
    source = looped_frames(video)
    latency, persons, detected = [], [], []
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    for i in range(warmup + frames):
        if i == warmup:
            cpu0, wall0 = time.process_time(), time.perf_counter()
        t0 = time.perf_counter()
        image = next(source)
        t1 = time.perf_counter()
        result = step(image)
        t2 = time.perf_counter()
        if draw is not None:
            draw(image)
        t3 = time.perf_counter()
        if i < warmup:
            continue
        latency.append((t3 - t0) * 1e3)
        persons.append(result.persons)
        detected.append(result.detected)
        ms = dict(result.stages_ms, read=(t1 - t0) * 1e3, draw=(t3 - t2) * 1e3)
        ms["other"] = max(0.0, (t2 - t1) * 1e3 - sum(
            v for k, v in result.stages_ms.items() if k in STAGES))
        for s in STAGES:
            stages[s].append(ms.get(s, 0.0))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    lat = np.asarray(latency)
    return {
        "frames": frames, "fps": frames / wall, "wall_s": wall,
        "latency_ms": {"median": float(np.median(lat)), "p90": float(np.percentile(lat, 90)),
                       "mean": float(lat.mean())},
        "stages_ms": {s: float(np.mean(v)) for s, v in stages.items()},
        "cores_used": cpu / wall,
        "peak_rss_mb": peak_rss_mb(),
        "persons": float(np.mean(persons)), "detector_runs": float(np.mean(detected)),
    }


def arg_parser(description: str) -> argparse.ArgumentParser:
    """The options every runner takes (``compare.py`` passes the same ones to all)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--video", required=True)
    p.add_argument("--det", help="YOLOX ONNX (top-down contenders)")
    p.add_argument("--pose", help="SimCC pose ONNX (top-down contenders)")
    p.add_argument("--interval", type=int, default=1, help="detector every N frames")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--no-draw", action="store_true")
    p.add_argument("--json", required=True, help="where to write the summary")
    return p


def finish(args: argparse.Namespace, summary: dict, **info) -> None:
    """Write the runner's summary (plus ``info``) to ``--json``."""
    summary.update(info, python=sys.version.split()[0], numpy=np.__version__,
                   opencv=cv2.__version__)
    Path(args.json).write_text(json.dumps(summary, indent=2))
