"""``engines.files``: whole files or none, every write checked; and the option ranges of
``app.cli.flags``.

A full disk is ``tests.platforms.FullDisk`` (every write ENOSPC); where /dev/full exists, the
kernel's own also answers. Windows' and macOS's rules are posed with ``tests.platforms``.
"""
from __future__ import annotations

import argparse
import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli.flags import number, parts
from engines import files
from engines.errors import FaultError, UserError
from engines.files import (
    AtomicFile,
    append_text,
    check_output_dir,
    check_output_file,
    remove_stale_temps,
    remove_stale_temps_in,
    replace,
    sync_file,
    temp_path,
    write_error,
    write_file,
    write_image,
)
from tests.platforms import FullDisk, windows_file_rules


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_a_file_appears_whole_or_not_at_all(tmp_path):
    path = tmp_path / "out.json"
    write_file(path, "old", "results")
    with pytest.raises(KeyError), AtomicFile(path, "results", text=True) as f:
        f.write("half of the new")
        assert temp_path(path).is_file() and path.read_text() == "old"
        raise KeyError("the writer failed")
    assert path.read_text() == "old" and not leftovers(tmp_path)
    with AtomicFile(path, "results", text=True) as f:
        f.write("new")
    assert path.read_text() == "new" and not leftovers(tmp_path)


def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"
    write_file(path, b"old", "data")
    monkeypatch.setattr(files, "_open", FullDisk)
    with pytest.raises(FaultError) as info:
        write_file(path, b"x" * 100_000, "data")
    assert str(info.value) == (f"{path}: cannot write the data (No space left on device); "
                               "the existing file is unchanged")
    assert info.value.exit_code == 1
    assert path.read_bytes() == b"old" and not leftovers(tmp_path)


@pytest.mark.parametrize(("code", "cls"), [(errno.ENOSPC, FaultError), (errno.EIO, FaultError),
                                           (errno.EACCES, UserError), (errno.EROFS, UserError),
                                           (errno.ENOTDIR, UserError)])
def test_path_problems_are_the_users_and_the_rest_are_faults(tmp_path, code, cls):
    error = write_error(tmp_path / "x.json", OSError(code, os.strerror(code)), "results")
    assert type(error) is cls and error.exit_code == (2 if cls is UserError else 1)
    assert str(error) == f"{tmp_path / 'x.json'}: cannot write the results ({os.strerror(code)})"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/null and /dev/full")
def test_devices_are_written_directly_never_renamed_over():
    """Renaming over /dev/null or /dev/full would replace the device node itself (as root)."""
    write_file("/dev/null", "discarded", "results")
    with pytest.raises(FaultError, match="/dev/full: cannot write the results "
                                         r"\(No space left on device\)"):
        write_file("/dev/full", "x" * 100_000, "results")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    assert not os.path.isfile("/dev/full")
    assert not [p for p in os.listdir("/dev") if ".part" in p]


def test_temporaries_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    path = tmp_path / "latest.pth"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    orphan = path.with_name(f".latest.{int(dead.stdout)}.part.pth")
    alive = path.with_name(f".latest.{os.getppid()}.part.pth")  # the process that runs pytest
    other = path.with_name(f".best.{int(dead.stdout)}.part.pth")  # another file's
    for p in (orphan, alive, other):
        p.write_bytes(b"partial")
    assert remove_stale_temps(path) == [orphan]
    assert leftovers(tmp_path) == sorted([alive.name, other.name])
    write_file(path, b"complete", "checkpoint")  # a durable write cleans up first
    assert path.read_bytes() == b"complete"


@pytest.fixture(scope="module")
def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_windows_asks_kernel32_whether_a_writer_runs(tmp_path, monkeypatch, dead_pid):
    """On Windows ``os.kill(pid, 0)`` sends Ctrl+C or raises: liveness is OpenProcess +
    GetExitCodeProcess; another user's process (access denied) counts as alive."""
    kernel32 = windows_file_rules(monkeypatch)
    if kernel32 is None:
        pytest.skip("this is Windows: the real kernel32 answers")
    kernel32.denied = frozenset({4})  # a pid of the System process
    path = tmp_path / "m.onnx"
    dead = path.with_name(f".m.{dead_pid}.part.onnx")
    alive = path.with_name(f".m.{os.getppid()}.part.onnx")
    foreign = path.with_name(".m.4.part.onnx")
    for p in (dead, alive, foreign):
        p.write_bytes(b"partial")
    assert remove_stale_temps(path) == [dead]
    assert leftovers(tmp_path) == sorted([alive.name, foreign.name])
    assert not kernel32.open_handles  # every handle opened was closed


def test_a_writer_whose_state_is_unknown_keeps_its_file(tmp_path, monkeypatch, dead_pid):
    """POSIX: an ``os.kill`` error other than 'no such process' keeps the file and never
    fails the write that asked."""
    def kill(pid, sig):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "kill", kill)
    monkeypatch.setattr(files, "SYSTEM", "linux")
    path = tmp_path / "r.json"
    orphan = path.with_name(f".r.{dead_pid}.part.json")
    orphan.write_bytes(b"?")
    write_file(path, "done", "results")
    assert path.read_text() == "done" and orphan.exists()


def test_stale_temporaries_of_every_file_of_a_folder(tmp_path, dead_pid):
    names = [f".000011.{dead_pid}.part.png", f".model.int8.{dead_pid}.part.onnx",
             f".notes.{dead_pid}.part", f".x.{os.getppid()}.part.png", ".hidden.png",
             f"000011.{dead_pid}.part.png"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    removed = sorted(p.name for p in remove_stale_temps_in(tmp_path))
    assert removed == sorted(names[:3])


def test_syncing_opens_the_file_for_writing(tmp_path, monkeypatch):
    """Windows' FlushFileBuffers needs write access: a sync through a read-only descriptor
    fails there (emulated), and ``replace`` used to delete the finished file after it."""
    windows_file_rules(monkeypatch)
    tmp, path = tmp_path / ".v.1.part.mp4", tmp_path / "v.mp4"
    tmp.write_bytes(b"video")
    sync_file(tmp)
    replace(tmp, path, "annotated video")
    assert path.read_bytes() == b"video" and not tmp.exists()


def test_macos_syncs_past_the_drive_cache(tmp_path, monkeypatch):
    fcntl = pytest.importorskip("fcntl")
    calls = []

    def fake_fcntl(fd, command, *args):
        calls.append(command)
        if len(calls) > 1:
            raise OSError(errno.ENOTSUP, "not supported")  # an SMB share

    fsyncs = []
    monkeypatch.setattr(files, "SYSTEM", "darwin")
    monkeypatch.setattr(fcntl, "F_FULLFSYNC", 51, raising=False)
    monkeypatch.setattr(fcntl, "fcntl", fake_fcntl)
    monkeypatch.setattr(os, "fsync", fsyncs.append)
    write_file(tmp_path / "a.json", "{}", "results")
    assert calls == [51] and fsyncs == []
    write_file(tmp_path / "b.json", "{}", "results")
    assert calls == [51, 51] and len(fsyncs) == 1  # F_FULLFSYNC refused: plain fsync


@pytest.mark.parametrize(("system", "tries"), [("win32", 3), ("linux", 1)])
def test_renames_are_retried_on_windows_only(tmp_path, monkeypatch, system, tries):
    real, seen, path = os.replace, [], tmp_path / "out.json"

    def blocked_twice(src, dst):
        if Path(dst) == path:
            seen.append(dst)
            if len(seen) <= 2:
                raise PermissionError(13, "Access is denied")
        real(src, dst)

    monkeypatch.setattr(files, "SYSTEM", system)
    monkeypatch.setattr(files, "RETRY_DELAYS", (0.001,) * 6)
    monkeypatch.setattr(os, "replace", blocked_twice)
    if system == "win32":
        write_file(path, "new", "results")
        assert path.read_text() == "new"
    else:  # a POSIX EACCES is no lock that goes away: the output is kept aside at once
        with pytest.raises(UserError, match="kept as .*out.new.json"):
            write_file(path, "new", "results")
    assert len(seen) == tries


def test_a_log_row_waits_for_a_spreadsheet_to_let_go(tmp_path, monkeypatch):
    log = tmp_path / "log.csv"
    append_text(log, "epoch,loss\r\n", "training log")
    real, refusals = files._open, []

    def held(path, text, append=False):
        if len(refusals) < 2:
            refusals.append(path)
            raise PermissionError(13, "Access is denied")
        return real(path, text, append)

    windows_file_rules(monkeypatch)
    monkeypatch.setattr(files, "_open", held)
    append_text(log, "1,0.5\r\n", "training log")
    assert log.read_bytes() == b"epoch,loss\r\n1,0.5\r\n" and len(refusals) == 2


def test_images_are_encoded_by_suffix_and_failures_are_errors(tmp_path):
    image = np.full((8, 12, 3), 77, np.uint8)
    write_image(tmp_path / "a.png", image)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "a.png")), image)
    with pytest.raises(UserError, match="cannot encode an image as .txt"):
        write_image(tmp_path / "a.txt", image)
    assert not (tmp_path / "a.txt").exists() and not leftovers(tmp_path)


def test_output_paths_are_checked_before_any_work(tmp_path):
    (tmp_path / "file").write_text("mine")
    assert check_output_dir(tmp_path / "new" / "dir", "-o").is_dir()
    with pytest.raises(UserError, match="-o .*file: is a file; expected a folder"):
        check_output_dir(tmp_path / "file", "-o")
    with pytest.raises(UserError, match=r"-o .*file[/\\]sub: .*file is not a folder"):
        check_output_dir(tmp_path / "file" / "sub", "-o")
    with pytest.raises(UserError, match="--json .*: is a folder; expected a file name"):
        check_output_file(tmp_path, "--json")
    with pytest.raises(UserError, match=r"--json .*file[/\\]m.json: .*file is not a folder"):
        check_output_file(tmp_path / "file" / "m.json", "--json")
    if os.path.exists("/dev/full"):
        assert check_output_file("/dev/full", "--json") is not None  # written directly
    assert (tmp_path / "file").read_text() == "mine" and not leftovers(tmp_path / "new" / "dir")


@pytest.mark.parametrize(("parse", "text", "value"), [
    (number(float, 0, 1), "0", 0.0), (number(float, 0, 1), "1", 1.0),
    (number(float, 0, 1, low_open=True), "1e-9", 1e-9), (number(int, 1), "3", 3),
    (number(int, 7, 20), "20", 20)])
def test_numbers_in_range_pass(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize(("parse", "text", "message"), [
    (number(float, 0, 1), "1.5", "expected a number in [0, 1], got 1.5"),
    (number(float, 0, 1), "inf", "expected a number in [0, 1], got inf"),
    (number(float, 0, 1, low_open=True), "0", "expected a number in (0, 1], got 0"),
    (number(float, 0, low_open=True), "nan", "expected a number > 0, got nan"),
    (number(int, 0), "-1", "expected an integer >= 0, got -1"),
    (number(int, 1), "2.5", "expected an integer >= 1, got '2.5'"),
    (number(float), "-inf", "expected a finite number, got -inf"),
    (parts, "body,,elbow", "unknown skeleton part 'elbow'"),
    (parts, ",", "expected one or more part names, got ','")])
def test_numbers_out_of_range_are_refused_naming_the_range(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match="^" + re.escape(message)):
        parse(text)
