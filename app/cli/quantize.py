"""``dwpose quantize``: an INT8 model for the CPU, calibrated on real frames, checked by the
precision gate before anything uses it."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from engines.errors import UserError
from engines.files import check_output_file, write_file
from engines.paths import same_file

from .common import add_detector_file_args, positive_int
from .flags import number

DESCRIPTION = """\
Quantize a SimCC pose ONNX model (or a detector: raw YOLOX or end2end) to INT8 for the CPU,
for one runtime:
  openvino     NNCF, OpenVINO's own quantizer (a QDQ .onnx that OpenVINO runs in integer
               kernels; slow under ONNX Runtime), accuracy-aware by default: layers go back
               to float until the precision gate's worst-part OKS on calibration frames is
               within --accuracy-control of FP32's. The default when OpenVINO and NNCF are
               installed (pip install -e .[openvino]).
  onnxruntime  ONNX Runtime's static quantization (uint8 activations, int8 weights per
               channel): the file for ONNX Runtime.
Activation ranges are calibrated on frames of your video or folder of images, with the app's
own preprocessing (the detector's letterbox, or RTMPose person crops found by --det). Further
frames are held out. On them the precision gate compares a pose model with FP32: per part
(body, foot, face, left and right hand) the mean pixel error and the share of persons whose
OKS against FP32 (COCO-WholeBody sigmas) reaches the threshold. It prints the table and stores
the verdict beside the model (<model>.int8.gate.json), with this machine's CPU and runtime.
dwpose predict --precision auto runs the INT8 model only where its verdict passed (on this
CPU, with this runtime version, and faster than what it replaces); --precision int8 runs it
anyway, with a warning. A failed gate keeps the file and exits with status 1. A detector is
compared by its boxes (IoU), without a gate.
docs/quantization.md has the measurements and the thresholds."""

EPILOG = """\
examples:
  dwpose quantize --onnx dwpose-m.onnx --images clip.mp4 --det yolox_nano.onnx
  dwpose quantize --onnx dwpose-m.onnx --images clip.mp4 --det yolox_nano.onnx --plain
  dwpose quantize --onnx dwpose-m.onnx --images frames/ --runtime onnxruntime
  dwpose quantize --onnx yolox_nano.onnx --images frames/ --output yolox_nano.int8.onnx"""


#: Calibration frames NNCF's accuracy control scores each candidate on (it compiles and
#: scores one per group of quantizers: the search's time grows with them).
ACCURACY_FRAMES = 16


def default_runtime() -> str:
    """openvino where OpenVINO and NNCF are installed, else onnxruntime."""
    from engines.backends.auto import installed

    return "openvino" if installed("openvino") and installed("nncf") else "onnxruntime"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``quantize`` subcommand."""
    from engines.quantize import FORMATS, METHODS, RUNTIMES

    p = subparsers.add_parser("quantize", help="INT8 model for the CPU, checked by the "
                              "precision gate", description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", type=Path, required=True, metavar="M.onnx",
                   help="FP32 SimCC pose model or detector")
    p.add_argument("--images", required=True, metavar="DIR_OR_VIDEO",
                   help="folder of images or a video: calibration and held-out frames")
    p.add_argument("--output", type=Path, metavar="OUT.onnx",
                   help="INT8 model to write (default: <model>.int8.onnx beside it, where "
                        "--precision int8 and auto look for it)")
    p.add_argument("--det", type=Path, metavar="D.onnx",
                   help="pose model: detector ONNX that finds the persons to crop "
                        "(default: each whole frame is one person box)")
    p.add_argument("--runtime", choices=RUNTIMES,
                   help="the runtime the INT8 file is for, and its quantizer (default: "
                        "openvino with NNCF where both are installed, else onnxruntime)")
    p.add_argument("--accuracy-control", type=number(float, 0, 1, low_open=True),
                   default=0.02, metavar="DROP",
                   help="openvino, pose model: the largest drop of the mean worst-part OKS "
                        "against FP32 "
                        "(each person's lowest part) on calibration frames that NNCF's "
                        "accuracy-aware quantization accepts (default: %(default)s)")
    p.add_argument("--plain", action="store_true",
                   help="openvino: NNCF's plain quantization, without accuracy control "
                        "(always for a detector): "
                        "minutes faster to make and faster to run, but on the model measured "
                        "its hands failed the gate (docs/quantization.md)")
    p.add_argument("--format", default="qdq", choices=FORMATS,
                   help="onnxruntime: quantized graph format (default: %(default)s, slightly "
                        "faster than qoperator on the AVX2 CPUs measured)")
    p.add_argument("--method", default="minmax", choices=METHODS,
                   help="onnxruntime: calibration method (default: %(default)s)")
    p.add_argument("--frames", type=positive_int, default=64, metavar="N",
                   help="frames to calibrate on, picked at random (default: %(default)s)")
    p.add_argument("--holdout", type=positive_int, default=16, metavar="N",
                   help="further frames, not calibrated on, for the precision gate "
                        "(default: %(default)s)")
    p.add_argument("--batch", type=positive_int, default=8,
                   help="calibration batch size (default: %(default)s)")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="also write the report")
    add_detector_file_args(p)
    p.set_defaults(func=run)


def _progress(count: int) -> None:
    print(f"\rcalibrating: {count} batch(es)", end="", flush=True)


def _options(runtime: str, int8: bool) -> dict:
    """Backend options on the CPU under ``runtime``: the INT8 file's, or the FP32 model's (under
    OpenVINO at its default precision, BF16 where the CPU has it: what INT8 replaces)."""
    if runtime == "onnxruntime":
        return {"device": "cpu"}
    return {"precision": "int8"} if int8 else {}


def run(args: argparse.Namespace) -> int:
    from calibration.batcher import ImageBatcher, detector_boxes
    from engines.quantize import int8_path
    from engines.trt.onnx_io import inspect_onnx

    for flag, path in (("--onnx", args.onnx), ("--det", args.det)):
        if path is not None and not path.is_file():
            raise UserError(f"{flag} {path}: no such ONNX file")
    runtime = args.runtime or default_runtime()
    if runtime == "onnxruntime" and args.plain:
        raise UserError("--plain applies to --runtime openvino (NNCF)")
    output = args.output or int8_path(args.onnx)
    if same_file(output, args.onnx):
        raise UserError(f"--output {output}: would overwrite the FP32 model")
    check_output_file(output, "--output")
    if args.json:
        check_output_file(args.json, "--json")
    kind = inspect_onnx(args.onnx).kind
    find_boxes = (detector_boxes(args.det, args.det_size, args.det_norm)
                  if args.det and kind == "pose" else None)
    frames = ImageBatcher(args.images, args.onnx, batch_size=args.batch,
                          max_images=args.frames + args.holdout, find_boxes=find_boxes,
                          det_size=args.det_size, det_norm=args.det_norm)
    holdout = min(args.holdout, len(frames.items) // 2)
    if holdout == 0:
        raise UserError(f"--images {args.images}: need at least 2 frames (calibration and "
                        "held out)")
    calib, held = frames.split(len(frames.items) - holdout)
    how = (("NNCF for OpenVINO, " + ("plain" if args.plain else
                                     f"accuracy-aware (OKS drop <= {args.accuracy_control:g})"))
           if runtime == "openvino" else f"ONNX Runtime, {args.format}, {args.method}")
    print(f"{args.onnx.name} ({kind}): calibrating on {len(calib.items)} frame(s), "
          f"{holdout} held out; {how}")
    _quantize(args, runtime, kind, output, calib, find_boxes)
    print(f"\nwrote {output} ({output.stat().st_size / 2**20:.1f} MB, "
          f"FP32 {args.onnx.stat().st_size / 2**20:.1f} MB)")
    report = {"model": str(args.onnx), "int8": str(output), "kind": kind, "runtime": runtime,
              "accuracy_control": None if args.plain or runtime != "openvino"
              else args.accuracy_control,
              "format": args.format, "method": args.method,
              "calibration_frames": len(calib.items), "holdout_frames": holdout}
    passed = True
    if kind == "pose":
        report["gate"] = _gate(args, runtime, output, held, find_boxes)
        passed = report["gate"]["passed"]
    else:
        report.update(_detector_agreement(args, runtime, output, held))
    if args.json:
        write_file(args.json, json.dumps(report, indent=2), "report")
        print(f"wrote {args.json}")
    return 0 if passed else 1


def _quantize(args: argparse.Namespace, runtime: str, kind: str, output: Path, calib,
              find_boxes) -> None:
    """Write the INT8 file with ``runtime``'s quantizer."""
    from engines.quantize import AccuracyControl, quantize, quantize_nncf

    if runtime == "onnxruntime":
        quantize(args.onnx, output, calib, fmt=args.format, method=args.method,
                 progress=_progress)
        return
    accuracy = None
    if not args.plain and kind == "pose":
        from engines.models import load_model
        from engines.pose import RTMPose

        reference = RTMPose(load_model(args.onnx, "pose", "onnxruntime", device="cpu")[0])
        accuracy = AccuracyControl(args.accuracy_control, reference,
                                   list(calib.images())[:ACCURACY_FRAMES], find_boxes)
    quantize_nncf(args.onnx, output, calib, accuracy=accuracy, progress=_progress)


def _gate(args: argparse.Namespace, runtime: str, output: Path, held, find_boxes) -> dict:
    """The precision gate on the held-out frames, timed against what INT8 replaces; the
    verdict is printed and stored beside ``output``."""
    from engines.models import load_model
    from engines.pose import RTMPose
    from engines.precision_gate import run_gate, save_verdict, verdict_path
    from engines.quantize import speed

    verdict, ref, new = run_gate(args.onnx, output, runtime, "int8", held.images(),
                                 find_boxes, str(args.images), **_options(runtime, True))
    fp = RTMPose(load_model(args.onnx, "pose", runtime, **_options(runtime, False))[0])
    sample = next(iter(held.images()))
    boxes = find_boxes(sample)[:1] if find_boxes else [[0, 0, *sample.shape[1::-1]]]
    blob = ref.preprocess(sample, boxes).blob
    fp_ms, int8_ms = speed(lambda: fp.infer(blob), lambda: new.infer(blob))
    verdict.speed = {"reference": f"{runtime} {fp.backend.precision}", "reference_ms": fp_ms,
                     "candidate_ms": int8_ms}
    save_verdict(verdict, output)
    print(verdict.table())
    print(f"stored the verdict in {verdict_path(output)}")
    return verdict.to_dict()


def _detector_agreement(args: argparse.Namespace, runtime: str, output: Path, held) -> dict:
    """INT8 boxes against FP32 on the held-out frames, and the speed of both."""
    from engines.detectors import load_detector
    from engines.quantize import detector_agreement, speed

    ref, new = (load_detector(path, runtime, size=args.det_size, norm=args.det_norm,
                              **_options(runtime, int8))
                for path, int8 in ((args.onnx, False), (output, True)))
    agreement = detector_agreement(ref, new, held.images())
    blob = ref.preprocess(next(iter(held.images())))[0]
    fp32_ms, int8_ms = speed(lambda: ref.infer(blob), lambda: new.infer(blob))
    print(f"INT8 vs FP32 on the held-out frames: {agreement.boxes} FP32 box(es) on "
          f"{agreement.images} frame(s): {agreement.found:.1%} found at IoU >= 0.5, mean IoU "
          f"{agreement.mean_iou:.3f}, mean box count difference {agreement.count_diff:.2f}")
    print(f"speed (one image, median of 20 alternated runs): {ref.backend.precision.upper()} "
          f"{fp32_ms:.1f} ms, INT8 {int8_ms:.1f} ms: {fp32_ms / int8_ms:.2f}x")
    return {"agreement": asdict(agreement), "fp32_ms": fp32_ms, "int8_ms": int8_ms,
            "speedup": fp32_ms / int8_ms}
