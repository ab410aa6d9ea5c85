"""``dwpose doctor``: what this machine can run and why (``engines.doctor``)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from engines.doctor import Machine, diagnose

DESCRIPTION = """\
Show, in a few seconds, what this machine can run and why: the system, the CPU and its
features, the NVIDIA driver and GPU, ONNX Runtime (and whether its CUDA provider really
loads), OpenVINO, TensorRT and the CUDA of its wheel, PyTorch, the cameras that open, the
model cache, and what --backend auto picks. Each problem found is one line with its fix.
Exit code 0 when no problem was found, 1 otherwise."""

EPILOG = """\
examples:
  dwpose doctor
  dwpose doctor --json > doctor.json      (attach it to a bug report)
  dwpose doctor --engine models/pose.fp16.engine"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("doctor", help="what this machine can run, and why not",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON (for bug reports) instead of text")
    p.add_argument("--engine", type=Path, action="append", default=[], metavar="FILE",
                   help="also check this TensorRT engine against the installed TensorRT "
                        "(the model cache's are always checked); repeatable")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = diagnose(Machine(engines=tuple(args.engine)))
    if args.json:
        print(json.dumps(report.as_json(), indent=1))
    else:
        print(report.format())
    return 1 if report.problems else 0
