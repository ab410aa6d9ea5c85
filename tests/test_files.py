"""``engines.files``: whole files or none, every write checked; and the option ranges of
``app.cli.flags``.

A full disk is the kernel's own: /dev/full answers every write with ENOSPC.
"""
from __future__ import annotations

import argparse
import errno
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from app.cli.flags import number, parts
from engines import files
from engines.errors import FaultError, UserError
from engines.files import (
    AtomicFile,
    check_output_dir,
    check_output_file,
    remove_stale_temps,
    temp_path,
    write_error,
    write_file,
    write_image,
)


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
    monkeypatch.setattr(files, "_open", lambda p, text: open("/dev/full", "wb"))  # noqa: SIM115
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
    with pytest.raises(UserError, match=r"-o .*file/sub: .*file is not a folder"):
        check_output_dir(tmp_path / "file" / "sub", "-o")
    with pytest.raises(UserError, match="--json .*: is a folder; expected a file name"):
        check_output_file(tmp_path, "--json")
    with pytest.raises(UserError, match="--json .*file/m.json: .*file is not a folder"):
        check_output_file(tmp_path / "file" / "m.json", "--json")
    assert check_output_file("/dev/full", "--json") is not None  # a device is written directly
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
