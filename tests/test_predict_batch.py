"""``dwpose predict`` on many inputs: several paths, globs, recursive folders; one output
folder per input with one input's layout; --skip-existing; --shard; the summary line; a
failed input among good ones."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from engines.errors import InputError
from engines.sources import Input, list_inputs, shard
from tests.onnx_models import make_detector_onnx


@pytest.fixture(scope="module")
def det(tmp_path_factory):
    return make_detector_onnx(tmp_path_factory.mktemp("det") / "det.onnx", 64,
                              [(8, 4, 40, 60, 0.9)])


def _video(path: Path, frames: int = 3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (80, 64))
    for i in range(frames):
        image = np.full((64, 80, 3), 60, np.uint8)
        image[8:56, 10 + 4 * i:40 + 4 * i] = 200
        writer.write(image)
    writer.release()
    return path


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((64, 80, 3), 90, np.uint8))
    return path


@pytest.fixture
def tree(tmp_path) -> Path:
    """clips/a.mp4, clips/b.mp4, clips/more/c.mp4, photos/{x,y}.png, photos/.hidden/z.png,
    clips/notes.txt."""
    root = tmp_path / "tree"
    for name in ("clips/a.mp4", "clips/b.mp4", "clips/more/c.mp4"):
        _video(root / name)
    for name in ("photos/x.png", "photos/y.png", "photos/.hidden/z.png"):
        _image(root / name)
    (root / "clips" / "notes.txt").write_text("not media")
    return root


def _run(capsys, det, pose, *args: str) -> tuple[int, list[str]]:
    code = main(["predict", "--det", str(det), "--pose", str(pose), *args])
    return code, capsys.readouterr().out.splitlines()


def test_list_inputs_keys_and_order(tree, monkeypatch):
    monkeypatch.chdir(tree)
    found = list_inputs(["clips/*.mp4", "photos"])
    assert found == [Input(str(Path("clips/a.mp4")), "clips/a"),
                     Input(str(Path("clips/b.mp4")), "clips/b"), Input("photos", "photos")]
    walked = list_inputs(["."], recursive=True)
    assert [i.key for i in walked] == ["clips/a", "clips/b", "clips/more/c", "photos"]
    assert [i.key for i in list_inputs(["clips/**/*.mp4"])] == ["a", "b", "more/c"]
    assert list_inputs(["clips/a.mp4"]) == [Input("clips/a.mp4", "a")]  # one input: its name
    # the same file twice is one input; a video beside a folder of its name keeps its suffix
    assert len(list_inputs(["clips/a.mp4", "./clips/a.mp4"])) == 1
    _image(tree / "clips" / "a" / "f.png")
    assert [i.key for i in list_inputs(["clips/a.mp4", "clips/a"])] == ["a", "a.mp4"]
    # the output folder is never an input
    assert "photos" not in [i.key for i in list_inputs(["."], True, exclude="photos")]


def test_list_inputs_refuses_what_names_nothing(tree, monkeypatch):
    monkeypatch.chdir(tree)
    with pytest.raises(InputError, match="nothing/\\*.mp4: no file or folder matches"):
        list_inputs(["nothing/*.mp4"])
    with pytest.raises(InputError, match="gone.mp4: no such file"):
        list_inputs(["clips/a.mp4", "gone.mp4"])
    with pytest.raises(InputError, match="a camera runs until it is stopped"):
        list_inputs(["0", "clips/a.mp4"])


def test_shards_split_the_sorted_list():
    inputs = [Input(f"{k}.mp4", k) for k in "abcdefg"]
    parts = [shard(inputs, i, 3) for i in (1, 2, 3)]
    assert [[x.key for x in p] for p in parts] == [["a", "d", "g"], ["b", "e"], ["c", "f"]]
    with pytest.raises(ValueError):
        shard(inputs, 0, 3)


def test_a_batch_writes_one_input_layout_per_input(tree, tmp_path, capsys, det, pose256):
    out = tmp_path / "out"
    code, lines = _run(capsys, det, pose256, "-i", str(tree / "clips" / "*.mp4"),
                       str(tree / "photos"), "-o", str(out), "--openpose-json")
    assert code == 0
    assert lines[-1] == "3 done, 0 skipped, 0 failed"
    # clips/a.mp4 -> out/clips/a/ as `-i clips/a.mp4 -o out/clips/a` would write it
    for name in ("a", "b"):
        folder = out / "clips" / name
        assert (folder / f"{name}_pose.mp4").is_file()
        assert len(list((folder / f"{name}_frames").glob("*_keypoints.json"))) == 3
        assert {r["image_id"] for r in json.loads((folder / "results.json").read_text())} == \
            {0, 1, 2}
        assert (folder / "results.done.json").is_file()
    assert sorted(p.name for p in (out / "photos").iterdir()) == [
        "results.done.json", "results.json", "x.png", "x_keypoints.json", "y.png",
        "y_keypoints.json"]
    # a single input keeps today's layout: files straight into -o, no record
    single = tmp_path / "single"
    code, lines = _run(capsys, det, pose256, "-i", str(tree / "clips" / "a.mp4"), "-o",
                       str(single))
    assert code == 0 and sorted(p.name for p in single.iterdir()) == ["a_pose.mp4",
                                                                       "results.json"]
    assert lines[0].startswith("3 frames in ")


def test_recursive_skip_existing_and_a_changed_option(tree, tmp_path, capsys, det, pose256):
    out = tmp_path / "out"
    args = ["-i", str(tree), "--recursive", "-o", str(out), "--no-draw"]
    code, lines = _run(capsys, det, pose256, *args)
    assert code == 0 and lines[-1] == "4 done, 0 skipped, 0 failed"
    assert sorted(str(p.relative_to(out).parent) for p in out.rglob("results.json")) == [
        str(Path("clips/a")), str(Path("clips/b")), str(Path("clips/more/c")), "photos"]
    assert not (out / "photos" / ".hidden").exists()
    (out / "clips" / "b" / "results.done.json").unlink()  # as if b had been stopped
    code, lines = _run(capsys, det, pose256, *args, "--skip-existing")
    assert code == 0 and lines[-1] == "1 done, 3 skipped, 0 failed"
    assert any(line.endswith("clips/a.mp4: done before, skipped") for line in lines)
    code, lines = _run(capsys, det, pose256, *args, "--skip-existing", "--parts", "body")
    assert lines[-1] == "4 done, 0 skipped, 0 failed"  # other outputs: not done


def test_shards_run_disjoint_parts(tree, tmp_path, capsys, det, pose256):
    out = tmp_path / "out"
    seen = []
    for i in (1, 2):
        code, lines = _run(capsys, det, pose256, "-i", str(tree), "-r", "-o", str(out),
                           "--no-draw", "--shard", f"{i}/2")
        assert code == 0 and lines[-1] == f"shard {i}/2: 2 done, 0 skipped, 0 failed"
        seen.append([line.split("] ")[1].split(" -> ")[0] for line in lines
                     if line.startswith("[")])
    assert not set(seen[0]) & set(seen[1]) and len(seen[0] + seen[1]) == 4
    assert len(list(out.rglob("results.json"))) == 4


def test_a_failed_input_does_not_stop_the_batch(tree, tmp_path, capsys, det, pose256):
    fake = tree / "clips" / "broken.mp4"
    fake.write_text("not a video")
    out = tmp_path / "out"
    code = main(["predict", "--det", str(det), "--pose", str(pose256), "-i",
                 str(tree / "clips" / "*.mp4"), "-o", str(out), "--no-draw"])
    captured = capsys.readouterr()
    assert code == 2
    last = captured.out.splitlines()[-1]
    assert last.startswith("2 done, 0 skipped, 1 failed (")
    assert "broken.mp4: cannot open as a video" in last
    assert "broken.mp4: cannot open as a video" in captured.err
    assert (out / "a" / "results.json").is_file() and (out / "b" / "results.json").is_file()
    assert not (out / "broken" / "results.done.json").exists()


def test_batch_refusals(tree, tmp_path, capsys, det, pose256):
    code = main(["predict", "--det", str(det), "--pose", str(pose256), "-i",
                 str(tree / "clips" / "a.mp4"), str(tree / "clips" / "b.mp4"),
                 "--output-json", str(tmp_path / "r.json")])
    assert code == 2 and "--output-json names one results file" in capsys.readouterr().err
    code = main(["predict", "--det", str(det), "--pose", str(pose256), "-i",
                 str(tree / "none" / "*.mp4")])
    assert code == 2 and "no file or folder matches" in capsys.readouterr().err
