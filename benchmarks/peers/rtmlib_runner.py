"""rtmlib contender: its YOLOX + RTMPose classes driven by its own ``PoseTracker``.

Run by ``benchmarks/compare.py`` with the peers' virtual environment (``.bench-venv``), on the
same ONNX files as ours, with the runtime rtmlib is given (``--backend onnxruntime`` or
``openvino``: rtmlib's own settings for it, ONNX Runtime's defaults, or OpenVINO's LATENCY hint
at the CPU's default precision, BF16 where the CPU has it). Settings that would change the
amount of work are aligned with ours: person class only (``det_categories=[0]``) and the
official score threshold 0.3 (rtmlib's default 0.7 keeps fewer boxes). rtmlib feeds the pose
model BGR crops (its issue #48), we feed RGB: irrelevant for speed. Its stages are timed by
wrapping its methods, its code is unchanged.
"""
from __future__ import annotations

import functools

import numpy as np
import rtmlib
from harness import StageClock, StepResult, arg_parser, finish, run
from rtmlib.version import __version__


def main() -> None:
    p = arg_parser(__doc__)
    p.add_argument("--backend", choices=("onnxruntime", "openvino"), default="onnxruntime",
                   help="the runtime rtmlib runs the models with")
    args = p.parse_args()
    import onnxruntime as ort

    probe = ort.InferenceSession(args.det, providers=["CPUExecutionProvider"])
    det_size = tuple(probe.get_inputs()[0].shape[2:4])
    probe = ort.InferenceSession(args.pose, providers=["CPUExecutionProvider"])
    pose_hw = probe.get_inputs()[0].shape[2:4]
    del probe
    solution = functools.partial(
        rtmlib.Custom, det_class="YOLOX", det=args.det, det_input_size=det_size,
        det_categories=[0], pose_class="RTMPose", pose=args.pose,
        pose_input_size=(pose_hw[1], pose_hw[0]))
    tracker = rtmlib.PoseTracker(solution, det_frequency=args.interval,
                                 backend=args.backend, device="cpu")
    tracker.det_model.score_thr = 0.3
    clock = StageClock()
    for model, kind in ((tracker.det_model, "detector"), (tracker.pose_model, "pose")):
        clock.wrap(model, "preprocess", "preprocess")
        clock.wrap(model, "inference", kind)
        clock.wrap(model, "postprocess", "postprocess")
    state: dict[str, np.ndarray] = {}

    def step(image: np.ndarray) -> StepResult:
        detected = tracker.frame_cnt % tracker.det_frequency == 0
        keypoints, scores = tracker(image)
        state["k"], state["s"] = np.asarray(keypoints), np.asarray(scores)
        return StepResult(len(keypoints), detected, clock.take())

    def draw(image: np.ndarray) -> None:
        rtmlib.draw_skeleton(image, state["k"], state["s"], kpt_thr=0.3)

    summary = run(step, None if args.no_draw else draw, args.video, args.frames, args.warmup)
    versions = {"onnxruntime": ort.__version__}
    if args.backend == "openvino":
        import openvino

        versions["openvino"] = openvino.__version__
    finish(args, summary, contender="rtmlib", backend=args.backend, version=__version__,
           **versions)


if __name__ == "__main__":
    main()
