"""``dwpose build``: build a TensorRT engine (FP16, FP32 or INT8) from a detector or pose ONNX."""
from __future__ import annotations

import argparse
from pathlib import Path

from engines.errors import UserError
from engines.paths import same_file

from .common import add_detector_file_args, positive_int

DESCRIPTION = """\
Build a TensorRT engine for this GPU from a detector (raw YOLOX or mmdeploy end2end) or a
DWPose/RTMPose/RTMW ONNX model.
The engine file starts with a small JSON header (model kind, input size, normalisation,
precision, TensorRT version, GPU, source ONNX + sha256); an engine built by another TensorRT
or for another GPU is rebuilt from that ONNX when it is loaded. Needs an NVIDIA GPU and
TensorRT 10 or 11 with cuda-python (or pycuda): pip install -e .[trt]
TensorRT 11 builds FP16 from an FP16 copy of the ONNX (strong typing); INT8 calibration
needs TensorRT 10.
A pose engine at FP16 or INT8 then goes through the precision gate: on frames of
--check-images (for INT8, by default frames of --calib-images the calibration did not read)
it is compared with the FP32 ONNX model on ONNX Runtime, per part (body, foot, face, left and
right hand): the mean pixel error and the share of persons whose OKS against FP32 reaches the
threshold. The table is printed and the verdict stored beside the engine (<engine>.gate.json);
a failed gate keeps the engine and exits with status 1 (docs/quantization.md)."""

EPILOG = """\
examples:
  dwpose build --onnx dw-ll_ucoco_384.onnx --output dw-l.engine --max-batch 8
  dwpose build --onnx yolox_l.onnx --output yolox_l.engine --timing-cache trt.cache
  dwpose build --onnx yolox_l.onnx --output yolox_l.int8.engine --int8 --calib-images frames/
  dwpose build --onnx dw-ll_ucoco_384.onnx --output dw-l.fp16.engine --check-images clip.mp4 \\
      --det yolox_l.onnx"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``build`` subcommand."""
    p = subparsers.add_parser("build", help="build a TensorRT engine from an ONNX model",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", type=Path, required=True, metavar="M.onnx",
                   help="detector (raw YOLOX or end2end) or SimCC pose model")
    p.add_argument("--output", type=Path, required=True, metavar="M.engine",
                   help="engine file to write (replaced only once the build succeeds)")
    precision = p.add_mutually_exclusive_group()
    for name in ("fp16", "fp32", "int8"):
        precision.add_argument(f"--{name}", dest="precision", action="store_const", const=name,
                               help=f"{name.upper()} engine" + (" (default)" if name == "fp16"
                                                                else ""))
    p.set_defaults(precision="fp16")
    p.add_argument("--calib-images", metavar="DIR_OR_VIDEO",
                   help="INT8: images or a video to calibrate on (not needed when "
                        "--calib-cache exists)")
    p.add_argument("--calib-cache", type=Path, metavar="F",
                   help="INT8: calibration cache to read, or to write after calibrating "
                        "(default: the engine path with .calib)")
    p.add_argument("--calib-batch", type=positive_int, default=8, metavar="N",
                   help="INT8: calibration batch size (default: %(default)s)")
    p.add_argument("--calib-max-images", type=positive_int, default=512, metavar="N",
                   help="INT8: at most this many images/frames (default: %(default)s)")
    p.add_argument("--det", type=Path, metavar="D.onnx",
                   help="pose model: detector ONNX that finds the persons to crop for the "
                        "calibration and the precision gate (default: each whole frame is "
                        "one person box)")
    p.add_argument("--check-images", metavar="DIR_OR_VIDEO",
                   help="FP16/INT8 pose engine: frames for the precision gate (default for "
                        "INT8: --calib-images; without either, no gate)")
    p.add_argument("--check-frames", type=positive_int, default=16, metavar="N",
                   help="frames the precision gate compares on (default: %(default)s)")
    p.add_argument("--max-batch", type=positive_int, default=8, metavar="N",
                   help="largest batch (persons per call) of a dynamic-batch pose model "
                        "(default: %(default)s)")
    p.add_argument("--opt-batch", type=positive_int, default=4, metavar="N",
                   help="batch TensorRT tunes for (default: %(default)s, clipped to max)")
    p.add_argument("--workspace", type=positive_int, default=1024, metavar="MB",
                   help="builder workspace limit in MiB (default: %(default)s)")
    p.add_argument("--timing-cache", type=Path, metavar="F",
                   help="TensorRT timing cache: reused when it exists, saved after the build "
                        "(makes later builds much faster)")
    p.add_argument("--verbose", action="store_true", help="TensorRT INFO messages")
    add_detector_file_args(p)
    p.set_defaults(func=run)


def check_onnx(path: Path, flag: str = "--onnx") -> None:
    if not path.is_file():
        raise UserError(f"{flag} {path}: no such ONNX file")


def run(args: argparse.Namespace) -> int:
    from calibration.build import build_engine
    from engines.trt.runtime import import_cuda, import_tensorrt

    check_onnx(args.onnx)
    import_tensorrt()  # say what is missing (GPU, tensorrt, a CUDA binding) before any work
    import_cuda()
    if args.det is not None:
        check_onnx(args.det, "--det")
    if same_file(args.output, args.onnx):
        raise UserError(f"--output {args.output}: would overwrite the ONNX model")
    calib_cache = args.calib_cache
    find_boxes = None
    if args.det is not None:
        from calibration.batcher import detector_boxes

        find_boxes = detector_boxes(args.det, args.det_size, args.det_norm)
    if args.precision == "int8":
        calib_cache = calib_cache or args.output.with_suffix(".calib")
    meta = build_engine(args.onnx, args.output, args.precision, args.max_batch, args.opt_batch,
                        args.workspace, args.timing_cache, args.calib_images, calib_cache,
                        args.calib_batch, args.calib_max_images, find_boxes,
                        verbose=args.verbose, det_size=args.det_size, det_norm=args.det_norm)
    w, h = meta.input_size
    print(f"{args.output}: {meta.precision.upper()} {meta.kind} engine, input {w}x{h}, "
          f"batch up to {meta.max_batch}, TensorRT {meta.tensorrt}, {meta.gpu.describe()}")
    if meta.kind != "pose" or meta.precision == "fp32":
        return 0
    return _gate(args, meta.precision, find_boxes)


def _gate(args: argparse.Namespace, precision: str, find_boxes) -> int:
    """The precision gate on the new engine: 0 when it passed, 1 when it failed (the engine
    is kept either way, its verdict stored beside it)."""
    from calibration.build import gate_frames
    from engines.precision_gate import run_gate, save_verdict, verdict_path

    images = args.check_images or (args.calib_images if precision == "int8" else None)
    if images is None:
        print("no precision gate: --check-images FRAMES compares the engine with FP32 on them")
        return 0
    frames, seen = gate_frames(images, args.onnx, args.check_frames,
                               None if args.check_images else args.calib_max_images,
                               find_boxes, args.det_size, args.det_norm)
    source = f"{images} (frames the calibration read)" if seen else str(images)
    if seen:
        print(f"precision gate: every frame of {images} went into the calibration; it checks "
              "on those (--check-images gives other frames)")
    verdict = run_gate(args.onnx, args.output, "tensorrt", precision, frames.images(),
                       find_boxes, source)[0]
    save_verdict(verdict, args.output)
    print(verdict.table())
    print(f"stored the verdict in {verdict_path(args.output)}")
    return 0 if verdict.passed else 1
