"""INT8 for the CPU, measured: each quantizer's speed under OpenVINO and its agreement with FP32
as the precision gate sees it, beside the harmless and broken cases the gate's thresholds are
chosen between (docs/quantization.md).

Variants (``VARIANTS``), all calibrated on the same crops:

- ``openvino fp32``: the FP32 file under OpenVINO (harmless: another runtime's FP32 kernels);
- ``onnxruntime fp16``: an FP16 copy of the model (``engines.trt.fp16``, what TensorRT 11 builds
  from) on ONNX Runtime: FP16 rounding, the other reduced precision the gate checks;
- ``ort-quantizer``: ``dwpose quantize --runtime onnxruntime`` (convolutions only) under
  OpenVINO, and under ONNX Runtime (``ort-quantizer on onnxruntime``);
- ``ort-quantizer all ops``: the same quantizer with every operator quantized, the SimCC head's
  matrix products included: the broken case (how ``dwpose quantize`` quantized before issue 16);
- ``nncf plain``: NNCF's defaults (its ONNX backend, QDQ), every MatMul quantized
  (``dwpose quantize --plain``);
- ``nncf plain head float``: the same with the SimCC head's MatMuls in NNCF's ignored scope;
- ``nncf accuracy-aware``: ``nncf.quantize_with_accuracy_control`` with the gate's worst-part
  OKS, at most ``--max-drop`` below FP32 on calibration images (``dwpose quantize``'s
  default);
- ``nncf IR head float``: NNCF's OpenVINO backend (an OpenVINO IR, .xml + .bin), head float.

Agreement: the gate's table (``engines.precision_gate``) against ONNX Runtime FP32 on the
held-out persons, plus the share of persons at several OKS thresholds per part, so that the
gate's thresholds can be read off. Speed: one crop, OpenVINO ``LATENCY`` (ONNX Runtime for its
rows), median of interleaved runs against OpenVINO FP32.

    python benchmarks/int8_gate.py --pose t.onnx --calib-ann train.json --calib-img train/ \\
        --synthetic-val 40 --json out/int8_gate/report.json
    python benchmarks/int8_gate.py --pose dwpose-m-bench.onnx --video clip.mp4 \\
        --det yolox_nano.onnx --speed-only     # random weights: speed only
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.precision_agreement import person_crops  # noqa: E402
from calibration.batcher import ImageBatcher, detector_boxes  # noqa: E402
from engines.cpu import cpu_info  # noqa: E402
from engines.files import atomic_path, write_file  # noqa: E402
from engines.models import load_model  # noqa: E402
from engines.pose import RTMPose  # noqa: E402
from engines.precision_gate import (  # noqa: E402
    THRESHOLDS,
    PosePairs,
    part_agreement,
    person_oks,
    run_pairs,
)
from engines.skeleton import PARTS  # noqa: E402

#: OKS thresholds whose shares of persons the report lists per part.
OKS_LEVELS = (0.8, 0.85, 0.9, 0.95)
#: name -> (runtime, precision option) each variant runs with.
VARIANTS = {
    "openvino fp32": ("openvino", "fp32"),
    "onnxruntime fp16": ("onnxruntime", None),
    "ort-quantizer": ("openvino", "int8"),
    "ort-quantizer on onnxruntime": ("onnxruntime", None),
    "ort-quantizer all ops": ("openvino", "int8"),
    "nncf plain": ("openvino", "int8"),
    "nncf plain head float": ("openvino", "int8"),
    "nncf accuracy-aware": ("openvino", "int8"),
    # the backend tells INT8 from an ONNX file's Q/DQ operators; an IR's FakeQuantize ops
    # run in integer kernels at any precision hint
    "nncf IR head float": ("openvino", "fp32"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pose", type=Path, required=True, help="FP32 SimCC pose ONNX")
    p.add_argument("--calib-ann", type=Path, help="annotations whose crops calibrate")
    p.add_argument("--calib-img", type=Path, help="their image folder")
    p.add_argument("--val-ann", type=Path, help="held-out annotations to compare on")
    p.add_argument("--val-img", type=Path, help="their image folder")
    p.add_argument("--synthetic-val", type=int, metavar="N",
                   help="instead: N synthetic images (seed 1) in WORK_DIR/val")
    p.add_argument("--video", type=Path, help="speed only: calibrate on this video's crops")
    p.add_argument("--det", type=Path, help="with --video: the detector finding the persons")
    p.add_argument("--speed-only", action="store_true", help="no agreement (random weights)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--max-drop", type=float, default=0.02,
                   help="accuracy-aware: largest mean-OKS drop (default: %(default)s)")
    p.add_argument("--calib-crops", type=int, default=64,
                   help="calibration crops (default: %(default)s)")
    p.add_argument("--runs", type=int, default=30, help="timed runs per variant")
    p.add_argument("--work-dir", type=Path, default=ROOT / "out" / "int8_gate")
    p.add_argument("--json", type=Path, help="report (default: WORK_DIR/report.json)")
    return p.parse_args(argv)


def calibration_batches(args: argparse.Namespace, reference: RTMPose) -> list[np.ndarray]:
    """Batches of one crop each: annotated persons, or the video's detected persons."""
    if args.video is not None:
        finder = detector_boxes(args.det) if args.det else None
        crops = list(ImageBatcher(args.video, args.pose, batch_size=1,
                                  max_images=args.calib_crops, find_boxes=finder))
    else:
        crops = [c[None] for image, boxes in person_crops(args.calib_ann, args.calib_img)
                 for c in reference.preprocess(image, boxes).blob]
    return crops[:args.calib_crops]


def accuracy_frames(args: argparse.Namespace):
    """Calibration images and a box finder for them, for NNCF's accuracy control."""
    pairs = list(person_crops(args.calib_ann, args.calib_img))[:16]
    by_id = {id(image): boxes for image, boxes in pairs}
    return [image for image, _ in pairs], lambda image: by_id[id(image)]


def make_variant(name: str, args: argparse.Namespace, batches: list[np.ndarray],
                 reference: RTMPose) -> Path:
    """The file of variant ``name`` in the work folder (made once)."""
    import engines.quantize as quantize
    from engines.quantize import AccuracyControl, quantize_nncf

    if name == "openvino fp32":
        return args.pose
    name = name.replace(" on onnxruntime", "")  # the same file under ONNX Runtime
    path = args.work_dir / (f"{args.pose.stem}.{name.replace(' ', '-')}"
                            f"{'.xml' if 'IR' in name else '.onnx'}")
    if path.exists():
        return path
    print(f"making {path.name} ...", flush=True)
    if name == "onnxruntime fp16":
        import onnx

        from engines.trt.fp16 import convert_to_fp16

        with atomic_path(path, "FP16 model") as part:
            onnx.save(convert_to_fp16(onnx.load(str(args.pose))), str(part))
    elif name.startswith("ort-quantizer"):
        kept = quantize.POSE_QUANTIZED_OPS
        quantize.POSE_QUANTIZED_OPS = None if name.endswith("all ops") else kept
        try:
            quantize.quantize(args.pose, path, iter(_stacked(batches, 8)))
        finally:
            quantize.POSE_QUANTIZED_OPS = kept
    elif name == "nncf IR head float":
        _nncf_ir(args.pose, path, batches)
    else:
        accuracy = None
        if name == "nncf accuracy-aware":
            frames, finder = accuracy_frames(args)
            accuracy = AccuracyControl(args.max_drop, reference, frames, finder)
        quantize_nncf(args.pose, path, iter(batches), accuracy=accuracy,
                      head_float=name.endswith("head float"))
    return path


def _stacked(batches: list[np.ndarray], size: int) -> Iterator[np.ndarray]:
    crops = np.concatenate(batches)
    for start in range(0, len(crops) - size + 1, size):
        yield crops[start:start + size]


def _nncf_ir(pose: Path, path: Path, batches: list[np.ndarray]) -> None:
    """NNCF's OpenVINO backend: an IR, head float; both files written through engines.files
    (OpenVINO names the .bin after the .xml, so the temporary names match)."""
    import logging

    import nncf
    import openvino as ov

    nncf.set_log_level(logging.WARNING)
    model = ov.Core().read_model(str(pose))
    quantized = nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches),
                              ignored_scope=nncf.IgnoredScope(types=["MatMul"]))
    with atomic_path(path, "IR") as xml, atomic_path(path.with_suffix(".bin"), "IR weights"):
        ov.save_model(quantized, str(xml))


def load(name: str, path: Path) -> RTMPose:
    runtime, precision = VARIANTS[name]
    options = {"device": "cpu"} if runtime == "onnxruntime" else {"precision": precision,
                                                                 "compile_cache": ""}
    return RTMPose(load_model(path, "pose", runtime, **options)[0])


def held_out(args: argparse.Namespace) -> list[tuple[np.ndarray, np.ndarray]]:
    if args.synthetic_val:
        from trainer.data import generate

        args.val_ann = generate(args.work_dir / "val", args.synthetic_val, seed=1)
        args.val_img = args.work_dir / "val" / "images"
    return list(person_crops(args.val_ann, args.val_img))


def compare(reference: RTMPose, candidate: RTMPose,
            persons: list[tuple[np.ndarray, np.ndarray]]) -> PosePairs:
    """The gate's pairs over every annotated person (ground-truth boxes)."""
    parts = [run_pairs(reference, candidate, [image], lambda _, b=boxes: b)
             for image, boxes in persons]
    return PosePairs(*(np.concatenate([getattr(p, f) for p in parts])
                       for f in ("reference", "scores", "candidate", "boxes")),
                     sum(p.frames for p in parts))


def agreement(pairs: PosePairs) -> dict:
    table = part_agreement(pairs)
    out = {}
    for part, idx in PARTS.items():
        _, oks = person_oks(pairs, idx)
        out[part] = {**vars(table[part]),
                     "share_at": {f"{t:g}": float((oks >= t).mean()) if len(oks) else 0.0
                                  for t in OKS_LEVELS}}
    confident = pairs.scores > THRESHOLDS.confident
    dist = np.linalg.norm(pairs.candidate - pairs.reference, axis=-1)[confident]
    out["confident keypoints within 1 px"] = float((dist <= 1).mean())
    return out


def timed(calls: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median ms of each call, all interleaved (the order reversed every round)."""
    import time

    names, times = list(calls), {name: [] for name in calls}
    for i in range(runs + 3):
        for name in names if i % 2 else names[::-1]:
            start = time.perf_counter()
            calls[name]()
            if i >= 3:
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: float(np.median(t)) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    import onnxruntime
    import openvino

    cpu = cpu_info()
    print(f"CPU {cpu.describe()}; onnxruntime {onnxruntime.__version__}, openvino "
          f"{openvino.__version__}", flush=True)
    reference = RTMPose(load_model(args.pose, "pose", "onnxruntime", device="cpu")[0])
    batches = calibration_batches(args, reference)
    files = {name: make_variant(name, args, batches, reference) for name in args.variants}
    models = {name: load(name, path) for name, path in files.items()}
    report = {"cpu": cpu.describe(), "onnxruntime": onnxruntime.__version__,
              "openvino": openvino.__version__, "pose": str(args.pose),
              "calibration_crops": len(batches), "variants": {}}
    blob = batches[0]
    fp32 = load("openvino fp32", args.pose)
    ms = timed({"openvino fp32 (reference)": lambda: fp32.infer(blob),
                "onnxruntime fp32": lambda: reference.infer(blob),
                **{name: (lambda m=m: m.infer(blob)) for name, m in models.items()}}, args.runs)
    report["speed_ms"] = ms
    persons = [] if args.speed_only else held_out(args)
    for name, model in models.items():
        entry = {"file": str(files[name]), "ms": ms[name],
                 "vs_openvino_fp32": ms["openvino fp32 (reference)"] / ms[name]}
        if persons:
            entry["agreement"] = agreement(compare(reference, model, persons))
        report["variants"][name] = entry
    if persons:
        report["persons"] = int(sum(len(b) for _, b in persons))
        scores = np.concatenate([reference(image, boxes)[1].ravel() for image, boxes in persons])
        report["confident_share"] = float(np.mean(scores > THRESHOLDS.confident))
    out = args.json or args.work_dir / "report.json"
    write_file(out, json.dumps(report, indent=2), "INT8 report")
    print(format_report(report))
    print(f"wrote {out}")
    return 0


def format_report(report: dict) -> str:
    lines = [f"CPU {report['cpu']}; openvino {report['openvino']}, onnxruntime "
             f"{report['onnxruntime']}; {report['calibration_crops']} calibration crops",
             "speed, one crop (median ms): " + ", ".join(
                 f"{k} {v:.1f}" for k, v in report["speed_ms"].items())]
    if "persons" in report:
        lines.append(f"agreement with ONNX Runtime FP32 on {report['persons']} held-out persons "
                     f"({report['confident_share']:.0%} of keypoints confident); per part: "
                     f"share of persons at OKS >= {', '.join(f'{t:g}' for t in OKS_LEVELS)}; "
                     "mean px")
    for name, v in report["variants"].items():
        lines.append(f"{name:<30} {v['ms']:7.1f} ms  {v['vs_openvino_fp32']:.2f}x OV FP32")
        a = v.get("agreement")
        if a:
            lines.append(f"    confident keypoints within 1 px: "
                         f"{a['confident keypoints within 1 px']:.2%}")
            for part in PARTS:
                shares = " ".join(f"{s:7.1%}" for s in a[part]["share_at"].values())
                lines.append(f"    {part:<11} {shares}   {a[part]['mean_px']:6.2f} px  "
                             f"mean OKS {a[part]['mean_oks']:.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
