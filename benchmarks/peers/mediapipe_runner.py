"""MediaPipe Holistic contender (``mediapipe==0.10.14``, the models inside its wheel).

Not the same models as ours: a different whole-body design (BlazePose + face mesh + hands,
tracking its own regions between frames), given as a reference point for speed. Holistic
takes RGB, so the conversion is its preprocessing; ``process`` runs its whole graph and is
reported as its "pose" stage (MediaPipe does not expose its internal stages). The detector
interval does not apply: MediaPipe decides itself when to re-detect.
"""
from __future__ import annotations

import cv2
import mediapipe as mp
import numpy as np
from harness import StageClock, StepResult, arg_parser, finish, run


def main() -> None:
    args = arg_parser(__doc__).parse_args()
    holistic = mp.solutions.holistic.Holistic(model_complexity=1)
    drawing = mp.solutions.drawing_utils
    connections = mp.solutions.holistic
    clock = StageClock()
    state = {}

    def step(image: np.ndarray) -> StepResult:
        with clock("preprocess"):
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        with clock("pose"):
            state["r"] = result = holistic.process(rgb)
        return StepResult(int(result.pose_landmarks is not None), False, clock.take())

    def draw(image: np.ndarray) -> None:
        r = state["r"]
        for landmarks, links in ((r.pose_landmarks, connections.POSE_CONNECTIONS),
                                 (r.face_landmarks, connections.FACEMESH_CONTOURS),
                                 (r.left_hand_landmarks, connections.HAND_CONNECTIONS),
                                 (r.right_hand_landmarks, connections.HAND_CONNECTIONS)):
            if landmarks is not None:
                drawing.draw_landmarks(image, landmarks, links)

    summary = run(step, None if args.no_draw else draw, args.video, args.frames, args.warmup)
    holistic.close()
    finish(args, summary, contender="mediapipe", version=mp.__version__)


if __name__ == "__main__":
    main()
