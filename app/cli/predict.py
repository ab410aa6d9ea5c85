"""``dwpose predict``: whole-body keypoints for an image, a folder, a video or a camera."""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path

import cv2

from engines.errors import InputError, UserError
from engines.overlap import AUTO_RULE, PIPELINE_MODES, FrameRunner
from engines.pipeline import FrameResult
from engines.sources import Frame, open_source

from .common import add_pipeline_args, positive_int

DESCRIPTION = """\
Find every person (YOLOX), estimate 133 whole-body keypoints (DWPose) and write:
  - annotated images / an annotated video (--output-dir),
  - a COCO keypoint results JSON (--output-json, default OUTPUT_DIR/results.json),
  - optionally OpenPose JSON and ControlNet pose maps per frame.
INPUT is an image, a folder of images, a video file or a camera index (0, 1, ...).
With neither --output-dir nor --output-json, results go to ./dwpose_out/<input name>/.
--pipeline overlap runs the detector of frame t while the pose model of frame t-1 finishes:
the outputs are the same, in the same order, as with --pipeline serial."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="run detection + whole-body pose on images, video, camera",
                       description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--input", "-i", required=True, metavar="PATH",
                   help="image, folder of images, video file, or camera index")
    p.add_argument("--output-dir", "-o", metavar="DIR",
                   help="where annotated images/video and per-frame files go")
    p.add_argument("--output-json", metavar="OUT.json",
                   help="COCO keypoint results file (default: OUTPUT_DIR/results.json)")
    p.add_argument("--openpose-json", action="store_true",
                   help="also write OpenPose-format JSON per frame (<name>_keypoints.json)")
    p.add_argument("--pose-map", action="store_true",
                   help="also write the ControlNet OpenPose pose map per frame (<name>_pose.png)")
    p.add_argument("--no-draw", action="store_true",
                   help="do not write annotated images/video")
    p.add_argument("--parts", default="body,foot,face,hand",
                   help="parts drawn on annotated output (default: %(default)s)")
    p.add_argument("--kpt-thr", type=float, default=0.3,
                   help="keypoint score needed to draw a point (default: %(default)s)")
    p.add_argument("--max-frames", type=positive_int, metavar="N",
                   help="stop after N frames (cameras run until Ctrl+C otherwise)")
    p.add_argument("--pipeline", choices=PIPELINE_MODES, default="auto",
                   help=textwrap.fill("serial, or overlap the two models across consecutive "
                                      f"frames (same results); {AUTO_RULE}; a single image "
                                      "always runs serially (default: %(default)s)", 70))
    add_pipeline_args(p)
    p.set_defaults(func=run)


class Outputs:
    """Everything ``predict`` writes for one source, opened lazily and closed safely."""

    def __init__(self, args: argparse.Namespace, source) -> None:
        from engines.results import ResultsWriter

        out_dir = args.output_dir
        if out_dir is None and args.output_json is None:
            out_dir = str(Path("dwpose_out") / (source.name or "input"))
        per_frame = args.openpose_json or args.pose_map
        if out_dir is None and per_frame:
            out_dir = str(Path(args.output_json).resolve().parent)
        self.dir = Path(out_dir) if out_dir else None
        if self.dir is not None:
            src = Path(args.input)
            if src.is_dir() and self.dir.resolve() == src.resolve():
                raise InputError(f"{self.dir}: is the input folder; annotated images would "
                                 "overwrite the originals (choose another --output-dir)")
            self.dir.mkdir(parents=True, exist_ok=True)
        self.results = ResultsWriter(args.output_json or self.dir / "results.json")
        self.draw = self.dir is not None and not args.no_draw
        self.openpose_json, self.pose_map = args.openpose_json, args.pose_map
        self.parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
        self.kpt_thr = args.kpt_thr
        self.source = source
        self.video = None
        # Per-frame files of a video or camera get a folder of their own.
        self.per_frame_dir = self.dir
        if per_frame and source.kind != "images":
            self.per_frame_dir = self.dir / f"{source.name}_frames"
            self.per_frame_dir.mkdir(exist_ok=True)

    def write(self, frame, result) -> None:
        from engines.draw import draw_boxes, draw_skeleton
        from engines.openpose import draw_pose_map, openpose_json
        from engines.results import coco_results, image_id_for

        is_images = self.source.kind == "images"
        image_id = image_id_for(frame.name, frame.index) if is_images else frame.index
        self.results.extend(coco_results(result, image_id, frame.name))
        stem = Path(frame.name).stem
        h, w = frame.image.shape[:2]
        if self.openpose_json:
            doc = openpose_json(result.keypoints, result.scores, h, w)
            path = self.per_frame_dir / f"{stem}_keypoints.json"
            path.write_text(json.dumps(doc))
        if self.pose_map:
            pose_map = draw_pose_map(result.keypoints, result.scores, h, w)
            cv2.imwrite(str(self.per_frame_dir / f"{stem}_pose.png"), pose_map[:, :, ::-1])
        if self.draw:
            canvas = frame.image.copy()
            labels = [f"#{t}" for t in result.track_ids] if not is_images else None
            draw_boxes(canvas, result.boxes, labels)
            draw_skeleton(canvas, result.keypoints, result.scores, parts=self.parts,
                          kpt_thr=self.kpt_thr)
            if is_images:
                cv2.imwrite(str(self.dir / frame.name), canvas)
            else:
                self._video_writer(w, h).write(canvas)

    def _video_writer(self, w: int, h: int):
        if self.video is None:
            path = self.dir / f"{self.source.name}_pose.mp4"
            self.video = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"),
                                         self.source.fps or 30.0, (w, h))
            if not self.video.isOpened():
                raise UserError(f"{path}: cannot open a video writer (mp4v)")
        return self.video

    def close(self) -> list[str]:
        """Finish every file; returns what was written, for the summary."""
        self.results.close()
        written = [f"results: {self.results.path} ({self.results.count} persons)"]
        if self.video is not None:
            self.video.release()
            written.append(f"video: {self.dir / (self.source.name + '_pose.mp4')}")
        elif self.draw:
            written.append(f"annotated images: {self.dir}")
        if self.openpose_json or self.pose_map:
            written.append(f"per-frame files: {self.per_frame_dir}")
        return written


def run(args: argparse.Namespace) -> int:
    from .common import pipeline_from_args

    with open_source(args.input) as source:
        pipeline = pipeline_from_args(args, live=source.live)
        single = source.kind == "images" and len(source) == 1
        runner = FrameRunner(pipeline, "serial" if single else args.pipeline)
        outputs = Outputs(args, source)
        return _process(args, source, runner, outputs)


def _process(args: argparse.Namespace, source, runner: FrameRunner[Frame],
             outputs: Outputs) -> int:
    """Run every frame through the pipeline and write each result as it comes back (one frame
    late when overlapped; the last one at the flush). Ctrl+C stops cleanly with all files
    complete; the frame in flight then is dropped."""
    from tqdm import tqdm

    read = frames = skipped = 0
    interrupted = False
    total = len(source) or None
    if args.max_frames:
        total = min(total or args.max_frames, args.max_frames)
    start = time.perf_counter()
    bar = tqdm(total=total, unit="frame", desc=source.name, dynamic_ncols=True,
               disable=total == 1)

    def write(done: tuple[Frame, FrameResult] | None) -> None:
        nonlocal frames
        if done is not None:
            outputs.write(*done)
            frames += 1

    try:
        for frame in source:
            if args.max_frames and read + skipped >= args.max_frames:
                break
            bar.update(1)
            if frame.image is None:
                skipped += 1
                tqdm.write(f"warning: skipped unreadable image {frame.name}", file=sys.stderr)
                continue
            read += 1
            # Unrelated images: no tracking between them.
            write(runner.push(frame, frame.image, cut=source.kind == "images"))
        write(runner.flush())
    except KeyboardInterrupt:
        interrupted = True
    finally:
        runner.close()
        bar.close()
        written = outputs.close()
    elapsed = time.perf_counter() - start
    print(f"{frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} FPS, "
          f"{runner.kind} pipeline)"
          + (f", {skipped} unreadable skipped" if skipped else "")
          + (" (interrupted)" if interrupted else ""))
    for line in written:
        print("  " + line)
    if frames == 0:
        raise InputError(f"{args.input}: no readable frame")
    return 130 if interrupted else 0
