"""``dwpose predict``: whole-body keypoints for images, folders, videos or a camera; one input
or a batch of many."""
from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from engines.errors import EXPECTED, DwposeError, FaultError, InputError, UserError, one_line
from engines.files import (
    check_output_dir,
    check_output_file,
    remove_stale_temps,
    replace,
    temp_path,
    write_file,
    write_image,
)
from engines.openpose import LAYOUTS, STROKES
from engines.overlap import FILE_AUTO_RULE, FILE_PIPELINE_MODES, FrameRunner
from engines.paths import same_file
from engines.pipeline import FrameResult, WholeBody
from engines.results import ResultsWriter
from engines.sources import (
    Frame,
    FrameSource,
    Input,
    is_glob,
    list_inputs,
    open_source,
    shard,
)

from .common import add_pipeline_args, pipeline_from_args
from .flags import canvas_size, fraction, non_negative_int, parts, positive_int
from .flags import shard as shard_spec
from .signals import EXIT_CODES, StopSignals, Terminated

DESCRIPTION = """\
Find every person (YOLOX), estimate 133 whole-body keypoints (DWPose) and write:
  - annotated images / an annotated video (--output-dir),
  - a COCO keypoint results JSON (--output-json, default OUTPUT_DIR/results.json),
  - optionally OpenPose JSON and ControlNet pose maps per frame.
INPUT is an image, a folder of images, a video file or a camera index (0, 1, ...).
With neither --output-dir nor --output-json, results go to ./dwpose_out/<input name>/.

Several inputs (-i a.mp4 b.mp4, a glob, --recursive) make a batch: each input gets the
files one input gets in OUTPUT_DIR/<its path from the folder holding every input>/, the
models load once, a failed input does not stop the others, and the last line counts them:
'N done, M skipped, K failed (the first reason)'; the exit code is not 0 when one failed.
Quote globs in double quotes ("clips/*.mp4", "shots/**/*.jpg"): dwpose expands them itself,
the same way in bash, zsh, PowerShell and cmd.
--pipeline overlap runs the detector of frame t while the pose model of frame t-1 finishes:
the outputs are the same, in the same order, as with --pipeline serial."""

#: The options a finished input's record keeps: --skip-existing skips it only when they match.
SETTINGS = ("openpose_json", "pose_map", "no_draw", "parts", "kpt_thr", "face70",
            "openpose_layout", "pose_map_size", "pose_map_stroke", "smooth", "max_gap",
            "max_persons", "max_frames", "det", "pose", "score_thr", "nms_thr", "det_interval",
            "det_size", "det_norm")


def _wrap(text: str) -> str:
    """Help text in lines of 70, names with hyphens kept whole."""
    return textwrap.fill(text, 70, break_on_hyphens=False)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="run detection + whole-body pose on images, video, camera",
                       description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--input", "-i", required=True, metavar="PATH", nargs="+", action="extend",
                   help=_wrap("image, folder of images, video file or camera index; several "
                              "(or -i again), and globs, quoted, make a batch"))
    p.add_argument("--recursive", "-r", action="store_true",
                   help=_wrap("walk folders: each folder holding images is one input, each "
                              "video another, in every sub-folder (hidden ones skipped)"))
    p.add_argument("--output-dir", "-o", metavar="DIR",
                   help="where annotated images/video and per-frame files go")
    p.add_argument("--output-json", metavar="OUT.json",
                   help="COCO keypoint results file (default: OUTPUT_DIR/results.json); "
                        "one input only")
    p.add_argument("--openpose-json", action="store_true",
                   help="also write OpenPose-format JSON per frame (<name>_keypoints.json)")
    p.add_argument("--pose-map", action="store_true",
                   help="also write the ControlNet OpenPose pose map per frame (<name>_pose.png)")
    p.add_argument("--no-draw", action="store_true",
                   help="do not write annotated images/video")
    p.add_argument("--parts", type=parts, default="body,foot,face,hand",
                   help=_wrap("parts written, out of body, foot, face, hand, left_hand, "
                              "right_hand, to every output: the annotated view, the pose map, "
                              "the OpenPose JSON (a part left out is null there; the body is "
                              "always an array, zeros when left out) and results.json (0, 0, 0 "
                              "for the points left out) (default: %(default)s)"))
    p.add_argument("--kpt-thr", type=fraction, default=0.3,
                   help="keypoint score needed to draw a point (default: %(default)s)")
    p.add_argument("--max-persons", type=positive_int, metavar="N",
                   help=_wrap("keep the N most prominent persons of each frame (box area "
                              "times closeness to the centre, as the app picks whom to guide)"))
    p.add_argument("--max-frames", type=positive_int, metavar="N",
                   help="stop after N frames (cameras run until Ctrl+C otherwise)")
    p.add_argument("--pipeline", choices=FILE_PIPELINE_MODES, default="auto",
                   help=_wrap("serial; overlap the two models across consecutive frames; or "
                              "throughput: several frames of a video or folder in flight on the "
                              f"CPU (all give the same results); {FILE_AUTO_RULE}; cameras "
                              "keep the lowest latency; a single image always runs serially "
                              "(default: %(default)s)"))
    cn = p.add_argument_group("OpenPose JSON and pose map (ControlNet, pose editors)")
    cn.add_argument("--face70", action=argparse.BooleanOptionalAction, default=True,
                    help=_wrap("OpenPose's 70-point face in the OpenPose JSON: DWPose's 68 "
                               "points and the two pupils (each the mean of its eye's six "
                               "points), which sd-webui-openpose-editor needs; --no-face70 "
                               "writes the 68 (default: 70)"))
    cn.add_argument("--openpose-layout", choices=LAYOUTS, default="coco18",
                    help=_wrap("body layout of the OpenPose JSON: coco18 (18 points, what "
                               "ControlNet and the sd-webui / ComfyUI pose editors read) or "
                               "body25 (OpenPose's BODY_25: a mid-hip and six foot points "
                               "more, for tools that ask for it; those editors do not read "
                               "it) (default: %(default)s)"))
    cn.add_argument("--pose-map-size", type=canvas_size, metavar="WxH|N",
                    help=_wrap("canvas of the pose map and the OpenPose JSON: WxH exactly, or "
                               "N for a short side of N with each side rounded to a multiple "
                               "of 64 as ControlNet's preprocessors do (N >= 64); drawn at "
                               "that size, not resized (default: the frame's size)"))
    cn.add_argument("--pose-map-stroke", choices=STROKES, default="fixed",
                    help=_wrap("fixed: the annotator's sizes (the maps ControlNet's "
                               "openpose models were trained on); scaled: body sticks "
                               "widened with the canvas as xinsir's SDXL openpose "
                               "ControlNet expects (x2 from 500 px on "
                               "the long side, x3 from 1000, up to x7) (default: "
                               "%(default)s)"))
    video = p.add_argument_group("videos and cameras")
    video.add_argument("--smooth", nargs="?", const="auto",
                       choices=("auto", "causal", "two-pass"),
                       help=_wrap("smooth the keypoints of every output over time, per "
                                  "person: two-pass (video files): no lag, short gaps "
                                  "filled; causal (cameras, or a file): the app's one-euro "
                                  "filter, about a frame behind in motion; --smooth alone "
                                  "(auto) picks two-pass for files, causal for cameras. "
                                  "Images are left as they are (docs/smoothing.md)"))
    video.add_argument("--max-gap", type=non_negative_int, default=5, metavar="FRAMES",
                       help=_wrap("two-pass: the longest gap filled (a person or a keypoint "
                                  "missing between two frames that have it) and across "
                                  "which a lost person keeps its identity; 0: none "
                                  "(default: %(default)s)"))
    batch = p.add_argument_group("batches")
    batch.add_argument("--skip-existing", action="store_true",
                       help=_wrap("skip an input whose run finished before with the same "
                                  "output options (its results.done.json record, written "
                                  "last); resumes a stopped batch"))
    batch.add_argument("--shard", type=shard_spec, metavar="I/N",
                       help=_wrap("run the I-th of N parts of the inputs (every N-th of the "
                                  "list sorted by output folder, from the I-th), e.g. one "
                                  "per machine or scheduler job"))
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


def keep_prominent(result: FrameResult, shape: tuple[int, ...], n: int | None) -> FrameResult:
    """``result`` with its ``n`` most prominent persons only (all when ``n`` is None)."""
    from engines.prominence import most_prominent

    if n is None or len(result) <= n:
        return result
    idx = most_prominent(result.boxes, shape, n)
    return dataclasses.replace(result, boxes=result.boxes[idx], box_scores=result.box_scores[idx],
                               keypoints=result.keypoints[idx], scores=result.scores[idx],
                               track_ids=np.asarray(result.track_ids)[idx])


class Outputs:
    """Everything ``predict`` writes for one source.

    Every output path is checked when it is made, before any model loads or frame runs. Each
    file is written atomically and every write is checked (``engines.files``); a frame's
    results are written after its other files, so the results list exactly the frames whose
    files are all there.
    """

    def __init__(self, args: argparse.Namespace, source: FrameSource, spec: str,
                 out_dir: str | Path | None, output_json: str | None) -> None:
        flag = "--output-dir"
        if out_dir is None and output_json is None:
            out_dir, flag = str(Path("dwpose_out") / (source.name or "input")), "output folder"
        elif args.output_dir is None:
            flag = "output folder"
        per_frame = args.openpose_json or args.pose_map
        if output_json is not None:
            check_output_file(output_json, "--output-json")
            if out_dir is None and per_frame:
                out_dir, flag = str(Path(output_json).resolve().parent), "output folder"
        self.dir = Path(out_dir) if out_dir else None
        self.draw = self.dir is not None and not args.no_draw
        if self.dir is not None:
            src = Path(spec).resolve()
            if self.draw and source.kind == "images" and same_file(
                    self.dir, src if src.is_dir() else src.parent):
                raise InputError(f"{self.dir}: is the input folder; annotated images would "
                                 "overwrite the originals (choose another --output-dir)")
            check_output_dir(self.dir, flag)
        self.results_path = Path(output_json or self.dir / "results.json")
        self.results: ResultsWriter | None = None
        self.openpose_json, self.pose_map = args.openpose_json, args.pose_map
        self.parts, self.kpt_thr = args.parts, args.kpt_thr
        self.face70, self.layout = args.face70, args.openpose_layout
        self.map_size, self.stroke = args.pose_map_size, args.pose_map_stroke
        self.max_persons = args.max_persons
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

    def write(self, frame: Frame, result: FrameResult, shape: tuple[int, int]) -> None:
        """Every file of ``frame`` (``shape``: its height and width; its pixels are needed only
        for the annotated view)."""
        from engines.draw import draw_boxes, draw_skeleton
        from engines.openpose import canvas_size, draw_pose_map, openpose_json, to_canvas
        from engines.results import coco_results, image_id_for

        result = keep_prominent(result, shape, self.max_persons)
        is_images = self.source.kind == "images"
        stem = Path(frame.name).stem
        h, w = shape
        if self.openpose_json or self.pose_map:
            H, W = canvas_size(h, w, self.map_size)
            keypoints = to_canvas(result.keypoints, (h, w), (H, W))
        if self.openpose_json:
            doc = openpose_json(keypoints, result.scores, H, W, self.parts, self.face70,
                                self.layout)
            write_file(self.per_frame_dir / f"{stem}_keypoints.json", json.dumps(doc),
                       "OpenPose keypoints", durable=False)
        if self.pose_map:
            pose_map = draw_pose_map(keypoints, result.scores, H, W, self.parts, self.stroke)
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
        self.results.extend(coco_results(result, image_id, frame.name, self.parts))

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


def _smoothing(args: argparse.Namespace, source: FrameSource) -> str | None:
    """What ``--smooth`` means for ``source``: ``causal``, ``two-pass`` or None."""
    if not args.smooth:
        return None
    if source.kind == "images":
        print(f"dwpose: --smooth: {source.name}: images are unrelated frames, left as they are",
              file=sys.stderr)
        return None
    if source.live:
        if args.smooth == "two-pass":
            raise UserError("--smooth two-pass needs the whole video: a camera takes --smooth "
                            "causal (or auto)")
        return "causal"
    return "two-pass" if args.smooth == "auto" else args.smooth


def run(args: argparse.Namespace) -> int:
    several = len(args.input) > 1 or args.recursive or any(map(is_glob, args.input))
    if several or args.skip_existing or args.shard:
        return _run_batch(args, several)
    spec = args.input[0]
    with open_source(spec) as source:
        # a bad output path or option fails before any model loads
        outputs = Outputs(args, source, spec, args.output_dir, args.output_json)
        smooth = _smoothing(args, source)
        pipeline = pipeline_from_args(args, live=source.live,
                                      throughput=_throughput(args, source))
        return _run_source(args, source, pipeline, outputs, spec, smooth)


def _throughput(args: argparse.Namespace, source: FrameSource) -> bool:
    """Whether the models are loaded to run several frames of ``source`` side by side."""
    single = source.kind == "images" and len(source) == 1
    return not source.live and not single and args.pipeline in ("auto", "throughput")


def _run_source(args: argparse.Namespace, source: FrameSource, pipeline: WholeBody,
                outputs: Outputs, spec: str, smooth: str | None) -> int:
    single = source.kind == "images" and len(source) == 1
    runner = FrameRunner(pipeline, "serial" if single else args.pipeline)
    return _process(args, source, runner, outputs, spec, smooth)


def _done(record: Path, results: Path, settings: dict) -> bool:
    """Whether ``record`` says an earlier run finished with ``settings`` (and its results are
    there)."""
    try:
        return (results.is_file()
                and json.loads(record.read_text(encoding="utf-8"))["settings"] == settings)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _run_batch(args: argparse.Namespace, several: bool) -> int:
    """Every input in turn (module docstring of the command); the last line counts them."""
    if several and args.output_json is not None:
        raise UserError("--output-json names one results file; with several inputs each gets "
                        "OUTPUT_DIR/<input>/results.json")
    root = Path(args.output_dir or "dwpose_out")
    inputs = list_inputs(args.input, args.recursive, exclude=root if several else None)
    if several:
        check_output_dir(root, "--output-dir" if args.output_dir else "output folder")
    if args.shard:
        inputs = shard(inputs, *args.shard)
    settings = json.loads(json.dumps({name: getattr(args, name) for name in SETTINGS}))
    pipeline: WholeBody | None = None
    done = skipped = 0
    failed: list[tuple[Input, Exception]] = []
    stopped: int | None = None
    position = 0
    try:
        for position, item in enumerate(inputs, 1):
            out_dir = (root.joinpath(*item.key.split("/")) if several else
                       Path(args.output_dir) if args.output_dir else
                       None if args.output_json else Path("dwpose_out") / item.key)
            results = Path(args.output_json) if args.output_json else out_dir / "results.json"
            record = results.with_name(results.stem + ".done.json")
            head = f"[{position}/{len(inputs)}] {item.spec}"
            if args.skip_existing and _done(record, results, settings):
                skipped += 1
                print(f"{head}: done before, skipped")
                continue
            print(f"{head} -> {out_dir or results}", flush=True)
            try:
                record.unlink(missing_ok=True)
                with open_source(item.spec) as source:
                    outputs = Outputs(args, source, item.spec, out_dir, args.output_json)
                    smooth = _smoothing(args, source)
                    if pipeline is None:  # models fail every input: not caught here
                        pipeline = pipeline_from_args(args, live=source.live, throughput=(
                            not source.live and args.pipeline in ("auto", "throughput")))
                    code = _run_source(args, source, pipeline, outputs, item.spec, smooth)
            except EXPECTED as exc:
                failed.append((item, exc))
                print(f"dwpose predict: error: {one_line(exc)}", file=sys.stderr)
                continue
            if code:
                stopped = code
                break
            write_file(record, json.dumps({"input": item.spec, "settings": settings}, indent=1),
                       "run record")
            done += 1
    except KeyboardInterrupt as exc:
        stopped = EXIT_CODES[signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT]
    line = f"{done} done, {skipped} skipped, {len(failed)} failed"
    if failed:
        spec, reason = failed[0][0].spec, one_line(failed[0][1])
        line += f" ({reason if reason.startswith(spec) else f'{spec}: {reason}'})"
    if stopped:
        name = "SIGTERM" if stopped == EXIT_CODES[signal.SIGTERM] else "SIGINT"
        line += f", stopped by {name} ({len(inputs) - position} not started)"
    print((f"shard {args.shard[0]}/{args.shard[1]}: " if args.shard else "") + line)
    if stopped:
        return stopped
    return getattr(failed[0][1], "exit_code", 1) if failed else 0


def _process(args: argparse.Namespace, source: FrameSource, runner: FrameRunner[Frame],
             outputs: Outputs, spec: str, smooth: str | None) -> int:
    """Run every frame through the pipeline and write each result as it comes back (frames
    late when overlapped or parallel; the last ones drained at the end). With ``smooth``:
    ``causal`` smooths each result before it is written; ``two-pass`` keeps the results of
    every frame, smooths them all at the end and writes them then (reading the video a second
    time for the annotated view's pixels).

    SIGINT (Ctrl+C) or SIGTERM stops after the current frame, the one in flight included; a
    second signal stops at once. Whatever ends the run (its end, a signal, a failed write),
    every file is closed complete with the frames done and the summary says how far it got.
    """
    from tqdm import tqdm

    from engines.smoothing import KeypointSmoother

    read = frames = skipped = 0
    total = len(source) or None
    if args.max_frames:
        total = min(total or args.max_frames, args.max_frames)
    start = time.perf_counter()
    bar = tqdm(total=total, unit="frame", desc=source.name, dynamic_ncols=True,
               disable=total == 1)
    fps = source.fps or 30.0
    causal = KeypointSmoother() if smooth == "causal" else None
    kept: list[tuple[Frame, tuple[int, int], FrameResult]] = []  # two-pass: every frame's

    def emit(frame: Frame, result: FrameResult, shape: tuple[int, int]) -> None:
        nonlocal frames
        outputs.write(frame, result, shape)
        frames += 1

    def write(done: tuple[Frame, FrameResult] | None) -> None:
        if done is None:
            return
        frame, result = done
        shape = frame.image.shape[:2]
        if smooth == "two-pass":
            kept.append((Frame(frame.index, frame.name, None), shape, result))
        else:
            emit(frame, result if causal is None else causal(result, frame.index / fps), shape)

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
                # Unrelated images, and a new source's first frame: no tracking across.
                write(runner.push(frame, frame.image, cut=source.kind == "images" or read == 1))
                if stop.requested:
                    break
            for done in runner.drain():
                write(done)
            if kept:
                asked = stop.requested
                _write_two_pass(spec, kept, outputs, fps, args.max_gap, emit,
                                lambda: stop.requested and not asked)
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
                  f"{runner.kind} pipeline" + (f", {smooth} smoothing" if smooth else "") + ")"
                  + (f", {skipped} unreadable skipped" if skipped else "") + why)
            for line in written:
                print("  " + line)
            if not finished:  # the exception on its way out is the one reported
                for failure in failures:
                    print(f"warning: {failure}", file=sys.stderr)
    if failures:
        raise failures[0]
    if frames == 0:
        raise InputError(f"{spec}: no readable frame")
    if signum:
        return EXIT_CODES[signum]
    if short:
        raise FaultError(f"{short}; the results of the {frames} frames read are saved")
    return 0


def _write_two_pass(spec: str, kept: list[tuple[Frame, tuple[int, int], FrameResult]],
                    outputs: Outputs, fps: float, max_gap: int,
                    emit: Callable[[Frame, FrameResult, tuple[int, int]], None],
                    stop: Callable[[], bool]) -> None:
    """Smooth the kept results of a video as a whole and write them, frame by frame; the
    annotated view reads the video again for its pixels. ``stop``: a signal asks to stop."""
    from engines.two_pass import TwoPassSmoother

    smoothed = TwoPassSmoother(max_gap=max_gap)([r for _, _, r in kept], fps)
    if not outputs.draw:
        for (frame, shape, _), result in zip(kept, smoothed):
            emit(frame, result, shape)
            if stop():
                return
        return
    todo = {frame.index: (shape, result) for (frame, shape, _), result in zip(kept, smoothed)}
    last = max(todo)
    with open_source(spec) as again:
        for frame in again:
            if frame.index > last:
                break
            if frame.index in todo and frame.image is not None:
                shape, result = todo.pop(frame.index)
                emit(frame, result, shape)
                if stop():
                    return
    if todo:
        raise FaultError(f"{spec}: read again for the annotated video, it gave "
                         f"{len(kept) - len(todo)} of the {len(kept)} frames it gave before")
