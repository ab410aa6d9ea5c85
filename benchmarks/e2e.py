"""Whole-process time of ``dwpose predict`` on a video file against rtmlib doing the same job,
and the time from the command to the first result on one image, cold and warm.

- **Whole process:** each contender is one fresh process, timed from start to exit: ours is
  ``python -m app.cli predict -i CLIP --no-draw --output-json OUT`` with ``--backend`` /
  ``--precision`` from each ``--ours`` spec (``auto``: what this machine picks), rtmlib is
  ``peers/rtmlib_e2e.py`` (its ``PoseTracker`` over the same frames, the keypoints written as
  JSON), once per ``--rtmlib-backends`` runtime. Same detector, same pose file, same detector
  interval. Runs are interleaved and repeated; the tables give medians, and "vs best rtmlib"
  divides the fastest rtmlib median by ours.
- **Start-up:** ``dwpose predict`` on one image with OpenVINO and with ONNX Runtime: cold
  (an empty model cache, so OpenVINO compiles) and warm (the same cache again: OpenVINO loads
  its compiled models).

The clip: the real single-person video (61 frames) played forward and back to ``--frames``
frames (148 by default, the length of the issue's clip). Pose models as in ``compare.py``
(m, l: exported with random weights plus a fixed SimCC template, or the released files when
cached); an ``int8`` spec runs INT8 files of both models made once with ``dwpose quantize``.
Prints the CPU's features with the tables and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.compare import (  # noqa: E402
    DEFAULT_DET,
    DEFAULT_VIDEOS,
    PEERS,
    RTMLIB_BACKENDS,
    ensure_venv,
    format_machine,
    int8_models,
    machine,
    pose_model,
    real_input,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", help="source video (default: the real single-person video)")
    p.add_argument("--frames", type=int, default=148, help="frames of the clip (default: 148)")
    p.add_argument("--det", help="YOLOX ONNX (default: the real YOLOX-Nano)")
    p.add_argument("--pose", nargs="+", default=["m", "l"], help="m, l or .onnx paths")
    p.add_argument("--intervals", nargs="+", type=int, default=[1, 7])
    p.add_argument("--ours", nargs="+", default=["auto"], metavar="BACKEND[:PRECISION]",
                   help="our runs (default: auto)")
    p.add_argument("--rtmlib-backends", nargs="+", default=list(RTMLIB_BACKENDS))
    p.add_argument("--repeats", type=int, default=3, help="interleaved runs (default: 3)")
    p.add_argument("--no-startup", action="store_true", help="skip the start-up timing")
    p.add_argument("--work-dir", type=Path, default=ROOT / "out" / "bench")
    p.add_argument("--venv", type=Path, default=ROOT / ".bench-venv")
    p.add_argument("--json", type=Path, help="results (default: WORK_DIR/e2e.json)")
    return p.parse_args(argv)


def make_clip(video: str, frames: int, out: Path) -> Path:
    """``video`` played forward and back until it has ``frames`` frames (mp4v)."""
    if out.exists():
        return out
    capture = cv2.VideoCapture(video)
    source = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        source.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    capture.release()
    loop = source + source[-2:0:-1]
    h, w = source[0].shape[:2]
    tmp = out.with_suffix(".part.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for i in range(frames):
        writer.write(loop[i % len(loop)])
    writer.release()
    os.replace(tmp, out)
    return out


def timed(cmd: list[str], env: dict | None = None) -> float:
    """Seconds from start to exit of ``cmd`` (which must succeed)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])} ... failed:\n{proc.stderr[-3000:]}")
    return seconds


def ours_cmd(spec: str, clip: Path, det: str, pose: Path, interval: int, out: Path) -> list[str]:
    backend, _, precision = spec.partition(":")
    return [sys.executable, "-m", "app.cli", "predict", "-i", str(clip), "--det", det,
            "--pose", str(pose), "--det-interval", str(interval), "--no-draw",
            "--output-json", str(out), "--backend", backend, "--precision",
            precision or "auto", "--no-download"]


def whole_process(args: argparse.Namespace, python: Path, clip: Path, det: str) -> list[dict]:
    rows = []
    for pose_spec in args.pose:
        pose = pose_model(pose_spec, args.work_dir)
        int8 = None
        for interval in args.intervals:
            runs: dict[str, list[float]] = {}
            with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
                out = Path(tmp) / "r.json"
                for _ in range(args.repeats):
                    for spec in args.ours:
                        d, p = det, pose
                        if spec.endswith(":int8"):
                            int8 = int8 or int8_models(det, pose, str(clip), args.work_dir)
                            d, p = int8
                        cmd = ours_cmd(spec, clip, d, p, interval, out)
                        runs.setdefault(f"ours[{spec}]", []).append(timed(cmd))
                    for backend in args.rtmlib_backends:
                        cmd = [str(python), str(PEERS / "rtmlib_e2e.py"), str(clip), det,
                               str(pose), backend, str(interval), str(out)]
                        runs.setdefault(f"rtmlib[{backend}]", []).append(timed(cmd))
            medians = {k: statistics.median(v) for k, v in runs.items()}
            best = min(v for k, v in medians.items() if k.startswith("rtmlib"))
            for label, seconds in medians.items():
                rows.append({"pose": pose_spec, "interval": interval, "contender": label,
                             "seconds": seconds, "runs": runs[label],
                             "fps": args.frames / seconds, "vs_best_rtmlib": best / seconds})
            print(format_rows(rows[-len(medians):]), flush=True)
    return rows


def startup(args: argparse.Namespace, image: str, det: str) -> list[dict]:
    """One image, cold (empty cache: OpenVINO compiles) and warm, per backend."""
    rows = []
    pose = pose_model(args.pose[-1], args.work_dir)
    for backend in ("openvino", "onnxruntime"):
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
                env = dict(os.environ, DWPOSE_HOME=str(Path(tmp) / "cache"))
                cmd = [sys.executable, "-m", "app.cli", "predict", "-i", image, "--det", det,
                       "--pose", str(pose), "--no-draw", "--output-json",
                       str(Path(tmp) / "r.json"), "--backend", backend, "--no-download"]
                rows.append({"backend": backend, "pose": args.pose[-1],
                             "cold_s": timed(cmd, env), "warm_s": timed(cmd, env)})
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = [f"{'pose':<5}{'det every':>10}  {'contender':<26}{'seconds':>9}{'FPS':>8}"
             f"{'vs best rtmlib':>16}"]
    for r in rows:
        lines.append(f"{r['pose']:<5}{r['interval']:>10}  {r['contender']:<26}"
                     f"{r['seconds']:>9.2f}{r['fps']:>8.1f}{r['vs_best_rtmlib']:>16.2f}")
    return "\n".join(lines)


def format_startup(rows: list[dict]) -> str:
    lines = [f"{'backend':<13}{'cold s (median)':>16}{'warm s (median)':>16}"]
    for backend in dict.fromkeys(r["backend"] for r in rows):
        mine = [r for r in rows if r["backend"] == backend]
        lines.append(f"{backend:<13}{statistics.median(r['cold_s'] for r in mine):>16.2f}"
                     f"{statistics.median(r['warm_s'] for r in mine):>16.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from engines.files import write_file

    args = parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    video = args.video or real_input(DEFAULT_VIDEOS[0], "--video CLIP.mp4")
    det = args.det or real_input(DEFAULT_DET, "--det YOLOX.onnx")
    clip = make_clip(video, args.frames, args.work_dir / f"clip{args.frames}.mp4")
    python = ensure_venv(args.venv)
    info = machine()
    print(format_machine(info, " ".join(sys.argv)), flush=True)
    rows = whole_process(args, python, clip, det)
    report = {"machine": info, "frames": args.frames, "whole_process": rows}
    if not args.no_startup:
        image = args.work_dir / "first_frame.png"
        if not image.exists():
            capture = cv2.VideoCapture(str(clip))
            cv2.imwrite(str(image), capture.read()[1])
            capture.release()
        report["startup"] = startup(args, str(image), det)
        print(format_startup(report["startup"]))
    out = args.json or args.work_dir / "e2e.json"
    write_file(out, json.dumps(report, indent=2), "e2e results")
    print(format_machine(info))
    print(format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
