"""The desktop app's window, driven with pytest-qt on the offscreen platform.

Real runs use the dance video, the real YOLOX-Nano and a tiny pose model with the official
I/O. Everything about failures (a source that raises or vanishes, an inference exception) and
the automatic capture uses fake sources and fake pipelines, which makes it fast and exact.
Settings always live in a temporary file, never in the user's.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt5.QtWidgets", reason="the desktop app needs PyQt5 (the gui extra)")

from PyQt5.QtCore import QSettings, Qt  # noqa: E402

from app.gui.capture import FRAME, KEYPOINTS, OPENPOSE, POSE_MAP  # noqa: E402
from app.gui.settings import SettingsStore  # noqa: E402
from app.gui.window import MainWindow  # noqa: E402
from app.gui.workers import ModelSpec  # noqa: E402
from app.guidance import FULL_BODY  # noqa: E402
from engines.overlap import FrameRunner  # noqa: E402
from engines.pipeline import FrameResult  # noqa: E402
from engines.skeleton import NUM_KEYPOINTS  # noqa: E402
from engines.sources import Frame, FrameSource  # noqa: E402
from tests.conftest import need  # noqa: E402
from tests.test_guidance import SHAPE, Person, frame  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
WAIT_MS = 20000  # generous: the machine may be busy; waits end as soon as the condition holds


# --------------------------------------------------------------------------------------------
# Fakes and fixtures
# --------------------------------------------------------------------------------------------


class FakeCamera(FrameSource):
    """A live source of grey 1280x720 frames at about 30 FPS.

    ``frames``: how many before the stream ends (None: endless); ``fail``: raised after them.
    """

    kind, live, name, fps = "camera", True, "fake", 30.0

    def __init__(self, frames: int | None = None, fail: Exception | None = None) -> None:
        self.frames, self.fail = frames, fail
        self.image = np.full(SHAPE, 128, np.uint8)

    def __iter__(self):
        i = 0
        while self.frames is None or i < self.frames:
            time.sleep(1 / 30)  # the fake device's frame period
            yield Frame(i, f"fake_{i:06d}", self.image)
            i += 1
        if self.fail is not None:
            raise self.fail


def opener_of(*sources: FrameSource):
    """An opener that returns ``sources`` in turn, then endless fake cameras."""
    queue = list(sources)
    return lambda spec: queue.pop(0) if queue else FakeCamera()


class FakePipeline:
    """Stands in for ``WholeBody``: returns ``make(call number)``, raising what it returns
    when that is an exception."""

    def __init__(self, make) -> None:
        self.make, self.calls = make, 0

    def __call__(self, image: np.ndarray) -> FrameResult:
        self.calls += 1
        out = self.make(self.calls)
        if isinstance(out, Exception):
            raise out
        return out

    def reset(self) -> None:
        pass

    def describe(self) -> str:
        return "fake models"


def fake_loader(make) -> Callable[[ModelSpec], FrameRunner]:
    """A model loader that gives ``FakePipeline(make)``, run serially."""
    return lambda spec: FrameRunner(FakePipeline(make), "serial")


def ideal_person(_: int) -> FrameResult:
    """A still person framed exactly right for the full-body profile."""
    return frame(Person.place(FULL_BODY))


@pytest.fixture(autouse=True)
def private_settings(tmp_path, monkeypatch):
    """Keep every settings file and model cache of these tests in tmp_path."""
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "qsettings"))
    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, str(tmp_path / "qsettings"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DWPOSE_HOME", str(tmp_path / "models"))


@pytest.fixture
def store(tmp_path) -> SettingsStore:
    return SettingsStore(tmp_path / "settings.ini")


@pytest.fixture
def fake_models(tmp_path) -> dict[str, str]:
    """Model paths that exist (the fake pipelines never read them)."""
    paths = {}
    for name in ("det", "pose"):
        paths[name] = str(tmp_path / f"{name}.onnx")
        Path(paths[name]).touch()
    return paths


@pytest.fixture
def open_window(qtbot, store, tmp_path):
    """Make, show and register (closed at teardown) a window with fast test defaults.

    The fixture holds every window until it is closed: pytest-qt keeps only a weak reference,
    and a window whose last references form a cycle (a lambda over it) could otherwise be
    garbage-collected between the test's end and its closing, its threads still running
    (Qt aborts the process: "QThread: Destroyed while thread is still running")."""
    made: list[MainWindow] = []

    def make(overrides=None, **kwargs) -> MainWindow:
        base = {"capture_dir": str(tmp_path / "captures"), "auto_capture": False,
                "source_kind": "video", "video": "fake"}
        window = MainWindow(store, {**base, **(overrides or {})}, interactive=False, **kwargs)
        made.append(window)
        qtbot.addWidget(window)
        window.show()
        return window

    yield make
    for window in made:
        window.close()


def wait_frames(qtbot, window: MainWindow, n: int) -> None:
    start = window.inferred_shown
    qtbot.waitUntil(lambda: window.inferred_shown >= start + n, timeout=WAIT_MS)


def problems(window: MainWindow) -> str:
    return "\n".join(window.overlay_state().problems)


def check_capture(folder: Path, persons: int | None = None) -> list[dict]:
    """The four files exist, parse and agree; returns the COCO entries."""
    for name in (FRAME, KEYPOINTS, OPENPOSE, POSE_MAP):
        assert (folder / name).is_file(), name
    image = cv2.imread(str(folder / FRAME))
    pose_map = cv2.imread(str(folder / POSE_MAP))
    assert image is not None and pose_map is not None and pose_map.shape == image.shape
    entries = json.loads((folder / KEYPOINTS).read_text())
    openpose = json.loads((folder / OPENPOSE).read_text())
    assert len(openpose["people"]) == len(entries)
    assert (openpose["canvas_height"], openpose["canvas_width"]) == image.shape[:2]
    if persons is not None:
        assert len(entries) == persons
    for entry in entries:
        assert len(entry["keypoints"]) == 3 * NUM_KEYPOINTS
        assert entry["file_name"] == FRAME
    assert not list(folder.parent.glob(".*.part")), "no half-written capture is left"
    return entries


# --------------------------------------------------------------------------------------------
# The real pipeline on the real video
# --------------------------------------------------------------------------------------------


def test_video_with_real_detector_capture_and_close(qtbot, open_window, yolox_nano, pose256,
                                                     tmp_path):
    video = need("video/single_person_dance.mp4")
    window = open_window({"video": str(video), "det": str(yolox_nano), "pose": str(pose256)})
    wait_frames(qtbot, window, 3)
    shown = window.current
    assert shown is not None and shown.result is not None and len(shown.result) >= 1
    assert shown.guidance is not None and len(shown.guidance.checks) == 10
    state = window.overlay_state()
    assert state.stats and "FPS" in state.stats[0] and "det" in state.stats[-1]
    assert state.instruction  # a random pose model never frames the person right
    assert "streaming" in window.status_labels["source"].text()

    window.view.setFocus()
    with qtbot.waitSignal(window.captured, timeout=WAIT_MS) as saved:
        qtbot.keyClick(window.view, Qt.Key_Space)
    folder = Path(saved.args[0])
    assert folder.parent == tmp_path / "captures"
    entries = check_capture(folder)
    assert len(entries) >= 1
    assert "Captured" in (window.overlay_state().notice or "")

    ARTIFACTS.mkdir(exist_ok=True)
    assert window.grab().save(str(ARTIFACTS / "gui_window.png"))

    threads = [window.capture_thread, window.inference]
    window.close()
    assert all(t is not None and t.isFinished() for t in threads)


def test_overlapped_pipeline_in_the_window(qtbot, open_window, yolox_nano, pose256):
    """--pipeline overlap: keypoints come, the overlay keeps the detector and pose times and
    the status bar names the pipeline; serial again from the panel reloads the models."""
    video = need("video/single_person_dance.mp4")
    window = open_window({"video": str(video), "det": str(yolox_nano), "pose": str(pose256),
                          "pipeline": "overlap", "backend": "onnxruntime"})
    wait_frames(qtbot, window, 3)
    assert window.current.result is not None and len(window.current.result) >= 1
    stats = window.overlay_state().stats
    assert "det " in stats[-1] and "pose " in stats[-1]
    assert window.status_labels["backend"].text() == "Backend: onnxruntime (overlapped)"
    window.panel.pipeline.setCurrentIndex(window.panel.pipeline.findData("serial"))
    qtbot.waitUntil(lambda: window.status_labels["backend"].text()
                    == "Backend: onnxruntime (serial)", timeout=WAIT_MS)
    wait_frames(qtbot, window, 2)
    assert window.store.load().pipeline == "serial"  # a change in the window is saved


# --------------------------------------------------------------------------------------------
# Settings, shortcuts, guidance
# --------------------------------------------------------------------------------------------


def test_settings_change_persist_and_reload(qtbot, open_window, store, fake_models):
    loader = fake_loader(ideal_person)
    window = open_window({"det": fake_models["det"], "pose": fake_models["pose"]},
                         opener=opener_of(), loader=loader)
    wait_frames(qtbot, window, 2)
    mirror, overlay = window.settings.mirror, window.settings.stats_overlay
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key_O)
    qtbot.keyClick(window.view, Qt.Key_M)
    assert window.settings.stats_overlay is (not overlay)
    assert window.panel.mirror.isChecked() is (not mirror)
    assert bool(window.overlay_state().stats) is (not overlay)
    window.panel.profile.setCurrentIndex(window.panel.profile.findData("portrait"))
    window.panel.show_face.setChecked(False)
    qtbot.waitUntil(lambda: window.inference.guide.profile.name == "portrait", timeout=WAIT_MS)
    qtbot.keyClick(window.view, Qt.Key_F)
    assert window.fullscreen_action.isChecked() and not window.panel.isVisible()
    qtbot.keyClick(window.view, Qt.Key_Escape)
    assert not window.fullscreen_action.isChecked() and window.panel.isVisible()
    threads = [window.capture_thread, window.inference]
    window.close()
    assert all(t is not None and t.isFinished() for t in threads)  # joined, none left behind

    again = store.load()
    assert (again.stats_overlay, again.mirror) == (not overlay, not mirror)
    assert again.profile == "portrait" and not again.show_face
    assert again.det != fake_models["det"]  # this run's options were not saved...
    assert again.video == ""  # ...neither the source
    reopened = open_window({"det": fake_models["det"], "pose": fake_models["pose"]},
                           opener=opener_of(), loader=loader)
    assert reopened.panel.profile.currentData() == "portrait"
    assert reopened.panel.mirror.isChecked() is (not mirror)
    assert reopened.panel.stats_overlay.isChecked() is (not overlay)
    assert reopened.inference.guide.profile.name == "portrait"


def test_ready_person_is_captured_automatically(qtbot, open_window, fake_models, tmp_path):
    window = open_window({"det": fake_models["det"], "pose": fake_models["pose"],
                          "auto_capture": True, "profile": "full_body"},
                         opener=opener_of(), loader=fake_loader(ideal_person))
    with qtbot.waitSignal(window.captured, timeout=WAIT_MS) as saved:
        pass
    assert window.current.guidance.ready
    state = window.overlay_state()
    assert state.ready and state.instruction is None and all(c.ok for c in state.checks)
    check_capture(Path(saved.args[0]), persons=1)
    ARTIFACTS.mkdir(exist_ok=True)
    assert window.grab().save(str(ARTIFACTS / "gui_window_ready.png"))


def test_mirror_flips_the_arrow(qtbot, open_window, fake_models):
    off_centre = lambda _: frame(Person.place(FULL_BODY, cx=0.75))  # noqa: E731
    window = open_window({"det": fake_models["det"], "pose": fake_models["pose"],
                          "mirror": False},
                         opener=opener_of(), loader=fake_loader(off_centre))
    qtbot.waitUntil(lambda: window.overlay_state().direction.value == "left", timeout=WAIT_MS)
    window.panel.mirror.setChecked(True)
    assert window.overlay_state().direction.value == "right"
    assert "your right" in window.overlay_state().instruction


# --------------------------------------------------------------------------------------------
# Failures: the source, inference, the models
# --------------------------------------------------------------------------------------------


def test_source_that_raises_is_reported_and_reconnected(qtbot, open_window, fake_models):
    broken = FakeCamera(frames=5, fail=OSError("camera unplugged"))
    window = open_window({"det": fake_models["det"], "pose": fake_models["pose"]},
                         opener=opener_of(broken),
                         loader=fake_loader(ideal_person))
    qtbot.waitUntil(lambda: "unplugged" in problems(window), timeout=WAIT_MS)
    assert "reconnecting in" in problems(window)
    assert "unplugged" in window.status_labels["source"].text()
    qtbot.waitUntil(lambda: "streaming" in window.status_labels["source"].text(),
                    timeout=WAIT_MS)
    wait_frames(qtbot, window, 3)
    assert problems(window) == ""


def _write_video(path: Path, frames: int = 8) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
    for i in range(frames):
        writer.write(np.full((240, 320, 3), 40 + 20 * i, np.uint8))
    writer.release()
    return path


def test_video_that_vanishes_is_reported_and_reconnected(qtbot, open_window, fake_models,
                                                         tmp_path):
    video = _write_video(tmp_path / "clip.mp4")
    window = open_window({"video": str(video), "det": fake_models["det"],
                          "pose": fake_models["pose"], "loop": True},
                         loader=fake_loader(ideal_person))
    wait_frames(qtbot, window, 2)
    hidden = video.rename(tmp_path / "away.mp4")
    qtbot.waitUntil(lambda: "reconnecting" in problems(window), timeout=WAIT_MS)
    assert "clip.mp4" in problems(window)
    hidden.rename(video)
    qtbot.waitUntil(lambda: not problems(window), timeout=WAIT_MS)
    wait_frames(qtbot, window, 2)


def test_inference_exception_is_shown_and_the_app_goes_on(qtbot, open_window, fake_models):
    def flaky(call: int):
        return RuntimeError("boom") if call % 3 == 0 else ideal_person(call)

    window = open_window({"det": fake_models["det"], "pose": fake_models["pose"]},
                         opener=opener_of(), loader=fake_loader(flaky))
    qtbot.waitUntil(lambda: "Inference error: RuntimeError: boom" in problems(window),
                    timeout=WAIT_MS)
    wait_frames(qtbot, window, 3)  # later frames still go through
    assert window.isVisible() and window.inference.isRunning()


def test_model_that_fails_to_load_is_reported(qtbot, open_window, fake_models):
    def broken(spec):
        raise ValueError("not a model")

    window = open_window({"det": fake_models["det"], "pose": fake_models["pose"]},
                         opener=opener_of(), loader=broken)
    qtbot.waitUntil(lambda: "not a model" in problems(window), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.current is not None, timeout=WAIT_MS)  # frames still shown
    assert window.current.result is None


def test_missing_release_is_reported_without_dialog(qtbot, open_window, fake_models):
    window = open_window({"det": "yolox_tiny", "pose": fake_models["pose"]},
                         opener=opener_of(), loader=fake_loader(ideal_person))
    with qtbot.waitSignal(window.model_problem, timeout=WAIT_MS) as problem:
        pass
    assert "dwpose fetch yolox_tiny" in problem.args[0]
    assert "dwpose fetch yolox_tiny" in problems(window)


def test_unavailable_backends_are_greyed_out(qtbot, open_window, fake_models, monkeypatch):
    registry = {"onnxruntime": "x:y", "no_such_runtime": "x:y"}
    monkeypatch.setattr("app.gui.models.BACKENDS", registry)
    window = open_window({"det": fake_models["det"], "pose": fake_models["pose"]},
                         opener=opener_of(), loader=fake_loader(ideal_person))
    combo = window.panel.backend
    enabled = {combo.itemData(i): combo.model().item(i).isEnabled() for i in range(combo.count())}
    assert enabled == {"auto": True, "onnxruntime": True, "no_such_runtime": False}
    assert "not installed" in combo.itemText(combo.findData("no_such_runtime"))


def test_help_about_shows_the_doctor_report(qtbot, open_window, fake_models):
    """Help > About: the same report as 'dwpose doctor', ready to copy."""
    window = open_window({"det": fake_models["det"], "pose": fake_models["pose"]})
    dialog = window.show_about()
    qtbot.waitUntil(lambda: dialog.copy.isEnabled(), timeout=WAIT_MS)
    lines = dialog.text.toPlainText().splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["system", "cpu", "gpu"]
    assert any(line.startswith("auto ") for line in lines)
    dialog.close()
