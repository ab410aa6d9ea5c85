"""Reduced precision, measured: BF16 and INT8 keypoints and boxes against FP32.

Pose: a trained SimCC model (an FP32 ONNX export, e.g. ``dwpose export --checkpoint``) runs on
the ground-truth person boxes of an annotated set (COCO-WholeBody format). The reference is
ONNX Runtime FP32; the candidates are OpenVINO FP32, OpenVINO BF16 (where the CPU has it), and
the INT8 model (``engines.quantize``, as ``dwpose quantize`` makes it, calibrated on the crops
of a second set) under ONNX Runtime and under OpenVINO. Per candidate, over all keypoints and
over the confident ones (reference score > 0.3, those drawn): the share within 1 and 2 image
pixels of the reference, the mean distance, the share on the very same SimCC bins, and the
mean score difference.

Detector: the real YOLOX-Nano on real images (COCO images, video frames): the reference's
person boxes against each candidate's (found at IoU >= 0.5, mean IoU, mean corner distance in
pixels over the matched boxes, difference in box count). Its INT8 model is calibrated on
other frames of the videos.

    python benchmarks/precision_agreement.py --pose t.onnx --val-ann val.json --val-img val/ \
        --calib-ann train.json --calib-img train/ --det yolox_nano.onnx \
        --det-images coco_dir/ clip.mp4 --json out/agreement.json

``--synthetic-val N`` compares on a held-out synthetic set instead (for a model trained with
``dwpose train --synthetic``).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines.cpu import cpu_info  # noqa: E402
from engines.detectors import Detector, load_detector  # noqa: E402
from engines.files import write_file  # noqa: E402
from engines.models import load_model  # noqa: E402
from engines.pose import RTMPose  # noqa: E402
from engines.quantize import quantize  # noqa: E402
from engines.sources import IMAGE_SUFFIXES  # noqa: E402
from engines.tracking import box_iou  # noqa: E402

#: Keypoints whose reference score is above this are "confident" (the drawing threshold).
CONFIDENT = 0.3
#: (label, backend, precision, int8 model?) of every candidate; the first is the reference.
CANDIDATES = (("onnxruntime fp32", "onnxruntime", None, False),
              ("openvino fp32", "openvino", "fp32", False),
              ("openvino bf16", "openvino", "bf16", False),
              ("onnxruntime int8", "onnxruntime", None, True),
              ("openvino int8", "openvino", "int8", True))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pose", type=Path, required=True, help="trained FP32 SimCC pose ONNX")
    p.add_argument("--val-ann", type=Path, help="annotations to compare on")
    p.add_argument("--val-img", type=Path, help="their image folder")
    p.add_argument("--synthetic-val", type=int, metavar="N",
                   help="instead: N synthetic images (trainer/data/synthetic.py, seed 1; "
                        "'dwpose train --synthetic' makes its set with seed 0) in WORK_DIR/val")
    p.add_argument("--calib-ann", type=Path, required=True,
                   help="annotations whose crops calibrate the INT8 pose model")
    p.add_argument("--calib-img", type=Path, required=True, help="their image folder")
    p.add_argument("--det", type=Path, required=True, help="FP32 YOLOX detector ONNX")
    p.add_argument("--det-images", nargs="+", type=Path, required=True,
                   help="image folders and videos to compare the detectors on")
    p.add_argument("--video-frames", type=int, default=24,
                   help="frames compared per video (every k-th frame; default: %(default)s)")
    p.add_argument("--calib-frames", type=int, default=32,
                   help="other video frames that calibrate the INT8 detector (default: "
                        "%(default)s)")
    p.add_argument("--work-dir", type=Path, default=ROOT / "out" / "agreement",
                   help="where the INT8 models go (default: out/agreement)")
    p.add_argument("--json", type=Path, help="results file (default: WORK_DIR/agreement.json)")
    return p.parse_args(argv)


def person_crops(ann: Path, img_dir: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(image, ground-truth boxes [N,4] xyxy) of every image with a person."""
    data = json.loads(ann.read_text())
    boxes: dict[int, list] = {}
    for a in data["annotations"]:
        if a.get("num_keypoints", 1) and a["bbox"][2] > 1 and a["bbox"][3] > 1:
            x, y, w, h = a["bbox"]
            boxes.setdefault(a["image_id"], []).append([x, y, x + w, y + h])
    for info in data["images"]:
        if info["id"] in boxes:
            image = cv2.imread(str(img_dir / info["file_name"]))
            yield image, np.asarray(boxes[info["id"]], np.float32)


def pose_batches(pose: RTMPose, ann: Path, img_dir: Path, size: int = 8) -> Iterator[np.ndarray]:
    """Calibration batches of exactly ``size`` crops of the annotated persons."""
    crops = np.concatenate([pose.preprocess(image, boxes).blob
                            for image, boxes in person_crops(ann, img_dir)])
    for start in range(0, len(crops) - size + 1, size):
        yield crops[start:start + size]


def video_frames(path: Path, count: int, offset: int = 0) -> list[np.ndarray]:
    """``count`` frames spread over the video, shifted by ``offset`` frames."""
    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    frames = []
    for index in np.linspace(0, total - 1 - offset, count).astype(int) + offset:
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, frame = cap.read()
        if ok:
            frames.append(frame)
    cap.release()
    return frames


def real_images(paths: list[Path], per_video: int, offset: int = 0) -> list[np.ndarray]:
    images = []
    for path in paths:
        if path.is_dir():
            images += [cv2.imread(str(p)) for p in sorted(path.iterdir())
                       if p.suffix.lower() in IMAGE_SUFFIXES]
        else:
            images += video_frames(path, per_video, offset)
    return images


@dataclass
class PoseOutput:
    keypoints: np.ndarray  # [P, K, 2] image pixels
    scores: np.ndarray  # [P, K]
    bins: np.ndarray  # [P, K, 2] argmax bins


def run_pose(pose: RTMPose, ann: Path, img_dir: Path) -> PoseOutput:
    keypoints, scores, bins = [], [], []
    for image, boxes in person_crops(ann, img_dir):
        batch = pose.preprocess(image, boxes)
        simcc_x, simcc_y = pose.infer(batch.blob)
        k, s = pose.postprocess(simcc_x, simcc_y, batch)
        keypoints.append(k)
        scores.append(s)
        bins.append(np.stack([simcc_x.argmax(-1), simcc_y.argmax(-1)], -1))
    return PoseOutput(*(np.concatenate(v) for v in (keypoints, scores, bins)))


def pose_stats(ref: PoseOutput, new: PoseOutput) -> dict:
    dist = np.linalg.norm(new.keypoints - ref.keypoints, axis=-1)
    same_bin = (new.bins == ref.bins).all(-1)
    score_diff = np.abs(new.scores - ref.scores)
    out = {}
    for subset, mask in (("all", np.ones_like(dist, bool)), ("confident", ref.scores > CONFIDENT)):
        d = dist[mask]
        out[subset] = {"keypoints": int(mask.sum()), "within_1px": float((d <= 1).mean()),
                       "within_2px": float((d <= 2).mean()), "mean_px": float(d.mean()),
                       "same_bins": float(same_bin[mask].mean()),
                       "score_diff": float(score_diff[mask].mean())}
    return out


def detector_stats(ref: Detector, new: Detector, images: list[np.ndarray]) -> dict:
    ious, corners, counts = [], [], []
    for image in images:
        a, b = ref(image), new(image)
        counts.append(abs(len(a) - len(b)))
        if len(a) and len(b):
            iou = box_iou(a.boxes, b.boxes)
            best, matched = iou.argmax(1), iou.max(1) >= 0.5
            ious.append(iou.max(1))
            corners.append(np.abs(a.boxes - b.boxes[best])[matched].mean(1))
        elif len(a):
            ious.append(np.zeros(len(a)))
    iou, corner = np.concatenate(ious), np.concatenate(corners) if corners else np.zeros(0)
    return {"images": len(images), "boxes": int(len(iou)), "found": float((iou >= 0.5).mean()),
            "mean_iou": float(iou.mean()), "mean_corner_px": float(corner.mean()),
            "count_diff": float(np.mean(counts))}


def candidates(bf16: bool):
    return [c for c in CANDIDATES if bf16 or c[2] != "bf16"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    if args.synthetic_val:
        from trainer.data import generate

        args.val_ann = generate(args.work_dir / "val", args.synthetic_val, seed=1)
        args.val_img = args.work_dir / "val" / "images"
    if args.val_ann is None or args.val_img is None:
        raise SystemExit("give --val-ann and --val-img, or --synthetic-val N")
    cpu = cpu_info()
    import onnxruntime
    import openvino

    print(f"CPU {cpu.describe()}; onnxruntime {onnxruntime.__version__}, openvino "
          f"{openvino.__version__}", flush=True)
    reference = RTMPose(load_model(args.pose, "pose", "onnxruntime", device="cpu")[0])
    pose_int8 = args.work_dir / f"{args.pose.stem}.int8.onnx"
    quantize(args.pose, pose_int8, pose_batches(reference, args.calib_ann, args.calib_img))
    det_images = real_images(args.det_images, args.video_frames)
    calib = real_images([p for p in args.det_images if not p.is_dir()], args.calib_frames,
                        offset=3)
    det_ref = load_detector(str(args.det), "onnxruntime", device="cpu")
    det_int8 = args.work_dir / f"{args.det.stem}.int8.onnx"
    quantize(args.det, det_int8, (det_ref.preprocess(image)[0] for image in calib))

    ref_out = run_pose(reference, args.val_ann, args.val_img)
    report = {"cpu": cpu.describe(), "onnxruntime": onnxruntime.__version__,
              "openvino": openvino.__version__, "pose": str(args.pose),
              "val": str(args.val_ann), "persons": int(len(ref_out.scores)),
              "confident_share": float((ref_out.scores > CONFIDENT).mean()),
              "pose_results": {}, "detector": str(args.det), "detector_results": {}}
    for label, backend, precision, int8 in candidates(cpu.bf16)[1:]:
        options = {"device": "cpu"} if precision is None else {"precision": precision}
        pose = RTMPose(load_model(pose_int8 if int8 else args.pose, "pose", backend,
                                  **options)[0])
        report["pose_results"][label] = pose_stats(ref_out, run_pose(pose, args.val_ann,
                                                                     args.val_img))
        detector = load_detector(str(det_int8 if int8 else args.det), backend, **options)
        report["detector_results"][label] = detector_stats(det_ref, detector, det_images)
    out = args.json or args.work_dir / "agreement.json"
    write_file(out, json.dumps(report, indent=2), "agreement report")
    print(format_report(report))
    print(f"wrote {out}")
    return 0


def format_report(report: dict) -> str:
    lines = [f"pose {Path(report['pose']).name} on {report['persons']} persons of "
             f"{Path(report['val']).name} ({report['confident_share']:.0%} of keypoints "
             f"confident), against onnxruntime fp32:",
             f"{'candidate':<18}{'keypoints':<11}{'<=1 px':>8}{'<=2 px':>8}{'mean px':>9}"
             f"{'same bins':>11}{'|score diff|':>14}"]
    for label, stats in report["pose_results"].items():
        for subset, s in stats.items():
            lines.append(f"{label if subset == 'all' else '':<18}{subset:<11}"
                         f"{s['within_1px']:>8.2%}{s['within_2px']:>8.2%}{s['mean_px']:>9.3f}"
                         f"{s['same_bins']:>11.2%}{s['score_diff']:>14.4f}")
    lines += ["", f"detector {Path(report['detector']).name}, against onnxruntime fp32:",
              f"{'candidate':<18}{'images':>7}{'boxes':>7}{'found':>8}{'mean IoU':>10}"
              f"{'corner px':>11}{'count diff':>12}"]
    for label, s in report["detector_results"].items():
        lines.append(f"{label:<18}{s['images']:>7}{s['boxes']:>7}{s['found']:>8.1%}"
                     f"{s['mean_iou']:>10.4f}{s['mean_corner_px']:>11.3f}{s['count_diff']:>12.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
