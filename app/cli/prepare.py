"""``dwpose prepare``: turn a dataset download into what ``train`` and ``eval`` read.

``dwpose prepare ubody ROOT`` prepares UBody as DWPose trains on it (``trainer.ubody``).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from trainer.ubody import DEFAULT_INTERVAL, DEFAULT_SPLIT, SCENES, prepare, sampled_file

DESCRIPTION = """\
Prepare a dataset download for 'dwpose train' and 'dwpose eval'.
  ubody ROOT   UBody (videos/<scene>/*.mp4 + annotations/<scene>/keypoint_annotation.json +
               splits/intra_scene_test_list.npy), as DWPose trains on it"""

UBODY_DESCRIPTION = f"""\
Prepare UBody at ROOT as DWPose does, without ffmpeg:
  1. adds the COCO person category to each annotations/<scene>/keypoint_annotation.json
     (atomically, once; the original is kept as keypoint_annotation.json.orig);
  2. keeps the images whose id is divisible by --interval (DWPose: 10) and splits them by
     video: the videos of --split-file are 'val' (DWPose's test set), the others 'train';
  3. decodes (OpenCV) only the frames those images name and writes them where their
     file_name says, images/<scene>/<video>/<number>.png, numbered from 1 at 30 fps as
     DWPose's ffmpeg conversion numbers them; one video per worker process, with a progress
     bar; the disk space needed is printed first;
  4. writes annotations/<scene>/{{train,val}}_every<N>.json (file names relative to
     images/<scene>) and annotations/{{train,val}}_every<N>.json (all scenes, relative to
     images/), listing only images whose frame was written.
Stopped runs resume: complete frames are skipped, and every file is written atomically.
Videos that cannot be read are listed at the end (exit code 1); the rest is still prepared.
Scenes: {', '.join(SCENES)}."""

EPILOG = """\
examples:
  dwpose prepare ubody data/UBody
  dwpose prepare ubody data/UBody --interval 10 --workers 8
  dwpose prepare ubody data/UBody --scenes Speech Fitness --no-progress
then:
  dwpose train --arch m --data coco+ubody --train-ann coco_wholebody_train_v1.0.json \\
      --train-img train2017/ --ubody-root data/UBody --work-dir runs/m-ubody
  dwpose eval --ubody data/UBody --checkpoint runs/m-ubody/best.pth"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``prepare`` subcommand and its ``ubody`` target."""
    p = sub.add_parser("prepare", help="prepare a dataset download (UBody) for train and eval",
                       description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    targets = p.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    u = targets.add_parser("ubody", help="UBody videos and annotations, as DWPose uses them",
                           description=UBODY_DESCRIPTION, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    u.add_argument("root", type=Path, metavar="ROOT",
                   help="the UBody folder (holds videos/, annotations/ and splits/)")
    u.add_argument("--interval", type=int, default=DEFAULT_INTERVAL, metavar="N",
                   help="keep the images whose id is divisible by N (default: %(default)s, "
                        "DWPose's 'an image every 10 frames'; 1 keeps all)")
    u.add_argument("--split-file", type=Path, metavar="NPY",
                   help=f"numpy list of the test videos (default: ROOT/{DEFAULT_SPLIT.as_posix()}, "
                        "DWPose's split; e.g. splits/inter_scene_test_list.npy)")
    u.add_argument("--scenes", nargs="+", metavar="SCENE",
                   help="prepare only these scenes (default: every scene folder of "
                        "ROOT/annotations)")
    u.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                   help="processes decoding videos in parallel (default: min(4, CPU cores) "
                        "= %(default)s; 1 decodes in this process)")
    u.add_argument("--no-progress", action="store_true", help="no progress bar")
    u.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engines.errors import UserError

    if args.workers < 1:
        raise UserError(f"--workers {args.workers}: must be >= 1")
    report = prepare(args.root, interval=args.interval, split_file=args.split_file,
                     scenes=args.scenes, workers=args.workers,
                     progress=not args.no_progress and sys.stderr.isatty())
    print(f"frames: {report.written} written, {report.present} already present")
    if report.categories_added:
        print(f"categories: added to {report.categories_added} annotation file(s) "
              "(originals kept as *.orig)")
    for note in report.notes:
        print(f"note: {note}")
    for split in ("train", "val"):
        print(f"{split}: {report.images.get(split, 0)} images in "
              f"{sampled_file(args.root, split, args.interval)}")
    if report.dropped:
        print(f"left out: {report.dropped} sampled image(s) whose frame could not be written")
    if report.problems:
        print(f"{len(report.problems)} problem(s); the rest is prepared (run again after "
              "fixing them):", file=sys.stderr)
        for problem in report.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0
