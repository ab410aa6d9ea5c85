"""``dwpose eval``: COCO-WholeBody AP/AR, as mmpose/xtcocotools compute it, of a results file or
of a checkpoint run over a dataset (``trainer.validation.CocoValidator``)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from engines.errors import UserError
from engines.files import check_output_file, write_file
from trainer.variants import ARCHS, INPUT_SIZES, model_name

from .flags import fraction, number, positive_int, torch_device
from .train import check_torch_device, require_torch

DESCRIPTION = """\
Score keypoint predictions against COCO-WholeBody ground truth: AP and AR per part (body, foot,
face, left hand, right hand, whole body), identical to mmpose's CocoWholeBodyMetric with
xtcocotools' COCOeval (OKS, maxDets 20, areas all/M/L). Entries with a 'bbox_score' are
rescored as mmpose does (box score x mean keypoint score above 0.2); OKS-NMS at 0.9 per image
is on by default, as in mmpose.

Two sources of predictions:
  --pred RESULTS.json   a results file, as 'dwpose predict' writes it;
  --checkpoint CKPT     a model (any checkpoint 'dwpose export' or 'dwpose transfer' reads)
                        run top-down over --images, as mmpose's test loop: on the ground-truth
                        boxes of --gt (or on the detections of --bbox-file), with mmpose's
                        SimCC flip test (--no-flip-test to skip it). Needs PyTorch."""

EPILOG = """\
examples:
  dwpose eval --gt coco_wholebody_val_v1.0.json --pred results.json --json metrics.json
  dwpose eval --checkpoint dw-m.pth --arch m --input-size 256x192 \\
      --ann coco_wholebody_val_v1.0.json --images val2017/ --output metrics.json
  dwpose eval --checkpoint s2/latest.pth --ann val.json --images val2017/ \\
      --bbox-file COCO_val2017_detections_AP_H_56_person.json --save-results results.json
  dwpose eval --ubody data/UBody --checkpoint runs/m-ubody/best.pth --json ubody.json"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="COCO-WholeBody AP/AR of a results file or a checkpoint",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gt", "--ann", dest="gt", metavar="GT.json",
                   help="COCO-WholeBody annotation file (e.g. coco_wholebody_val_v1.0.json); "
                        "required unless --ubody")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--pred", metavar="RESULTS.json",
                        help="keypoint results, as 'dwpose predict --output-json' writes them")
    source.add_argument("--checkpoint", type=Path, metavar="CKPT",
                        help="pose checkpoint (.pth) to run over --images")
    p.add_argument("--json", "--output", dest="json", metavar="OUT.json",
                   help="also write the numbers as JSON: {part: {stat: value}}")
    p.add_argument("--no-oks-nms", dest="oks_nms", action="store_false",
                   help="do not run OKS-NMS on the results first (mmpose runs it)")
    p.add_argument("--nms-thr", type=number(float, 0, 1, low_open=True), default=0.9,
                   metavar="T",
                   help="OKS-NMS threshold (mmpose: %(default)s)")
    ubody = p.add_argument_group("UBody (per scene and overall)")
    ubody.add_argument("--ubody", type=Path, metavar="ROOT",
                       help="evaluate on UBody's test videos as 'dwpose prepare ubody ROOT' "
                            "prepared them: ROOT/annotations/val_every<N>.json is the ground "
                            "truth and ROOT/images the images (instead of --gt and --images); "
                            "prints AP and AR of every part per scene and over all scenes; "
                            "--json writes {scene or 'overall': {part: {stat: value}}}")
    ubody.add_argument("--ubody-interval", type=int, metavar="N",
                       help="the files prepared with --interval N (default: 10)")
    model = p.add_argument_group("checkpoint mode")
    model.add_argument("--images", type=Path, metavar="DIR",
                       help="the image folder of --gt (required with --checkpoint)")
    model.add_argument("--arch", choices=ARCHS,
                       help="model size (default: read from the checkpoint)")
    model.add_argument("--input-size", choices=INPUT_SIZES, metavar="HxW",
                       help="network input, height x width (default: read from the checkpoint)")
    model.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=True,
                       help="average in the mirrored crop, as mmpose's RTMPose test config "
                            "(default: on)")
    model.add_argument("--bbox-file", type=Path, metavar="DETS.json",
                       help="person detections (COCO results: image_id, bbox, score) to use "
                            "instead of the ground-truth boxes")
    model.add_argument("--det-score-thr", type=fraction, default=0.0, metavar="T",
                       help="drop detections scoring below T (default: %(default)s)")
    model.add_argument("--save-results", type=Path, metavar="RESULTS.json",
                       help="also write the predictions ('--pred' evaluates them the same)")
    model.add_argument("--batch-size", type=positive_int, default=32,
                       help="crops per forward pass (default: %(default)s)")
    model.add_argument("--workers", type=number(int, 0), default=min(4, os.cpu_count() or 1),
                       help="data loader processes (default: %(default)s)")
    model.add_argument("--device", type=torch_device,
                       help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.set_defaults(func=run)


def _write_json(path: Path, data: Any, what: str) -> None:
    write_file(path, json.dumps(data, indent=2) + "\n", what)


def _checkpoint_args(args: argparse.Namespace) -> None:
    """Refuse checkpoint-mode options without --checkpoint, and incomplete checkpoint mode."""
    if args.checkpoint is None:
        given = [flag for flag, value in (
            ("--images", args.images), ("--arch", args.arch), ("--input-size", args.input_size),
            ("--bbox-file", args.bbox_file), ("--save-results", args.save_results))
            if value is not None]
        if given:
            raise UserError(f"{', '.join(given)}: only with --checkpoint")
        return
    if args.images is None:
        raise UserError("--checkpoint needs --images, the image folder of --gt")
    if not Path(args.gt).is_file():
        raise UserError(f"--gt {args.gt}: file not found")
    if not args.images.is_dir():
        raise UserError(f"--images {args.images}: folder not found")


def predict_checkpoint(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the checkpoint over the dataset (``CocoValidator.predict``); print what runs."""
    require_torch("evaluating a checkpoint")
    import torch

    from trainer.models import parse_input_size
    from trainer.transfer import load_pose_model
    from trainer.validation import CocoValidator

    check_torch_device("--device", args.device)
    model, info = load_pose_model(args.checkpoint, args.arch, args.input_size)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    validator = CocoValidator(args.gt, args.images, parse_input_size(info["input_size"]),
                              batch_size=args.batch_size, workers=args.workers,
                              flip_test=args.flip_test, bbox_file=args.bbox_file,
                              det_score_thr=args.det_score_thr)
    boxes = f"detections of {args.bbox_file}" if args.bbox_file else "ground-truth boxes"
    print(f"{args.checkpoint}: {model_name(info['arch'])} {info['input_size']}, "
          f"{len(validator.dataset)} {boxes}, flip test {'on' if args.flip_test else 'off'}, "
          f"device {device}")
    return validator.predict(model.to(device).eval(), progress=sys.stderr.isatty())


def _ubody_args(args: argparse.Namespace) -> None:
    """``--ubody ROOT``: its prepared val set becomes ``--gt`` (and ``--images``)."""
    from trainer.ubody import DEFAULT_INTERVAL, ubody_set

    if args.ubody is None:
        if args.ubody_interval is not None:
            raise UserError("--ubody-interval: only with --ubody")
        if args.gt is None:
            raise UserError("give --gt GT.json, the ground truth (or --ubody ROOT for UBody)")
        return
    if args.gt is not None or args.images is not None:
        raise UserError("--ubody replaces --gt and --images (it reads "
                        "ROOT/annotations/val_every<N>.json and ROOT/images): give one or the "
                        "other")
    interval = DEFAULT_INTERVAL if args.ubody_interval is None else args.ubody_interval
    if interval < 1:
        raise UserError(f"--ubody-interval {interval}: must be >= 1")
    gt, images = ubody_set(args.ubody, "val", interval, flag="--ubody")
    args.gt = str(gt)
    if args.checkpoint is not None:
        args.images = images


def run(args: argparse.Namespace) -> int:
    from trainer.evaluation import (
        evaluate_groups,
        evaluate_wholebody,
        format_groups_table,
        format_table,
    )
    from trainer.ubody import scene_of

    _ubody_args(args)
    _checkpoint_args(args)
    for flag, path in (("--json", args.json), ("--save-results", args.save_results)):
        if path is not None:  # before the evaluation, not after it
            check_output_file(path, flag)
    predictions: Any = args.pred
    if args.checkpoint is not None:
        predictions = predict_checkpoint(args)
        if args.save_results:
            _write_json(args.save_results, predictions, "results")
            print(f"results: {args.save_results}")
    if args.ubody is not None:
        print(f"UBody {args.gt}: per scene, then all scenes")
        metrics = evaluate_groups(args.gt, predictions, scene_of, oks_nms=args.oks_nms,
                                  nms_thr=args.nms_thr)
        print(format_groups_table(metrics, label="scene"))
    else:
        metrics = evaluate_wholebody(args.gt, predictions, oks_nms=args.oks_nms,
                                     nms_thr=args.nms_thr)
        print(format_table(metrics))
    if args.json:
        out = Path(args.json)
        _write_json(out, metrics, "metrics")
        print(f"metrics: {out}")
    return 0
