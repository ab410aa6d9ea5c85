"""UBody as DWPose uses it: ``dwpose prepare ubody``, ``--data coco+ubody``, ``eval --ubody``.

The data is a small UBody-shaped tree (``tests/ubody_tree.py``): two scenes of short mp4 videos
whose frames show their own index and a person whose keypoints sit on squares coloured by part.
"""
from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from engines import files
from engines.errors import FaultError
from engines.skeleton import KEYPOINT_NAMES, PARTS, SIGMAS, coco_person_category
from tests import ubody_tree
from tests.ubody_tree import VIDEOS, frame_index, keypoint_grid, part_at
from trainer.ubody import (
    add_category,
    frame_of,
    is_complete,
    prepare,
    sampled_file,
    source_frame_index,
    split_video_name,
)

REPO = Path(__file__).resolve().parents[1]

#: COCO's person category, as DWPose's add_cat.py writes it (1-based skeleton).
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
                 [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5],
                 [4, 6], [5, 7]]
COCO_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
              "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
              "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]


def expected_frames(interval: int = 10) -> dict[str, tuple[str, int]]:
    """Relative image path -> (video file, decoded frame index) of every sampled image."""
    out = {}
    for v in VIDEOS:
        for n in range(1, v.images + 1):
            if (v.first_id + n - 1) % interval == 0:
                index = n - 1 if v.fps == 30 else (n - 1) // 2  # 15 fps: each frame twice
                out[f"{v.scene}/{v.name}/{n:06d}.png"] = (f"{v.scene}/{v.name}.mp4", index)
    return out


def decoded(video: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            return frames
        frames.append(img)


def image_files(root: Path) -> set[str]:
    return {p.relative_to(root / "images").as_posix()
            for p in (root / "images").rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict:
    root = ubody_tree.build(tmp_path_factory.mktemp("ubody") / "UBody")
    originals = {s: (root / "annotations" / s / "keypoint_annotation.json").read_bytes()
                 for s in ("Speech", "Fitness")}
    log: list[str] = []
    report = prepare(root, workers=1, progress=False, log=log.append)
    return {"root": root, "report": report, "log": log, "originals": originals}


# --------------------------------------------------------------------------------------------
# Names and the frame-number mapping
# --------------------------------------------------------------------------------------------


def test_person_category_is_cocos() -> None:
    cat = coco_person_category()
    assert cat == {"supercategory": "person", "id": 1, "name": "person",
                   "keypoints": COCO_NAMES, "skeleton": COCO_SKELETON}
    assert cat["keypoints"] == list(KEYPOINT_NAMES[:17])


def test_frame_names_and_split_names() -> None:
    assert frame_of("/spk_a/000123.png") == ("spk_a", 123)
    assert frame_of("spk_a/000001.png") == ("spk_a", 1)
    assert frame_of("a/b/000007.jpg") == ("a/b", 7)
    for bad in ("000001.png", "spk_a/frame.png", "spk_a/000000.png", ""):
        assert frame_of(bad) is None, bad
    assert split_video_name("Speech_s12_Trim3") == "Speech_s12"
    assert split_video_name("nested/clip_Trim1") == "clip"
    assert split_video_name("clip") == "clip"


def test_source_frame_index_known_answers() -> None:
    # 30 fps (UBody's rate): image n is decoded frame n - 1
    assert [source_frame_index(n, 30.0) for n in range(1, 6)] == [0, 1, 2, 3, 4]
    # 15 fps: ffmpeg -r 30 shows every frame twice; 60 fps: every other frame
    assert [source_frame_index(n, 15.0) for n in range(1, 7)] == [0, 0, 1, 1, 2, 2]
    assert [source_frame_index(n, 60.0) for n in range(1, 5)] == [0, 2, 4, 6]
    # 25 fps: frame j covers the 30 fps slots from round(1.2 j): 0 1 2 2 3 4 5
    assert [source_frame_index(n, 25.0) for n in range(1, 8)] == [0, 1, 2, 2, 3, 4, 5]
    assert source_frame_index(10, 0.0) == 9 and source_frame_index(10, math.nan) == 9
    with pytest.raises(ValueError):
        source_frame_index(0, 30.0)


def test_is_complete(tmp_path) -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    for suffix in (".png", ".jpg"):
        path = tmp_path / f"a{suffix}"
        cv2.imwrite(str(path), img)
        assert is_complete(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        assert not is_complete(path), suffix
    (tmp_path / "b.bmp").write_bytes(b"")
    assert not is_complete(tmp_path / "b.bmp") and not is_complete(tmp_path / "missing.png")


# --------------------------------------------------------------------------------------------
# dwpose prepare ubody
# --------------------------------------------------------------------------------------------


def test_prepare_writes_exactly_the_named_frames(prepared) -> None:
    root, report = prepared["root"], prepared["report"]
    want = expected_frames()
    assert image_files(root) == set(want)  # nothing else, no temporary file
    assert report.written == len(want) == 13 and report.present == 0 and not report.problems
    videos: dict[str, list[np.ndarray]] = {}
    for rel, (video, index) in want.items():
        frames = videos.setdefault(video, decoded(root / "videos" / video))
        img = cv2.imread(str(root / "images" / rel))
        assert frame_index(img) == index, rel  # the right frame ...
        assert np.array_equal(img, frames[index]), rel  # ... losslessly
    assert "Fitness/fit_b (15 fps)" in report.notes[0]


def test_interval_keeps_ids_divisible_by_it(tmp_path, prepared) -> None:
    root = ubody_tree.build(tmp_path / "UBody")
    report = prepare(root, interval=5, workers=1, progress=False, log=lambda _m: None)
    want = expected_frames(5)
    assert image_files(root) == set(want) and report.written == len(want) == 25
    for split in ("train", "val"):
        every5 = json.loads(sampled_file(root, split, 5).read_text())
        assert all(img["file_name"] in want for img in every5["images"])
        assert not sampled_file(root, split, 10).exists()
    ids = [img["id"] for img in json.loads(
        sampled_file(root, "train", 5, "Speech").read_text())["images"]]
    assert ids == [0, 5, 10, 15, 20, 25]  # spk_a only: spk_b is a test video


def test_category_entry_added_once_original_kept(prepared, capsys) -> None:
    root = prepared["root"]
    assert prepared["report"].categories_added == 2
    for scene, original in prepared["originals"].items():
        path = root / "annotations" / scene / "keypoint_annotation.json"
        assert (path.parent / "keypoint_annotation.json.orig").read_bytes() == original
        data = json.loads(path.read_text())
        assert data.pop("categories") == [coco_person_category()]
        assert data == json.loads(original)  # nothing else changed
        assert path.read_text().count("\n") == 1  # still one line of JSON
    path = root / "annotations" / "Speech" / "keypoint_annotation.json"
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    assert add_category(path) is False  # idempotent: left untouched
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_category_write_is_atomic(tmp_path, monkeypatch) -> None:
    path = tmp_path / "keypoint_annotation.json"
    path.write_text('{"images": [], "annotations": []}\n')
    real_open = files._open

    class FullDisk:  # the new annotation file fills the disk at its first write
        def __init__(self, target, text, append=False) -> None:
            self.handle = real_open(target, text, append)

        def write(self, _data) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(files, "_open", FullDisk)
    with pytest.raises(FaultError, match="cannot write the annotations"):
        add_category(path)
    assert path.read_text() == '{"images": [], "annotations": []}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name + ".orig"]


def test_split_and_sampled_files(prepared) -> None:
    root = prepared["root"]
    speech_val = json.loads(sampled_file(root, "val", 10, "Speech").read_text())
    assert [i["file_name"] for i in speech_val["images"]] == [  # _Trim1 stripped, "/" dropped
        "spk_b_Trim1/000006.png", "spk_b_Trim1/000016.png", "spk_b_Trim1/000026.png"]
    assert [i["id"] for i in speech_val["images"]] == [40, 50, 60]  # ids kept per scene
    assert speech_val["categories"] == [coco_person_category()]
    for split, videos in (("train", {"spk_a", "fit_a"}), ("val", {"spk_b_Trim1", "fit_b"})):
        coco = json.loads(sampled_file(root, split, 10).read_text())
        names = [i["file_name"] for i in coco["images"]]
        assert {n.split("/")[1] for n in names} == videos
        assert all((root / "images" / n).is_file() for n in names)
        assert [i["id"] for i in coco["images"]] == list(range(1, len(names) + 1))
        assert [a["image_id"] for a in coco["annotations"]] == list(range(1, len(names) + 1))
        assert prepared["report"].images[split] == len(names)


def test_cli_prints_the_disk_space_first_and_resumes(tmp_path, capsys) -> None:
    root = ubody_tree.build(tmp_path / "UBody")
    assert main(["prepare", "ubody", str(root), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    estimate = next(line for line in out.splitlines() if line.startswith("frames: 13 to write"))
    assert out.index(estimate) < out.index("frames: 13 written")
    value, unit = estimate.split("about ")[1].split(" ")[:2]
    need = float(value) * {"B": 1, "KB": 1e3, "MB": 1e6}[unit]
    actual = sum(p.stat().st_size for p in (root / "images").rglob("*.png"))
    assert 0.5 < need / actual < 2.0, (need, actual)
    assert main(["prepare", "ubody", str(root), "--workers", "1"]) == 0
    assert "all 13 present, nothing to write" in capsys.readouterr().out


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_resume_after_a_kill(tmp_path, prepared) -> None:
    """SIGKILL between writing a frame's temporary file and renaming it; then run again."""
    root = ubody_tree.build(tmp_path / "UBody")
    killer = (
        "import os, signal, sys\n"
        "real, seen = os.replace, []\n"
        "def replace(src, dst):\n"
        "    if str(dst).endswith('.png'):\n"
        "        seen.append(dst)\n"
        "        if len(seen) == 4:\n"
        "            os.kill(os.getpid(), signal.SIGKILL)\n"
        "    real(src, dst)\n"
        "os.replace = replace\n"
        "from app.cli import main\n"
        "sys.exit(main(['prepare', 'ubody', sys.argv[1], '--workers', '1']))\n")
    done = subprocess.run([sys.executable, "-c", killer, str(root)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    first = ["Speech/spk_a/000001.png", "Speech/spk_a/000011.png", "Speech/spk_a/000021.png"]
    leftovers = [p.name for p in (root / "images" / "Speech" / "spk_b_Trim1").iterdir()]
    assert image_files(root) - {f"Speech/spk_b_Trim1/{n}" for n in leftovers} == set(first)
    assert len(leftovers) == 1 and ".part" in leftovers[0]  # never a partial frame
    stats = {f: os.stat(root / "images" / f) for f in first}

    log: list[str] = []
    report = prepare(root, workers=1, progress=False, log=log.append)
    assert report.present == 3 and report.written == 10 and not report.problems
    want = expected_frames()
    assert image_files(root) == set(want)  # the temporary file is gone
    for f, st in stats.items():  # complete frames are not written again
        now = os.stat(root / "images" / f)
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    clean = prepared["root"]
    for rel in want:
        assert (root / "images" / rel).read_bytes() == (clean / "images" / rel).read_bytes()
    for split in ("train", "val"):
        assert sampled_file(root, split, 10).read_text() == \
            sampled_file(clean, split, 10).read_text()

    cut = root / "images" / first[1]  # a frame cut short (another tool, a full disk)
    cut.write_bytes(cut.read_bytes()[:100])
    report = prepare(root, workers=1, progress=False, log=log.append)
    assert (report.written, report.present) == (1, 12)
    assert cut.read_bytes() == (clean / "images" / first[1]).read_bytes()


def test_parallel_workers_write_the_same_files(tmp_path, prepared) -> None:
    root = ubody_tree.build(tmp_path / "UBody")
    report = prepare(root, workers=2, progress=False, log=lambda _m: None)
    assert report.written == 13 and not report.problems
    assert image_files(root) == image_files(prepared["root"])
    for rel in image_files(root):
        assert (root / "images" / rel).read_bytes() == \
            (prepared["root"] / "images" / rel).read_bytes()


def test_unreadable_videos_are_reported_at_the_end(tmp_path, capsys) -> None:
    root = ubody_tree.build(tmp_path / "UBody")
    videos = root / "videos" / "Speech"
    (videos / "spk_bad.mp4").write_bytes(os.urandom(4096))  # not a video
    ubody_tree.write_video(videos / "spk_short.mp4", 30.0, 5)  # ends after 5 frames
    path = root / "annotations" / "Speech" / "keypoint_annotation.json"
    data = json.loads(path.read_text())
    for video, first_id in (("spk_bad", 300), ("spk_short", 400), ("spk_gone", 500)):
        for n in (1, 11, 21):
            data["images"].append({"id": first_id + n - 1, "file_name": f"{video}/{n:06d}.png",
                                   "width": 224, "height": 128})
            data["annotations"].append({**data["annotations"][0], "id": first_id + n,
                                        "image_id": first_id + n - 1})
    data["images"].append({"id": 600, "file_name": "not_a_frame.png", "width": 1, "height": 1})
    path.write_text(json.dumps(data))

    assert main(["prepare", "ubody", str(root), "--workers", "2"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    problems = [line.strip() for line in captured.err.splitlines()[1:]]
    assert len(problems) == 4, captured.err
    assert any("not_a_frame.png" in p and "names no frame" in p for p in problems)
    assert any(p.startswith(f"{videos / 'spk_bad.mp4'}: cannot be opened") for p in problems)
    assert any(p.startswith(f"{videos / 'spk_short.mp4'}: ends after 5 frames; 2 annotated")
               for p in problems)
    assert any(p.startswith("Speech/spk_gone: no video file") for p in problems)
    assert "left out: 8 sampled image(s)" in captured.out  # bad 3, short 2, gone 3
    assert image_files(root) == set(expected_frames()) | {"Speech/spk_short/000001.png"}
    train = json.loads(sampled_file(root, "train", 10).read_text())
    assert all((root / "images" / i["file_name"]).is_file() for i in train["images"])
    assert len(train["images"]) == 6 + 1


def test_prepare_user_errors(tmp_path, capsys) -> None:
    root = ubody_tree.build(tmp_path / "UBody")
    cases = [
        ([str(tmp_path / "nowhere")], "folder not found"),
        ([str(root / "videos")], "no annotations/ folder"),
        ([str(root), "--scenes", "Movie"], "--scenes Movie: no"),
        ([str(root), "--interval", "0"], "--interval 0: must be >= 1"),
        ([str(root), "--workers", "0"], "--workers 0: must be >= 1"),
        ([str(root), "--split-file", str(root / "none.npy")], "none.npy: file not found"),
    ]
    for argv, message in cases:
        assert main(["prepare", "ubody", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    np.save(root / "objects.npy", np.array([{"a": 1}], dtype=object))
    assert main(["prepare", "ubody", str(root), "--split-file", str(root / "objects.npy")]) == 2
    assert "objects.npy: not a numpy array of video names" in capsys.readouterr().err
    (root / "annotations" / "Speech" / "keypoint_annotation.json").write_text("[1, 2]")
    assert main(["prepare", "ubody", str(root)]) == 2
    assert "expected COCO-WholeBody-format annotations" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# The dataset reads the 133 points in skeleton order
# --------------------------------------------------------------------------------------------


def test_keypoint_order_as_read_by_the_dataset(prepared) -> None:
    pytest.importorskip("torch")
    from trainer.data import CocoWholeBodyDataset

    root = prepared["root"]
    for split in ("train", "val"):
        dataset = CocoWholeBodyDataset(*_set(root, split))
        assert len(dataset) == prepared["report"].images[split] and not dataset.skipped
        for i in range(len(dataset)):
            sample = dataset.load(i)
            np.testing.assert_allclose(sample["keypoints"], keypoint_grid())
            for part, rng in PARTS.items():  # e.g. 23-90 land on the face, 91-111 on the
                for k in rng:                # left hand (not mmpose's old hands-then-face)
                    assert part_at(sample["img"], *sample["keypoints"][k]) == part, (part, k)


def _set(root: Path, split: str) -> tuple[Path, Path]:
    return sampled_file(root, split, 10), root / "images"


# --------------------------------------------------------------------------------------------
# --data coco+ubody (train, distill)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip("torch")
    from trainer.data import generate

    out = tmp_path_factory.mktemp("coco")
    return generate(out, 4, seed=3), out / "images"


def _train_args(*extra: str, command: str = "train") -> list[str]:
    return [command, "--arch", "t", "--epochs", "1", "--batch-size", "4", "--workers", "0",
            "--no-progress", *extra]


def test_a_training_step_on_the_mixture(prepared, coco, tmp_path, capsys) -> None:
    root, (ann, img) = prepared["root"], coco
    work = tmp_path / "mix"
    rc = main(_train_args("--data", "coco+ubody", "--train-ann", str(ann), "--train-img",
                          str(img), "--ubody-root", str(root), "--work-dir", str(work)))
    out = capsys.readouterr().out
    assert rc == 0, out
    n_coco = len(json.loads(ann.read_text())["annotations"])
    n_ubody = prepared["report"].images["train"]
    total = n_coco + n_ubody
    assert (f"mixing: {ann} ({n_coco} samples, {n_coco / total:.1%}) + "
            f"{sampled_file(root, 'train', 10)} ({n_ubody} samples, {n_ubody / total:.1%})"
            in out)
    assert f"{total} samples, {total // 4} iterations/epoch" in out
    assert (work / "latest.pth").is_file()


def test_mixture_ratio_and_interval_options(prepared, coco, tmp_path) -> None:
    from app.cli import build_parser
    from app.cli.train import prepare_training

    root, (ann, img) = prepared["root"], coco
    base = ["--train-ann", str(ann), "--train-img", str(img), "--ubody-root", str(root),
            "--work-dir", str(tmp_path), "--data", "coco+ubody"]
    for command in ("train", "distill"):
        extra = ("--stage", "1", "--teacher", "t.pth") if command == "distill" else ()
        args = build_parser().parse_args(_train_args(*base, *extra, "--ubody-ratio", "0.25",
                                                     command=command))
        dataset = prepare_training(args, "256x192").loader.dataset
        np.testing.assert_allclose(dataset.ratios, [0.75, 0.25])
        sources = [dataset.source(i) for i in range(len(dataset))]
        assert sources.count(1) == round(0.25 * len(dataset))
        assert str(dataset.datasets[1].ann_file) == str(sampled_file(root, "train", 10))
    every5 = ubody_tree.build(tmp_path / "UBody5")
    prepare(every5, interval=5, workers=1, progress=False, log=lambda _m: None)
    args = build_parser().parse_args(_train_args(*base[:5], str(every5), *base[6:],
                                                 "--ubody-interval", "5"))
    dataset = prepare_training(args, "256x192").loader.dataset
    assert dataset.datasets[1].ann_file == sampled_file(every5, "train", 5)
    sizes = np.array([len(d) for d in dataset.datasets], float)
    np.testing.assert_allclose(dataset.ratios, sizes / sizes.sum())  # as DWPose concatenates


def test_mixture_user_errors(prepared, coco, tmp_path, capsys) -> None:
    root, (ann, img) = prepared["root"], coco
    data = ["--train-ann", str(ann), "--train-img", str(img), "--work-dir", str(tmp_path)]
    unprepared = ubody_tree.build(tmp_path / "raw")
    cases = [
        (["--ubody-root", str(root)], "--ubody-root: only with --data coco+ubody"),
        (["--data", "coco+ubody"], "needs --ubody-root DIR"),
        (["--data", "coco+ubody", "--ubody-root", str(root), "--ubody-ratio", "1.5"],
         "--ubody-ratio 1.5: expected a share between 0 and 1"),
        (["--data", "coco+ubody", "--ubody-root", str(root), "--ratio", "1"],
         "give UBody's share as --ubody-ratio"),
        (["--data", "coco+ubody", "--ubody-root", str(unprepared)],
         f"run 'dwpose prepare ubody {unprepared} --interval 10' first"),
        (["--data", "coco+ubody", "--ubody-root", str(root), "--ubody-interval", "3"],
         "train_every3.json not found"),
    ]
    for extra, message in cases:
        assert main(_train_args(*data, *extra)) == 2, extra
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


# --------------------------------------------------------------------------------------------
# dwpose eval --ubody
# --------------------------------------------------------------------------------------------


def _person(image_id: int, face_dx: float = 0.0) -> tuple[dict, dict]:
    """A ground-truth person (body and one face point labelled, nothing else) and its
    prediction: exact, except the face point ``face_dx`` px off."""
    body = np.array([[60 + 4 * j, 40 + 5 * j, 2] for j in range(17)], float)
    face = np.zeros((68, 3))
    face[0] = (80, 50, 2)
    zeros = np.zeros((21, 3))
    ann = {"id": image_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
           "bbox": [50.0, 30.0, 100.0, 100.0], "area": 10000.0, "num_keypoints": 17,
           "keypoints": body.ravel().tolist(), "foot_kpts": np.zeros(18).tolist(),
           "face_kpts": face.ravel().tolist(), "lefthand_kpts": zeros.ravel().tolist(),
           "righthand_kpts": zeros.ravel().tolist()}
    pred = np.concatenate([body, np.zeros((6, 3)), face, zeros, zeros])
    pred[:, 2] = 1.0
    pred[PARTS["face"].start, 0] += face_dx
    return ann, {"image_id": image_id, "category_id": 1, "keypoints": pred.ravel().tolist(),
                 "score": 0.9 if face_dx == 0 else 0.8}


def test_eval_per_scene_hand_computed(tmp_path, capsys) -> None:
    # Scene B's face point sits where its OKS is 0.725: matched at thresholds .50-.70 only
    sigma, area, oks = SIGMAS[PARTS["face"].start], 10000.0, 0.725
    dx = math.sqrt(-math.log(oks) * 2 * area * (2 * sigma) ** 2)
    (ann_a, pred_a), (ann_b, pred_b) = _person(1), _person(2, dx)
    gt = {"images": [{"id": 1, "file_name": "SceneA/v/000001.png", "width": 300, "height": 300},
                     {"id": 2, "file_name": "SceneB/w/000001.png", "width": 300, "height": 300}],
          "annotations": [ann_a, ann_b], "categories": [coco_person_category()]}
    root = tmp_path / "UBody"
    (root / "annotations").mkdir(parents=True)
    sampled_file(root, "val", 10).write_text(json.dumps(gt))
    results, out = tmp_path / "results.json", tmp_path / "metrics.json"
    results.write_text(json.dumps([pred_a, pred_b]))
    assert main(["eval", "--ubody", str(root), "--pred", str(results), "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "left_hand" in table and "scene" in table
    m = json.loads(out.read_text())
    assert list(m) == ["overall", "SceneA", "SceneB"]
    close = {"abs": 1e-9}
    for group in m:
        for part in ("foot", "left_hand", "right_hand"):  # no labelled point: no ground truth
            assert m[group][part]["AP"] == -1 and m[group][part]["AR"] == -1
        for part in ("body", "wholebody"):  # wholebody OKS (17 + 0.725) / 18 > .95
            assert m[group][part]["AP"] == pytest.approx(1, **close)
            assert m[group][part]["AR"] == pytest.approx(1, **close)
    assert m["SceneA"]["face"]["AP"] == pytest.approx(1, **close)
    assert m["SceneB"]["face"]["AP"] == pytest.approx(0.5, **close)  # 5 of 10 thresholds
    assert m["SceneB"]["face"]["AR"] == pytest.approx(0.5, **close)
    # both scenes: at .75-.95, A (score .9) matches and B does not, so precision is 1 up to
    # recall .5: 51 of the 101 recall points
    assert m["overall"]["face"]["AP"] == pytest.approx((5 + 5 * 51 / 101) / 10, **close)
    assert m["overall"]["face"]["AP .75"] == pytest.approx(51 / 101, **close)
    assert m["overall"]["face"]["AR"] == pytest.approx(0.75, **close)


def test_eval_ubody_checkpoint_equals_results_file(prepared, tmp_path, capsys) -> None:
    torch = pytest.importorskip("torch")
    from trainer.models import build_model

    ckpt = tmp_path / "t.pth"
    torch.manual_seed(0)
    torch.save({"state_dict": build_model("t", "256x192").state_dict()}, ckpt)
    root = prepared["root"]
    m1, m2, res = tmp_path / "m1.json", tmp_path / "m2.json", tmp_path / "r.json"
    assert main(["eval", "--ubody", str(root), "--checkpoint", str(ckpt), "--workers", "0",
                 "--save-results", str(res), "--json", str(m1)]) == 0
    out = capsys.readouterr().out
    assert f"{prepared['report'].images['val']} ground-truth boxes" in out
    assert main(["eval", "--ubody", str(root), "--pred", str(res), "--json", str(m2)]) == 0
    assert json.loads(m1.read_text()) == json.loads(m2.read_text())
    assert list(json.loads(m1.read_text())) == ["overall", "Speech", "Fitness"]


def test_eval_ubody_user_errors(prepared, tmp_path, capsys) -> None:
    root = prepared["root"]
    res = tmp_path / "r.json"
    res.write_text("[]")
    unprepared = ubody_tree.build(tmp_path / "raw")
    cases = [
        (["--pred", str(res)], "give --gt GT.json"),
        (["--ubody", str(root), "--gt", str(res), "--pred", str(res)],
         "--ubody replaces --gt and --images"),
        (["--ubody", str(unprepared), "--pred", str(res)],
         f"run 'dwpose prepare ubody {unprepared} --interval 10' first"),
        (["--gt", str(res), "--pred", str(res), "--ubody-interval", "5"],
         "--ubody-interval: only with --ubody"),
    ]
    for argv, message in cases:
        assert main(["eval", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_demo_tree_script(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.ubody_tree", str(tmp_path / "demo")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "demo" / "videos" / "Speech").iterdir()) == [
        "spk_a.mp4", "spk_b_Trim1.mp4"]
    shutil.rmtree(tmp_path / "demo")
