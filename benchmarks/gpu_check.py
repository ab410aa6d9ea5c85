"""GPU ready check: every CUDA path of the project, run and measured in one short run.

One command for a short slot on a GPU machine (CUDA and torch, no TensorRT):

1. the ``gpu``-marked tests (``pytest -m gpu`` on the test files that hold such tests), with
   each test's outcome and skip reason;
2. for DWPose-m 256x192 and DWPose-l 384x288 (``--arch``): random weights, brought to a trained
   model's activation scale on the video's frames (``realistic_random_model``), exported with
   ``dwpose export``;
3. ``dwpose bench`` on each with the torch backend (CUDA FP16) and YOLOX-Nano on a video: the
   serial and the overlapped FPS, each against 1 / max(detector, pose) per frame, and the pose
   model's latency at batch 1, 4 and 8 (``--pose-batches``);
4. FP16 against FP32: the same file run by the torch backend in both precisions on the same
   person crops of the video; the share of keypoints within 1 image pixel and the mean
   distance, near-ties (top-two SimCC margin < 1e-4 in FP32) left out;
5. the peak GPU memory (``torch.cuda.max_memory_allocated`` / ``max_memory_reserved``) of each
   bench and each FP16/FP32 comparison.

It writes one JSON (after each part, so a run stopped by a timeout keeps what it measured) and
prints a table. Parts start only while the time budget (``--budget``) lasts; each part that
does not run says why. Without CUDA every CUDA part is reported skipped with the reason and the
exit code is 0; ``--device cpu`` runs the same measuring code on the CPU in FP32 instead
(FP16 and GPU memory skipped), which is how it is tested without a GPU.

Exit codes: 0 when nothing failed (skips are fine), 1 when a part failed, 2 for a missing input
file or Python package (one line on stderr). ``benchmarks/gpu_check.sh`` wraps it for a bare
GPU machine (wheels, paths, a total timeout); docs/gpu.md says how to run it.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import io
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The real data: ./shared (a copy carried to a GPU machine with the repository) or ../shared.
SHARED = next((p for p in (ROOT / "shared", ROOT.parent / "shared") if (p / "data").is_dir()),
              ROOT.parent / "shared")
DEFAULT_VIDEO = SHARED / "data" / "video" / "street_multi_person.mp4"
DEFAULT_DET = SHARED / "data" / "models" / "yolox_nano.onnx"
#: Input size of each architecture unless ``--arch ARCH:HxW`` says otherwise.
ARCH_SIZES = {"t": "256x192", "s": "256x192", "m": "256x192", "l": "384x288", "x": "384x288"}
POSE_BATCHES = (1, 4, 8)
#: Python modules the check needs, with the pip package that provides each.
REQUIRED = {"numpy": "numpy", "cv2": "opencv-python-headless", "onnx": "onnx",
            "onnxruntime": "onnxruntime", "torch": "torch", "tqdm": "tqdm"}
FOR_TESTS = {"pytest": "pytest", "pytest_timeout": "pytest-timeout"}
#: Keypoints whose top-two SimCC logits differ by less than this in FP32 are left out of the
#: FP16 comparison: their argmax is a coin toss in either precision (COMPAT.md section 3).
NEAR_TIE = 1e-4
#: A part does not start with less than this many seconds of the budget left.
MIN_PART_S = 10.0
#: Settings: (frames, warmup, model runs, crops) for a full run and for --quick.
FULL = (200, 20, 50, 64)
QUICK = (10, 2, 3, 8)


class Skip(Exception):
    """A part that cannot run here; the message says why."""


class Failed(Exception):
    """A part that ran and failed; ``details`` (e.g. each test's outcome) go into its record."""

    def __init__(self, message: str, details: dict) -> None:
        super().__init__(message)
        self.details = details


def parse_arch(spec: str) -> tuple[str, str]:
    """``"m"`` -> ``("m", "256x192")``; ``"l:384x288"`` -> ``("l", "384x288")``."""
    arch, _, size = spec.partition(":")
    sizes = sorted(set(ARCH_SIZES.values()))
    if arch not in ARCH_SIZES or size not in ("", *sizes):
        raise argparse.ArgumentTypeError(f"{spec!r}: expected one of {', '.join(ARCH_SIZES)}, "
                                         f"optionally with :{' or :'.join(sizes)}")
    return arch, size or ARCH_SIZES[arch]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO,
                   help="video the benches and the FP16 comparison run on (default: "
                        "%(default)s)")
    p.add_argument("--det", type=Path, default=DEFAULT_DET,
                   help="YOLOX detector ONNX (default: %(default)s)")
    p.add_argument("--shared", type=Path, default=SHARED,
                   help="the real test data for the gpu tests, as $DWPOSE_SHARED "
                        "(default: %(default)s)")
    p.add_argument("--arch", nargs="+", type=parse_arch, metavar="ARCH[:HxW]",
                   default=[parse_arch("m"), parse_arch("l")],
                   help="pose models to export with random weights (default: m l, i.e. "
                        "m:256x192 l:384x288)")
    p.add_argument("--pose", nargs="+", type=Path, metavar="P.onnx",
                   help="pose ONNX files to measure instead of exporting --arch models")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                   help="auto: CUDA when torch sees a GPU, else skip every CUDA part; cpu: run "
                        "the measuring code on the CPU in FP32 (for testing) (default: auto)")
    p.add_argument("--quick", action="store_true",
                   help=f"tiny settings (frames, warm-up, model runs, crops = {QUICK}) instead "
                        f"of {FULL}")
    p.add_argument("--frames", type=int, help="frames per bench pipeline")
    p.add_argument("--warmup", type=int, help="warm-up frames and calls, not measured")
    p.add_argument("--model-runs", type=int, help="calls per model in the latency table")
    p.add_argument("--crops", type=int, help="person crops in the FP16/FP32 comparison")
    p.add_argument("--no-tests", action="store_true", help="leave the gpu tests out")
    p.add_argument("--tests-timeout", type=float, default=150,
                   help="seconds the gpu tests may take together (default: %(default)s)")
    p.add_argument("--budget", type=float, default=240,
                   help="seconds for the whole check; no part starts after it (default: "
                        "%(default)s)")
    p.add_argument("--work-dir", type=Path, default=ROOT / "out" / "gpu_check",
                   help="exported models and the tests' report (default: out/gpu_check)")
    p.add_argument("--out", type=Path, help="JSON to write (default: WORK_DIR/gpu_check.json)")
    args = p.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in zip(("frames", "warmup", "model_runs", "crops"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.out = args.out or args.work_dir / "gpu_check.json"
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def missing_modules(modules: dict[str, str]) -> list[str]:
    """``"pip-name (why)"`` for each module of ``modules`` that fails to import."""
    missing = []
    for module, package in modules.items():
        try:
            importlib.import_module(module)
        except Exception as exc:  # an ImportError, or a broken install raising anything
            missing.append(f"{package} ({type(exc).__name__}: {exc})")
    return missing


def input_errors(args: argparse.Namespace) -> list[str]:
    """One line per input file that is not there."""
    hint = (f"copy it into the repository (e.g. {ROOT.name}/shared/data/...) or give its path")
    files = [("--video", args.video), ("--det", args.det)]
    files += [("--pose", p) for p in args.pose or ()]
    return [f"{flag} {path}: file not found ({hint})" for flag, path in files
            if not path.is_file()]


@dataclass
class Budget:
    """The check's time budget, in seconds from its start."""

    seconds: float
    start: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def check(self) -> None:
        """``Skip`` when too little of the budget is left to start a part."""
        left = self.seconds - self.elapsed()
        if left < MIN_PART_S:
            raise Skip(f"time budget: {left:.0f} s of {self.seconds:.0f} s left, a part needs "
                       f"at least {MIN_PART_S:.0f} s")


class Check:
    """The report being built: runs each part, records its outcome and saves the JSON."""

    def __init__(self, args: argparse.Namespace, budget: Budget) -> None:
        self.args, self.budget = args, budget
        self.report: dict[str, Any] = {"check": "benchmarks/gpu_check.py",
                                       "argv": args.argv, "python": sys.executable,
                                       "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                       "budget_s": budget.seconds}

    def part(self, name: str, fn: Callable[[], dict], into: dict | None = None,
             label: str = "") -> dict:
        """Run ``fn`` as part ``name`` (stored in ``into``, default the report; ``label`` names
        its model): its dict with ``status`` ok, or skipped with the ``reason``, or failed with
        the ``error``."""
        into = self.report if into is None else into
        start = time.perf_counter()
        print(f"\n== {label}{name} ==", flush=True)
        try:
            self.budget.check()
            result = {"status": "ok", **fn()}
        except Skip as exc:
            result = {"status": "skipped", "reason": str(exc)}
            print(f"skipped: {exc}")
        except Failed as exc:
            result = {"status": "failed", "error": str(exc), **exc.details}
            print(f"FAILED: {exc}")
        except Exception as exc:  # a part's failure is reported; the other parts still run
            traceback.print_exc()
            result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        result["seconds"] = time.perf_counter() - start
        into[name] = result
        self.save()
        return result

    def save(self) -> None:
        self.report["elapsed_s"] = self.budget.elapsed()
        self.args.out.parent.mkdir(parents=True, exist_ok=True)
        self.args.out.write_text(json.dumps(self.report, indent=2))


# -- the machine ---------------------------------------------------------------------------

def cuda_state(requested: str) -> tuple[str | None, str | None]:
    """(device the CUDA parts run on or None, why they cannot) for ``--device``."""
    import torch

    if requested == "cpu":
        return "cpu", "--device cpu: the measuring code runs on the CPU in FP32"
    if torch.cuda.is_available():
        return "cuda", None
    build = ("a CPU-only build" if torch.version.cuda is None
             else f"built for CUDA {torch.version.cuda}; no driver or device")
    return None, f"torch {torch.__version__} sees no CUDA device ({build})"


def machine(device: str | None) -> dict:
    """The CPU (with its AVX2 / AVX-512 VNNI / BF16 features), libraries and the GPU."""
    import onnx
    import torch

    from benchmarks.compare import machine as cpu_machine

    info = cpu_machine()
    info.update(onnx=onnx.__version__, torch=torch.__version__, torch_cuda=torch.version.cuda,
                cudnn=torch.backends.cudnn.version() if torch.cuda.is_available() else None)
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_capability=f"{props.major}.{props.minor}",
                    gpu_memory_gib=props.total_memory / 2**30,
                    gpu_multiprocessors=props.multi_processor_count)
    return info


@contextlib.contextmanager
def gpu_memory(device: str, into: dict) -> Iterator[None]:
    """Peak GPU memory of the block, put in ``into["gpu_memory"]`` (skipped off CUDA)."""
    if device != "cuda":
        into["gpu_memory"] = {"status": "skipped", "reason": "no CUDA device in use"}
        yield
        return
    import torch

    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    yield
    torch.cuda.synchronize()
    into["gpu_memory"] = {"status": "ok",
                          "peak_allocated_mb": torch.cuda.max_memory_allocated() / 2**20,
                          "peak_reserved_mb": torch.cuda.max_memory_reserved() / 2**20}


# -- part 1: the gpu tests -----------------------------------------------------------------

def gpu_test_files() -> list[str]:
    """The test files holding ``gpu``-marked tests (collecting only these keeps optional
    dependencies of the others, such as PyQt5, out of the way)."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")
                  if "pytest.mark.gpu" in p.read_text())


def junit_outcomes(path: Path) -> list[dict]:
    """Each test case of a pytest JUnit XML report: name, outcome, seconds, message."""
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", None
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (element.get("message") or (element.text or "").strip())[:500]
                break
        tests.append({"test": f"{case.get('classname')}::{case.get('name')}",
                      "outcome": outcome, "seconds": float(case.get("time") or 0),
                      "message": message})
    return tests


def run_gpu_tests(args: argparse.Namespace, budget: Budget) -> dict:
    missing = missing_modules(FOR_TESTS)
    if any(m.startswith("pytest (") for m in missing):
        raise Skip(f"pytest cannot be imported: {missing[0]}")
    xml = args.work_dir / "gpu_tests.xml"
    xml.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-rs", "-p", "no:cacheprovider",
           "--continue-on-collection-errors", f"--junitxml={xml}"]
    if not missing:  # pytest-timeout: no single test may hang the slot
        cmd += ["--timeout", str(int(args.tests_timeout))]
    cmd += gpu_test_files()
    env = dict(os.environ, DWPOSE_SHARED=str(args.shared.resolve()),
               PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT),
                                                        os.environ.get("PYTHONPATH")))))
    timeout = min(args.tests_timeout, budget.seconds - budget.elapsed())
    print(" ".join(cmd), flush=True)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the gpu tests did not finish in {timeout:.0f} s") from None
    if not xml.is_file():
        raise RuntimeError(f"pytest exited {proc.returncode} without a report")
    tests = junit_outcomes(xml)
    counts = {o: sum(t["outcome"] == o for t in tests)
              for o in ("passed", "failed", "error", "skipped")}
    result = {"counts": counts, "tests": tests, "files": gpu_test_files(),
              "shared": str(args.shared), "per_test_timeout": None if missing else
              args.tests_timeout}
    if proc.returncode != 0 or counts["failed"] or counts["error"]:
        raise Failed(f"pytest exited {proc.returncode}: {counts['failed']} failed, "
                     f"{counts['error']} errors", result)
    return result


# -- part 2: pose models -------------------------------------------------------------------

def video_batch(video: Path, input_size: str, count: int = 8, step: int = 7) -> Any:
    """``count`` frames of ``video`` (every ``step``-th, looped) resized to ``input_size``
    ("HxW") and normalised as the pose model's input: [count, 3, H, W] float32."""
    import cv2
    import numpy as np

    from engines.pose import MEAN_RGB, STD_RGB
    from engines.sources import open_source

    h, w = (int(v) for v in input_size.split("x"))
    frames: list[np.ndarray] = []
    while len(frames) < count:
        with open_source(str(video)) as source:
            images = (f.image for f in source if f.image is not None)
            for i, image in enumerate(images):
                if i % step == 0:
                    frames.append(image)
                if len(frames) == count:
                    break
        if not frames:
            raise RuntimeError(f"{video}: no readable frame")
    rgb = np.stack([cv2.resize(f, (w, h))[..., ::-1] for f in frames]).astype(np.float32)
    return ((rgb - np.float32(MEAN_RGB)) / np.float32(STD_RGB)).transpose(0, 3, 1, 2).copy()


def realistic_random_model(arch: str, input_size: str, images: Any, device: str,
                           seed: int = 0):
    """A trainer model with random weights at a trained model's activation scale.

    Freshly initialised, the model's features fade to ~1e-10 and its SimCC logits to ~1e-5:
    below FP16's normal range, so FP16 against FP32 would compare rounding noise, and every
    keypoint would be a near-tie. Its BatchNorm statistics are therefore taken from ``images``
    ([N, 3, H, W] pose inputs, e.g. ``video_batch``) and the SimCC classifiers scaled up
    (logits of order 10-60, top-two margins mostly above 0.01). The statistics must come from
    real images: taken from Gaussian noise (as the torch backend's tests do), DWPose-l's
    backbone grows to ~2e5 on real crops, past FP16's 65504 (measured on the CPU); from video
    frames its largest activation on the crops is ~300."""
    import torch

    from trainer.models import build_model

    torch.manual_seed(seed)
    model = build_model(arch, input_size)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # the running statistics become this batch's
    with torch.no_grad():
        model.to(device).train()(torch.from_numpy(images).to(device))
        model.head.cls_x.weight.mul_(300)
        model.head.cls_y.weight.mul_(300)
    return model.cpu().eval()


def export_model(arch: str, input_size: str, args: argparse.Namespace, device: str) -> dict:
    """Save ``realistic_random_model`` as a checkpoint and export it with ``dwpose export``."""
    import torch

    from app.cli import main as dwpose

    stem = args.work_dir / f"dwpose-{arch}_{input_size}-random"
    checkpoint, onnx_path = stem.with_suffix(".pth"), stem.with_suffix(".onnx")
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    model = realistic_random_model(arch, input_size, video_batch(args.video, input_size), device)
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    rc = dwpose(["export", "--checkpoint", str(checkpoint), "--arch", arch,
                 "--input-size", input_size, "--output", str(onnx_path)])
    if rc != 0:
        raise RuntimeError(f"dwpose export exited {rc} (its error is printed above)")
    return {"pose": str(onnx_path), "arch": arch, "input_size": input_size,
            "weights": "random; BatchNorm statistics from 8 frames of the video, SimCC "
                       "classifiers x300"}


# -- part 3: dwpose bench ------------------------------------------------------------------

def run_bench(pose: Path, args: argparse.Namespace, device: str) -> dict:
    """``dwpose bench --backend torch`` (FP16 on CUDA, FP32 on the CPU), both pipelines and
    pose batches 1, 4, 8; its JSON report and the numbers the table shows."""
    from app.cli import main as dwpose
    from app.cli.bench import stage_bound

    out = args.work_dir / f"bench-{pose.stem}.json"
    out.unlink(missing_ok=True)
    precision = "fp16" if device == "cuda" else "fp32"
    argv = ["bench", "-i", str(args.video), "--backend", "torch", "--device", device,
            "--precision", precision, "--det", str(args.det), "--pose", str(pose),
            "--no-download", "--pipeline", "both", "--frames", str(args.frames),
            "--warmup", str(args.warmup), "--model-runs", str(args.model_runs),
            "--pose-batches", ",".join(map(str, POSE_BATCHES)), "--json", str(out)]
    result: dict[str, Any] = {"argv": ["dwpose", *argv]}
    errors = io.StringIO()
    with gpu_memory(device, result), contextlib.redirect_stderr(errors):
        rc = dwpose(argv)
    sys.stderr.write(errors.getvalue())
    if rc != 0:
        raise RuntimeError(f"dwpose bench exited {rc}: {errors.getvalue().strip()}")
    report = json.loads(out.read_text())
    serial, overlap = report["pipelines"]["serial"], report["pipelines"]["overlap"]
    rows = {(r["stage"], r["batch"]): r for r in report["models"]}
    result.update(
        precision=precision, serial_fps=serial["fps"], overlap_fps=overlap["fps"],
        overlap_speedup=report["overlap_speedup"], bound_fps=overlap["bound_fps"],
        overlap_of_bound=overlap["of_bound"],
        serial_of_bound=stage_bound(serial)["of_bound"],
        mean_persons=serial["mean_persons"],
        detector_ms=rows[("detector", 1)]["latency_ms"],
        pose_ms={str(b): rows[("pose", b)]["latency_ms"] for b in POSE_BATCHES
                 if ("pose", b) in rows},
        pose_gpu_ms={str(b): rows[("pose", b)]["gpu_ms"] for b in POSE_BATCHES
                     if ("pose", b) in rows},
        report=report)
    return result


# -- part 4: FP16 against FP32 -------------------------------------------------------------

def top2_margin(simcc: Any) -> Any:
    """[N, K, bins] logits -> [N, K] difference between the largest two."""
    import numpy as np

    top = np.sort(simcc, axis=-1)[..., -2:]
    return top[..., 1] - top[..., 0]


def keypoint_agreement(ref_points: Any, ref_scores: Any, margins: Any, points: Any,
                       scores: Any) -> dict:
    """``points`` against the reference ``ref_points`` (both [N, K, 2] image pixels).

    Compared: keypoints the reference scores above 0 (the decoder places the others at -1)
    whose reference top-two SimCC margin is at least ``NEAR_TIE``."""
    import numpy as np

    ties = margins < NEAR_TIE
    unscored = (ref_scores <= 0) & ~ties
    keep = ~ties & ~unscored
    distance = np.linalg.norm(points - ref_points, axis=-1)[keep]
    compared = int(keep.sum())
    return {"keypoints": int(ties.size), "near_ties": int(ties.sum()),
            "unscored": int(unscored.sum()), "compared": compared,
            "within_1px": float((distance <= 1.0).mean()) if compared else None,
            "mean_px": float(distance.mean()) if compared else None,
            "max_px": float(distance.max()) if compared else None,
            "score_max_abs_diff": float(np.abs(scores - ref_scores)[keep].max())
            if compared else None,
            "score_max": float(ref_scores.max())}


def person_crops(pose: Any, det: Any, video: Path, count: int, max_frames: int = 100) -> Any:
    """A ``PoseBatch`` of up to ``count`` crops of the detector's persons in the first frames
    of ``video`` (a frame with nobody gives the whole frame, as bench does)."""
    import numpy as np

    from engines.pose import PoseBatch
    from engines.sources import open_source

    batches, found = [], 0
    with open_source(str(video)) as source:
        for i, frame in enumerate(source):
            if frame.image is None:
                continue
            boxes = det(frame.image).boxes
            if len(boxes) == 0:
                h, w = frame.image.shape[:2]
                boxes = np.array([[0, 0, w, h]], np.float32)
            batches.append(pose.preprocess(frame.image, boxes[:count - found]))
            found += len(batches[-1].blob)
            if found >= count or i + 1 >= max_frames:
                break
    if not batches:
        raise RuntimeError(f"{video}: no readable frame")
    return PoseBatch(*(np.concatenate([getattr(b, name) for b in batches])
                       for name in ("blob", "centers", "scales")))


@contextlib.contextmanager
def strict_fp32() -> Iterator[None]:
    """TF32 off inside the block: PyTorch lets cuDNN convolutions run in TF32 by default on
    Ampere and newer GPUs, whose 10-bit mantissa is FP16's, so an FP32 reference must not."""
    import torch

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def precision_agreement(pose_path: Path, det_path: Path, video: Path, crops: int, device: str,
                        precisions: tuple[str, str] = ("fp32", "fp16")) -> dict:
    """The pose file run by the torch backend in two precisions on the same person crops of
    ``video`` (found by the detector in the first precision), the first as the reference;
    TF32 off (``strict_fp32``), so that FP32 means FP32."""
    import numpy as np

    from engines.models import load_model
    from engines.pipeline import build_pipeline

    ref_precision, precision = precisions
    result: dict[str, Any] = {"near_tie": NEAR_TIE, "reference": f"torch {device} {ref_precision}",
                              "compared_with": f"torch {device} {precision}",
                              "tf32": "off in both runs"}
    with gpu_memory(device, result):
        pipeline = build_pipeline(str(det_path), str(pose_path), backend="torch", device=device,
                                  precision=ref_precision)
        pose = pipeline.pose
        other, _ = load_model(pose_path, "pose", "torch", device=device, precision=precision)
        with strict_fp32():
            batch = person_crops(pose, pipeline.detector, video, crops)
            ref = pose.backend({"input": batch.blob})
            got = other({"input": batch.blob})
    if not all(np.isfinite(v).all() for v in got.values()):
        raise RuntimeError(f"{precision} outputs hold NaN or inf")
    ref_points, ref_scores = pose.postprocess(ref["simcc_x"], ref["simcc_y"], batch)
    points, scores = pose.postprocess(got["simcc_x"], got["simcc_y"], batch)
    margins = np.minimum(top2_margin(ref["simcc_x"]), top2_margin(ref["simcc_y"]))
    result.update(crops=len(batch.blob),
                  **keypoint_agreement(ref_points, ref_scores, margins, points, scores))
    return result


def fp16_agreement(pose_path: Path, args: argparse.Namespace, device: str) -> dict:
    """FP16 against FP32 on CUDA (``precision_agreement``)."""
    if device != "cuda":
        raise Skip("FP16 needs CUDA (the torch backend refuses FP16 on the CPU)")
    return precision_agreement(pose_path, args.det, args.video, args.crops, device)


# -- the whole check -----------------------------------------------------------------------

def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(report: dict) -> str:
    """The numbers of every model side by side, then what did not run and why."""
    models = report.get("models", [])
    rows: list[tuple[str, Callable[[dict], str]]] = [
        ("serial FPS", lambda b: _fmt(b.get("serial_fps"), ".1f")),
        ("overlapped FPS", lambda b: _fmt(b.get("overlap_fps"), ".1f")),
        ("overlap / serial", lambda b: _fmt(b.get("overlap_speedup"), ".2f")),
        ("1 / max(det, pose) FPS", lambda b: _fmt(b.get("bound_fps"), ".1f")),
        ("serial / bound", lambda b: _fmt(b.get("serial_of_bound"), ".2f")),
        ("overlapped / bound", lambda b: _fmt(b.get("overlap_of_bound"), ".2f")),
        ("persons per frame", lambda b: _fmt(b.get("mean_persons"), ".1f")),
        ("detector ms", lambda b: _fmt(b.get("detector_ms"), ".2f")),
        *[(f"pose ms, batch {n}", lambda b, n=n: _fmt(b.get("pose_ms", {}).get(str(n)), ".2f"))
          for n in POSE_BATCHES],
        ("bench peak GPU MB alloc/res", lambda b: _memory(b)),
    ]
    agree_rows: list[tuple[str, Callable[[dict], str]]] = [
        ("FP16 within 1 px", lambda a: _fmt(a.get("within_1px"), ".1%")),
        ("FP16 mean / max px", lambda a: f"{_fmt(a.get('mean_px'), '.3f')} / "
                                          f"{_fmt(a.get('max_px'), '.1f')}"),
        ("FP16 compared / near-ties", lambda a: f"{a.get('compared', '-')} / "
                                                 f"{a.get('near_ties', '-')}"),
        ("FP16+FP32 peak GPU MB", lambda a: _memory(a)),
    ]
    width = 20
    lines = [f"{'':<28}" + "".join(f"{m['name']:>{width}}" for m in models)]
    if not any(m[k]["status"] == "ok" for m in models for k in ("bench", "fp16")):
        lines, rows, agree_rows = [], [], []
    for label, cell in rows:
        lines.append(f"{label:<28}" + "".join(
            f"{cell(m['bench']) if m['bench']['status'] == 'ok' else '-':>{width}}"
            for m in models))
    for label, cell in agree_rows:
        lines.append(f"{label:<28}" + "".join(
            f"{cell(m['fp16']) if m['fp16']['status'] == 'ok' else '-':>{width}}"
            for m in models))
    tests = report.get("gpu_tests", {})
    if "counts" in tests:
        c = tests["counts"]
        lines.append(f"gpu tests: {c['passed']} passed, {c['skipped']} skipped, "
                     f"{c['failed']} failed, {c['error']} errors")
        lines += [f"  {t['outcome']} {t['test']}: {t['message'][:300]}" for t in tests["tests"]
                  if t["outcome"] != "passed"]
    parts = [("gpu tests", tests)] + [(f"{m['name']} {k}", m[k]) for m in models
                                      for k in ("model", "bench", "fp16")]
    parts += [(f"{m['name']} {k} GPU memory", m[k]["gpu_memory"]) for m in models
              for k in ("bench", "fp16") if "gpu_memory" in m[k]]
    skipped: dict[str, list[str]] = {}
    for name, part in parts:
        if part.get("status") == "skipped":
            skipped.setdefault(part["reason"], []).append(name)
        elif part.get("status") == "failed":
            lines.append(f"{name}: FAILED: {part['error'][:300]}")
    lines += [f"skipped ({', '.join(names)}): {reason}" for reason, names in skipped.items()]
    return "\n".join(lines)


def _memory(part: dict) -> str:
    mem = part.get("gpu_memory", {})
    if mem.get("status") != "ok":
        return "-"
    return f"{mem['peak_allocated_mb']:.0f}/{mem['peak_reserved_mb']:.0f}"


def run_check(args: argparse.Namespace) -> int:
    budget = Budget(args.budget)
    check = Check(args, budget)
    device, why = cuda_state(args.device)
    report = check.report
    report.update(device=device, cuda_skip_reason=why if device is None else None,
                  note=why if device == "cpu" else None, machine=machine(device),
                  settings={"video": str(args.video), "det": str(args.det),
                            "frames": args.frames, "warmup": args.warmup,
                            "model_runs": args.model_runs, "crops": args.crops,
                            "pose_batches": list(POSE_BATCHES)})
    m = report["machine"]
    print(f"CPU: {m['cpu']} ({m['isa'] or 'no AVX2'}), {m['cores']} cores; GPU: "
          f"{m.get('gpu', 'none')}; torch {m['torch']} (CUDA {m['torch_cuda']}); "
          f"device {device or 'none: ' + why}")

    def needs_device() -> None:
        if device is None:
            raise Skip(why)

    def tests() -> dict:
        if args.no_tests:
            raise Skip("--no-tests")
        needs_device()
        return run_gpu_tests(args, budget)

    check.part("gpu_tests", tests)
    specs = ([(p.stem, None, p) for p in args.pose] if args.pose else
             [(f"{a} {s}", (a, s), None) for a, s in args.arch])
    report["models"] = []
    for name, arch, given in specs:
        entry: dict[str, Any] = {"name": name}
        report["models"].append(entry)

        def model(arch=arch, given=given) -> dict:
            needs_device()
            return {"pose": str(given)} if given else export_model(*arch, args, device)

        made = check.part("model", model, entry, f"{name}: ")
        pose = Path(made["pose"]) if made["status"] == "ok" else None

        def bench(pose=pose) -> dict:
            needs_device()
            if pose is None:
                raise Skip("no pose model (see its part)")
            return run_bench(pose, args, device)

        def fp16(pose=pose) -> dict:
            needs_device()
            if pose is None:
                raise Skip("no pose model (see its part)")
            return fp16_agreement(pose, args, device)

        check.part("bench", bench, entry, f"{name}: ")
        check.part("fp16", fp16, entry, f"{name}: ")
    parts = [report["gpu_tests"]] + [m[k] for m in report["models"]
                                     for k in ("model", "bench", "fp16")]
    report["ok"] = all(p["status"] != "failed" for p in parts)
    check.save()
    print("\n" + table(report))
    print(f"\nwrote {args.out} ({budget.elapsed():.0f} s of a {args.budget:.0f} s budget)")
    return 0 if report["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problems = input_errors(args)
    missing = missing_modules(REQUIRED)
    if missing:
        problems.append(f"missing Python package(s): {'; '.join(missing)} (install the wheels: "
                        "benchmarks/gpu_check.sh --wheels DIR)")
    if problems:
        print(f"gpu_check: error: {'; '.join(problems)}", file=sys.stderr)
        return 2
    if args.device == "cuda":
        device, why = cuda_state("cuda")
        if device is None:
            print(f"gpu_check: error: --device cuda: {why}", file=sys.stderr)
            return 2
    print(f"gpu_check on {platform.node()}: budget {args.budget:.0f} s, JSON {args.out}",
          flush=True)
    return run_check(args)


if __name__ == "__main__":
    sys.exit(main())
