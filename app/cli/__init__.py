"""``dwpose``: one console command, one module per subcommand.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to the function that runs it. Errors about what the user gave (``UserError``) are
printed as one line and exit with code 2; nothing the user can cause ends in a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from engines.errors import UserError

#: Subcommand modules, in the order ``dwpose --help`` lists them.
SUBCOMMANDS = ("predict", "bench", "fetch", "build", "calibrate", "prepare", "train", "transfer",
               "export", "eval", "distill", "quantize")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dwpose",
        description="Real-time whole-body pose (YOLOX person detector + DWPose, 133 keypoints).",
        epilog="Run 'dwpose COMMAND --help' for the options of one command.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"dwpose {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dwpose {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
