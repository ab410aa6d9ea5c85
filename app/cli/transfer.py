"""``dwpose transfer``: turn a DWPose distillation checkpoint into a plain pose checkpoint."""
from __future__ import annotations

import argparse
from pathlib import Path

from engines.errors import UserError
from trainer.variants import model_name

DESCRIPTION = """\
Turn a two-stage distillation checkpoint (DWPose's, or one trained here) into a plain
RTMPose / DWPose whole-body checkpoint, as DWPose's pth_transfer.py does:
  stage 1 keeps the student (the teacher and the feature-loss align conv are dropped);
  stage 2 keeps the teacher's backbone and the student's head.
The stage is detected unless --stage is given. The result ({'state_dict': ...}) is checked to
load strictly into the RTMPose variant it reports, then written atomically; use it with
'dwpose export', or as the stage-2 teacher. Needs PyTorch: pip install -e .[train]"""

EPILOG = """\
examples:
  dwpose transfer --checkpoint work_dirs/s1_x_dis_l/latest.pth --output dw-x-l.pth
  dwpose transfer --checkpoint work_dirs/s2_l-ll/latest.pth --output dw-ll.pth --stage 2"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``transfer`` subcommand."""
    p = subparsers.add_parser(
        "transfer", help="distillation checkpoint -> plain pose checkpoint (.pth)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, metavar="DISTILLER.pth",
                   help="stage-1 or stage-2 distiller checkpoint (teacher.* / student.* keys)")
    p.add_argument("--output", type=Path, required=True, metavar="POSE.pth",
                   help="pose checkpoint to write (replaced only once the new one is complete)")
    p.add_argument("--stage", type=int, choices=(1, 2), default=None,
                   help="distillation stage of the checkpoint (default: detect it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401  (the trainer package needs it)
    except ImportError:
        raise UserError("transferring needs PyTorch, which is not installed: "
                        "pip install -e .[train]") from None
    from trainer.transfer import transfer_checkpoint

    if args.output.suffix.lower() not in (".pth", ".pt"):
        raise UserError(f"--output {args.output}: expected a file name ending in .pth")
    result = transfer_checkpoint(args.checkpoint, args.output, stage=args.stage)
    part = ("student" if result["stage"] == 1
            else "teacher backbone + student head")
    print(f"{args.checkpoint}: distillation stage {result['stage']} ({result['reason']}); "
          f"kept the {part}")
    print(f"wrote {result['output']}: {model_name(result['arch'])} {result['input_size']}, "
          f"{result['num_keys']} tensors ({result['dropped']} dropped); loads strictly into "
          f"build_model({result['arch']!r}, {result['input_size']!r})")
    return 0
