"""``dwpose export``: turn an RTMPose/DWPose/RTMW checkpoint (.pth) into a verified ONNX model."""
from __future__ import annotations

import argparse
from pathlib import Path

from engines.errors import UserError
from engines.files import check_output_file
from trainer.variants import ARCHS, INPUT_SIZES, model_name

from .flags import number

#: The opsets PyTorch's TorchScript exporter writes (torch.onnx._constants: ONNX_MIN_OPSET to
#: ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET); every one exports RTMPose and verifies (torch 2.13).
OPSETS = (7, 20)

DESCRIPTION = """\
Export an RTMPose / DWPose or RTMW whole-body checkpoint (mmpose or DWPose .pth, or one trained
here) to ONNX with the official I/O: input 'input' [B,3,H,W] (dynamic batch), outputs
'simcc_x' [B,133,W*2] and 'simcc_y' [B,133,H*2]. The file is self-contained (no .onnx.data),
compared with PyTorch under ONNX Runtime and checked as a pose model before it is written.
Without --checkpoint the weights are random: the file is only good for speed benchmarks.
Needs PyTorch: pip install -e .[train]"""

EPILOG = """\
examples:
  dwpose export --checkpoint dw-ll_ucoco_384.pth --arch l --input-size 384x288 --output dw-l.onnx
  dwpose export --checkpoint distill_stage1.pth --prefix student --arch l --output l.onnx
  dwpose export --arch m --output m-random.onnx     # random weights, for 'dwpose bench' only
  dwpose export --arch rtmw-l --input-size 384x288 --output rtmw-l-random.onnx"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand."""
    p = subparsers.add_parser(
        "export", help="export a checkpoint (.pth) to a verified ONNX pose model",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, metavar="CKPT",
                   help="mmpose/DWPose checkpoint (.pth); without it the weights are random "
                        "(speed benchmarks only, keypoints are meaningless)")
    p.add_argument("--arch", required=True, choices=ARCHS,
                   help="model: RTMPose/DWPose t, s, m, l or x, or RTMW rtmw-m, rtmw-l or "
                        "rtmw-x")
    p.add_argument("--input-size", default="256x192", choices=INPUT_SIZES, metavar="HxW",
                   help="network input, height x width: 256x192 or 384x288 "
                        "(default: %(default)s)")
    p.add_argument("--output", type=Path, required=True, metavar="OUT.onnx",
                   help="ONNX file to write (replaced only once the new one is verified)")
    p.add_argument("--prefix", default="auto", choices=("auto", "student", "teacher", "none"),
                   help="model to take from a DWPose distillation checkpoint; auto = "
                        "'student.' when present, else 'teacher.', else none "
                        "(default: %(default)s)")
    p.add_argument("--opset", type=number(int, *OPSETS), default=17,
                   help=f"ONNX opset, {OPSETS[0]} to {OPSETS[1]} (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401  (the trainer package needs it)
    except ImportError:
        raise UserError("exporting needs PyTorch, which is not installed: "
                        "pip install -e .[train]") from None
    from trainer.checkpoint import load_checkpoint
    from trainer.export import export_onnx
    from trainer.models import build_model

    if args.output.suffix.lower() != ".onnx":
        raise UserError(f"--output {args.output}: expected a file name ending in .onnx")
    check_output_file(args.output, "--output")
    model = build_model(args.arch, args.input_size)
    name = f"{model_name(args.arch)} {args.input_size}"
    if args.checkpoint is None:
        print(f"{name}: RANDOM weights (no --checkpoint): for speed benchmarks only, "
              "the keypoints it gives are meaningless")
    else:
        prefix = {"auto": None, "none": ""}.get(args.prefix, args.prefix)
        info = load_checkpoint(model, args.checkpoint, prefix=prefix)
        source = f" (prefix {info['prefix']!r})" if info["prefix"] else ""
        if info["backbone_from_teacher"]:
            source += ", backbone from 'teacher.'"
        print(f"{name}: loaded {info['num_keys']} tensors from {args.checkpoint}{source}")
    result = export_onnx(model, args.output, opset=args.opset)
    w, h = result["input_size"]
    bx, by = result["simcc_bins"]
    print(f"wrote {result['output']} ({result['size_bytes'] / 1e6:.1f} MB, opset "
          f"{result['opset']}): input [B,3,{h},{w}], simcc_x [B,{result['num_keypoints']},{bx}], "
          f"simcc_y [B,{result['num_keypoints']},{by}]")
    print(f"verified: ONNX Runtime vs PyTorch max abs diff {result['max_abs_diff']:.2g} "
          f"(tolerance {result['tolerance']:g}); loads as a pose model")
    return 0
