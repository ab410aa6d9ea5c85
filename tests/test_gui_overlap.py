"""The desktop app's inference thread with the overlapped pipeline (pytest-qt, offscreen).

The thread is fed the frames of the real dance video in order, with the real YOLOX-Nano and a
small pose model with the official I/O on ONNX Runtime, once serially and once overlapped:
the same frames come back with the same keypoints, smoothed keypoints and guidance.
"""
from __future__ import annotations

import os
import time
from collections import deque

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt5.QtWidgets", reason="the desktop app needs PyQt5 (the gui extra)")

from app.gui.main import build_parser, overrides_from  # noqa: E402
from app.gui.settings import SettingsStore  # noqa: E402
from app.gui.stats import FrameStats  # noqa: E402
from app.gui.workers import InferenceThread, LatestSlot, ModelSpec, Packet, Processed  # noqa: E402
from tests.test_overlap import read_video  # noqa: E402

WAIT_MS = 60000  # generous: the machine may be busy; waits end as soon as the condition holds


class Feed:
    """Hands the thread every packet in order (a ``LatestSlot`` keeps only the newest), so the
    next packet always waits while one is in flight: the overlapped path on every frame."""

    def __init__(self, packets: list[Packet]) -> None:
        self._packets = deque(packets)

    def get(self, timeout: float | None = None) -> Packet | None:
        if self._packets:
            return self._packets.popleft()
        time.sleep(timeout or 0.0)
        return None


class Collect:
    """Keeps every processed frame (the thread's ``LatestSlot`` keeps only the newest)."""

    def __init__(self) -> None:
        self.items: list[Processed] = []

    def put(self, item: Processed) -> bool:
        self.items.append(item)
        return False


@pytest.fixture(scope="module")
def dance() -> list[np.ndarray]:
    return read_video("single_person_dance.mp4", 12)


def packets(images: list[np.ndarray], cuts: tuple[int, ...] = (0,)) -> list[Packet]:
    """One packet per image, 30 FPS apart; ``cuts``: where a new source starts."""
    return [Packet(image, i, i + 1, i / 30, cut=i in cuts) for i, image in enumerate(images)]


def start_thread(frames, mode: str, det, pose) -> tuple[InferenceThread, Collect]:
    """The inference thread on ``frames`` with the real models run as ``mode``."""
    thread = InferenceThread(frames)
    thread.results = collect = Collect()
    thread.set_models(ModelSpec(str(det), str(pose), "onnxruntime", mode))
    thread.start()
    return thread, collect


def run(qtbot, items: list[Packet], mode: str, det, pose) -> tuple[list[Processed], str]:
    """Every processed frame of ``items``, and the pipeline the thread ran."""
    thread, collect = start_thread(Feed(items), mode, det, pose)
    try:
        qtbot.waitUntil(lambda: len(collect.items) == len(items), timeout=WAIT_MS)
        kind = thread.runner.kind
    finally:
        thread.stop()
    assert thread.runner is None  # closed on the way out
    return collect.items, kind


def test_overlapped_thread_gives_the_serial_keypoints(qtbot, dance, yolox_nano, pose256):
    """12 frames, the detector every 7th (tracked in between) and a new source at frame 8."""
    items = packets(dance, cuts=(0, 8))
    serial, serial_kind = run(qtbot, items, "serial", yolox_nano, pose256)
    overlap, overlap_kind = run(qtbot, items, "overlap", yolox_nano, pose256)
    assert (serial_kind, overlap_kind) == ("serial", "overlapped")
    assert [p.packet for p in overlap] == [p.packet for p in serial] == items
    detected = [p.result.detected for p in serial]
    assert detected == [True] + [False] * 6 + [True, True] + [False] * 3
    for want, got in zip(serial, overlap):
        assert len(want.result) >= 1 and got.result.detected == want.result.detected
        for name in ("boxes", "keypoints", "scores", "track_ids"):
            np.testing.assert_array_equal(getattr(got.result, name),
                                          getattr(want.result, name), err_msg=name)
        np.testing.assert_array_equal(got.smoothed.keypoints, want.smoothed.keypoints)
        assert got.guidance.checks == want.guidance.checks
        # The overlay's per-stage times: the runtimes' own detector and pose times.
        assert (got.timings["detector"] > 0) == got.result.detected
        assert got.timings["pose"] > 0 and "guide" in got.timings
    stats = FrameStats()
    for p in overlap:
        stats.update(p, p.done)
    assert all(f"{stage} " in stats.lines()[-1] for stage in ("pre", "det", "pose", "guide"))


def test_the_frame_in_flight_comes_when_no_other_waits(qtbot, dance, yolox_nano, pose256):
    """A source that pauses or ends: its last frame is finished at once, not a frame later."""
    slot: LatestSlot[Packet] = LatestSlot()
    thread, collect = start_thread(slot, "overlap", yolox_nano, pose256)
    try:
        for n, packet in enumerate(packets(dance[:2]), 1):
            slot.put(packet)
            qtbot.waitUntil(lambda n=n: len(collect.items) == n, timeout=WAIT_MS)
            assert collect.items[-1].packet is packet and collect.items[-1].result is not None
        assert thread.runner.kind == "overlapped"
    finally:
        thread.stop()


def test_a_failed_frame_is_reported_and_the_next_ones_go_on(qtbot, dance, yolox_nano,
                                                            pose256):
    """An empty image (the detector's preprocessing raises) in the overlapped thread: it is
    reported and shown without keypoints, the frame in flight before it is dropped, and the
    frames after it start afresh with the detector."""
    items = packets(dance[:5], cuts=(0, 2))
    items[2].image = np.zeros((0, 0, 3), np.uint8)
    thread, collect = start_thread(Feed(items), "overlap", yolox_nano, pose256)
    messages: list[str] = []
    thread.failed.connect(messages.append)
    try:
        qtbot.waitUntil(lambda: len(collect.items) == 4 and bool(messages), timeout=WAIT_MS)
    finally:
        thread.stop()
    assert [p.packet.index for p in collect.items] == [0, 2, 3, 4]
    assert collect.items[1].result is None and "ZeroDivisionError" in messages[0]
    assert [p.result.detected for p in collect.items[2:]] == [True, False]


def test_pipeline_setting_and_option(tmp_path):
    store = SettingsStore(tmp_path / "s.ini")
    assert store.load().pipeline == "auto"
    store.save("pipeline", "overlap")
    assert SettingsStore(tmp_path / "s.ini").load().pipeline == "overlap"
    store.save("pipeline", "warp")
    assert SettingsStore(tmp_path / "s.ini").load().pipeline == "auto"
    args = build_parser().parse_args(["--pipeline", "serial"])
    assert overrides_from(args) == {"pipeline": "serial"}
    assert "pipeline" not in overrides_from(build_parser().parse_args([]))
