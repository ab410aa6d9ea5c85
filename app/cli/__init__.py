"""``dwpose``: one console command, one module per subcommand.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to the function that runs it. Every expected failure is one line on stderr,
``dwpose CMD: error: ...``: exit code 2 for what the user gave (``UserError``, and options
refused when parsing), 1 for a fault at run time (``FaultError``, an OS error such as a full
disk). Ctrl+C exits with 130 and SIGTERM with 143, both after the same clean-up. Only a bug
prints a traceback, under a line that says so (exit code 1).
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import traceback

from engines.errors import EXPECTED, one_line

from ..console import safe_output
from .flags import Parser
from .signals import EXIT_CODES, Terminated, terminate_as_interrupt

#: Subcommand modules, in the order ``dwpose --help`` lists them.
SUBCOMMANDS = ("predict", "bench", "fetch", "build", "calibrate", "prepare", "train", "transfer",
               "export", "eval", "distill", "quantize", "doctor")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="dwpose",
        description="Real-time whole-body pose (YOLOX person detector + DWPose, 133 keypoints).",
        epilog="Run 'dwpose COMMAND --help' for the options of one command.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    safe_output()
    args = build_parser().parse_args(argv)
    prog = f"dwpose {args.command}"
    try:
        with terminate_as_interrupt():
            return int(args.func(args) or 0)
    except EXPECTED as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"{prog}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return EXIT_CODES[signal.SIGTERM if terminated else signal.SIGINT]
    except Exception:
        print(f"{prog}: internal error (a bug, please report it with what follows):",
              file=sys.stderr)
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
