"""``python run_app.py`` as a user runs it: headless frames and screenshot, help, failures."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[1]


def run_app(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``run_app.py`` headless with its settings, caches and captures in ``tmp_path``."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
           "DWPOSE_HOME": str(tmp_path / "models"), "XDG_RUNTIME_DIR": str(tmp_path)}
    private = ["--settings", str(tmp_path / "settings.ini"),
               "--capture-dir", str(tmp_path / "captures")]
    return subprocess.run([sys.executable, str(ROOT / "run_app.py"), *args, *private],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_frames_and_screenshot(tmp_path, yolox_nano, pose256):
    pytest.importorskip("PyQt5.QtWidgets", reason="the desktop app needs PyQt5")
    video = need("video/single_person_dance.mp4")
    shot = tmp_path / "out" / "window.png"
    done = run_app("--source", str(video), "--det", str(yolox_nano), "--pose", str(pose256),
                   "--profile", "upper_body", "--frames", "3", "--screenshot", str(shot),
                   tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 frames processed" in done.stdout
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] > 400 and image.shape[1] > 800
    assert image.std() > 10  # a picture, not an empty window
    assert not (tmp_path / "captures").exists()  # nothing captured without being asked


def test_overlapped_pipeline_headless(tmp_path, yolox_nano, pose256):
    pytest.importorskip("PyQt5.QtWidgets", reason="the desktop app needs PyQt5")
    video = need("video/street_multi_person.mp4")
    done = run_app("--source", str(video), "--det", str(yolox_nano), "--pose", str(pose256),
                   "--pipeline", "overlap", "--frames", "3", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 frames processed" in done.stdout


def test_missing_model_in_a_headless_run_exits_2(tmp_path):
    pytest.importorskip("PyQt5.QtWidgets", reason="the desktop app needs PyQt5")
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    done = run_app("--source", str(video), "--det", "yolox_tiny", "--frames", "2",
                   tmp_path=tmp_path)
    assert done.returncode == 2
    assert "dwpose fetch yolox_tiny" in done.stderr


def test_help_explains_and_points_to_the_headless_command(tmp_path):
    done = run_app("--help", tmp_path=tmp_path)
    assert done.returncode == 0
    for text in ("--frames", "--screenshot", "--source", "dwpose predict", "Space capture"):
        assert text in done.stdout


def test_bad_options_are_refused(tmp_path):
    done = run_app("--screenshot", "x.png", tmp_path=tmp_path)
    assert done.returncode == 2 and "--screenshot needs --frames" in done.stderr
    done = run_app("--source", str(tmp_path / "absent.mp4"), tmp_path=tmp_path)
    assert done.returncode == 2 and "no such file" in done.stderr
    done = run_app("--pipeline", "fast", tmp_path=tmp_path)
    assert done.returncode == 2 and "invalid choice: 'fast'" in done.stderr


def test_without_pyqt5_one_line_says_what_to_install(tmp_path):
    block = ("import sys, runpy; sys.modules['PyQt5'] = None; "
             f"sys.argv = ['run_app.py']; runpy.run_path({str(ROOT / 'run_app.py')!r}, "
             "run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", block], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install -e ".[gui]"' in lines[0]
