"""``dwpose train``: train an RTMPose / DWPose whole-body model with the RTMPose recipe."""
from __future__ import annotations

import argparse
import logging
import os
import pickle
from pathlib import Path

from engines.errors import UserError

ARCHS = ("t", "s", "m", "l", "x")
INPUT_SIZES = ("256x192", "384x288")

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
Multi-GPU: torchrun --nproc-per-node 8 -m app.cli train ... (--batch-size is per GPU).
Needs PyTorch: pip install -e .[train]"""

EPILOG = """\
examples:
  dwpose train --arch t --synthetic 64 --epochs 5 --batch-size 8 --work-dir work/demo
  dwpose train --arch m --train-ann coco_wholebody_train_v1.0.json --train-img train2017 \\
      --val-ann coco_wholebody_val_v1.0.json --val-img val2017 --work-dir work/m
  dwpose train --arch l --input-size 384x288 --train-ann coco.json --train-img coco/ \\
      --train-ann ubody.json --train-img ubody/ --ratio 0.7 --ratio 0.3 --work-dir work/l
  dwpose train ... --work-dir work/m --resume           # continue from work/m/latest.pth"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train", help="train a whole-body pose model (RTMPose recipe)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", required=True, choices=ARCHS, help="model size: t, s, m, l or x")
    p.add_argument("--input-size", default="256x192", choices=INPUT_SIZES, metavar="HxW",
                   help="network input, height x width (default: %(default)s)")
    data = p.add_argument_group("data")
    data.add_argument("--train-ann", type=Path, action="append", default=[], metavar="JSON",
                      help="COCO-WholeBody-format annotations; repeat (with --train-img and "
                           "--ratio) to mix datasets")
    data.add_argument("--train-img", type=Path, action="append", default=[], metavar="DIR",
                      help="image folder of the matching --train-ann")
    data.add_argument("--ratio", type=float, action="append", default=[],
                      help="sampling ratio of each --train-ann when mixing (default: equal)")
    data.add_argument("--val-ann", type=Path, metavar="JSON", help="validation annotations")
    data.add_argument("--val-img", type=Path, metavar="DIR", help="validation image folder")
    data.add_argument("--synthetic", type=int, metavar="N",
                      help="offline demo: generate N synthetic images into WORK/synthetic and "
                           "train (and, without --val-ann, validate) on them")
    p.add_argument("--work-dir", type=Path, required=True, metavar="DIR",
                   help="checkpoints and logs go here")
    run_opts = p.add_argument_group("recipe (defaults: the variant's preset)")
    run_opts.add_argument("--epochs", type=int, help="epochs (preset 270)")
    run_opts.add_argument("--batch-size", type=int, help="batch per process (64, 32 at 384x288)")
    run_opts.add_argument("--lr", type=float, help="peak learning rate (4e-3)")
    run_opts.add_argument("--weight-decay", type=float, help="AdamW weight decay (0.05)")
    run_opts.add_argument("--warmup-iters", type=int, default=1000,
                          help="linear warm-up iterations (default: %(default)s)")
    run_opts.add_argument("--final-epochs", type=int,
                          help="epochs at the end on the lighter pipeline "
                               "(default: 30/270 of --epochs)")
    run_opts.add_argument("--grad-clip", type=float, help="max gradient norm (default: off)")
    run_opts.add_argument("--no-ema", action="store_true", help="do not keep an EMA")
    run_opts.add_argument("--no-amp", action="store_true", help="fp32 on CUDA too")
    run_opts.add_argument("--val-interval", type=int, default=10,
                          help="validate every N epochs and at the end (default: %(default)s)")
    run_opts.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                          help="data loader processes (default: min(4, CPU cores) = "
                               "%(default)s)")
    run_opts.add_argument("--seed", type=int, default=21, help="random seed (default: 21)")
    run_opts.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    run_opts.add_argument("--resume", nargs="?", const="auto", metavar="CKPT",
                          help="continue a stopped run from CKPT (default: WORK/latest.pth)")
    run_opts.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _datasets(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    if args.synthetic is not None:
        if args.synthetic < 1:
            raise UserError(f"--synthetic {args.synthetic}: needs at least 1 image")
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
    if any(r < 0 for r in args.ratio) or (args.ratio and sum(args.ratio) <= 0):
        raise UserError("--ratio values must be >= 0 with a positive sum")
    return pairs


def run(args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError:
        raise UserError("training needs PyTorch, which is not installed: "
                        "pip install -e .[train]") from None
    from trainer.data import CocoWholeBodyDataset, MixedDataset, build_pipeline, make_loader
    from trainer.data import generate as generate_synthetic
    from trainer.engine import TrainConfig, Trainer, init_distributed, make_coco_val_fn
    from trainer.models import build_model, parse_input_size

    pairs = _datasets(args)
    if (args.val_ann is None) != (args.val_img is None):
        raise UserError("give both --val-ann and --val-img (or neither)")
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size),
                        ("--val-interval", args.val_interval)):
        if value is not None and value < 1:
            raise UserError(f"{flag} {value}: must be >= 1")
    if args.workers < 0:
        raise UserError(f"--workers {args.workers}: must be >= 0")
    preset = PRESETS[args.input_size]
    epochs = int(args.epochs or preset["epochs"])
    batch_size = int(args.batch_size or preset["batch_size"])
    final_epochs = (args.final_epochs if args.final_epochs is not None
                    else round(epochs * FINAL_EPOCHS_SHARE))
    resume = None
    if args.resume is not None:
        resume = args.work_dir / "latest.pth" if args.resume == "auto" else Path(args.resume)
        if not resume.is_file():
            raise UserError(f"--resume: {resume} not found")

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rank, world, _local = init_distributed()
    size = parse_input_size(args.input_size)
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

    pipeline = build_pipeline(size, "main")
    members = [CocoWholeBodyDataset(a, i, pipeline, seed=args.seed) for a, i in pairs]
    if not all(len(m) for m in members):
        empty = next(a for (a, _i), m in zip(pairs, members) if not len(m))
        raise UserError(f"{empty}: no usable person annotations")
    if len(members) == 1:
        dataset = members[0]
    else:
        ratios = args.ratio or [1.0] * len(members)
        dataset = MixedDataset(list(zip(members, ratios)), seed=args.seed)
    if len(dataset) < batch_size * world:
        raise UserError(f"{len(dataset)} training samples: fewer than one batch of "
                        f"{batch_size} x {world} process(es); lower --batch-size")
    torch.manual_seed(args.seed)
    loader = make_loader(dataset, batch_size, args.workers, seed=args.seed,
                         distributed=world > 1, drop_last=True)
    model = build_model(args.arch, args.input_size)
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
        warmup_iters=args.warmup_iters, ema=not args.no_ema, grad_clip=args.grad_clip,
        amp=not args.no_amp, final_epochs=final_epochs, input_size=size,
        val_interval=args.val_interval, progress=not args.no_progress, device=args.device)
    trainer = Trainer(model, loader, cfg, val_fn=val_fn, work_dir=args.work_dir)
    if rank == 0:
        print(f"rtmpose-{args.arch} {args.input_size}: {len(dataset)} samples, "
              f"{len(loader)} iterations/epoch x {epochs} epochs, batch {batch_size} x {world}, "
              f"device {trainer.device}{', AMP' if trainer.amp else ''}")
    if resume is not None:
        try:
            trainer.load_checkpoint(resume)
        except (ValueError, RuntimeError, KeyError, pickle.UnpicklingError) as exc:
            raise UserError(f"--resume {resume}: cannot continue from it "
                            f"({str(exc).splitlines()[0][:200]})") from None
        if rank == 0:
            print(f"resumed from {resume}: epoch {trainer.epoch}, iteration {trainer.iteration}")
    summary = trainer.fit()
    trainer.close()
    if rank == 0:
        best = summary["best"]
        if best["metric"] is not None:
            print(f"best {best['metric']} {best['value']:.4f} at epoch {best['epoch']}: "
                  f"{args.work_dir / 'best.pth'}")
        print(f"latest checkpoint: {summary['latest']} "
              f"(export: dwpose export --checkpoint {summary['latest']} --arch {args.arch} "
              f"--input-size {args.input_size} --output model.onnx)")
    return 0
