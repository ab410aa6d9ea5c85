"""``python run_app.py``: the desktop app's command line, and its headless mode.

The options set this run's source, models, backend, pipeline, profile and capture folder
over the saved settings (without saving them). ``--frames N --screenshot OUT.png`` processes
N frames, saves a picture of the window and exits, so the app can be run and looked at
without anybody in front of it. PyQt5 is imported only after parsing, so ``--help`` always
works and a missing PyQt5 is one line that says what to install.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from app.cli.flags import Parser, number, positive_int
from app.console import safe_output
from app.guidance import PROFILES
from engines.backends import BACKENDS
from engines.errors import DwposeError, UserError
from engines.files import write_file
from engines.overlap import AUTO_RULE, PIPELINE_MODES

DESCRIPTION = """\
Live whole-body pose guidance: shows the camera with the skeleton (YOLOX + DWPose), tells the
person how to move until the frame is right for ControlNet-style pose conditioning, and then
captures the frame, its 133 keypoints (COCO JSON), the OpenPose JSON and the pose map.

With no option it opens camera 0 (or the source used last) with the official DWPose models
from the 'dwpose fetch' cache; a missing model opens a dialog that downloads it."""

EPILOG = """\
keys: Space capture, F full screen, M mirror view, O FPS/latency overlay, Esc leave full screen,
      F1 about and system report ('dwpose doctor')

Settings persist between runs (--settings FILE uses another file); the options above apply to
this run only. For processing without a window (files, cameras, servers) use
'dwpose predict --input 0' (see 'dwpose predict --help').

examples:
  python run_app.py
  python run_app.py --source clip.mp4 --profile upper_body --det yolox_nano
  python run_app.py --source clip.mp4 --frames 30 --screenshot app.png
      (headless: on Linux without a display it runs offscreen by itself)"""

INSTALL_HINT = ('run_app.py: the desktop app needs PyQt5: pip install -e ".[gui]" '
                "(or run headless: dwpose predict --input 0)")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="run_app.py", description=DESCRIPTION, epilog=EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("source")
    src.add_argument("--source", metavar="SRC",
                     help="camera index (0, 1, ...), video file or folder of images")
    src.add_argument("--loop", action=argparse.BooleanOptionalAction, default=None,
                     help="start a video or folder again at its end (default: on)")
    src.add_argument("--resolution", metavar="WxH",
                     help="camera resolution, e.g. 1280x720 (larger files are shrunk to fit), "
                          "or 'native'")
    src.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                     help="mirror (selfie) view (default: on)")
    models = p.add_argument_group("models")
    models.add_argument("--det", metavar="D.onnx",
                        help="person detector: release name ('dwpose fetch --list') or path "
                             "of a raw YOLOX or end2end ONNX (default: yolox_l with a GPU, "
                             "yolox_nano without)")
    models.add_argument("--det-size", type=positive_int, metavar="S",
                        help="input size of a detector file that leaves it symbolic "
                             "(default: its registry entry, else 640)")
    models.add_argument("--det-norm", choices=("yolox", "rtmdet"),
                        help="normalisation of an end2end detector: yolox = BGR 0-255, rtmdet = "
                             "BGR mean/std (default: what the file says)")
    models.add_argument("--pose", metavar="P.onnx",
                        help="DWPose model: release name or path (default: dw-ll_ucoco_384 "
                             "with a GPU, dwpose-m_256x192 without)")
    models.add_argument("--backend", choices=("auto", *sorted(BACKENDS)),
                        help="inference runtime; auto = TensorRT on an NVIDIA GPU, else "
                             "OpenVINO BF16 on a CPU with BF16, else ONNX Runtime (default: "
                             "auto)")
    models.add_argument("--pipeline", choices=PIPELINE_MODES,
                        help="serial, or overlap the detector of a frame with the pose model of "
                             f"the previous one (same keypoints); {AUTO_RULE} (default: auto)")
    guide = p.add_argument_group("guidance and capture")
    guide.add_argument("--profile", choices=list(PROFILES), help="kind of shot (default: "
                       "full_body)")
    guide.add_argument("--capture-dir", metavar="DIR",
                       help="where capture folders go (default: ~/dwpose-captures)")
    guide.add_argument("--auto-capture", action=argparse.BooleanOptionalAction, default=None,
                       help="capture by itself once the frame has been right for a moment")
    app = p.add_argument_group("app")
    app.add_argument("--settings", metavar="FILE.ini",
                     help="settings file to read and write instead of the user's")
    app.add_argument("--fullscreen", action="store_true", help="start in full screen")
    headless = p.add_argument_group("headless run")
    headless.add_argument("--frames", type=positive_int, metavar="N",
                          help="exit after N frames with keypoints (no dialogs; without a "
                               "display the offscreen platform is used)")
    headless.add_argument("--screenshot", metavar="OUT.png",
                          help="with --frames: save a picture of the window before exiting")
    headless.add_argument("--timeout", type=number(float, 0, low_open=True), default=120.0,
                          metavar="S",
                          help="with --frames: give up after S seconds, exit code 1 "
                               "(default: %(default)s)")
    return p


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields the options set for this run."""
    out: dict[str, Any] = {}
    if args.source is not None:
        if args.source.isdigit():
            out.update(source_kind="camera", camera=int(args.source))
        elif Path(args.source).is_dir():
            out.update(source_kind="images", images=args.source)
        else:
            out.update(source_kind="video", video=args.source)
    if args.resolution is not None:
        out["resolution"] = "" if args.resolution.lower() == "native" else args.resolution
    for name in ("loop", "mirror", "det", "pose", "det_size", "det_norm", "backend", "pipeline",
                 "profile", "capture_dir", "auto_capture"):
        value = getattr(args, name)
        if value is not None:
            out[name] = value
    return out


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.screenshot and not args.frames:
        parser.error("--screenshot needs --frames N")
    if args.resolution and args.resolution.lower() != "native":
        w, _, h = args.resolution.lower().partition("x")
        if not (w.isdigit() and h.isdigit()):
            parser.error(f"--resolution: expected WxH such as 1280x720, got {args.resolution}")
    if args.source and not args.source.isdigit() and not Path(args.source).exists():
        parser.error(f"--source: {args.source}: no such file, folder or camera index")


def _needs_display(headless: bool) -> str | None:
    """Choose the offscreen platform for headless runs without a display; else why we can't."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    if headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return None
    return ("run_app.py: no display ($DISPLAY is not set); run it on a desktop, or headless "
            "with --frames N --screenshot OUT.png, or use 'dwpose predict --input 0'")


def main(argv: list[str] | None = None) -> int:
    safe_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(args, parser)
    try:
        from PyQt5.QtWidgets import QApplication
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    problem = _needs_display(headless=args.frames is not None)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from PyQt5.QtCore import Qt, QTimer

    from .settings import APPLICATION, ORGANIZATION, SettingsStore
    from .window import MainWindow

    if QApplication.instance() is None:  # Qt 5 scales by the screen's DPI only when asked
        QApplication.setAttribute(Qt.AA_EnableHighDpiScaling, True)
        QApplication.setAttribute(Qt.AA_UseHighDpiPixmaps, True)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    window = MainWindow(SettingsStore(args.settings), overrides_from(args),
                        interactive=args.frames is None)
    sys.excepthook = lambda *exc: _report(window, exc)
    # Let Ctrl+C in the terminal close the window: Python handlers run between timer ticks.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    ticker = QTimer(window)
    ticker.timeout.connect(lambda: None)
    ticker.start(200)
    if args.frames is not None:
        _headless(app, window, args)
    window.show()
    if args.fullscreen:
        window.set_fullscreen(True)
    return app.exec_()


def _report(window: Any, exc_info: tuple) -> None:
    """An exception escaped a slot: log it and show it instead of aborting (PyQt5's default)."""
    logging.getLogger("app.gui").error("internal error (a bug, please report it)",
                                       exc_info=exc_info)
    window.show_error(f"Unexpected error: {exc_info[0].__name__}: {exc_info[1]}")


def _encoded(pixmap: Any, path: str) -> bytes:
    """``pixmap`` in the image format ``path``'s suffix names (PNG without one)."""
    from PyQt5.QtCore import QBuffer, QByteArray, QIODevice

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.WriteOnly)
    fmt = Path(path).suffix.lstrip(".").upper() or "PNG"
    if not pixmap.save(buffer, fmt):
        raise UserError(f"{path}: cannot encode the screenshot as {fmt}")
    return bytes(data)


def _headless(app: Any, window: Any, args: argparse.Namespace) -> None:
    """Exit after ``args.frames`` frames or the end of the source (0), a model problem (2),
    the timeout or a source that ends before its announced length (1)."""
    from PyQt5.QtCore import QTimer

    finished = False

    def finish(code: int, message: str = "") -> None:
        nonlocal finished
        if finished:
            return
        finished = True
        if message:
            print(message, file=sys.stderr)
        if args.screenshot:
            try:
                write_file(args.screenshot, _encoded(window.grab(), args.screenshot),
                           "screenshot")
            except DwposeError as exc:
                print(f"run_app.py: {exc}", file=sys.stderr)
                code = code or 1
        print(f"{window.inferred_shown} frames processed")
        window.close()
        app.exit(code)

    window.shown.connect(lambda _: window.inferred_shown >= args.frames and finish(0))
    window.model_problem.connect(lambda message: finish(2, f"run_app.py: {message}"))
    window.source_ended.connect(lambda problem: finish(
        0 if window.inferred_shown and not problem else 1,
        f"run_app.py: {problem}" if problem else
        f"run_app.py: the source ended after {window.inferred_shown} frames"))
    QTimer.singleShot(int(args.timeout * 1000), lambda: finish(
        1, f"run_app.py: timed out after {args.timeout:g} s with {window.inferred_shown} of "
           f"{args.frames} frames"))
