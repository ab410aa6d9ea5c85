"""Bad input and faults, as a careful user meets them: one clear line, the right exit code,
nothing lost.

``CASES`` is the table: each row runs one ``dwpose`` command and checks its exit code (2: what
the user gave, 1: a fault at run time), that stderr holds exactly one ``error:`` line with the
message and no traceback, and what is on disk afterwards. It covers the cases that used to end
in a traceback or lose output, and the classes that already held, so they stay held. The
cases that need a real subprocess (SIGTERM and SIGINT mid-video, kill -9 mid-save), the
desktop app, or a check of their own follow the table.

Tests run as root here, and root ignores file permissions: a read-only folder is then made
read-only by failing its writes with EROFS in-process (``read_only``), as on Windows, where
``chmod`` does not stop writes; as another POSIX user it is a real ``chmod 555``. A full disk
is ``tests.platforms.FullDisk`` (``full_disk``), a file whose writes fail with ENOSPC. The
cases that need POSIX signals or devices skip elsewhere.
"""
from __future__ import annotations

import errno
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from app.cli import main
from engines import files
from tests.onnx_models import make_detector_onnx, make_pose_onnx
from tests.platforms import FullDisk

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the app's tests need no display
ROOT = Path(__file__).resolve().parents[1]
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
#: Windows ends a process with TerminateProcess: no SIGTERM handler runs, no SIGKILL exists.
POSIX_SIGNALS = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


# --------------------------------------------------------------------------------------------
# Inputs and helpers
# --------------------------------------------------------------------------------------------


def write_video(path: Path, frames: int, size: tuple[int, int] = (160, 120), fps: float = 20.0,
                fourcc: str = "mp4v") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    rng = np.random.default_rng(0)
    for i in range(frames):
        image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        image[:, : 4 + i % size[0]] = 200
        writer.write(image)
    writer.release()
    return path


def video_frames(path: Path) -> int:
    """Frames that decode (not what the header says)."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Any]:
    """Models with the official I/O (a detector that finds one person), two images, a clip, a
    40-frame video file cut in half (``cut_frames`` of them still decode), a truncated and a
    foreign model, a folder with an unreadable image and an empty folder."""
    d = tmp_path_factory.mktemp("inputs")
    images = d / "imgs"
    images.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(images / name), np.full((240, 320, 3), 90, np.uint8))
    pose = make_pose_onnx(d / "pose.onnx", (192, 256))
    truncated = d / "truncated_model.onnx"
    truncated.write_bytes(pose.read_bytes()[: pose.stat().st_size // 2])
    (d / "foreign.onnx").write_text("not a model")
    (d / "empty").mkdir()
    (d / "broken").mkdir()
    (d / "broken" / "bad.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    cv2.imwrite(str(d / "broken" / "good.png"), np.full((64, 64, 3), 90, np.uint8))
    whole = write_video(d / "whole.avi", 40, fourcc="MJPG")
    data = whole.read_bytes()
    (d / "cut.avi").write_bytes(data[: len(data) // 2])  # the header still says 40 frames
    cut_frames = video_frames(d / "cut.avi")
    assert 0 < cut_frames < 40
    return {"det": make_detector_onnx(d / "det.onnx", 416, [(100, 60, 220, 380, 0.9)]),
            "pose": pose, "imgs": images, "clip": write_video(d / "clip.mp4", 6),
            "cut": d / "cut.avi", "cut_frames": cut_frames, "truncated_model": truncated,
            "foreign": d / "foreign.onnx", "empty": d / "empty", "broken": d / "broken"}


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``dwpose ARGV`` in-process: (exit code, stdout, stderr), parse errors included."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def temps(folder: Path) -> list[Path]:
    """Temporary files left under ``folder`` (engines.files names them .<stem>.<pid>.part*)."""
    return [p for p in folder.rglob(".*") if ".part" in p.name]


def full_disk(monkeypatch, match: str) -> None:
    """Writes of the files whose name contains ``match`` hit a full disk (ENOSPC)."""
    real = files._open

    def open_full(path: Path, text: bool, append: bool = False):
        return (FullDisk(path, text, append) if match in path.name
                else real(path, text, append))

    monkeypatch.setattr(files, "_open", open_full)


def read_only(monkeypatch, folder: Path) -> None:
    """Make ``folder`` read-only: ``chmod 555``, or as root (who ignores permissions) fail
    every file made in it with EROFS, as a read-only mount does."""
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        folder.chmod(0o555)
        return
    real = files._open

    def refuse(path: Path, text: bool, append: bool = False):
        if Path(path).parent.resolve() == folder.resolve():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, text, append)

    monkeypatch.setattr(files, "_open", refuse)


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One command, formatted with ``{det} {pose} {imgs} {clip} {cut} ... {out} {tmp}``."""

    argv: str
    code: int
    message: str  # in the one error line (a warning for code 0)
    after: Callable[[dict[str, Any]], bool] = lambda p: True  # what is on disk afterwards
    setup: Callable[[dict[str, Any], pytest.MonkeyPatch], None] = lambda p, m: None
    marks: list = field(default_factory=list)


PREDICT = "predict --det {det} --pose {pose} --threads 1"
TRAIN = ("train --arch t --synthetic 2 --epochs 1 --batch-size 2 --workers 0 --no-progress "
         "--warmup-iters 1 --work-dir {out}")


def nothing_written(p: dict[str, Any]) -> bool:
    return not p["out"].exists() or not any(p["out"].iterdir())


def results(p: dict[str, Any]) -> list[dict]:
    return json.loads((p["out"] / "results.json").read_text())


def mine(p: dict[str, Any], _m=None) -> bool:
    """Set up (or, afterwards, find unchanged) a file of the user's where a folder is asked."""
    if _m is not None:
        (p["tmp"] / "file").write_text("mine")
    return (p["tmp"] / "file").read_text() == "mine"


def zero_byte_latest(p: dict[str, Any], _m) -> None:
    p["out"].mkdir()
    (p["out"] / "latest.pth").write_bytes(b"")


def pickled_objects(p: dict[str, Any], _m) -> None:
    import torch

    p["out"].mkdir()
    torch.save({"format": "dwpose-trainer/1", "x": Fraction(1, 3)}, p["out"] / "latest.pth")


def teacher(p: dict[str, Any], _m) -> None:
    import torch

    from trainer.models import build_model

    p["out"].mkdir()
    torch.save({"state_dict": build_model("t", "256x192").state_dict()}, p["tmp"] / "t.pth")
    (p["out"] / "latest.pth").write_bytes(b"")


def first_image_only(p: dict[str, Any]) -> bool:
    """The results list the first image, whose files are there; nothing of the second."""
    return ([r["file_name"] for r in results(p)] == ["a.png"] and (p["out"] / "a.png").is_file()
            and not list(p["out"].glob("b*")) and not temps(p["out"]))


def eval_files(nan_at: str) -> Callable[[dict[str, Any], pytest.MonkeyPatch], None]:
    """A ground truth and results where ``nan_at`` ("score", "keypoints", "inf") is not
    finite (Python's JSON writes NaN and Infinity, and reads them back)."""
    def setup(p: dict[str, Any], _m) -> None:
        from tests.test_evaluation import perfect_predictions, synthetic_gt

        gt = synthetic_gt(np.random.default_rng(0), n_images=2, crowded=2)
        preds = perfect_predictions(gt)
        if nan_at == "score":
            preds[0]["score"] = float("nan")
        else:
            preds[-1]["keypoints"][4] = float("nan" if nan_at == "keypoints" else "inf")
        (p["tmp"] / "gt.json").write_text(json.dumps(gt))
        (p["tmp"] / "pred.json").write_text(json.dumps(preds))
    return setup


def bad_json(p: dict[str, Any], m) -> None:
    eval_files("score")(p, m)
    (p["tmp"] / "pred.json").write_text('[{"image_id": 1,')


def _has_cuda() -> bool:
    if not HAS_TORCH:
        return False
    import torch

    return torch.cuda.is_available()


TORCH, NO_CUDA = [needs_torch], [needs_torch, pytest.mark.skipif(_has_cuda(),
                                                                 reason="this machine has CUDA")]


CASES: dict[str, Case] = {
    # 2. silent loss: every image write is checked
    "annotated image, full disk": Case(
        f"{PREDICT} -i {{imgs}} -o {{out}}", 1,
        "out/b.png: cannot write the annotated image (No space left on device)",
        first_image_only, lambda p, m: full_disk(m, "b.")),
    "pose map, full disk": Case(
        f"{PREDICT} -i {{imgs}} -o {{out}} --pose-map", 1,
        "b_pose.png: cannot write the pose map (No space left on device)",
        first_image_only, lambda p, m: full_disk(m, "b_pose")),
    "OpenPose JSON, full disk": Case(
        f"{PREDICT} -i {{imgs}} -o {{out}} --openpose-json", 1,
        "a_keypoints.json: cannot write the OpenPose keypoints (No space left on device)",
        lambda p: results(p) == [] and not temps(p["out"]),
        lambda p, m: full_disk(m, "a_keypoints")),
    # 4. output paths: checked before any model loads or frame runs
    "read-only output folder": Case(
        f"{PREDICT} -i {{imgs}} -o {{out}}", 2, "--output-dir {out}: cannot write there",
        nothing_written, lambda p, m: read_only(m, p["out"])),
    "output folder is a file": Case(
        f"{PREDICT} -i {{imgs}} -o {{tmp}}/file", 2,
        "--output-dir {tmp}/file: is a file; expected a folder", mine, mine),
    "output folder under a file": Case(
        f"{PREDICT} -i {{imgs}} -o {{tmp}}/file/sub", 2,
        "--output-dir {tmp}/file/sub: {tmp}/file is not a folder", mine, mine),
    "--output-json is a folder": Case(
        f"{PREDICT} -i {{clip}} -o {{out}} --output-json {{tmp}}", 2,
        "--output-json {tmp}: is a folder; expected a file name",
        nothing_written),
    "results, full disk (/dev/full)": Case(
        f"{PREDICT} -i {{imgs}} --output-json /dev/full --no-draw", 1,
        "/dev/full: cannot write the results (No space left on device)",
        lambda p: Path("/dev/full").is_char_device(),  # written to, never renamed over
        marks=[pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")]),
    "results, full disk": Case(
        f"{PREDICT} -i {{imgs}} -o {{out}}", 1,
        "results.json: cannot write the results (No space left on device)",
        lambda p: (not (p["out"] / "results.json").exists() and not temps(p["out"])
                   and (p["out"] / "a.png").is_file()),
        lambda p, m: full_disk(m, ".results.")),
    "input image folder as output": Case(
        f"{PREDICT} -i {{imgs}}/a.png -o {{imgs}}", 2, "annotated images would overwrite",
        lambda p: sorted(x.name for x in p["imgs"].iterdir()) == ["a.png", "b.png"]),
    # 5. training, distillation, export
    "train --resume of a 0-byte file": Case(
        f"{TRAIN} --resume", 2, "--resume {out}/latest.pth: is empty (0 bytes)",
        lambda p: (p["out"] / "latest.pth").stat().st_size == 0, zero_byte_latest, TORCH),
    "distill --resume of a 0-byte file": Case(
        "distill --stage 1 --teacher {tmp}/t.pth --arch t --synthetic 2 --epochs 1 "
        "--batch-size 2 --workers 0 --no-progress --work-dir {out} --resume", 2,
        "--resume {out}/latest.pth: is empty (0 bytes)",
        lambda p: (p["out"] / "latest.pth").stat().st_size == 0, teacher, TORCH),
    "checkpoint save, full disk": Case(
        TRAIN, 1, ".pth: cannot write the checkpoint (No space left on device)",
        lambda p: not list(p["out"].glob("*.pth")) and not temps(p["out"]),
        lambda p, m: full_disk(m, ".part.pth"), TORCH),
    "train --lr -1": Case(f"{TRAIN} --lr -1", 2, "argument --lr: expected a number > 0, got -1",
                          nothing_written),
    "train --lr nan": Case(f"{TRAIN} --lr nan", 2, "argument --lr: expected a number > 0",
                           nothing_written),
    "train --device tpu": Case(f"{TRAIN} --device tpu", 2,
                               "argument --device: expected cpu, cuda, cuda:N or mps, got 'tpu'",
                               nothing_written),
    "train --device cuda without CUDA": Case(
        f"{TRAIN} --device cuda", 2, "--device cuda: this PyTorch sees no CUDA GPU",
        nothing_written, marks=NO_CUDA),
    "NaN loss": Case(f"{TRAIN} --lr 1e30", 1, "training diverged: the loss is nan at iteration",
                     lambda p: not list(p["out"].glob("*.pth")), marks=TORCH),
    "export --opset -1": Case("export --arch t --output {out}/m.onnx --opset -1", 2,
                              "argument --opset: expected an integer in [7, 20], got -1",
                              nothing_written),
    # 6. numeric flags have ranges (checked when parsing)
    **{f"{flag} {value}": Case(f"{PREDICT} -i {{imgs}} -o {{out}} {flag} {value}", 2,
                               f"argument {flag}: expected a number in [0, 1], got {value}",
                               nothing_written)
       for flag in ("--score-thr", "--nms-thr", "--kpt-thr") for value in ("-1", "2", "nan")},
    "--threads 100000": Case(f"{PREDICT} -i {{imgs}} -o {{out}} --threads 100000", 2,
                             "argument --threads: expected an integer in [0, ", nothing_written),
    "--parts elbow": Case(f"{PREDICT} -i {{clip}} -o {{out}} --parts elbow", 2,
                          "argument --parts: unknown skeleton part 'elbow'", nothing_written),
    "eval --nms-thr 0": Case("eval --gt {tmp}/gt.json --pred {tmp}/pred.json --nms-thr 0", 2,
                             "argument --nms-thr: expected a number in (0, 1], got 0"),
    # 7. eval refuses non-finite values
    "eval: NaN score": Case("eval --gt {tmp}/gt.json --pred {tmp}/pred.json --json {out}/m.json",
                            2, "entry 0 'score': expected finite numbers, found nan",
                            nothing_written, eval_files("score")),
    "eval: NaN keypoint": Case(
        "eval --gt {tmp}/gt.json --pred {tmp}/pred.json", 2,
        "'keypoints': expected finite numbers, found nan at position 4",
        setup=eval_files("keypoints")),
    "eval: infinite keypoint": Case(
        "eval --gt {tmp}/gt.json --pred {tmp}/pred.json", 2,
        "'keypoints': expected finite numbers, found inf at position 4",
        setup=eval_files("inf")),
    # 8. a video that ends before its header says
    "video cut in half": Case(
        f"{PREDICT} -i {{cut}} -o {{out}}", 1,
        "the video ended after {cut_frames} of the 40 frames its header announces",
        lambda p: (len(results(p)) == p["cut_frames"]
                   and video_frames(p["out"] / "cut_pose.mp4") == p["cut_frames"])),
    # classes that already held
    "missing model": Case("predict --det {tmp}/nope.onnx --pose {pose} -i {imgs} -o {out}", 2,
                          "nope.onnx", nothing_written),
    "foreign model": Case("predict --det {det} --pose {foreign} -i {imgs} -o {out}", 2,
                          "foreign.onnx", nothing_written),
    "truncated model": Case("predict --det {det} --pose {truncated_model} -i {imgs} -o {out}",
                            2, "truncated_model.onnx", nothing_written),
    "unreadable image is skipped": Case(
        f"{PREDICT} -i {{broken}} -o {{out}}", 0, "warning: skipped unreadable image bad.jpg",
        lambda p: [r["file_name"] for r in results(p)] == ["good.png"]),
    "empty folder": Case(f"{PREDICT} -i {{empty}} -o {{out}}", 2, "folder has no images",
                         nothing_written),
    "pickled objects refused": Case(
        f"{TRAIN} --resume", 2, "contains pickled Python objects (fractions.Fraction); "
        "refused for safety", setup=pickled_objects, marks=TORCH),
    "bad eval JSON": Case("eval --gt {tmp}/gt.json --pred {tmp}/pred.json", 2,
                          "pred.json: not valid JSON", setup=bad_json),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=c.marks) for n, c in CASES.items()])
def test_error_table(name, inputs, tmp_path, monkeypatch, capsys):
    case = CASES[name]
    paths = {**inputs, "out": tmp_path / "out", "tmp": tmp_path}
    monkeypatch.chdir(tmp_path)  # nothing strays into the checkout
    case.setup(paths, monkeypatch)
    text = {k: str(v) for k, v in paths.items()}
    argv = [arg.format(**text) for arg in shlex.split(case.argv)]
    code, out, err = run_cli(argv, capsys)
    assert code == case.code, err
    assert "Traceback" not in err and "internal error" not in err, err
    message = case.message.format(**text).replace("/", os.sep)  # paths print natively
    if case.code:
        lines = [line for line in err.splitlines() if ": error: " in line]
        assert len(lines) == 1 and message in lines[0], err
    else:
        assert message in err
    assert case.after(paths)


# --------------------------------------------------------------------------------------------
# Signals, kills and the desktop app
# --------------------------------------------------------------------------------------------


@POSIX_SIGNALS
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_video_finishes_the_frame_and_closes_every_file(tmp_path, inputs, sig,
                                                                     code):
    """A real ``dwpose predict`` on a long video, signalled once it has written results:
    exit 128 + signal, a complete results.json and a playable video with the same frames."""
    video = write_video(tmp_path / "long.mp4", 1500)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "predict", "-i", str(video), "--det",
         str(inputs["det"]), "--pose", str(inputs["pose"]), "-o", str(out), "--threads", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = out / f".results.{proc.pid}.part.json"
    deadline = time.monotonic() + 120
    while not (partial.exists() and partial.stat().st_size > 0):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    frames = int(stdout.split(" frames in ")[0])
    assert 0 < frames < 1500 and f"stopped by {signal.Signals(sig).name}" in stdout
    entries = json.loads((out / "results.json").read_text())
    assert [e["image_id"] for e in entries] == list(range(frames))  # one person per frame
    assert video_frames(out / "long_pose.mp4") == frames
    assert not temps(out)


@POSIX_SIGNALS
def test_a_kill_during_a_checkpoint_save_keeps_the_old_one_and_the_orphan_goes(tmp_path):
    """kill -9 in the middle of ``atomic_save`` (after the data, before the rename): the old
    checkpoint is intact, and the temporary file it left is removed by the next save."""
    torch = pytest.importorskip("torch")
    from trainer.checkpoint import atomic_save

    path = tmp_path / "latest.pth"
    atomic_save({"epoch": 1}, path)
    script = ("import os, signal, torch\n"
              "from trainer.checkpoint import atomic_save\n"
              "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
              f"atomic_save({{'epoch': 2, 'w': torch.ones(1000)}}, {str(path)!r})\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=120)
    assert done.returncode == -signal.SIGKILL
    orphans = temps(tmp_path)
    assert len(orphans) == 1 and orphans[0].stat().st_size > 4000
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    atomic_save({"epoch": 3}, path)
    assert torch.load(path, weights_only=True) == {"epoch": 3}
    assert not temps(tmp_path)


def test_a_video_writer_that_loses_frames_is_an_error_not_a_video(tmp_path, inputs, capsys,
                                                                  monkeypatch):
    """OpenCV's writer never reports a failed write (a full disk): the closed file must hold
    every frame, or it is not renamed into place."""
    import app.cli.predict as predict

    real = cv2.VideoWriter

    class Lossy:
        """A writer that drops every other frame, as one writing to a full disk would."""

        def __init__(self, *args):
            self.writer, self.n = real(*args), 0

        def isOpened(self):  # noqa: N802 (OpenCV's name)
            return self.writer.isOpened()

        def write(self, image):
            self.n += 1
            if self.n % 2:
                self.writer.write(image)

        def release(self):
            self.writer.release()

    monkeypatch.setattr(predict.cv2, "VideoWriter", Lossy)
    out = tmp_path / "out"
    code, stdout, err = run_cli(["predict", "--det", str(inputs["det"]), "--pose",
                                 str(inputs["pose"]), "-i", str(inputs["clip"]), "-o", str(out)],
                                capsys)
    assert code == 1 and "Traceback" not in err
    assert "clip_pose.mp4: cannot write the annotated video (the file holds 3 of the 6 frames" \
        in err
    assert not (out / "clip_pose.mp4").exists() and not temps(out)
    assert len(json.loads((out / "results.json").read_text())) == 6
    assert "video:" not in stdout  # the summary does not claim it


def test_a_bug_prints_its_traceback_under_a_line_that_says_so(inputs, tmp_path, capsys,
                                                              monkeypatch):
    import app.cli.predict as predict

    def broken(*args):
        return 1 / 0

    monkeypatch.setattr(predict, "_process", broken)
    code, _out, err = run_cli(["predict", "--det", str(inputs["det"]), "--pose",
                               str(inputs["pose"]), "-i", str(inputs["clip"]),
                               "-o", str(tmp_path / "out")], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    at = lines.index("dwpose predict: internal error (a bug, please report it with what "
                     "follows):")
    assert lines[at + 1].startswith("Traceback") and lines[-1].startswith("ZeroDivisionError")


def test_an_os_error_nobody_expected_is_one_line_exit_1(inputs, tmp_path, capsys, monkeypatch):
    import app.cli.predict as predict

    def failing(*args):
        raise OSError(errno.EIO, "Input/output error", "/dev/sdz")

    monkeypatch.setattr(predict, "_process", failing)
    code, _out, err = run_cli(["predict", "--det", str(inputs["det"]), "--pose",
                               str(inputs["pose"]), "-i", str(inputs["clip"]),
                               "-o", str(tmp_path / "out")], capsys)
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "dwpose predict: error: /dev/sdz: Input/output error"


def run_app(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """``run_app.py`` headless, its settings and caches in ``tmp_path``."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
           "DWPOSE_HOME": str(tmp_path / "models"), "XDG_RUNTIME_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, str(ROOT / "run_app.py"), *args, "--settings",
                           str(tmp_path / "settings.ini")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_app_logs_an_expected_model_error_in_one_line(tmp_path, inputs):
    pytest.importorskip("PyQt5.QtWidgets", reason="the desktop app needs PyQt5")
    done = run_app("--source", str(inputs["clip"]), "--det", str(inputs["det"]), "--pose",
                   str(inputs["foreign"]), "--frames", "2", tmp_path=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "foreign.onnx" in done.stderr
    logged = [line for line in done.stderr.splitlines() if "models not loaded" in line]
    assert logged and all("foreign.onnx" in line for line in logged)


def test_app_says_when_a_video_ends_early(tmp_path, inputs):
    pytest.importorskip("PyQt5.QtWidgets", reason="the desktop app needs PyQt5")
    done = run_app("--source", str(inputs["cut"]), "--no-loop", "--det", str(inputs["det"]),
                   "--pose", str(inputs["pose"]), "--frames", "1000", tmp_path=tmp_path)
    assert done.returncode == 1, done.stderr
    assert (f"run_app.py: {inputs['cut']}: the video ended after {inputs['cut_frames']} of the "
            "40 frames its header announces") in done.stderr
    assert "Traceback" not in done.stderr


def test_app_logs_an_unexpected_error_as_a_bug(qtbot, caplog):
    pytest.importorskip("PyQt5.QtWidgets", reason="the desktop app needs PyQt5")
    from app.gui.workers import InferenceThread, LatestSlot, ModelSpec
    from engines.errors import ModelError

    def loader(spec: ModelSpec):
        raise ModelError("m.onnx: not an ONNX file") if spec.det == "bad" else KeyError("x")

    thread = InferenceThread(LatestSlot(), loader=loader)
    states = []
    thread.models_state.connect(lambda state, message: states.append((state, message)))
    with caplog.at_level("WARNING", logger="app.gui.workers"):
        thread._load(ModelSpec("bad", "p"))
        thread._load(ModelSpec("other", "p"))
    expected, bug = [r for r in caplog.records if "models not loaded" in r.getMessage()]
    assert expected.exc_info is None and expected.getMessage() == \
        "models not loaded: m.onnx: not an ONNX file"
    assert bug.exc_info is not None and "a bug" in bug.getMessage()
    assert ("failed", "models not loaded: m.onnx: not an ONNX file") in states


def test_pickle_of_objects_is_never_run(tmp_path, capsys):
    """The refused pickle of the table, made by hand: unpickling it would call os.system."""
    torch = pytest.importorskip("torch")

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": Evil()}, path)
    code, _out, err = run_cli(["export", "--arch", "t", "--checkpoint", str(path),
                               "--output", str(tmp_path / "m.onnx")], capsys)
    assert code == 2 and "refused for safety" in err
    assert not (tmp_path / "pwned").exists()


def test_bench_json_that_is_a_folder_is_found_before_any_work(tmp_path, capsys):
    from app.cli import main

    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "-i", str(tmp_path / "missing.mp4"), "--det", "x.onnx", "--pose",
              "y.onnx", "--warmup", "-1"])
    assert exit_.value.code == 2 and "--warmup" in capsys.readouterr().err
    code = main(["bench", "-i", str(tmp_path / "missing.mp4"), "--det", "x.onnx", "--pose",
                 "y.onnx", "--json", str(folder)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--json" in err[0] and str(folder) in err[0]
