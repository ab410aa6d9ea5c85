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
needs TensorRT 10."""

EPILOG = """\
examples:
  dwpose build --onnx dw-ll_ucoco_384.onnx --output dw-l.engine --max-batch 8
  dwpose build --onnx yolox_l.onnx --output yolox_l.engine --timing-cache trt.cache
  dwpose build --onnx yolox_l.onnx --output yolox_l.int8.engine --int8 --calib-images frames/"""


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
                   help="INT8 pose model: detector ONNX that finds the persons to crop "
                        "(default: each whole frame is one person box)")
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
    if args.precision == "int8":
        calib_cache = calib_cache or args.output.with_suffix(".calib")
        if args.det is not None:
            from calibration.batcher import detector_boxes

            find_boxes = detector_boxes(args.det, args.det_size, args.det_norm)
    meta = build_engine(args.onnx, args.output, args.precision, args.max_batch, args.opt_batch,
                        args.workspace, args.timing_cache, args.calib_images, calib_cache,
                        args.calib_batch, args.calib_max_images, find_boxes,
                        verbose=args.verbose, det_size=args.det_size, det_norm=args.det_norm)
    w, h = meta.input_size
    print(f"{args.output}: {meta.precision.upper()} {meta.kind} engine, input {w}x{h}, "
          f"batch up to {meta.max_batch}, TensorRT {meta.tensorrt}, {meta.gpu.describe()}")
    return 0
