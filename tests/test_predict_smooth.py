"""``dwpose predict --smooth`` on the real video (real YOLOX-Nano, a small pose model with the
official I/O): the smoothed keypoints reach every output, two-pass and causal."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from engines.sources import open_source
from tests.conftest import need

FRAMES = 12


def _run(capsys, out: Path, video: Path, det, pose, *extra: str) -> tuple[str, str]:
    assert main(["predict", "-i", str(video), "--det", str(det), "--pose", str(pose),
                 "-o", str(out), "--max-frames", str(FRAMES), "--threads", "1",
                 "--openpose-json", *extra]) == 0
    captured = capsys.readouterr()
    return captured.out.splitlines()[0], captured.err


def _tracks(out: Path) -> dict[int, np.ndarray]:
    """track id -> [frames, 133, 3] from results.json (NaN where the person is absent)."""
    tracks: dict[int, np.ndarray] = {}
    for entry in json.loads((out / "results.json").read_text()):
        t = tracks.setdefault(entry["track_id"], np.full((FRAMES, 133, 3), np.nan))
        t[entry["image_id"]] = np.array(entry["keypoints"]).reshape(133, 3)
    return tracks


def _dancer(tracks: dict[int, np.ndarray]) -> int:
    """The track seen in most frames (the detector also finds a few one-frame persons)."""
    return max(tracks, key=lambda t: int(np.isfinite(tracks[t][:, 0, 0]).sum()))


def _jitter(track: np.ndarray) -> float:
    kp, ok = track[..., :2], track[..., 2] > 0.3
    both = ok[2:] & ok[1:-1] & ok[:-2]
    accel = np.linalg.norm(kp[2:] - 2 * kp[1:-1] + kp[:-2], axis=-1)
    return float(np.sqrt(np.mean(accel[both] ** 2)))


@pytest.fixture(scope="module")
def video():
    return need("video/single_person_dance.mp4")


@pytest.fixture(scope="module")
def raw(tmp_path_factory, video, yolox_nano, pose256):
    out = tmp_path_factory.mktemp("raw")
    assert main(["predict", "-i", str(video), "--det", str(yolox_nano), "--pose", str(pose256),
                 "-o", str(out), "--max-frames", str(FRAMES), "--threads", "1",
                 "--openpose-json"]) == 0
    return out


def test_two_pass_smooths_every_output(tmp_path, capsys, video, yolox_nano, pose256, raw):
    out = tmp_path / "smooth"
    line, _ = _run(capsys, out, video, yolox_nano, pose256, "--smooth")
    assert line.startswith(f"{FRAMES} frames in ") and "two-pass smoothing" in line
    smooth, rough = _tracks(out), _tracks(raw)
    tid = _dancer(rough)
    track = smooth[tid]
    assert _jitter(track) < 0.5 * _jitter(rough[tid])
    assert np.nanmax(np.abs(track[..., :2] - rough[tid][..., :2])) > 0.5
    # the OpenPose JSON of each frame holds the smoothed points too (nose: COCO 0 = COCO-18 0)
    frames_dir = out / "single_person_dance_frames"
    compared = 0
    for f in range(FRAMES):
        doc = json.loads((frames_dir / f"single_person_dance_{f:06d}_keypoints.json")
                         .read_text())
        nose = doc["people"][0]["pose_keypoints_2d"][:3]
        if nose[2] == 1.0 and len(doc["people"]) == 1:  # the dancer alone
            np.testing.assert_allclose(nose[:2], track[f, 0, :2], atol=1e-3)
            compared += 1
    assert compared >= FRAMES // 2
    cap = cv2.VideoCapture(str(out / "single_person_dance_pose.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES


def test_two_pass_without_the_annotated_video_writes_the_same(tmp_path, capsys, video,
                                                              yolox_nano, pose256):
    """--no-draw writes the kept results without reading the video a second time: the
    same results and per-frame files."""
    for name, extra in (("drawn", []), ("not_drawn", ["--no-draw"])):
        _run(capsys, tmp_path / name, video, yolox_nano, pose256, "--smooth", "two-pass", *extra)
    assert (tmp_path / "drawn" / "results.json").read_bytes() == \
        (tmp_path / "not_drawn" / "results.json").read_bytes()
    frames = sorted((tmp_path / "drawn" / "single_person_dance_frames").iterdir())
    assert len(frames) == FRAMES
    for path in frames:
        assert path.read_bytes() == (tmp_path / "not_drawn" / path.relative_to(
            tmp_path / "drawn")).read_bytes()


def test_causal_starts_at_the_first_frame_and_trails(tmp_path, capsys, video, yolox_nano,
                                                     pose256, raw):
    out = tmp_path / "causal"
    line, _ = _run(capsys, out, video, yolox_nano, pose256, "--smooth", "causal")
    assert "causal smoothing" in line
    smooth, rough = _tracks(out), _tracks(raw)
    tid = _dancer(rough)
    first = rough[tid][0]
    np.testing.assert_allclose(smooth[tid][0][first[:, 2] > 0.3],
                               first[first[:, 2] > 0.3], atol=1e-3)  # passed through
    assert _jitter(smooth[tid]) < _jitter(rough[tid])


def test_images_are_left_as_they_are(tmp_path, capsys, coco_dir, yolox_nano, pose256):
    src = tmp_path / "coco"
    shutil.copytree(coco_dir, src, ignore=shutil.ignore_patterns("*.json", "LIC*"))
    for name, extra in (("plain", []), ("smooth", ["--smooth"])):
        assert main(["predict", "-i", str(src), "--det", str(yolox_nano), "--pose",
                     str(pose256), "-o", str(tmp_path / name), "--no-draw", *extra]) == 0
    assert "images are unrelated frames, left as they are" in capsys.readouterr().err
    assert (tmp_path / "plain" / "results.json").read_bytes() == \
        (tmp_path / "smooth" / "results.json").read_bytes()


def test_a_camera_takes_no_two_pass(monkeypatch):
    """Decided from the source before any model loads."""
    import argparse

    from app.cli.predict import _smoothing

    class Camera:
        kind, live, name = "camera", True, "camera0"

    args = argparse.Namespace(smooth="two-pass")
    from engines.errors import UserError

    with pytest.raises(UserError, match="a camera takes --smooth causal"):
        _smoothing(args, Camera())
    assert _smoothing(argparse.Namespace(smooth="auto"), Camera()) == "causal"
    with open_source(need("video/street_multi_person.mp4")) as source:
        assert _smoothing(argparse.Namespace(smooth="auto"), source) == "two-pass"
        assert _smoothing(argparse.Namespace(smooth=None), source) is None
