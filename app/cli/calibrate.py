"""``dwpose calibrate``: make a TensorRT INT8 calibration cache from images or a video."""
from __future__ import annotations

import argparse
from pathlib import Path

from .build import check_onnx
from .common import add_detector_file_args, positive_int

DESCRIPTION = """\
Calibrate an ONNX model for TensorRT INT8 on your own images (a folder) or frames of a video,
with the same preprocessing as the app (the letterbox and normalisation of the detector's
family, RTMPose person crops for a pose model), and write the calibration cache that
'dwpose build --int8 --calib-cache' reads. Needs an NVIDIA GPU and TensorRT 10 (TensorRT 11
has no calibrator)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` subcommand."""
    p = subparsers.add_parser("calibrate", help="make an INT8 calibration cache (TensorRT 10)",
                              description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", type=Path, required=True, metavar="M.onnx",
                   help="detector (raw YOLOX or end2end) or SimCC pose model to calibrate")
    p.add_argument("--images", required=True, metavar="DIR_OR_VIDEO",
                   help="folder of images or a video file (a few hundred varied frames)")
    p.add_argument("--cache", type=Path, required=True, metavar="OUT.cache",
                   help="calibration cache to write (replaced)")
    p.add_argument("--batch", type=positive_int, default=8,
                   help="calibration batch size; the remainder is dropped "
                        "(default: %(default)s; a static-batch model uses its own)")
    p.add_argument("--max-images", type=positive_int, default=512, metavar="N",
                   help="at most this many images/frames, picked at random (default: "
                        "%(default)s)")
    p.add_argument("--det", type=Path, metavar="D.onnx",
                   help="pose model: detector ONNX that finds the persons to crop "
                        "(default: each whole frame is one person box)")
    p.add_argument("--workspace", type=positive_int, default=1024, metavar="MB",
                   help="builder workspace limit in MiB (default: %(default)s)")
    add_detector_file_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from calibration.build import build_engine
    from engines.trt.runtime import import_cuda, import_tensorrt

    check_onnx(args.onnx)
    import_tensorrt()  # say what is missing (GPU, tensorrt, a CUDA binding) before any work
    import_cuda()
    find_boxes = None
    if args.det is not None:
        from calibration.batcher import detector_boxes

        check_onnx(args.det, "--det")
        find_boxes = detector_boxes(args.det, args.det_size, args.det_norm)
    build_engine(args.onnx, None, "int8", workspace_mb=args.workspace,
                 calib_images=args.images, calib_cache=args.cache, calib_batch=args.batch,
                 calib_max_images=args.max_images, find_boxes=find_boxes, recalibrate=True,
                 det_size=args.det_size, det_norm=args.det_norm)
    print(f"wrote calibration cache {args.cache}")
    return 0
