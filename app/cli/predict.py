"""``dwpose predict``: whole-body keypoints for an image, a folder, a video or a camera."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np

from engines.errors import DwposeError, FaultError, InputError
from engines.files import (
    check_output_dir,
    check_output_file,
    remove_stale_temps,
    replace,
    temp_path,
    write_file,
    write_image,
)
from engines.overlap import AUTO_RULE, PIPELINE_MODES, FrameRunner
from engines.paths import same_file
from engines.pipeline import FrameResult
from engines.results import ResultsWriter
from engines.sources import Frame, FrameSource, open_source

from .common import add_pipeline_args
from .flags import fraction, parts, positive_int
from .signals import EXIT_CODES, StopSignals, Terminated

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
    p.add_argument("--parts", type=parts, default="body,foot,face,hand",
                   help="parts drawn on annotated output, out of body, foot, face, hand, "
                        "left_hand, right_hand (default: %(default)s)")
    p.add_argument("--kpt-thr", type=fraction, default=0.3,
                   help="keypoint score needed to draw a point (default: %(default)s)")
    p.add_argument("--max-frames", type=positive_int, metavar="N",
                   help="stop after N frames (cameras run until Ctrl+C otherwise)")
    p.add_argument("--pipeline", choices=PIPELINE_MODES, default="auto",
                   help=textwrap.fill("serial, or overlap the two models across consecutive "
                                      f"frames (same results); {AUTO_RULE}; a single image "
                                      "always runs serially (default: %(default)s)", 70))
    add_pipeline_args(p)
    p.set_defaults(func=run)


class AnnotatedVideo:
    """The annotated video, written under a temporary name and renamed into place once it is
    closed and checked: OpenCV's writer reports no error, so the file must hold every frame
    written (a full disk leaves fewer, or no readable file)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self.path, self.tmp, self.frames = path, temp_path(path), 0
        remove_stale_temps(path)
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise FaultError(f"{path}: cannot open a video writer (mp4v)")

    def write(self, image: np.ndarray) -> None:
        self.writer.write(image)
        self.frames += 1

    def close(self) -> None:
        self.writer.release()
        capture = cv2.VideoCapture(str(self.tmp))
        held = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
        capture.release()
        if held != self.frames:
            self.tmp.unlink(missing_ok=True)
            raise FaultError(f"{self.path}: cannot write the annotated video (the file holds "
                             f"{max(held, 0)} of the {self.frames} frames written; disk full?)")
        replace(self.tmp, self.path, "annotated video")


class Outputs:
    """Everything ``predict`` writes for one source.

    Every output path is checked when it is made, before any model loads or frame runs. Each
    file is written atomically and every write is checked (``engines.files``); a frame's
    results are written after its other files, so the results list exactly the frames whose
    files are all there.
    """

    def __init__(self, args: argparse.Namespace, source: FrameSource) -> None:
        out_dir, flag = args.output_dir, "--output-dir"
        if out_dir is None and args.output_json is None:
            out_dir, flag = str(Path("dwpose_out") / (source.name or "input")), "output folder"
        per_frame = args.openpose_json or args.pose_map
        if args.output_json is not None:
            check_output_file(args.output_json, "--output-json")
            if out_dir is None and per_frame:
                out_dir, flag = str(Path(args.output_json).resolve().parent), "output folder"
        self.dir = Path(out_dir) if out_dir else None
        self.draw = self.dir is not None and not args.no_draw
        if self.dir is not None:
            src = Path(args.input).resolve()
            if self.draw and source.kind == "images" and same_file(
                    self.dir, src if src.is_dir() else src.parent):
                raise InputError(f"{self.dir}: is the input folder; annotated images would "
                                 "overwrite the originals (choose another --output-dir)")
            check_output_dir(self.dir, flag)
        self.results_path = Path(args.output_json or self.dir / "results.json")
        self.results: ResultsWriter | None = None
        self.openpose_json, self.pose_map = args.openpose_json, args.pose_map
        self.parts, self.kpt_thr = args.parts, args.kpt_thr
        self.source = source
        self.video: AnnotatedVideo | None = None
        self.images = self.per_frame = 0  # annotated images and frames with per-frame files
        # Per-frame files of a video or camera get a folder of their own.
        self.per_frame_dir = self.dir
        if per_frame and source.kind != "images":
            self.per_frame_dir = check_output_dir(self.dir / f"{source.name}_frames",
                                                  "per-frame folder")

    def open(self) -> None:
        """Start the results file (a temporary one until ``close``)."""
        self.results = ResultsWriter(self.results_path)

    def write(self, frame: Frame, result: FrameResult) -> None:
        from engines.draw import draw_boxes, draw_skeleton
        from engines.openpose import draw_pose_map, openpose_json
        from engines.results import coco_results, image_id_for

        is_images = self.source.kind == "images"
        stem = Path(frame.name).stem
        h, w = frame.image.shape[:2]
        if self.openpose_json:
            doc = openpose_json(result.keypoints, result.scores, h, w)
            write_file(self.per_frame_dir / f"{stem}_keypoints.json", json.dumps(doc),
                       "OpenPose keypoints", durable=False)
        if self.pose_map:
            pose_map = draw_pose_map(result.keypoints, result.scores, h, w)
            write_image(self.per_frame_dir / f"{stem}_pose.png", pose_map[:, :, ::-1],
                        "pose map")
        self.per_frame += bool(self.openpose_json or self.pose_map)
        if self.draw:
            canvas = frame.image.copy()
            labels = [f"#{t}" for t in result.track_ids] if not is_images else None
            draw_boxes(canvas, result.boxes, labels)
            draw_skeleton(canvas, result.keypoints, result.scores, parts=self.parts,
                          kpt_thr=self.kpt_thr)
            if is_images:
                write_image(self.dir / frame.name, canvas, "annotated image")
                self.images += 1
            else:
                self._video_writer(w, h).write(canvas)
        image_id = image_id_for(frame.name, frame.index) if is_images else frame.index
        assert self.results is not None, "open() first"
        self.results.extend(coco_results(result, image_id, frame.name))

    def _video_writer(self, w: int, h: int) -> AnnotatedVideo:
        if self.video is None:
            self.video = AnnotatedVideo(self.dir / f"{self.source.name}_pose.mp4",
                                        self.source.fps or 30.0, (w, h))
        return self.video

    def close(self) -> tuple[list[str], list[DwposeError]]:
        """Finish every file, each even when another fails; returns the summary lines of
        what was written and the failures."""
        written: list[str] = []
        failures: list[DwposeError] = []
        try:
            if self.results is not None:
                self.results.close()
                if self.results.committed:
                    written.append(f"results: {self.results_path} "
                                   f"({self.results.count} persons)")
        except DwposeError as exc:
            failures.append(exc)
        try:
            if self.video is not None:
                self.video.close()
                written.append(f"video: {self.video.path} ({self.video.frames} frames)")
        except DwposeError as exc:
            failures.append(exc)
        if self.images:
            written.append(f"annotated images: {self.dir} ({self.images})")
        if self.per_frame:
            written.append(f"per-frame files: {self.per_frame_dir} ({self.per_frame} frames)")
        return written, failures


def run(args: argparse.Namespace) -> int:
    from .common import pipeline_from_args

    with open_source(args.input) as source:
        outputs = Outputs(args, source)  # a bad output path fails before any model loads
        pipeline = pipeline_from_args(args, live=source.live)
        single = source.kind == "images" and len(source) == 1
        runner = FrameRunner(pipeline, "serial" if single else args.pipeline)
        return _process(args, source, runner, outputs)


def _process(args: argparse.Namespace, source: FrameSource, runner: FrameRunner[Frame],
             outputs: Outputs) -> int:
    """Run every frame through the pipeline and write each result as it comes back (one frame
    late when overlapped; the last one at the flush).

    SIGINT (Ctrl+C) or SIGTERM stops after the current frame, the one in flight included; a
    second signal stops at once. Whatever ends the run (its end, a signal, a failed write),
    every file is closed complete with the frames done and the summary says how far it got.
    """
    from tqdm import tqdm

    read = frames = skipped = 0
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

    signum = None  # the signal that stopped the run
    finished = False  # False while an exception is on its way out
    outputs.open()
    with StopSignals() as stop:
        try:
            for frame in source:
                if args.max_frames and read + skipped >= args.max_frames:
                    break
                bar.update(1)
                if frame.image is None:
                    skipped += 1
                    tqdm.write(f"warning: skipped unreadable image {frame.name}",
                               file=sys.stderr)
                    continue
                read += 1
                # Unrelated images: no tracking between them.
                write(runner.push(frame, frame.image, cut=source.kind == "images"))
                if stop.requested:
                    break
            write(runner.flush())
            finished = True
        except KeyboardInterrupt as exc:  # a second signal: the frame in flight is dropped
            signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
            finished = True
        finally:
            runner.close()
            bar.close()
            written, failures = outputs.close()
            signum = signum or stop.signal
            short = source.ended_early() if finished and not signum else None
            elapsed = time.perf_counter() - start
            why = (f", stopped by {signal.Signals(signum).name}" if signum else
                   ", stopped by an error" if not finished or failures else
                   ", ended early" if short else "")
            print(f"{frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} FPS, "
                  f"{runner.kind} pipeline)"
                  + (f", {skipped} unreadable skipped" if skipped else "") + why)
            for line in written:
                print("  " + line)
            if not finished:  # the exception on its way out is the one reported
                for failure in failures:
                    print(f"warning: {failure}", file=sys.stderr)
    if failures:
        raise failures[0]
    if frames == 0:
        raise InputError(f"{args.input}: no readable frame")
    if signum:
        return EXIT_CODES[signum]
    if short:
        raise FaultError(f"{short}; the results of the {frames} frames read are saved")
    return 0
