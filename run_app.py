#!/usr/bin/env python
"""The product's front door: the desktop app (``python run_app.py --help``).

It needs PyQt5 (``pip install -e ".[gui]"``). Without a window, ``dwpose predict`` runs the
same pipeline on files and cameras.
"""
from __future__ import annotations

import sys

from app.gui.main import main

if __name__ == "__main__":
    sys.exit(main())
