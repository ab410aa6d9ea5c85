"""The desktop app's captures hold the smoothed keypoints it shows (the one-euro filter per
track), not the frame's raw model output (pytest-qt, offscreen)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt5.QtWidgets", reason="the desktop app needs PyQt5 (the gui extra)")

from app.gui.capture import KEYPOINTS, OPENPOSE, write_capture  # noqa: E402
from app.gui.workers import InferenceThread, LatestSlot, Packet  # noqa: E402
from engines.pipeline import FrameResult  # noqa: E402
from engines.smoothing import KeypointSmoother  # noqa: E402


def _result(keypoints: np.ndarray) -> FrameResult:
    return FrameResult(boxes=np.array([[100, 50, 300, 400]], np.float32),
                       box_scores=np.ones(1, np.float32),
                       keypoints=keypoints[None].astype(np.float32),
                       scores=np.full((1, 133), 0.9, np.float32),
                       track_ids=np.array([0]), detected=True)


def test_a_capture_saves_the_smoothed_keypoints(qtbot, tmp_path, rng):
    thread = InferenceThread(LatestSlot())
    reference = KeypointSmoother()
    base = np.stack([np.linspace(120, 280, 133), np.linspace(60, 390, 133)], axis=1)
    image = np.zeros((480, 640, 3), np.uint8)
    for i in range(8):  # a person holding still, the model jittering by 3 px
        raw = _result(base + rng.normal(0, 3, base.shape))
        out = thread._finish(Packet(image, i, i + 1, i / 30, cut=i == 0), raw)
        expected = reference(raw, i / 30)
    assert out.raw is raw and out.result is out.smoothed
    np.testing.assert_array_equal(out.result.keypoints, expected.keypoints)
    assert np.abs(out.result.keypoints - raw.keypoints).max() > 0.5
    folder = write_capture(tmp_path, image, out.result, out.packet.index)
    saved = np.array(json.loads((folder / KEYPOINTS).read_text())[0]["keypoints"]).reshape(133, 3)
    np.testing.assert_allclose(saved[:, :2], out.result.keypoints[0], atol=1e-3)
    nose = json.loads((folder / OPENPOSE).read_text())["people"][0]["pose_keypoints_2d"][:2]
    np.testing.assert_allclose(nose, out.result.keypoints[0, 0], atol=1e-3)
