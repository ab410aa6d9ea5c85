"""``dwpose quantize``: an INT8 ONNX model for the CPU, calibrated on real frames, and its cost."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from engines.errors import UserError
from engines.files import check_output_file, write_file
from engines.paths import same_file

from .common import add_detector_file_args, positive_int

DESCRIPTION = """\
Quantize a detector (raw YOLOX or end2end) or a SimCC pose ONNX model to INT8 for ONNX
Runtime on the CPU (static quantization: uint8 activations, int8 weights per channel).
Activation ranges are calibrated on frames of your video or folder of images, with the app's
own preprocessing (the detector's letterbox, or RTMPose person crops found by --det). A part
of the frames is held out: on it, the INT8 model is compared with the FP32 one (keypoint
distance and PCK for a pose model, box IoU for a detector), and both are timed. The result
loads anywhere an .onnx does: dwpose predict --pose model.int8.onnx"""

EPILOG = """\
examples:
  dwpose quantize --onnx dwpose-m.onnx --images clip.mp4 --det yolox_nano.onnx
  dwpose quantize --onnx yolox_nano.onnx --images frames/ --output yolox_nano.int8.onnx
  dwpose quantize --onnx dwpose-l.onnx --images clip.mp4 --format qoperator --method percentile"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``quantize`` subcommand."""
    from engines.quantize import FORMATS, METHODS

    p = subparsers.add_parser("quantize", help="INT8 model for the CPU (ONNX Runtime)",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", type=Path, required=True, metavar="M.onnx",
                   help="FP32 detector or SimCC pose model")
    p.add_argument("--images", required=True, metavar="DIR_OR_VIDEO",
                   help="folder of images or a video: calibration and held-out frames")
    p.add_argument("--output", type=Path, metavar="OUT.onnx",
                   help="INT8 model to write (default: <model>.int8.onnx beside it)")
    p.add_argument("--det", type=Path, metavar="D.onnx",
                   help="pose model: detector ONNX that finds the persons to crop "
                        "(default: each whole frame is one person box)")
    p.add_argument("--format", default="qdq", choices=FORMATS,
                   help="quantized graph format (default: %(default)s, slightly faster than "
                        "qoperator on the AVX2 CPUs measured)")
    p.add_argument("--method", default="minmax", choices=METHODS,
                   help="calibration method (default: %(default)s)")
    p.add_argument("--frames", type=positive_int, default=64, metavar="N",
                   help="frames to calibrate on, picked at random (default: %(default)s)")
    p.add_argument("--holdout", type=positive_int, default=16, metavar="N",
                   help="further frames, not calibrated on, to compare INT8 with FP32 "
                        "(default: %(default)s)")
    p.add_argument("--batch", type=positive_int, default=8,
                   help="calibration batch size (default: %(default)s)")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="also write the report")
    add_detector_file_args(p)
    p.set_defaults(func=run)


def _progress(count: int) -> None:
    print(f"\rcalibrating: {count} batch(es)", end="", flush=True)


def run(args: argparse.Namespace) -> int:
    from calibration.batcher import ImageBatcher, detector_boxes
    from engines.detectors import load_detector
    from engines.models import load_model
    from engines.pose import RTMPose
    from engines.quantize import detector_agreement, pose_agreement, quantize, speed
    from engines.trt.onnx_io import inspect_onnx

    for flag, path in (("--onnx", args.onnx), ("--det", args.det)):
        if path is not None and not path.is_file():
            raise UserError(f"{flag} {path}: no such ONNX file")
    output = args.output or args.onnx.with_name(args.onnx.stem + ".int8.onnx")
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
    print(f"{args.onnx.name} ({kind}): calibrating on {len(calib.items)} frame(s), "
          f"{holdout} held out; {args.format}, {args.method}")
    quantize(args.onnx, output, calib, fmt=args.format, method=args.method, progress=_progress)
    print(f"\nwrote {output} ({output.stat().st_size / 2**20:.1f} MB, "
          f"FP32 {args.onnx.stat().st_size / 2**20:.1f} MB)")

    sample = next(iter(held.images()))
    report = {"model": str(args.onnx), "int8": str(output), "kind": kind,
              "format": args.format, "method": args.method,
              "calibration_frames": len(calib.items), "holdout_frames": holdout}
    if kind == "pose":
        ref, new = (RTMPose(load_model(path, "pose", device="cpu")[0])
                    for path in (args.onnx, output))
        boxes = find_boxes(sample)[:1] if find_boxes else [[0, 0, *sample.shape[1::-1]]]
        blob = ref.preprocess(sample, boxes).blob
        agreement = pose_agreement(ref, new, held.images(), find_boxes)
        summary = (f"{agreement.persons} person(s): mean distance {agreement.mean_px:.2f} px "
                   f"({agreement.mean_rel:.2%} of the crop), PCK@0.05 "
                   f"{agreement.pck[0.05]:.1%}, PCK@0.01 {agreement.pck[0.01]:.1%}, "
                   f"mean |score difference| {agreement.score_diff:.3f}")
    else:
        ref, new = (load_detector(path, size=args.det_size, norm=args.det_norm, device="cpu")
                    for path in (args.onnx, output))
        blob = ref.preprocess(sample)[0]
        agreement = detector_agreement(ref, new, held.images())
        summary = (f"{agreement.boxes} FP32 box(es) on {agreement.images} frame(s): "
                   f"{agreement.found:.1%} found at IoU >= 0.5, mean IoU "
                   f"{agreement.mean_iou:.3f}, mean box count difference "
                   f"{agreement.count_diff:.2f}")
    fp32_ms, int8_ms = speed(lambda: ref.infer(blob), lambda: new.infer(blob))
    report.update(agreement=asdict(agreement), fp32_ms=fp32_ms, int8_ms=int8_ms,
                  speedup=fp32_ms / int8_ms)
    print(f"INT8 vs FP32 on the held-out frames: {summary}")
    print(f"speed (one {'crop' if kind == 'pose' else 'image'}, median of 20 alternated runs): "
          f"FP32 {fp32_ms:.1f} ms, INT8 {int8_ms:.1f} ms: {fp32_ms / int8_ms:.2f}x")
    if args.json:
        write_file(args.json, json.dumps(report, indent=2), "report")
        print(f"wrote {args.json}")
    return 0
