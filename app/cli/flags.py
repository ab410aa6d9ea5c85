"""Option values checked when the command line is parsed, before anything loads or runs.

``number`` builds the argparse ``type`` of every numeric option of every command: NaN, infinity
and values outside the option's range are refused in one line that names the range, e.g.
``dwpose predict: error: argument --nms-thr: expected a number in [0, 1], got 2``.
``Parser`` makes every parse error that one line (argparse adds the usage first).
"""
from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` (and, through ``add_subparsers``, every subcommand's) whose
    errors are one line pointing at ``--help``, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _bound(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def number(kind: type = float, low: float | None = None, high: float | None = None, *,
           low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: ``kind`` (int or float) within ``[low, high]`` (``low_open`` /
    ``high_open`` exclude the bound; None: unbounded), always finite."""
    noun = "an integer" if kind is int else "a number"
    if low is not None and high is not None:
        expected = (f"{noun} in {'(' if low_open else '['}{_bound(low)}, {_bound(high)}"
                    f"{')' if high_open else ']'}")
    elif low is not None:
        expected = f"{noun} {'>' if low_open else '>='} {_bound(low)}"
    elif high is not None:
        expected = f"{noun} {'<' if high_open else '<='} {_bound(high)}"
    else:
        expected = f"a finite {'integer' if kind is int else 'number'}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not math.isfinite(value) or (
                low is not None and (value <= low if low_open else value < low)) or (
                high is not None and (value >= high if high_open else value > high)):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


#: The integer options counted from 1 (frames, batches, sizes).
positive_int = number(int, 1)
#: Score and IoU thresholds.
fraction = number(float, 0.0, 1.0)
#: Intra-op threads: 0 (one per core) up to the cores this machine has.
threads = number(int, 0, os.cpu_count() or 1)


def parts(text: str) -> tuple[str, ...]:
    """``--parts``: comma-separated skeleton part names, as ``engines.skeleton.part_mask``
    takes them."""
    from engines.skeleton import part_mask

    names = tuple(p.strip() for p in text.split(",") if p.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected one or more part names, got {text!r}")
    try:
        part_mask(names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return names


_TORCH_DEVICE = re.compile(r"(cpu|mps|cuda(:\d+)?)")


def torch_device(text: str) -> str:
    """``--device`` of the PyTorch commands: cpu, cuda, cuda:N or mps (whether it exists is
    checked when PyTorch is loaded)."""
    if not _TORCH_DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected cpu, cuda, cuda:N or mps, got {text!r}")
    return text


#: Counts that may be 0 (frames of a gap).
non_negative_int = number(int, 0)
#: The smallest short side ``--pose-map-size`` takes: both rounded sides stay above 0.
MIN_SHORT_SIDE = 64


def canvas_size(text: str) -> int | tuple[int, int]:
    """``--pose-map-size``: ``WxH`` (an exact canvas, returned as ``(W, H)``) or ``N`` (the
    short side, returned as an int; ``engines.openpose.canvas_size`` rounds the sides)."""
    w, sep, h = text.lower().partition("x")
    try:
        values = [int(w), int(h)] if sep else [int(w)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WxH (e.g. 1024x768) or a short side (e.g. 1024), got {text!r}") from None
    if sep and min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected a width and a height >= 1, got {text}")
    if not sep and values[0] < MIN_SHORT_SIDE:
        raise argparse.ArgumentTypeError(
            f"expected a short side >= {MIN_SHORT_SIDE}, got {text}")
    return (values[0], values[1]) if sep else values[0]


def shard(text: str) -> tuple[int, int]:
    """``--shard I/N``: the I-th of N parts, 1 <= I <= N."""
    i, sep, n = text.partition("/")
    try:
        index, count = int(i), int(n)
    except ValueError:
        index = count = 0
    if not sep or not 1 <= index <= count:
        raise argparse.ArgumentTypeError(
            f"expected I/N with 1 <= I <= N (e.g. 2/4), got {text!r}")
    return index, count
