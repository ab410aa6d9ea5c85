"""tests/realdata.py: ../shared first, then the model cache, then a verified download; and
conftest's ``need`` skips and ``need_reference`` failures.

Downloads come from a local HTTP server through ``$DWPOSE_MIRROR`` (no internet needed).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from engines import hub
from engines.download import file_digest
from tests import realdata
from tests.conftest import REQUIRE_ENV, need, need_dir, need_reference
from tests.realdata import DataFile, Missing
from tests.test_hub import DETECTOR, Server, _free_port_url, releases, server  # noqa: F401

CLIP = b"not really a video, but bytes with a hash"
FRAME = b"a second file in the same folder"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def env(monkeypatch, tmp_path: Path, server: Server) -> Path:  # noqa: F811
    """An empty ../shared and model cache in ``tmp_path``, the server as the mirror; returns
    the cache. Test files: ``video/clip.mp4``, ``video/frame.jpg`` (served), ``video/own.mp4``
    (published nowhere)."""
    monkeypatch.setenv(realdata.SHARED_ENV, str(tmp_path / "shared"))
    monkeypatch.setenv(hub.HOME_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(hub.MIRROR_ENV, server.base)
    monkeypatch.setattr(realdata, "_unreachable", {})
    monkeypatch.setattr(realdata, "FILES", {f.path: f for f in (
        DataFile("video/clip.mp4", _sha(CLIP), "https://upstream.invalid/a/clip.mp4"),
        DataFile("video/frame.jpg", _sha(FRAME), "https://upstream.invalid/b/frame.jpg"),
        DataFile("video/own.mp4", _sha(b"own")),
    )})
    server.state.files.update({"test-data/video/clip.mp4": CLIP,
                               "test-data/video/frame.jpg": FRAME})
    return tmp_path / "cache"


def test_the_pins_are_the_shared_copies() -> None:
    """Every pinned SHA-256 is that of the file in ../shared (the copy the tests ran on)."""
    if not realdata.shared_data().is_dir():
        pytest.skip(f"{realdata.shared_data()} not found: the pins are checked against ../shared")
    for path, entry in realdata.FILES.items():
        assert file_digest(realdata.shared_data() / path) == entry.sha256, path


def test_shared_comes_first(env: Path, tmp_path: Path, server: Server) -> None:  # noqa: F811
    shared = tmp_path / "shared" / "data" / "video" / "clip.mp4"
    shared.parent.mkdir(parents=True)
    shared.write_bytes(b"the team's copy")
    assert realdata.resolve("video/clip.mp4") == shared
    assert server.state.requests == []


def test_download_is_verified_cached_and_not_repeated(env: Path, server: Server) -> None:  # noqa: F811
    path = realdata.resolve("video/clip.mp4")
    assert path == env / "test-data" / "video" / "clip.mp4"
    assert path.read_bytes() == CLIP
    assert realdata.resolve("video/clip.mp4") == path  # from the cache now
    assert [r[:3] for r in server.state.requests] == [("/test-data/video/clip.mp4", None, 200)]


def test_a_corrupt_cached_copy_is_moved_aside_and_fetched_again(env: Path) -> None:
    cached = env / "test-data" / "video" / "clip.mp4"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    assert realdata.resolve("video/clip.mp4").read_bytes() == CLIP
    assert cached.with_name("clip.mp4.bad").read_bytes() == b"truncated"


def test_a_download_with_the_wrong_hash_is_refused(env: Path, server: Server) -> None:  # noqa: F811
    server.state.files["test-data/video/clip.mp4"] = b"something else"
    with pytest.raises(Missing, match=f"SHA-256 is .*, expected {_sha(CLIP)}") as info:
        realdata.resolve("video/clip.mp4")
    assert "moved it to" in str(info.value)
    assert not (env / "test-data" / "video" / "clip.mp4").exists()


def test_without_network_the_reason_names_all_three_ways(env: Path, monkeypatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.setenv(hub.MIRROR_ENV, _free_port_url().rsplit("/", 1)[0])
    with pytest.raises(Missing) as first:
        realdata.resolve("video/clip.mp4")
    text = str(first.value)
    assert str(tmp_path / "shared" / "data" / "video" / "clip.mp4") in text
    assert "../shared" in text and realdata.SHARED_ENV in text
    assert str(env / "test-data" / "video" / "clip.mp4") in text
    assert "the download failed: could not download" in text
    with pytest.raises(Missing, match="failed earlier in this run"):  # the host is not retried
        realdata.resolve("video/frame.jpg")


def test_a_file_published_nowhere_says_so(env: Path) -> None:
    with pytest.raises(Missing, match="has no public download: copy it to .*own.mp4 by hand"):
        realdata.resolve("video/own.mp4")


def test_a_folder_comes_whole_from_one_place(env: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delitem(realdata.FILES, "video/own.mp4")
    shared = tmp_path / "shared" / "data" / "video"
    shared.mkdir(parents=True)
    (shared / "clip.mp4").write_bytes(CLIP)
    folder = realdata.resolve_dir("video")  # ../shared lacks frame.jpg: all from the cache
    assert folder == env / "test-data" / "video"
    assert sorted(p.name for p in folder.iterdir()) == ["clip.mp4", "frame.jpg"]
    (shared / "frame.jpg").write_bytes(FRAME)
    assert realdata.resolve_dir("video") == shared
    with pytest.raises(KeyError, match="no registered files"):
        realdata.resolve_dir("vid")


def test_a_release_goes_through_dwpose_fetch(env: Path, monkeypatch, releases) -> None:  # noqa: F811
    """A registered model is the release's cache file, downloaded and checked as a model."""
    monkeypatch.setattr(realdata, "FILES", {
        "models/det.onnx": DataFile("models/det.onnx", _sha(DETECTOR), release="det")})
    monkeypatch.delenv(hub.MIRROR_ENV, raising=False)  # the release's own URL is the local server
    path = realdata.resolve("models/det.onnx")
    assert path == hub.cached_path("det") == env / "det.onnx"
    assert path.read_bytes() == DETECTOR


def test_command_line_prints_paths_or_the_reason(env: Path, capsys) -> None:
    assert realdata.main(["video/clip.mp4", "video/frame.jpg"]) == 0
    assert capsys.readouterr().out.split() == [
        str(env / "test-data" / "video" / name) for name in ("clip.mp4", "frame.jpg")]
    assert realdata.main(["video/clip.mp4", "video/own.mp4"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and "video/own.mp4: not in" in out.err


def test_need_skips_with_the_reason(env: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match="video/own.mp4: not in .*no public download"):
        need("video/own.mp4")
    with pytest.raises(pytest.skip.Exception, match="video/own.mp4"):
        need_dir("video")


def test_a_missing_reference_fails_when_ci_requires_it(monkeypatch) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="xtcocotools absent"):
        need_reference("xtcocotools absent")
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="xtcocotools absent .*must be installed"):
        need_reference("xtcocotools absent")


def test_benchmarks_say_in_one_line_what_is_missing(monkeypatch, tmp_path: Path) -> None:
    """No ../shared, no cache, no network: each benchmark exits with the reason, no traceback."""
    from benchmarks import compare, memory

    monkeypatch.setenv(realdata.SHARED_ENV, str(tmp_path / "shared"))
    monkeypatch.setenv(hub.HOME_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(hub.MIRROR_ENV, _free_port_url().rsplit("/", 1)[0])
    monkeypatch.setattr(realdata, "_unreachable", {})
    with pytest.raises(SystemExit) as info:
        compare.main(["--contenders", "ours", "--videos", str(tmp_path / "clip.mp4")])
    text = str(info.value.code)
    assert text.startswith("models/yolox_nano.onnx: not in ") and "\n" not in text
    assert "dwpose fetch yolox_nano" in text and text.endswith("or pass --det YOLOX.onnx")
    det = tmp_path / "det.onnx"
    det.write_bytes(DETECTOR)
    with pytest.raises(SystemExit, match=r"^input video .*clip.mp4: no such file$"):
        compare.main(["--contenders", "ours", "--videos", str(tmp_path / "clip.mp4"),
                      "--det", str(det)])
    with pytest.raises(SystemExit, match="single_person_dance.mp4: .*no public download.*"
                                         "or pass a video path in --cases$"):
        compare.main(["--contenders", "ours", "--det", str(det), "--cases",
                      "single_person_dance.mp4:m:1"])
    with pytest.raises(SystemExit, match=r"no public download.*or pass --video CLIP.mp4$"):
        memory.main(["--det", str(det)])
    with pytest.raises(SystemExit, match=r"^--pose .*absent.onnx: no such file$"):
        memory.main(["--det", str(det), "--video", str(det), "--pose",
                     str(tmp_path / "absent.onnx")])
