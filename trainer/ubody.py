"""UBody as DWPose trains on it: frames from the videos, the category entry, sampled files.

UBody (Lin et al., CVPR 2023) ships videos and COCO-WholeBody-format annotations of their frames::

    ROOT/videos/<scene>/<video>.mp4
    ROOT/annotations/<scene>/keypoint_annotation.json   one JSON on the first line
    ROOT/splits/intra_scene_test_list.npy               the names of the test videos

Upstream (DWPose's ``video2image.py``, ``add_cat.py`` and its COCO-style dataset; mmpose's
``UBody2dDataset`` and its UBody converter), and what this module does:

- **Frames.** Upstream converts every video with ``ffmpeg -r 30`` into
  ``images/<scene>/<video>/%06d.png``, numbered from 1. An image record's ``file_name``
  (``<video>/000123.png``, some with a leading ``/``) is relative to ``images/<scene>/``. Here
  OpenCV decodes only the frames the sampled annotations name, and writes them under the
  names ``file_name`` gives (``source_frame_index`` maps a number to a decoded frame).
- **Category.** Upstream adds the COCO person category (id 1, the 17 body keypoint names and
  the COCO skeleton) to each ``keypoint_annotation.json``; so does ``add_category``, atomically,
  once, keeping the original as ``keypoint_annotation.json.orig``.
- **Sampling and split.** Upstream keeps the images whose id is divisible by 10 (mmpose's
  ``sample_interval=10``) and splits on the video name (the directory of ``file_name``, less
  any ``_Trim...`` suffix): videos of ``intra_scene_test_list.npy`` are the test set, the rest
  the training set. ``sample_scene`` does the same with any interval.
- **Keypoint order.** Each part has its own field (``keypoints`` 17, ``foot_kpts`` 6,
  ``face_kpts`` 68, ``lefthand_kpts`` 21, ``righthand_kpts`` 21), as in COCO-WholeBody. DWPose
  reads UBody with the COCO-WholeBody loader (body, foot, face, left hand, right hand: the 133
  order of ``engines.skeleton``), and so does ``trainer.data.CocoWholeBodyDataset``. An older
  mmpose ``UBody2dDataset`` concatenated body, foot, left hand, right hand, face while declaring
  COCO-WholeBody's point names (faces labelled as hands); mmpose later made it a
  ``CocoWholeBodyDataset``.

``prepare`` writes, for interval N (``train`` = every video but the test ones, ``val`` = the
test videos, as DWPose trains and tests):

- ``annotations/<scene>/{train,val}_every<N>.json``: file names relative to ``images/<scene>``;
- ``annotations/{train,val}_every<N>.json``: all scenes, file names relative to ``images/``
  (``<scene>/<video>/<frame>``), image and annotation ids renumbered from 1. ``dwpose train
  --data coco+ubody`` and ``dwpose eval --ubody`` read these.

Sampled files list only the images whose frame was written, so that evaluation never counts a
frame it could not read as a miss. The module needs no PyTorch (``dwpose prepare`` and ``dwpose
eval --pred`` run without it), which is why it lives beside, not in, ``trainer.data``.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import signal
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engines.errors import UserError
from engines.files import copy_file, remove_stale_temps_in, write_file, write_image
from engines.skeleton import coco_person_category

__all__ = [
    "ANNOTATION_NAME",
    "DEFAULT_INTERVAL",
    "DEFAULT_SPLIT",
    "SCENES",
    "PrepareReport",
    "add_category",
    "frame_of",
    "is_complete",
    "prepare",
    "read_annotations",
    "sample_scene",
    "sampled_file",
    "scene_of",
    "source_frame_index",
    "split_video_name",
    "ubody_set",
]

#: UBody's 15 scenes, in the order of DWPose's and mmpose's configs.
SCENES: tuple[str, ...] = (
    "Magic_show", "Entertainment", "ConductMusic", "Online_class", "TalkShow", "Speech",
    "Fitness", "Interview", "Olympic", "TVShow", "Singing", "SignLanguage", "Movie",
    "LiveVlog", "VideoConference",
)  # fmt: skip
ANNOTATION_NAME = "keypoint_annotation.json"
#: The test-video list DWPose splits on (relative to ROOT).
DEFAULT_SPLIT = Path("splits") / "intra_scene_test_list.npy"
#: 1 image in 10, as DWPose and mmpose's ``sample_interval=10``.
DEFAULT_INTERVAL = 10
#: The frame rate of upstream's images (``ffmpeg -r 30``).
IMAGES_FPS = 30.0
SPLITS = ("train", "val")
#: The last bytes of a complete file, per image format.
_TRAILERS = {".png": b"IEND\xaeB`\x82", ".jpg": b"\xff\xd9", ".jpeg": b"\xff\xd9"}


# --------------------------------------------------------------------------------------------
# Names: frames, videos, sampled files
# --------------------------------------------------------------------------------------------


def frame_of(file_name: str) -> tuple[str, int] | None:
    """``(video, number)`` of an image ``file_name`` (``[/]<video>/<000123>.png``): the video's
    path relative to its scene folder, without suffix, and the 1-based frame number; None when
    the name does not have that form."""
    parts = file_name.lstrip("/").split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    if len(parts) < 2 or not stem.isdigit() or int(stem) < 1:
        return None
    return "/".join(parts[:-1]), int(stem)


def split_video_name(video: str) -> str:
    """The name a split list uses for ``video``: its last component less any ``_Trim...``."""
    return video.rsplit("/", 1)[-1].split("_Trim")[0]


def source_frame_index(number: int, fps: float) -> int:
    """The 0-based decoded frame that upstream's 30 fps image ``number`` (1-based) shows.

    ffmpeg's rate conversion gives output slot ``k = number - 1`` (time ``k / 30``) the last
    source frame ``j`` with ``round(j * 30 / fps) <= k``: ``j = ceil((k + 0.5) * fps / 30) - 1``.
    At 30 fps that is ``k`` itself; a 60 fps video gives ``2k``, a 15 fps one ``k // 2``.
    """
    k = int(number) - 1
    if k < 0:
        raise ValueError(f"frame numbers start at 1, got {number}")
    ratio = float(fps) / IMAGES_FPS if fps and math.isfinite(fps) and fps > 0 else 1.0
    return max(0, math.ceil((k + 0.5) * ratio - 1e-9) - 1)


def sampled_file(root: str | Path, split: str, interval: int, scene: str | None = None) -> Path:
    """Where ``prepare`` writes a sampled annotation file (all scenes when ``scene`` is None)."""
    folder = Path(root) / "annotations"
    return (folder if scene is None else folder / scene) / f"{split}_every{interval}.json"


def scene_of(image: Mapping[str, Any]) -> str:
    """The scene of an image record of an all-scenes sampled file (first part of its name)."""
    return str(image.get("file_name", "")).split("/", 1)[0]


def ubody_set(root: str | Path, split: str, interval: int = DEFAULT_INTERVAL,
              flag: str = "--ubody-root") -> tuple[Path, Path]:
    """``(annotation file, image folder)`` of the prepared all-scenes ``split``.

    Raises:
        UserError: ``root`` is not a folder, or ``prepare`` has not written that file.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{flag} {root}: folder not found (expected a UBody folder with "
                        "videos/ and annotations/)")
    ann = sampled_file(root, split, interval)
    if not ann.is_file():
        raise UserError(f"{flag} {root}: {ann} not found (expected the prepared UBody {split} "
                        f"set; run 'dwpose prepare ubody {root} --interval {interval}' first)")
    return ann, root / "images"


# --------------------------------------------------------------------------------------------
# Annotation files
# --------------------------------------------------------------------------------------------


def read_annotations(path: str | Path) -> dict[str, Any]:
    """The COCO-style dict of an annotation file: the first JSON value in it (UBody writes one
    JSON on the first line; a pretty-printed file reads the same).

    Raises:
        UserError: the file is missing, unreadable or holds no COCO-style object.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data, _end = json.JSONDecoder().raw_decode(text.lstrip())
    except FileNotFoundError:
        raise UserError(f"{path}: file not found (expected UBody annotations)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}; expected "
                        "COCO-WholeBody-format annotations)") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise UserError(f"{path}: expected COCO-WholeBody-format annotations (an object with "
                        "'images' and 'annotations' lists)")
    return data


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, separators=(",", ":")) + "\n"
    write_file(path, text, "annotations", durable=True)


def add_category(path: str | Path, data: dict[str, Any] | None = None) -> bool:
    """Give the annotation file at ``path`` the COCO person category; True when it was added.

    Idempotent: a file that has it already is left untouched. Otherwise the original is first
    copied to ``<name>.orig`` (once: an existing copy is the first original) and the file is
    replaced atomically by one line of JSON with ``categories`` set. ``data`` is the file's
    content when the caller has read it already; it is updated in place.
    """
    path = Path(path)
    if data is None:
        data = read_annotations(path)
    category = [coco_person_category()]
    if data.get("categories") == category:
        return False
    backup = path.with_name(path.name + ".orig")
    if not backup.exists():
        copy_file(path, backup, "annotation backup")
    data["categories"] = category
    _write_json(path, data)
    return True


def load_test_videos(path: str | Path) -> set[str]:
    """The video names of a split list (``splits/*.npy``, a numpy array of strings)."""
    path = Path(path)
    try:
        names = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found (expected UBody's test-video list, from its "
                        "splits download; or give --split-file)") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a numpy array of video names ({exc})") from None
    if names.dtype.kind not in "US":
        raise UserError(f"{path}: expected an array of video names, found dtype {names.dtype}")
    return {n.decode() if isinstance(n, bytes) else str(n) for n in names.ravel().tolist()}


@dataclass
class SceneSample:
    """One scene's sampled images, per split, and its images that name no frame."""

    splits: dict[str, dict[str, Any]]
    bad_names: list[str] = field(default_factory=list)


def sample_scene(data: Mapping[str, Any], interval: int, test_videos: set[str]) -> SceneSample:
    """DWPose's UBody sampling: images whose id is divisible by ``interval``, split into
    ``train`` and ``val`` (the videos of ``test_videos``), with their annotations.

    File names lose a leading ``/``; images whose name is not ``<video>/<number>.<ext>`` are
    left out and listed in ``bad_names``. Each split is a COCO dict with the person category.
    """
    out = {s: {"images": [], "annotations": [], "categories": [coco_person_category()]}
           for s in SPLITS}
    split_of: dict[int, str] = {}
    bad: list[str] = []
    for img in data["images"]:
        image_id = img.get("id") if isinstance(img, Mapping) else None
        if not isinstance(image_id, int) or image_id % interval:
            continue
        name = str(img.get("file_name", ""))
        frame = frame_of(name)
        if frame is None:
            bad.append(name)
            continue
        split = "val" if split_video_name(frame[0]) in test_videos else "train"
        split_of[image_id] = split
        out[split]["images"].append({**img, "file_name": name.lstrip("/")})
    for ann in data["annotations"]:
        split = split_of.get(ann.get("image_id")) if isinstance(ann, Mapping) else None
        if split is not None:
            out[split]["annotations"].append(ann)
    return SceneSample(out, bad)


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


def is_complete(path: str | Path) -> bool:
    """Whether ``path`` is a whole image file: PNG ending in its IEND chunk, JPEG in its end
    marker, any other format non-empty. A file cut short (a killed writer) is not."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        return False
    trailer = _TRAILERS.get(path.suffix.lower())
    if trailer is None:
        return size > 0
    if size < len(trailer):
        return False
    with open(path, "rb") as f:
        f.seek(-len(trailer), os.SEEK_END)
        return f.read() == trailer


@dataclass
class VideoTask:
    """The frames to write from one video: ``(number, output path)`` pairs."""

    name: str  # <scene>/<video>, for reports
    video: Path | None  # None: no video file found
    frames: list[tuple[int, Path]]


@dataclass
class VideoResult:
    name: str
    frames: int  # frames the task asked for
    written: int = 0
    fps: float = 0.0
    problem: str | None = None


def extract_video(task: VideoTask) -> VideoResult:
    """Decode ``task.video`` once, front to back, writing the frames ``task`` names.

    Leftover temporary files of a killed run are removed first. Never raises: a video that
    cannot be opened or ends before a wanted frame comes back as ``problem``.
    """
    result = VideoResult(task.name, len(task.frames))
    if task.video is None:
        result.problem = f"{task.name}: no video file (looked for {task.name}.* under videos/)"
        return result
    try:
        for folder in {out.parent for _n, out in task.frames}:
            remove_stale_temps_in(folder)
        cap = cv2.VideoCapture(str(task.video))
        if not cap.isOpened():
            result.problem = f"{task.video}: cannot be opened as a video"
            return result
        try:
            result.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            wanted: dict[int, list[Path]] = defaultdict(list)
            for number, out in task.frames:
                wanted[source_frame_index(number, result.fps)].append(out)
            position = 0  # index of the next frame grab() decodes
            for index in sorted(wanted):
                while position <= index and cap.grab():
                    position += 1
                if position <= index:
                    missing = sum(len(v) for k, v in wanted.items() if k >= index)
                    result.problem = (f"{task.video}: ends after {position} frames; "
                                      f"{missing} annotated frame(s) lie beyond it "
                                      f"(first: {wanted[index][0].name})")
                    break
                ok, image = cap.retrieve()
                if not ok or image is None:
                    result.problem = f"{task.video}: frame {index} cannot be decoded"
                    break
                for out in wanted[index]:
                    write_image(out, image, "frame")
                    result.written += 1
        finally:
            cap.release()
    except Exception as exc:  # noqa: BLE001 (any failure is this video's problem, reported)
        result.problem = f"{task.name}: {type(exc).__name__}: {exc}"
    return result


def _bytes_per_pixel(task: VideoTask) -> float | None:
    """Encoded size per pixel of the first wanted frame of ``task`` (None if unreadable)."""
    if task.video is None:
        return None
    cap = cv2.VideoCapture(str(task.video))
    try:
        if not cap.isOpened():
            return None
        number, out = task.frames[0]
        index = source_frame_index(number, float(cap.get(cv2.CAP_PROP_FPS) or 0.0))
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = cap.read()
        if not ok or image is None:
            return None
        ok, data = cv2.imencode(out.suffix, image)
        return len(data) / (image.shape[0] * image.shape[1]) if ok else None
    finally:
        cap.release()


def _size(num_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1000 or unit == "GB":
            return f"{num_bytes:.1f} {unit}" if unit != "B" else f"{num_bytes:.0f} B"
        num_bytes /= 1000
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------
# The whole preparation
# --------------------------------------------------------------------------------------------


@dataclass
class PrepareReport:
    """What ``prepare`` did; ``problems`` lists each video or file it could not use."""

    scenes: list[str]
    written: int = 0
    present: int = 0
    categories_added: int = 0
    images: dict[str, int] = field(default_factory=dict)  # split -> sampled images kept
    dropped: int = 0  # sampled images left out: their frame could not be written
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_scenes(root: Path, only: Iterable[str] | None = None) -> list[str]:
    """The scene folders of ``root/annotations`` that hold an annotation file, in SCENES order
    (others after, by name); ``only`` restricts them (an unknown name is an error)."""
    folder = root / "annotations"
    if not folder.is_dir():
        raise UserError(f"{root}: no annotations/ folder (expected UBody's layout: "
                        f"annotations/<scene>/{ANNOTATION_NAME} and videos/<scene>/)")
    found = sorted(p.name for p in folder.iterdir() if (p / ANNOTATION_NAME).is_file())
    found.sort(key=lambda s: (SCENES.index(s) if s in SCENES else len(SCENES), s))
    if only is not None:
        only = list(only)
        unknown = [s for s in only if s not in found]
        if unknown:
            raise UserError(f"--scenes {' '.join(unknown)}: no {folder}/<scene>/"
                            f"{ANNOTATION_NAME} (found: {', '.join(found) or 'none'})")
        found = [s for s in found if s in only]
    if not found:
        raise UserError(f"{folder}: no <scene>/{ANNOTATION_NAME} found")
    return found


def _video_files(folder: Path) -> dict[str, Path]:
    """Video path relative to ``folder`` without its suffix -> file."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).with_suffix("").as_posix(): p
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def prepare(root: str | Path, interval: int = DEFAULT_INTERVAL,
            split_file: str | Path | None = None, scenes: Iterable[str] | None = None,
            workers: int = 1, progress: bool = True,
            log: Callable[[str], None] = print) -> PrepareReport:
    """Make the UBody download at ``root`` ready for ``dwpose train`` and ``dwpose eval``.

    Per scene: add the category entry, sample 1 image in ``interval`` and split it by
    ``split_file`` (default ``root/splits/intra_scene_test_list.npy``); then write the frames
    those images name (``workers`` processes, one video at a time each; frames already
    complete are skipped, so a stopped run resumes); then the sampled files, per scene and for
    all scenes, holding only images whose frame exists. The disk space the frames need is
    logged before any is written.

    Raises:
        UserError: ``root`` does not have UBody's layout, or the split list is unusable.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: folder not found (expected the UBody download: "
                        "videos/, annotations/, splits/)")
    if interval < 1:
        raise UserError(f"--interval {interval}: must be >= 1")
    names = find_scenes(root, scenes)
    test_videos = load_test_videos(split_file if split_file is not None
                                   else root / DEFAULT_SPLIT)
    report = PrepareReport(scenes=names)
    missing = [s for s in SCENES if s not in names]
    if missing:
        log(f"note: {len(missing)} of DWPose's {len(SCENES)} scenes are not prepared here: "
            f"{', '.join(missing)}")

    tasks: list[VideoTask] = []
    pixels: dict[Path, int] = {}
    for scene in names:
        ann_path = root / "annotations" / scene / ANNOTATION_NAME
        data = read_annotations(ann_path)
        report.categories_added += add_category(ann_path, data)
        sample = sample_scene(data, interval, test_videos)
        del data
        for name in sample.bad_names[:3]:
            report.problems.append(f"{ann_path}: file_name {name!r} names no frame "
                                   "(expected <video>/<number>.png)")
        if len(sample.bad_names) > 3:
            report.problems.append(f"{ann_path}: {len(sample.bad_names) - 3} more such names")
        for split, coco in sample.splits.items():
            _write_json(sampled_file(root, split, interval, scene), coco)
        videos = _video_files(root / "videos" / scene)
        frames: dict[str, list[tuple[int, Path]]] = defaultdict(list)
        for coco in sample.splits.values():
            for img in coco["images"]:
                frame = frame_of(img["file_name"])
                assert frame is not None  # sample_scene keeps only names of frames
                video, number = frame
                out = root / "images" / scene / img["file_name"]
                if is_complete(out):
                    report.present += 1
                    continue
                frames[video].append((number, out))
                pixels[out] = int(img.get("width") or 0) * int(img.get("height") or 0)
        tasks += [VideoTask(f"{scene}/{video}", videos.get(video), sorted(todo))
                  for video, todo in sorted(frames.items())]
        counts = {s: len(c["images"]) for s, c in sample.splits.items()}
        log(f"{scene}: {counts['train']} train + {counts['val']} val images sampled "
            f"(1 in {interval})")

    pending = sum(len(t.frames) for t in tasks)
    _log_disk_estimate(root, tasks, pixels, report.present, log)
    _run_tasks(tasks, pending, workers, progress, report)
    _write_sampled(root, names, interval, report)
    return report


def _log_disk_estimate(root: Path, tasks: list[VideoTask], pixels: dict[Path, int],
                       present: int, log: Callable[[str], None]) -> None:
    pending = sum(len(t.frames) for t in tasks)
    free = shutil.disk_usage(root).free
    if not pending:
        log(f"frames: all {present} present, nothing to write")
        return
    rate = next((r for r in map(_bytes_per_pixel, tasks[:5]) if r is not None), None)
    if rate is None:
        log(f"frames: {pending} to write ({present} present); size unknown (the first videos "
            f"cannot be read); {_size(free)} free")
        return
    known = [p for p in pixels.values() if p > 0]
    mean_pixels = sum(known) / len(known) if known else 0
    need = rate * sum(p or mean_pixels for p in pixels.values())
    log(f"frames: {pending} to write ({present} present), about {_size(need)} "
        f"({rate:.2f} bytes/pixel, measured on one frame); {_size(free)} free")
    if need > free:
        log(f"warning: the frames need about {_size(need)} but {root} has {_size(free)} free")


def _run_tasks(tasks: list[VideoTask], pending: int, workers: int, progress: bool,
               report: PrepareReport) -> None:
    """Run the video tasks (in ``workers`` processes when more than 1), with a progress bar."""
    from tqdm import tqdm

    if not tasks:
        return
    odd_fps: list[str] = []
    with tqdm(total=pending, unit="frame", desc="frames", disable=not progress,
              dynamic_ncols=True) as bar:
        def collect(result: VideoResult) -> None:
            report.written += result.written
            if result.problem:
                report.problems.append(result.problem)
            elif abs(result.fps - IMAGES_FPS) > 0.01:
                odd_fps.append(f"{result.name} ({result.fps:g} fps)")
            bar.update(result.frames)

        if workers <= 1:
            for task in tasks:
                collect(extract_video(task))
        else:
            _run_pool(tasks, workers, collect)
    if odd_fps:
        report.notes.append(
            f"{len(odd_fps)} video(s) not at 30 fps; their frames were picked by time as "
            f"ffmpeg -r 30 does: {', '.join(odd_fps[:5])}{' ...' if len(odd_fps) > 5 else ''}")


def _run_pool(tasks: list[VideoTask], workers: int,
              collect: Callable[[VideoResult], None]) -> None:
    """``extract_video`` over ``tasks`` in ``workers`` fresh processes.

    They are spawned, not forked: a fork of a process whose OpenCV/FFmpeg threads hold a lock
    can deadlock. A worker that dies (a decoder crash, the OOM killer) fails only the videos
    not finished, reported as problems. On any exception (Ctrl+C) the workers are ended at
    once: a frame cut short is only ever a temporary file, removed by the next run.
    """
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=ignore_interrupts)
    with _interrupts_ignored():  # the workers start now and keep ignoring Ctrl+C
        futures = {pool.submit(extract_video, task): task for task in tasks}
        processes = list(pool._processes.values())  # no public handle to stop them
    try:
        for future in as_completed(futures):
            try:
                collect(future.result())
            except BrokenProcessPool:
                task = futures[future]
                collect(VideoResult(task.name, len(task.frames), problem=(
                    f"{task.name}: not finished, a worker process died (a crash in the "
                    "video decoder?); run again, with --workers 1 to see which video")))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        raise
    pool.shutdown()


def ignore_interrupts() -> None:
    """A worker's first step: ignore SIGINT. Windows passes no signal disposition to a new
    process, and Ctrl+C reaches every process of the console."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Ignore SIGINT while worker processes start: on POSIX they inherit it (across exec, and
    Python keeps an ignored SIGINT) before ``ignore_interrupts`` runs, so Ctrl+C in the
    terminal, which reaches the whole process group, is the main process's alone to handle.
    A no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _write_sampled(root: Path, scenes: list[str], interval: int, report: PrepareReport) -> None:
    """Drop the images without a frame from the per-scene files; write the all-scenes files."""
    for split in SPLITS:
        combined: dict[str, Any] = {"images": [], "annotations": [],
                                    "categories": [coco_person_category()]}
        for scene in scenes:
            path = sampled_file(root, split, interval, scene)
            coco = read_annotations(path)
            kept = [img for img in coco["images"]
                    if is_complete(root / "images" / scene / img["file_name"])]
            if len(kept) < len(coco["images"]):
                report.dropped += len(coco["images"]) - len(kept)
                ids = {img["id"] for img in kept}
                coco["images"] = kept
                coco["annotations"] = [a for a in coco["annotations"]
                                       if a.get("image_id") in ids]
                _write_json(path, coco)
            new_id: dict[int, int] = {}
            for img in kept:
                new_id[img["id"]] = len(combined["images"]) + 1
                combined["images"].append({**img, "id": new_id[img["id"]],
                                           "file_name": f"{scene}/{img['file_name']}"})
            for ann in coco["annotations"]:
                combined["annotations"].append(
                    {**ann, "id": len(combined["annotations"]) + 1,
                     "image_id": new_id[ann["image_id"]]})
        _write_json(sampled_file(root, split, interval), combined)
        report.images[split] = len(combined["images"])
