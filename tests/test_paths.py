"""Paths, cameras, certificates and the console on each system, posed on this one
(``engines.paths``, ``engines.camera``, ``engines.download``, ``app.console``)."""
from __future__ import annotations

import io
import os
import ssl
import sys
import types
import urllib.error
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.console import safe_output
from engines import camera, download, paths
from engines.errors import InputError, UserError


@pytest.mark.parametrize(("system", "want"), [
    ("win32", "{local}/dwpose/Cache"), ("darwin", "{home}/Library/Caches/dwpose"),
    ("linux", "{home}/.cache/dwpose")])
def test_the_cache_is_where_each_system_keeps_caches(monkeypatch, tmp_path, system, want):
    env = {"LOCALAPPDATA": str(tmp_path / "AppData" / "Local")}
    monkeypatch.setattr(paths, "SYSTEM", system)
    monkeypatch.setattr(paths, "ENVIRON", env)
    home = tmp_path / "home"
    assert paths.default_cache_dir(home) == Path(want.format(local=env["LOCALAPPDATA"],
                                                             home=home))
    env["DWPOSE_HOME"] = str(tmp_path / "mine")
    assert paths.default_cache_dir(home) == tmp_path / "mine"


def test_an_earlier_cache_with_models_is_kept(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "SYSTEM", "win32")
    monkeypatch.setattr(paths, "ENVIRON", {"LOCALAPPDATA": str(tmp_path / "local")})
    legacy = tmp_path / ".cache" / "dwpose"
    legacy.mkdir(parents=True)
    assert paths.default_cache_dir(tmp_path) == tmp_path / "local" / "dwpose" / "Cache"
    (legacy / "yolox_nano.onnx").write_bytes(b"model")
    assert paths.default_cache_dir(tmp_path) == legacy


def test_same_file_asks_the_file_system(tmp_path):
    """Two spellings of one folder (here a link; on macOS also another case or Unicode
    normalisation) are one folder; a path that does not exist is no other's."""
    shots = tmp_path / "shots"
    shots.mkdir()
    link = tmp_path / "Shots-link"
    try:
        link.symlink_to(shots, target_is_directory=True)
    except OSError:
        pytest.skip("no symbolic links here (Windows without developer mode)")
    assert paths.same_file(link, shots) and paths.same_file(shots / ".." / "shots", shots)
    assert not paths.same_file(tmp_path / "other", shots)


def test_listings_skip_appledouble_files_and_sort_by_code_point(tmp_path):
    for name in ("b.jpg", "B.jpg", "a.PNG", "._a.PNG", ".hidden.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.jpg").mkdir()
    names = [p.name for p in paths.visible_files(tmp_path, {".jpg", ".png"})]
    assert names == ["B.jpg", "a.PNG", "b.jpg"]  # "B" (66) before "a" (97), as on Linux


# ------------------------------------------------------------------------------ cameras


class Captures:
    """``cv2.VideoCapture`` posed: the backends in ``opens`` open, the others do not."""

    def __init__(self, opens: set[int], refuse_params: bool = False) -> None:
        self.opens, self.refuse_params, self.calls = opens, refuse_params, []

    def __call__(self, index, backend, params):
        self.calls.append((backend, tuple(params)))
        ok = backend in self.opens and not (params and self.refuse_params)
        return types.SimpleNamespace(isOpened=lambda: ok, release=lambda: None,
                                     set=lambda prop, value: self.calls.append(("set", prop)))


@pytest.mark.parametrize(("system", "order"), [("win32", ("msmf", "dshow")),
                                               ("darwin", ("avfoundation",)),
                                               ("linux", ("v4l2", "any"))])
def test_each_system_tries_its_camera_backends(monkeypatch, system, order):
    env: dict[str, str] = {}
    monkeypatch.setattr(camera, "SYSTEM", system)
    monkeypatch.setattr(camera, "ENVIRON", env)
    assert camera.backend_order() == order
    fake = Captures({camera.BACKENDS[order[-1]]})
    monkeypatch.setattr(cv2, "VideoCapture", fake)
    _cap, used = camera.open_camera(0, (1280, 720))
    assert used == order[-1]
    tried = [b for i, (b, _) in enumerate(fake.calls) if i == 0 or fake.calls[i - 1][0] != b]
    assert tried == [camera.BACKENDS[n] for n in order]
    assert fake.calls[-1][1] == (cv2.CAP_PROP_FRAME_WIDTH, 1280, cv2.CAP_PROP_FRAME_HEIGHT, 720)
    assert (env.get("OPENCV_VIDEOIO_MSMF_ENABLE_HW_TRANSFORMS") == "0") == (system == "win32")


def test_a_backend_without_open_parameters_is_asked_afterwards(monkeypatch):
    monkeypatch.setattr(camera, "ENVIRON", {camera.BACKEND_ENV: "any"})
    fake = Captures({cv2.CAP_ANY}, refuse_params=True)
    monkeypatch.setattr(cv2, "VideoCapture", fake)
    camera.open_camera(2, (640, 480))
    assert fake.calls[1] == (cv2.CAP_ANY, ()) and ("set", cv2.CAP_PROP_FRAME_WIDTH) in fake.calls


def test_a_camera_that_does_not_open_says_what_to_do_on_macos(monkeypatch):
    monkeypatch.setattr(camera, "SYSTEM", "darwin")
    monkeypatch.setattr(camera, "ENVIRON", {})
    monkeypatch.setattr(cv2, "VideoCapture", Captures(set()))
    with pytest.raises(InputError, match=r"camera 0: does not open .*Privacy & Security > "
                                         r"Camera"):
        camera.open_camera(0)


def test_the_probe_leaves_the_streaming_camera_alone(monkeypatch):
    fake = Captures({cv2.CAP_V4L2})
    monkeypatch.setattr(camera, "SYSTEM", "linux")
    monkeypatch.setattr(camera, "ENVIRON", {})
    monkeypatch.setattr(cv2, "VideoCapture", fake)
    assert camera.probe_cameras(3, in_use={1}) == [0, 1, 2]
    assert len(fake.calls) == 2  # cameras 0 and 2 only


def test_an_unknown_camera_backend_is_one_line(monkeypatch):
    monkeypatch.setattr(camera, "ENVIRON", {camera.BACKEND_ENV: "quicktime"})
    with pytest.raises(UserError, match="DWPOSE_CAMERA_BACKEND='quicktime': expected one of"):
        camera.backend_order()


# ------------------------------------------------------------------------- certificates


def test_a_macos_python_without_certificates_uses_certifis(monkeypatch):
    """python.org's macOS Python before 'Install Certificates.command': an OpenSSL with no
    store (posed: a context with nothing loaded)."""
    paths_now = ssl.get_default_verify_paths()
    bundle = paths_now.cafile or paths_now.openssl_cafile
    if not bundle or not os.path.isfile(bundle):
        pytest.skip("no CA bundle file on this machine to pose as certifi's")
    monkeypatch.setitem(sys.modules, "certifi", types.SimpleNamespace(where=lambda: bundle))
    monkeypatch.setattr(download, "_has_ca_store", lambda: False)
    monkeypatch.setattr(ssl, "create_default_context",
                        lambda: ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    monkeypatch.setattr(download, "SYSTEM", "linux")
    assert download.ssl_context().cert_store_stats()["x509_ca"] == 0  # nothing loaded
    monkeypatch.setattr(download, "SYSTEM", "darwin")
    assert download.ssl_context().cert_store_stats()["x509_ca"] > 10


def test_a_certificate_failure_on_macos_names_the_fix(monkeypatch):
    error = urllib.error.URLError(ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))
    monkeypatch.setattr(download, "SYSTEM", "darwin")
    assert "Install Certificates.command" in download._reason(error)
    monkeypatch.setattr(download, "SYSTEM", "linux")
    assert "Install Certificates" not in download._reason(error)


# ------------------------------------------------------------------------------ console


def test_output_a_code_page_cannot_encode_is_escaped(monkeypatch):
    """Windows writes redirected output in cp1252, which has no 'Ł'."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    err = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    safe_output()
    print("zapisano Łódź/wynik.json")
    out.flush()
    assert out.buffer.getvalue() == b"zapisano \\u0141\\xf3d\\u017a/wynik.json\n".replace(
        b"\\xf3", "ó".encode("cp1252"))


# ------------------------------------------------------------- non-ASCII image paths


def test_the_trainer_reads_and_writes_images_off_opencvs_path_functions(monkeypatch, tmp_path):
    """Windows' OpenCV opens file names with the ANSI code page: cv2.imread/imwrite fail for
    'José'. The trainer goes through imdecode/imencode and Python's own file I/O."""
    pytest.importorskip("torch")
    from trainer.data import CocoWholeBodyDataset, generate

    def refuse(*_args, **_kwargs):
        raise AssertionError("cv2.imread/imwrite called with a path")

    monkeypatch.setattr(cv2, "imread", refuse)
    monkeypatch.setattr(cv2, "imwrite", refuse)
    folder = tmp_path / "José" / "データ"
    ann = generate(folder, num_images=2, image_size=(96, 128), seed=0)
    dataset = CocoWholeBodyDataset(ann, folder / "images")
    sample = dataset.load(0)
    assert sample["img"].shape == (128, 96, 3) and sample["img"].dtype == np.uint8
