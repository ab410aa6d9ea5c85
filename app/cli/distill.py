"""``dwpose distill``: DWPose's two-stage pose distillation, as the upstream code runs it.

Stage 1 trains a student under a frozen teacher; stage 2 trains a fresh head on the stage-1
model's frozen backbone (``trainer.distill``). The data, recipe and run options are those of
``dwpose train`` (``app.cli.train``); the checkpoints are distiller checkpoints that ``dwpose
transfer`` turns into pose checkpoints.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from engines.errors import UserError
from trainer.variants import ARCHS, INPUT_SIZES, model_name

from .flags import number
from .train import (
    PRESETS,
    add_training_args,
    check_training_args,
    prepare_training,
    require_torch,
    run_trainer,
)

#: Stage 2 runs 1/5 of the preset epochs (270 -> 54; DWPose's stage-2 configs use 60).
STAGE2_EPOCHS_SHARE = 1 / 5
#: DWPose's distillation configs clip gradients at norm 1.
DISTILL_GRAD_CLIP = 1.0
#: Loss weights of the upstream configs (stage 1: FeaLoss alpha, KDLoss weight; stage 2: KDLoss).
ALPHA_FEA = 0.00007
LOGIT_WEIGHT = {1: 0.1, 2: 1.0}

DESCRIPTION = """\
DWPose two-stage pose distillation (upstream code, COMPAT section 6).
  --stage 1: the teacher (e.g. an RTMPose-x checkpoint) is frozen and kept in eval mode; the
    student (--arch) learns from the ground truth (KLDiscretLoss) + a feature loss on the last
    backbone stage (1x1 align conv when the widths differ, weight --alpha-fea 0.00007) + a
    logit loss (KL of the SimCC distributions, weight 0.1); both distillation terms are scaled
    by 1 - epoch / epochs.
  --stage 2: head-aware self-KD. The teacher is the stage-1 model; the student shares its
    frozen backbone and trains a freshly initialised head with the logit loss only (weight 1),
    for 1/5 of the preset epochs (54).
Gradients are clipped at norm 1. The rest is 'dwpose train' (recipe, EMA, logs, validation,
latest.pth / best.pth, --resume, torchrun); checkpoints hold teacher.* and student.* weights:
'dwpose transfer' turns them into a pose checkpoint for 'dwpose export' (or, after stage 1,
pass the distiller checkpoint itself as the stage-2 --teacher).
Needs PyTorch: pip install -e .[train]"""

EPILOG = """\
examples:
  dwpose distill --stage 1 --teacher rtmpose-x.pth --arch l --input-size 384x288 \\
      --train-ann coco.json --train-img coco/ --val-ann val.json --val-img val2017/ --work-dir s1
  dwpose distill --stage 2 --teacher s1/latest.pth --train-ann coco.json --train-img coco/ \\
      --val-ann val.json --val-img val2017/ --work-dir s2
  dwpose transfer --checkpoint s2/latest.pth --output dw-l.pth
  dwpose distill --stage 1 --teacher t.pth --arch t --synthetic 64 --epochs 2 --work-dir demo"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``distill`` subcommand."""
    p = subparsers.add_parser(
        "distill", help="two-stage pose distillation (DWPose): teacher -> student",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", type=int, required=True, choices=(1, 2),
                   help="1: teacher -> student; 2: head-aware self-KD of the stage-1 model")
    p.add_argument("--teacher", type=Path, required=True, metavar="CKPT",
                   help="stage 1: a trained pose checkpoint (e.g. RTMPose-x); stage 2: the "
                        "stage-1 result (its distiller checkpoint or 'dwpose transfer' output)")
    p.add_argument("--teacher-arch", choices=ARCHS,
                   help="the teacher's size (default: read from the checkpoint)")
    p.add_argument("--arch", choices=ARCHS,
                   help="the student's size (stage 1: required; stage 2: the teacher's)")
    p.add_argument("--input-size", choices=INPUT_SIZES, metavar="HxW",
                   help="network input, height x width (default: the teacher's)")
    losses = p.add_argument_group("distillation losses")
    losses.add_argument("--alpha-fea", type=number(float, 0),
                        help=f"stage 1 feature-loss weight (default: {ALPHA_FEA})")
    losses.add_argument("--logit-weight", type=number(float, 0),
                        help="logit-loss weight (default: 0.1 in stage 1, 1 in stage 2)")
    add_training_args(p, epochs_help="epochs (preset: 270 in stage 1, 54 in stage 2)",
                      grad_clip_help=f"max gradient norm, 0 = off (default: {DISTILL_GRAD_CLIP})")
    p.set_defaults(func=run)


def _check_stage_args(args: argparse.Namespace) -> None:
    if args.stage == 1 and args.arch is None:
        raise UserError("--stage 1 needs --arch, the student's size (t, s, m, l or x)")
    if args.stage == 2 and args.alpha_fea is not None:
        raise UserError("--alpha-fea: stage 2 has no feature loss (logit loss only)")


def run(args: argparse.Namespace) -> int:
    require_torch("distillation")
    from trainer.distill import Stage1Distiller, Stage2Distiller, load_teacher
    from trainer.models import build_model

    _check_stage_args(args)
    check_training_args(args)
    teacher, info = load_teacher(args.teacher, args.stage, arch=args.teacher_arch,
                                 input_size=args.input_size)
    input_size = info["input_size"]
    teacher_name = model_name(info["arch"])
    if info["distiller"]:
        teacher_name += f" (stage-{info['stage']} distiller: {info['reason']})"
    if args.stage == 2 and args.arch not in (None, info["arch"]):
        raise UserError(f"--arch {args.arch}: stage 2 keeps the teacher's architecture "
                        f"({info['arch']}); leave --arch out")
    logit_weight = (args.logit_weight if args.logit_weight is not None
                    else LOGIT_WEIGHT[args.stage])
    epochs = None if args.stage == 1 else max(
        1, round(PRESETS[input_size]["epochs"] * STAGE2_EPOCHS_SHARE))
    setup = prepare_training(args, input_size, epochs=epochs, grad_clip=DISTILL_GRAD_CLIP)
    if args.stage == 1:
        arch = args.arch
        module = Stage1Distiller(
            teacher, build_model(arch, input_size),
            alpha_fea=args.alpha_fea if args.alpha_fea is not None else ALPHA_FEA,
            w_logit=logit_weight, max_epochs=setup.cfg.max_epochs)
        label = (f"distill stage 1: teacher {teacher_name} -> student {model_name(arch)} "
                 f"{input_size}")
    else:
        arch = info["arch"]
        module = Stage2Distiller(teacher, w_logit=logit_weight)
        setup.cfg.sync_bn = False  # the only BatchNorms are the shared, frozen backbone's
        label = (f"distill stage 2: {model_name(arch)} {input_size}, a fresh head on the "
                 "teacher's frozen backbone")
    if setup.rank == 0:
        if args.stage == 2 and info["stage"] is None:
            print(f"note: {args.teacher} does not record how it was trained; using it as the "
                  "stage-1 model")
        print(f"teacher {args.teacher}: {teacher_name}, frozen (eval mode)")
    meta = {"distill_stage": args.stage, "arch": arch, "input_size": input_size,
            "teacher_arch": info["arch"], "teacher": str(args.teacher)}
    summary = run_trainer(module, setup, args, label, meta)
    if setup.rank == 0:
        latest = summary["latest"]
        print(f"latest checkpoint: {latest} (pose model: dwpose transfer --checkpoint {latest} "
              f"--output model.pth; then dwpose export --checkpoint model.pth --arch {arch} "
              f"--input-size {input_size} --output model.onnx)")
    return 0
