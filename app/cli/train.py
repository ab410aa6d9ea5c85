"""``dwpose train``: train an RTMPose / DWPose whole-body model with the RTMPose recipe.

The data, recipe and run options, their checks, and the loop around ``trainer.engine.Trainer``
(resume, summary) are shared with ``dwpose distill``: ``add_training_args``,
``prepare_training`` and ``run_trainer``.
"""
from __future__ import annotations

import argparse
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.errors import ModelError, UserError
from trainer.variants import ARCHS, INPUT_SIZES, model_name

from .flags import number, positive_int, torch_device

#: Per-variant recipe (mmpose's rtmpose-{t..x} whole-body configs): all variants share
#: AdamW 4e-3 / wd 0.05 / 270 epochs; the per-GPU batch is 64 at 256x192 and 32 at 384x288.
PRESETS: dict[str, dict[str, float | int]] = {
    "256x192": {"epochs": 270, "batch_size": 64, "lr": 4e-3, "weight_decay": 0.05},
    "384x288": {"epochs": 270, "batch_size": 32, "lr": 4e-3, "weight_decay": 0.05},
}
#: RTMPose's share of epochs on the lighter final pipeline: 30 of 270.
FINAL_EPOCHS_SHARE = 30 / 270

DESCRIPTION = """\
Train an RTMPose / DWPose whole-body model (133 keypoints) on COCO-WholeBody-format data with
the RTMPose recipe: AdamW (lr 4e-3, weight decay 0.05 except norms and biases), 1000-iteration
linear warm-up, cosine from half-way to lr*0.05, EMA (momentum 0.0002), the lighter augmentation
pipeline for the last 30 of 270 epochs, AMP on CUDA. Writes latest.pth (every epoch), best.pth
(best validation AP), log.csv and val.csv (and TensorBoard events when tensorboard is installed)
to --work-dir; resume a stopped run with --resume. Checkpoints hold the EMA weights under
'state_dict': 'dwpose export --checkpoint WORK/best.pth' turns them into ONNX.
RTMW (--arch rtmw-m/l/x: CSPNeXt + CSPNeXtPAFPN neck + RTMWHead) takes the same recipe;
mmpose's RTMW configs (14 datasets, 8 GPUs x 1024 or 320 crops) use lr 5e-4: pass --lr to match.
Multi-GPU: torchrun --nproc-per-node 8 -m app.cli train ... (--batch-size is per GPU).
Needs PyTorch: pip install -e .[train]"""

EPILOG = """\
examples:
  dwpose train --arch t --synthetic 64 --epochs 5 --batch-size 8 --work-dir work/demo
  dwpose train --arch m --train-ann coco_wholebody_train_v1.0.json --train-img train2017 \\
      --val-ann coco_wholebody_val_v1.0.json --val-img val2017 --work-dir work/m
  dwpose train --arch l --input-size 384x288 --train-ann coco.json --train-img coco/ \\
      --train-ann ubody.json --train-img ubody/ --ratio 0.7 --ratio 0.3 --work-dir work/l
  dwpose train --arch l --data coco+ubody --train-ann coco.json --train-img coco/ \\
      --ubody-root UBody/ --work-dir work/l        # DWPose's mixture (dwpose prepare ubody)
  dwpose train ... --work-dir work/m --resume           # continue from work/m/latest.pth"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train", help="train a whole-body pose model (RTMPose recipe)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", required=True, choices=ARCHS,
                   help="model: RTMPose/DWPose t, s, m, l or x, or RTMW rtmw-m, rtmw-l or rtmw-x")
    p.add_argument("--input-size", default="256x192", choices=INPUT_SIZES, metavar="HxW",
                   help="network input, height x width (default: %(default)s)")
    add_training_args(p)
    p.set_defaults(func=run)


def add_training_args(p: argparse.ArgumentParser, epochs_help: str = "epochs (preset 270)",
                      grad_clip_help: str = "max gradient norm (default: off)") -> None:
    """The data, work-dir and recipe options of ``train`` and ``distill``."""
    data = p.add_argument_group("data")
    data.add_argument("--train-ann", type=Path, action="append", default=[], metavar="JSON",
                      help="COCO-WholeBody-format annotations; repeat (with --train-img and "
                           "--ratio) to mix datasets")
    data.add_argument("--train-img", type=Path, action="append", default=[], metavar="DIR",
                      help="image folder of the matching --train-ann")
    data.add_argument("--ratio", type=number(float, 0), action="append", default=[],
                      help="sampling ratio of each --train-ann when mixing (default: equal)")
    data.add_argument("--val-ann", type=Path, metavar="JSON", help="validation annotations")
    data.add_argument("--val-img", type=Path, metavar="DIR", help="validation image folder")
    data.add_argument("--synthetic", type=positive_int, metavar="N",
                      help="offline demo: generate N synthetic images into WORK/synthetic and "
                           "train (and, without --val-ann, validate) on them")
    data.add_argument("--data", choices=("coco+ubody",),
                      help="coco+ubody: DWPose's mixture, the --train-ann/--train-img (or "
                           "--synthetic) set plus the UBody training videos of --ubody-root, "
                           "as prepared by 'dwpose prepare ubody'")
    data.add_argument("--ubody-root", type=Path, metavar="DIR",
                      help="the prepared UBody folder (with --data coco+ubody)")
    data.add_argument("--ubody-ratio", type=float, metavar="R",
                      help="UBody's share of each epoch, 0 < R < 1 (default: its share of all "
                           "samples, as DWPose concatenates the datasets)")
    data.add_argument("--ubody-interval", type=int, metavar="N",
                      help="use the UBody files prepared with --interval N (default: 10)")
    p.add_argument("--work-dir", type=Path, required=True, metavar="DIR",
                   help="checkpoints and logs go here")
    run_opts = p.add_argument_group("recipe (defaults: the input size's preset)")
    run_opts.add_argument("--epochs", type=positive_int, help=epochs_help)
    run_opts.add_argument("--batch-size", type=positive_int,
                          help="batch per process (64, 32 at 384x288)")
    run_opts.add_argument("--lr", type=number(float, 0, low_open=True),
                          help="peak learning rate (4e-3)")
    run_opts.add_argument("--weight-decay", type=number(float, 0),
                          help="AdamW weight decay (0.05)")
    run_opts.add_argument("--warmup-iters", type=number(int, 0), default=1000,
                          help="linear warm-up iterations (default: %(default)s)")
    run_opts.add_argument("--final-epochs", type=number(int, 0),
                          help="epochs at the end on the lighter pipeline "
                               "(default: 30/270 of --epochs)")
    run_opts.add_argument("--no-augment", action="store_true",
                          help="crop the boxes without augmentation, the whole run (small or "
                               "synthetic sets trained from scratch)")
    run_opts.add_argument("--grad-clip", type=number(float, 0), help=grad_clip_help)
    run_opts.add_argument("--no-ema", action="store_true", help="do not keep an EMA")
    run_opts.add_argument("--no-amp", action="store_true", help="fp32 on CUDA too")
    run_opts.add_argument("--val-interval", type=positive_int, default=10,
                          help="validate every N epochs and at the end (default: %(default)s)")
    run_opts.add_argument("--workers", type=number(int, 0), default=min(4, os.cpu_count() or 1),
                          help="data loader processes (default: min(4, CPU cores) = "
                               "%(default)s)")
    run_opts.add_argument("--seed", type=number(int, 0, 2**32 - 1), default=21,
                          help="random seed (default: 21)")
    run_opts.add_argument("--device", type=torch_device,
                          help="cpu, cuda, cuda:1 (default: cuda when available)")
    run_opts.add_argument("--resume", nargs="?", const="auto", metavar="CKPT",
                          help="continue a stopped run from CKPT (default: WORK/latest.pth)")
    run_opts.add_argument("--no-progress", action="store_true", help="no progress bars")


def require_torch(task: str) -> None:
    """A one-line error instead of an ImportError when PyTorch is missing."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UserError(f"{task} needs PyTorch, which is not installed: "
                        "pip install -e .[train]") from None


def _datasets(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    if args.synthetic is not None:
        if args.train_ann or args.train_img:
            raise UserError("--synthetic replaces --train-ann/--train-img: give one or the other")
        return []
    if not args.train_ann:
        raise UserError("no training data: give --train-ann JSON --train-img DIR "
                        "(or --synthetic N for the offline demo)")
    if len(args.train_ann) != len(args.train_img):
        raise UserError(f"{len(args.train_ann)} --train-ann but {len(args.train_img)} "
                        "--train-img: give one image folder per annotation file")
    pairs = list(zip(args.train_ann, args.train_img))
    for ann, img in pairs:
        if not ann.is_file():
            raise UserError(f"--train-ann {ann}: file not found")
        if not img.is_dir():
            raise UserError(f"--train-img {img}: folder not found")
    if args.ratio and len(args.ratio) != len(pairs):
        raise UserError(f"{len(args.ratio)} --ratio for {len(pairs)} datasets: give one each")
    if args.ratio and sum(args.ratio) <= 0:
        raise UserError("--ratio values must have a positive sum")
    return pairs


def _ubody_data(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    """The UBody (annotations, images) pair that ``--data coco+ubody`` adds, or none."""
    from trainer.ubody import DEFAULT_INTERVAL, ubody_set

    if args.data is None:
        given = [flag for flag, value in (("--ubody-root", args.ubody_root),
                                          ("--ubody-ratio", args.ubody_ratio),
                                          ("--ubody-interval", args.ubody_interval))
                 if value is not None]
        if given:
            raise UserError(f"{', '.join(given)}: only with --data coco+ubody")
        return []
    if args.ubody_root is None:
        raise UserError("--data coco+ubody needs --ubody-root DIR, the prepared UBody folder")
    if args.ratio:
        raise UserError("--ratio: with --data coco+ubody, give UBody's share as --ubody-ratio")
    if args.ubody_ratio is not None and not 0 < args.ubody_ratio < 1:
        raise UserError(f"--ubody-ratio {args.ubody_ratio}: expected a share between 0 and 1")
    interval = DEFAULT_INTERVAL if args.ubody_interval is None else args.ubody_interval
    if interval < 1:
        raise UserError(f"--ubody-interval {interval}: must be >= 1")
    return [ubody_set(args.ubody_root, "train", interval)]


def _mixture_ratios(args: argparse.Namespace, members: list[Any]) -> list[float]:
    """Sampling ratios of several datasets: equal, except for ``--data coco+ubody``, where
    each member weighs its size (DWPose concatenates them) unless ``--ubody-ratio`` sets
    UBody's (the last member's) share."""
    if args.data != "coco+ubody":
        return [1.0] * len(members)
    sizes = [float(len(m)) for m in members]
    if args.ubody_ratio is None:
        return sizes
    coco = sum(sizes[:-1])
    return [(1 - args.ubody_ratio) * s / coco for s in sizes[:-1]] + [args.ubody_ratio]


def check_training_args(args: argparse.Namespace) -> None:
    """Refuse inconsistent data and recipe options before anything is loaded."""
    _datasets(args)
    _ubody_data(args)
    if (args.val_ann is None) != (args.val_img is None):
        raise UserError("give both --val-ann and --val-img (or neither)")
    check_torch_device("--device", args.device)
    if args.resume is not None and not _resume_path(args).is_file():
        raise UserError(f"--resume: {_resume_path(args)} not found")


def check_torch_device(flag: str, device: str | None) -> None:
    """Refuse a device this PyTorch cannot use, in one line (PyTorch would assert deep inside
    the first step); None lets the trainer choose."""
    if device is None or device == "cpu":
        return
    import torch

    if device == "mps":
        if not torch.backends.mps.is_available():
            raise UserError(f"{flag} mps: this PyTorch has no MPS (Apple GPU) device; use "
                            "--device cpu")
        return
    if not torch.cuda.is_available():
        raise UserError(f"{flag} {device}: this PyTorch sees no CUDA GPU "
                        "(torch.cuda.is_available() is False); use --device cpu")
    index, count = int(device.partition(":")[2] or 0), torch.cuda.device_count()
    if index >= count:
        raise UserError(f"{flag} {device}: there are {count} CUDA device(s), cuda:0 to "
                        f"cuda:{count - 1}")


def _resume_path(args: argparse.Namespace) -> Path:
    return args.work_dir / "latest.pth" if args.resume == "auto" else Path(args.resume)


@dataclass
class TrainingSetup:
    """What ``prepare_training`` built: the data, the validation and the loop's config."""

    loader: Any
    num_samples: int
    val_fn: Any
    cfg: Any
    resume: Path | None
    rank: int
    world: int
    batch_size: int


def prepare_training(args: argparse.Namespace, input_size: str, epochs: int | None = None,
                     grad_clip: float | None = None) -> TrainingSetup:
    """Data loader, validation and ``TrainConfig`` from the shared options.

    ``epochs`` / ``grad_clip`` are the command's defaults when the option is not given (the
    input size's preset epochs, no clipping). Joins the process group under ``torchrun``,
    generates ``--synthetic`` data on rank 0 and seeds torch with ``--seed``.
    """
    import torch

    from trainer.data import CocoWholeBodyDataset, MixedDataset, build_pipeline, make_loader
    from trainer.data import generate as generate_synthetic
    from trainer.engine import TrainConfig, init_distributed
    from trainer.models import parse_input_size
    from trainer.validation import make_coco_val_fn

    check_training_args(args)
    pairs = _datasets(args)
    preset = PRESETS[input_size]
    epochs = int(args.epochs or epochs or preset["epochs"])
    batch_size = int(args.batch_size or preset["batch_size"])
    final_epochs = (0 if args.no_augment else args.final_epochs if args.final_epochs is not None
                    else round(epochs * FINAL_EPOCHS_SHARE))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rank, world, _local = init_distributed()
    size = parse_input_size(input_size)
    val = (args.val_ann, args.val_img)
    if args.synthetic is not None:
        syn_dir = args.work_dir / "synthetic"
        ann = syn_dir / "synthetic_coco_wholebody.json"
        if rank == 0 and not ann.is_file():
            generate_synthetic(syn_dir, args.synthetic, seed=args.seed)
        if world > 1:
            torch.distributed.barrier()
        pairs = [(ann, syn_dir / "images")]
        if args.val_ann is None:
            val = (ann, syn_dir / "images")
            if rank == 0:
                print("validating on the synthetic training images (demo only)")

    pairs = pairs + _ubody_data(args)
    pipeline = build_pipeline(size, "plain" if args.no_augment else "main")
    members = [CocoWholeBodyDataset(a, i, pipeline, seed=args.seed) for a, i in pairs]
    if not all(len(m) for m in members):
        empty = next(a for (a, _i), m in zip(pairs, members) if not len(m))
        raise UserError(f"{empty}: no usable person annotations")
    if len(members) == 1:
        dataset = members[0]
    else:
        ratios = args.ratio or _mixture_ratios(args, members)
        dataset = MixedDataset(list(zip(members, ratios)), seed=args.seed)
        if rank == 0:
            print("mixing: " + " + ".join(
                f"{m.ann_file} ({len(m)} samples, {share:.1%})"
                for m, share in zip(members, dataset.ratios)))
    if len(dataset) < batch_size * world:
        raise UserError(f"{len(dataset)} training samples: fewer than one batch of "
                        f"{batch_size} x {world} process(es); lower --batch-size")
    torch.manual_seed(args.seed)
    loader = make_loader(dataset, batch_size, args.workers, seed=args.seed,
                         distributed=world > 1, drop_last=True)
    val_fn = None
    if val[0] is not None:
        if not Path(val[0]).is_file() or not Path(val[1]).is_dir():
            raise UserError(f"validation data not found: {val[0]}, {val[1]}")
        val_fn = make_coco_val_fn(val[0], val[1], size, batch_size=max(batch_size // 2, 1),
                                  workers=args.workers)
    cfg = TrainConfig(
        max_epochs=epochs, lr=float(args.lr or preset["lr"]),
        weight_decay=float(args.weight_decay if args.weight_decay is not None
                           else preset["weight_decay"]),
        warmup_iters=args.warmup_iters, ema=not args.no_ema,
        grad_clip=args.grad_clip if args.grad_clip is not None else grad_clip,
        amp=not args.no_amp, final_epochs=final_epochs, input_size=size,
        val_interval=args.val_interval, progress=not args.no_progress, device=args.device)
    resume = _resume_path(args) if args.resume is not None else None
    return TrainingSetup(loader=loader, num_samples=len(dataset), val_fn=val_fn, cfg=cfg,
                         resume=resume, rank=rank, world=world, batch_size=batch_size)


def run_trainer(module: Any, setup: TrainingSetup, args: argparse.Namespace, label: str,
                meta: dict[str, Any]) -> dict[str, Any]:
    """Train ``module`` (a pose model or a distiller) as ``setup`` says; returns the summary.

    Prints what runs (``label``, data, batches, device), resumes when asked, and at the end
    the best validation score and the latest checkpoint (rank 0).
    """
    from trainer.engine import Trainer

    trainer = Trainer(module, setup.loader, setup.cfg, val_fn=setup.val_fn,
                      work_dir=args.work_dir, meta=meta)
    if setup.rank == 0:
        print(f"{label}: {setup.num_samples} samples, {len(setup.loader)} iterations/epoch x "
              f"{setup.cfg.max_epochs} epochs, batch {setup.batch_size} x {setup.world}, "
              f"device {trainer.device}{', AMP' if trainer.amp else ''}")
    if setup.resume is not None:
        try:
            trainer.load_checkpoint(setup.resume)
        except ModelError as exc:  # not a checkpoint file at all (empty, truncated, foreign)
            raise UserError(f"--resume {exc}") from None
        except (ValueError, RuntimeError, KeyError, pickle.UnpicklingError) as exc:
            raise UserError(f"--resume {setup.resume}: cannot continue from it "
                            f"({str(exc).splitlines()[0][:200]})") from None
        if setup.rank == 0:
            print(f"resumed from {setup.resume}: epoch {trainer.epoch}, "
                  f"iteration {trainer.iteration}")
    summary = trainer.fit()
    trainer.close()
    if setup.rank == 0:
        best = summary["best"]
        if best["metric"] is not None:
            print(f"best {best['metric']} {best['value']:.4f} at epoch {best['epoch']}: "
                  f"{args.work_dir / 'best.pth'}")
    return summary


def run(args: argparse.Namespace) -> int:
    require_torch("training")
    from trainer.models import build_model

    setup = prepare_training(args, args.input_size)
    model = build_model(args.arch, args.input_size)
    meta = {"distill_stage": 0, "arch": args.arch, "input_size": args.input_size}
    summary = run_trainer(model, setup, args, f"{model_name(args.arch)} {args.input_size}", meta)
    if setup.rank == 0:
        print(f"latest checkpoint: {summary['latest']} "
              f"(export: dwpose export --checkpoint {summary['latest']} --arch {args.arch} "
              f"--input-size {args.input_size} --output model.onnx)")
    return 0
