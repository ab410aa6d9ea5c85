#!/usr/bin/env python
"""The product's front door.

Until the desktop GUI lands, this runs the live headless pipeline: camera 0 (or ``--input``)
through YOLOX + DWPose with tracking, writing the annotated video and keypoints to
``./dwpose_out/``. Any ``dwpose predict`` option works here.
"""
from __future__ import annotations

import sys

from app.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a in ("-i", "--input") or a.startswith("--input=") for a in args):
        args = ["--input", "0", *args]
    sys.exit(main(["predict", *args]))
