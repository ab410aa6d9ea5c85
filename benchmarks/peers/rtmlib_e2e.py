"""rtmlib doing what ``dwpose predict --no-draw --output-json`` does, as one whole process:
load the two models, run its ``PoseTracker`` on every frame of a video, write the keypoints.

Run by ``benchmarks/e2e.py`` with the peers' virtual environment (``.bench-venv``), timed from
outside from start to exit. Settings that change the amount of work are ours: person class
only and the official score threshold 0.3 (as in ``rtmlib_runner.py``).

usage: rtmlib_e2e.py VIDEO DET POSE BACKEND INTERVAL OUT.json
"""
from __future__ import annotations

import functools
import json
import sys

import cv2
import numpy as np
import onnxruntime as ort
import rtmlib


def main() -> None:
    video, det, pose, backend, interval, out = sys.argv[1:7]
    det_size = tuple(ort.InferenceSession(det).get_inputs()[0].shape[2:4])
    pose_hw = ort.InferenceSession(pose).get_inputs()[0].shape[2:4]
    solution = functools.partial(
        rtmlib.Custom, det_class="YOLOX", det=det, det_input_size=det_size,
        det_categories=[0], pose_class="RTMPose", pose=pose,
        pose_input_size=(pose_hw[1], pose_hw[0]))
    tracker = rtmlib.PoseTracker(solution, det_frequency=int(interval), backend=backend,
                                 device="cpu")
    tracker.det_model.score_thr = 0.3
    capture = cv2.VideoCapture(video)
    results = []
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        keypoints, scores = tracker(frame)
        for k, s in zip(np.asarray(keypoints), np.asarray(scores)):
            results.append({"image_id": index, "keypoints": np.concatenate(
                [k, s[:, None]], axis=1).round(2).ravel().tolist()})
        index += 1
    capture.release()
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f)
    print(f"{index} frames")


if __name__ == "__main__":
    main()
