"""The desktop app's parts on their own: slots, sources, capture files, rendering, settings,
the model dialog, statistics and overlay geometry."""
from __future__ import annotations

import json
import os
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt5.QtWidgets", reason="the desktop app needs PyQt5 (the gui extra)")

from PyQt5.QtCore import QPointF, QRectF  # noqa: E402
from PyQt5.QtWidgets import QDialog  # noqa: E402

from app.gui import capture, sources  # noqa: E402
from app.gui.dialogs import ModelDialog  # noqa: E402
from app.gui.models import backend_problem, missing_release  # noqa: E402
from app.gui.overlay import direction_arrows  # noqa: E402
from app.gui.render import DrawOptions, fit_size, render  # noqa: E402
from app.gui.settings import Settings, SettingsStore  # noqa: E402
from app.gui.stats import FrameStats  # noqa: E402
from app.gui.workers import CaptureThread, LatestSlot, Packet, Processed, backoff  # noqa: E402
from app.guidance import Direction  # noqa: E402
from engines.hub import RELEASES  # noqa: E402
from engines.pipeline import FrameResult  # noqa: E402
from engines.skeleton import NUM_KEYPOINTS  # noqa: E402
from engines.sources import open_source  # noqa: E402
from tests.onnx_models import make_detector_onnx  # noqa: E402


def one_person(x: float, y: float, shape=(50, 100)) -> FrameResult:
    """A person with only the nose visible, at (x, y)."""
    kp = np.zeros((1, NUM_KEYPOINTS, 2), np.float32)
    kp[0, 0] = (x, y)
    scores = np.zeros((1, NUM_KEYPOINTS), np.float32)
    scores[0, 0] = 1.0
    box = np.array([[x - 5, y - 5, x + 5, y + 5]], np.float32)
    return FrameResult(box, np.ones(1, np.float32), kp, scores, np.zeros(1, np.int64), True)


# --------------------------------------------------------------------------------------------
# Hand-over slots and sources
# --------------------------------------------------------------------------------------------


def test_latest_slot_keeps_only_the_newest():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is True  # was empty: the reader needs a wake-up
    assert slot.put(2) is False  # replaced the stale 1
    assert slot.get() == 2 and slot.get() is None
    assert slot.get(timeout=0.01) is None


def test_latest_slot_wakes_a_waiting_reader():
    slot: LatestSlot[int] = LatestSlot()
    got = []
    reader = threading.Thread(target=lambda: got.append(slot.get(timeout=30)))
    reader.start()
    slot.put(7)
    reader.join()
    assert got == [7]


def test_backoff_doubles_up_to_a_limit():
    assert [backoff(n) for n in (1, 2, 3, 4, 5, 6, 10)] == [0.5, 1, 2, 4, 8, 8, 8]


def test_fit_shrinks_into_the_resolution_either_way():
    assert sources.fit(np.zeros((1080, 1920, 3), np.uint8), (1280, 720)).shape == (720, 1280, 3)
    assert sources.fit(np.zeros((1920, 1080, 3), np.uint8), (1280, 720)).shape == (1280, 720, 3)
    small = np.zeros((240, 320, 3), np.uint8)
    assert sources.fit(small, (1280, 720)) is small and sources.fit(small, None) is small


def test_parse_resolution():
    assert sources.parse_resolution("1280x720") == (1280, 720)
    assert sources.parse_resolution("") is None and sources.parse_resolution("big") is None


def test_images_are_held_then_the_next_one_comes(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "IMAGE_HOLD_S", 0.1)
    monkeypatch.setattr(sources, "IMAGE_FPS", 40.0)
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    names = [f.name for f in sources.paced(open_source(tmp_path), threading.Event())]
    assert names == ["a.png"] * 4 + ["b.png"] * 4
    stop = threading.Event()
    stop.set()
    assert list(sources.paced(open_source(tmp_path), stop)) == []


def test_capture_thread_stops_at_the_end_of_a_file_without_loop(qtbot, tmp_path):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    slot: LatestSlot[Packet] = LatestSlot()
    thread = CaptureThread(sources.SourceSpec("video", str(path), loop=False), slot)
    with qtbot.waitSignal(thread.ended, timeout=10000):
        thread.start()
    thread.wait()
    packet = slot.get()
    assert packet is not None and packet.seq == 3 and packet.image.shape == (48, 64, 3)


def test_open_spec_needs_a_target():
    with pytest.raises(Exception, match="no video chosen"):
        sources.open_spec(sources.SourceSpec("video", ""))


# --------------------------------------------------------------------------------------------
# Capture folders
# --------------------------------------------------------------------------------------------


def test_capture_writes_four_files_atomically(tmp_path, monkeypatch):
    image = np.full((50, 100, 3), 90, np.uint8)
    when = datetime(2024, 5, 6, 7, 8, 9, 123000)
    first = capture.write_capture(tmp_path, image, one_person(30, 20), 5, when)
    second = capture.write_capture(tmp_path, image, one_person(30, 20), 6, when)
    assert first.name == "20240506-070809-123" and second.name == "20240506-070809-123-2"
    entries = json.loads((first / capture.KEYPOINTS).read_text())
    assert entries[0]["image_id"] == 5 and len(entries[0]["keypoints"]) == 3 * NUM_KEYPOINTS
    assert cv2.imread(str(first / capture.FRAME)).shape == image.shape

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(capture, "draw_pose_map", broken)
    with pytest.raises(OSError, match="disk full"):
        capture.write_capture(tmp_path, image, one_person(30, 20), 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, second.name]


# --------------------------------------------------------------------------------------------
# Rendering, overlay geometry, statistics
# --------------------------------------------------------------------------------------------


def _drawn_x(out: np.ndarray) -> float:
    ys, xs = np.nonzero(out.max(axis=2))
    return float(xs.mean())


@pytest.mark.parametrize("mirror", [False, True])
def test_render_scales_and_mirrors_the_skeleton(mirror):
    image = np.zeros((50, 100, 3), np.uint8)
    options = DrawOptions(parts=("body",), boxes=False, mirror=mirror)
    out = render(image, one_person(10, 20), options, (200, 100))
    assert out.shape == (100, 200, 3)
    assert _drawn_x(out) == pytest.approx(180 if mirror else 20, abs=2)
    assert fit_size((100, 50), (300, 300)) == (300, 150)


def test_render_marks_the_guided_person():
    out = render(np.zeros((50, 100, 3), np.uint8), one_person(50, 25), DrawOptions(), (100, 50),
                 guided=0)
    assert (out == (80, 200, 60)).all(axis=2).any()  # the guided person's green box


def test_arrows_point_where_the_picture_should_move():
    rect = QRectF(0, 0, 400, 300)
    (left,) = direction_arrows(Direction.LEFT, rect, 0)
    assert min(p.x() for p in left) < 40
    corners = direction_arrows(Direction.FORWARD, rect, 0)
    centre = rect.center()

    def dist(p: QPointF) -> float:
        return ((p.x() - centre.x()) ** 2 + (p.y() - centre.y()) ** 2) ** 0.5

    assert len(corners) == 4
    for arrow in corners:  # the head (point 3) is the farthest point: arrows point outwards
        assert dist(arrow[3]) == max(dist(arrow[i]) for i in range(arrow.count()))
    assert direction_arrows(Direction.NONE, rect, 0) == []


def test_frame_stats_lines():
    stats = FrameStats()
    image = np.zeros((4, 4, 3), np.uint8)
    for i in range(3):
        result = one_person(1, 1)
        timings = {"preprocess": 1.0, "detector": 20.0, "pose": 10.0, "postprocess": 0.5}
        packet = Packet(image, i, 2 * i + 1, 0.1 * i, False)  # every other frame dropped
        stats.update(Processed(packet, result, result, None, timings, done=0.1 * i + 0.03),
                     now=0.1 * i + 0.05)
    lines = stats.lines()
    assert lines[0].startswith("10.0 FPS (source 20.0)")
    assert lines[1] == "latency 50 ms"
    assert lines[2] == "pre 1.0  det 20.0  pose 10.0  post 0.5 ms"


# --------------------------------------------------------------------------------------------
# Settings, models, the download dialog
# --------------------------------------------------------------------------------------------


def test_settings_round_trip_and_bad_values(tmp_path):
    store = SettingsStore(tmp_path / "s.ini")
    assert store.load() == Settings()
    for name, value in (("mirror", False), ("kpt_thr", 0.45), ("camera", 2),
                        ("profile", "portrait"), ("source_kind", "images")):
        store.save(name, value)
    loaded = SettingsStore(tmp_path / "s.ini").load()
    assert (loaded.mirror, loaded.kpt_thr, loaded.camera, loaded.profile,
            loaded.source_kind) == (False, 0.45, 2, "portrait", "images")
    store.save("camera", "not a number")
    store.save("source_kind", "satellite")
    loaded = SettingsStore(tmp_path / "s.ini").load()
    assert loaded.camera == 0 and loaded.source_kind == "camera"
    assert loaded.parts == ("body", "foot", "face", "hand")


def test_backend_problems():
    assert backend_problem("onnxruntime") is None
    assert "unknown backend" in backend_problem("nope")


def test_missing_release(tmp_path, monkeypatch):
    monkeypatch.setenv("DWPOSE_HOME", str(tmp_path))
    assert missing_release("yolox_nano", "detector") is RELEASES["yolox_nano"]
    assert missing_release("yolox_nano", "pose") is None  # a detector, not a pose model
    assert missing_release(str(tmp_path), "detector") is None  # a path is not a release
    (tmp_path / "yolox_nano.onnx").touch()
    assert missing_release("yolox_nano", "detector") is None


def test_model_dialog_downloads_in_the_background(qtbot, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    make_detector_onnx(mirror / "yolox_nano.onnx", 416)
    # a test model, not the file the release pins
    monkeypatch.setitem(RELEASES, "yolox_nano", replace(RELEASES["yolox_nano"], sha256=None))
    monkeypatch.setenv("DWPOSE_MIRROR", mirror.as_uri())
    monkeypatch.setenv("DWPOSE_HOME", str(tmp_path / "cache"))
    dialog = ModelDialog(RELEASES["yolox_nano"])
    qtbot.addWidget(dialog)
    assert str(tmp_path / "cache" / "yolox_nano.onnx") in dialog.info.text()
    with qtbot.waitSignal(dialog.accepted, timeout=20000):
        dialog.download_button.click()
    assert dialog.result() == QDialog.Accepted
    assert Path(dialog.path) == tmp_path / "cache" / "yolox_nano.onnx"
    assert Path(dialog.path).is_file()


def test_model_dialog_offline_says_where_the_file_goes(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DWPOSE_MIRROR", (tmp_path / "nowhere").as_uri())
    monkeypatch.setenv("DWPOSE_HOME", str(tmp_path / "cache"))
    dialog = ModelDialog(RELEASES["yolox_nano"])
    qtbot.addWidget(dialog)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=20000)
    assert dialog.download_button.text() == "Retry"
    assert f"save it as {tmp_path / 'cache' / 'yolox_nano.onnx'}" in dialog.status.text()
    assert dialog.result() != QDialog.Accepted
