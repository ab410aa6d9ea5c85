"""engines.hub and ``dwpose fetch`` against a local HTTP server (no internet needed)."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import app.cli as cli
from engines import download as dl
from engines import hub
from engines.errors import ModelError, UserError
from engines.models import load_model

# ----------------------------------------------------------------------------- tiny models


def _detector_model(size: int = 416, seed: int = 0) -> bytes:
    """A YOLOX-shaped model: ``images`` [1,3,S,S] -> ``output`` [1,N,85] (N anchors of S);
    ``seed`` gives another valid model of the same shape."""
    rng = np.random.default_rng(size + 1000 * seed)
    nodes, inits, flat = [], [], []
    for stride in (8, 16, 32):
        w = numpy_helper.from_array(rng.standard_normal((85, 3, 3, 3)).astype(np.float32),
                                    f"w{stride}")
        inits.append(w)
        nodes += [
            helper.make_node("AveragePool", ["images"], [f"p{stride}"],
                             kernel_shape=[stride, stride], strides=[stride, stride]),
            helper.make_node("Conv", [f"p{stride}", f"w{stride}"], [f"c{stride}"],
                             pads=[1, 1, 1, 1]),
            helper.make_node("Reshape", [f"c{stride}", "shape"], [f"r{stride}"]),
        ]
        flat.append(f"r{stride}")
    inits.append(numpy_helper.from_array(np.array([1, 85, -1], np.int64), "shape"))
    nodes += [helper.make_node("Concat", flat, ["cat"], axis=2),
              helper.make_node("Transpose", ["cat"], ["output"], perm=[0, 2, 1])]
    n = sum((size // s) ** 2 for s in (8, 16, 32))
    graph = helper.make_graph(
        nodes, "tiny_yolox",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, n, 85])], inits)
    return _serialize(graph)


def _pose_model(h: int = 256, w: int = 192, batch: int | str = "batch") -> bytes:
    """A SimCC-shaped model: ``input`` [B,3,H,W] -> ``simcc_x`` [B,133,2W], ``simcc_y``."""
    rng = np.random.default_rng(h * w)
    inits = [numpy_helper.from_array(rng.standard_normal((133, 3, 1)).astype(np.float32), "k")]
    nodes = []
    for axis, reduce_axis in (("x", 2), ("y", 3)):
        nodes += [
            helper.make_node("ReduceMean", ["input"], [f"m{axis}"], axes=[reduce_axis],
                             keepdims=0),
            helper.make_node("Conv", [f"m{axis}", "k"], [f"c{axis}"]),
            helper.make_node("Concat", [f"c{axis}", f"c{axis}"], [f"simcc_{axis}"], axis=2),
        ]
    graph = helper.make_graph(
        nodes, "tiny_simcc",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, h, w])],
        [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [batch, 133, 2 * w]),
         helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [batch, 133, 2 * h])],
        inits)
    return _serialize(graph)


def _serialize(graph) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


DETECTOR = _detector_model(416)
POSE = _pose_model(256, 192)


def test_tiny_models_fit_their_stage(tmp_path: Path) -> None:
    (tmp_path / "d.onnx").write_bytes(DETECTOR)
    (tmp_path / "p.onnx").write_bytes(POSE)
    det, det_io = load_model(tmp_path / "d.onnx", "detector", device="cpu")
    assert det_io.input_size == 416
    out = det({"images": np.zeros((1, 3, 416, 416), np.float32)})["output"]
    assert out.shape == (1, 3549, 85)
    pose, pose_io = load_model(tmp_path / "p.onnx", "pose", device="cpu")
    assert pose_io.input_size == (192, 256)
    outs = pose({"input": np.zeros((2, 3, 256, 192), np.float32)})
    assert outs["simcc_x"].shape == (2, 133, 384) and outs["simcc_y"].shape == (2, 133, 512)


# ----------------------------------------------------------------------------- server


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None, int]] = field(default_factory=list)
    if_ranges: list[str | None] = field(default_factory=list)  # If-Range of each request
    ignore_range: bool = False
    not_found: bool = False
    drop_after: int | None = None  # send only this many body bytes, once, then hang up
    etag: bool = True  # send a strong ETag (the resume validator)
    linked: bool = False  # send X-Linked-Etag: "<sha256>" as Hugging Face does
    linked_etag: dict[str, str] = field(default_factory=dict)  # a given X-Linked-Etag per path
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location (302)


def _etag(data: bytes) -> str:
    return f'"{_sha256(data)[:16]}"'


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _reply(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        state.requests.append((self.path, self.headers.get("Range"), status))
        state.if_ranges.append(self.headers.get("If-Range"))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if state.drop_after is not None:
            body, state.drop_after = body[:state.drop_after], None
            self.close_connection = True
        self.wfile.write(body)

    def do_GET(self) -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        name = self.path.lstrip("/")
        if name in state.redirects:
            self._reply(302, {"Location": state.redirects[name], "Content-Length": "0"})
            return
        data = state.files.get(name)
        if state.not_found or data is None:
            self._reply(404, {"Content-Length": "9"}, b"not found")
            return
        headers = {"ETag": _etag(data)} if state.etag else {}
        if name in state.linked_etag or state.linked:
            headers["X-Linked-Etag"] = state.linked_etag.get(name, f'"{_sha256(data)}"')
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if_range = self.headers.get("If-Range")
        fresh = if_range is None or (state.etag and if_range == _etag(data))
        if m and fresh and not state.ignore_range:
            start = int(m.group(1))
            if start >= len(data):
                self._reply(416, {"Content-Range": f"bytes */{len(data)}",
                                  "Content-Length": "0"})
                return
            self._reply(206, {**headers,
                              "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}",
                              "Content-Length": str(len(data) - start)}, data[start:])
            return
        self._reply(200, {**headers, "Content-Length": str(len(data))}, data)


@dataclass
class Server:
    state: ServerState
    base: str

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


def _serve(tls: ssl.SSLContext | None = None):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    httpd.state = ServerState()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield Server(httpd.state, f"{scheme}://127.0.0.1:{httpd.server_address[1]}")  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server():
    yield from _serve()


@pytest.fixture
def other_server():
    """A second local server (another port), for redirects between servers."""
    yield from _serve()


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch):
    """A local HTTPS server whose self-signed certificate (made with openssl) is trusted."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    yield from _serve(context)


@pytest.fixture
def releases(monkeypatch, server: Server) -> dict[str, hub.Release]:
    """Test releases served by the local server, in place of the real ones."""
    table = {
        "det": hub.Release("det", "detector", server.url("det.onnx"), "det.onnx", (416, 416)),
        "pose": hub.Release("pose", "pose", server.url("pose.onnx"), "pose.onnx", (192, 256)),
        "sdk": hub.Release("sdk", "pose", server.url("sdk.zip"), "sdk.onnx", (192, 256),
                           member="end2end.onnx"),
    }
    monkeypatch.setattr(hub, "RELEASES", table)
    monkeypatch.setattr(hub, "DEFAULT_PAIRS", {where: {"detector": "det", "pose": "pose"}
                                               for where in ("gpu", "cpu")})
    monkeypatch.delenv(hub.MIRROR_ENV, raising=False)
    server.state.files.update({"det.onnx": DETECTOR, "pose.onnx": POSE})
    return table


def _free_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.onnx"


# ----------------------------------------------------------------------------- download


def _interrupted(server: Server, name: str, dest: Path, at: int) -> None:
    """Start downloading ``name`` and lose the connection after ``at`` bytes (the .part and its
    validator stay behind)."""
    server.state.drop_after = at
    with pytest.raises(UserError, match="to resume"):
        dl.download(server.url(name), dest, progress=False, chunk=4096)


def test_download_whole_file(server: Server, tmp_path: Path) -> None:
    server.state.files["m.onnx"] = DETECTOR
    dest = tmp_path / "sub" / "m.onnx"
    assert dl.download(server.url("m.onnx"), dest, progress=True, chunk=4096) == dest
    assert dest.read_bytes() == DETECTOR
    assert sorted(p.name for p in dest.parent.iterdir()) == ["m.onnx"]  # no .part, no record
    assert server.state.requests == [("/m.onnx", None, 200)]


def test_resume_without_validator_restarts(server: Server, tmp_path: Path) -> None:
    # Resuming used to trust any .part; without a stored validator nothing says its bytes
    # belong to the file the server has now, so the download starts from zero.
    server.state.files["m.onnx"] = DETECTOR
    dest = tmp_path / "m.onnx"
    dest.with_suffix(".onnx.part").write_bytes(DETECTOR[:1000])
    dl.download(server.url("m.onnx"), dest, progress=False)
    assert server.state.requests == [("/m.onnx", None, 200)]
    assert dest.read_bytes() == DETECTOR


def test_server_without_validator_is_not_resumed(server: Server, tmp_path: Path) -> None:
    server.state.files["m.onnx"] = DETECTOR
    server.state.etag = False
    server.state.drop_after = 1000
    dest = tmp_path / "m.onnx"
    with pytest.raises(UserError) as info:
        dl.download(server.url("m.onnx"), dest, progress=False)
    assert "resume" not in str(info.value) and list(tmp_path.iterdir()) == []


def test_server_ignoring_range_restarts_from_zero(server: Server, tmp_path: Path) -> None:
    server.state.files["m.onnx"] = DETECTOR
    dest = tmp_path / "m.onnx"
    _interrupted(server, "m.onnx", dest, 1000)
    server.state.ignore_range = True
    dl.download(server.url("m.onnx"), dest, progress=False)
    assert server.state.requests[-1] == ("/m.onnx", "bytes=1000-", 200)
    assert dest.read_bytes() == DETECTOR


def _with_validator(server: Server, name: str, dest: Path, part: bytes) -> None:
    """Leave ``part`` as ``dest``'s .part, with the validator the server gives ``name``."""
    dest.with_suffix(dest.suffix + ".part").write_bytes(part)
    dl._Partial(server.url(name), _etag(server.state.files[name]), ()).save(
        dest.with_suffix(dest.suffix + ".part.json"))


def test_part_already_complete_answers_416(server: Server, tmp_path: Path) -> None:
    server.state.files["m.onnx"] = POSE
    dest = tmp_path / "m.onnx"
    _with_validator(server, "m.onnx", dest, POSE)
    dl.download(server.url("m.onnx"), dest, progress=False)
    assert [r[2] for r in server.state.requests] == [416]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    assert dest.read_bytes() == POSE


def test_oversized_part_starts_again(server: Server, tmp_path: Path) -> None:
    server.state.files["m.onnx"] = POSE
    dest = tmp_path / "m.onnx"
    _with_validator(server, "m.onnx", dest, POSE + b"junk")
    dl.download(server.url("m.onnx"), dest, progress=False)
    assert [r[2] for r in server.state.requests] == [416, 200]
    assert dest.read_bytes() == POSE


def test_truncated_transfer_keeps_part_then_resumes(server: Server, tmp_path: Path) -> None:
    server.state.files["m.onnx"] = DETECTOR
    half = len(DETECTOR) // 2
    server.state.drop_after = half
    dest = tmp_path / "m.onnx"
    url = server.url("m.onnx")
    with pytest.raises(UserError) as info:
        dl.download(url, dest, progress=False, chunk=4096)
    message = str(info.value)
    assert url in message and str(dest) in message and "\n" not in message
    assert f"{half} of {len(DETECTOR)} bytes" in message
    part = dest.with_suffix(".onnx.part")
    assert part.read_bytes() == DETECTOR[:half] and not dest.exists()

    dl.download(url, dest, progress=False)
    assert server.state.requests[-1] == ("/m.onnx", f"bytes={half}-", 206)
    assert server.state.if_ranges[-1] == _etag(DETECTOR)  # resumes only the same file
    assert dest.read_bytes() == DETECTOR and not part.exists()
    assert not dest.with_suffix(".onnx.part.json").exists()


def test_changed_server_file_restarts_through_if_range(server: Server, tmp_path: Path) -> None:
    server.state.files["m.onnx"] = DETECTOR
    server.state.linked = True
    dest = tmp_path / "m.onnx"
    half = len(DETECTOR) // 2
    _interrupted(server, "m.onnx", dest, half)
    part = dest.with_suffix(".onnx.part")
    part.write_bytes(b"\0" * half)  # corrupted as well
    new = _detector_model(416, seed=1)
    server.state.files["m.onnx"] = new
    dl.download(server.url("m.onnx"), dest, progress=False)
    assert server.state.requests[-1] == ("/m.onnx", f"bytes={half}-", 200)
    assert server.state.if_ranges[-1] == _etag(DETECTOR)
    assert dest.read_bytes() == new  # the whole new file, its served SHA-256 checked


def test_corrupted_part_fails_the_served_digest(server: Server, tmp_path: Path) -> None:
    server.state.files["m.onnx"] = DETECTOR
    server.state.linked = True
    dest = tmp_path / "m.onnx"
    half = len(DETECTOR) // 2
    _interrupted(server, "m.onnx", dest, half)
    dest.with_suffix(".onnx.part").write_bytes(b"\0" * half)  # same size, other bytes
    with pytest.raises(UserError) as info:
        dl.download(server.url("m.onnx"), dest, progress=False)
    assert server.state.requests[-1] == ("/m.onnx", f"bytes={half}-", 206)
    message = str(info.value)
    corrupt = b"\0" * half + DETECTOR[half:]
    assert f"SHA-256 is {_sha256(corrupt)}, expected {_sha256(DETECTOR)}" in message
    assert "X-Linked-Etag" in message and "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx.bad"]


def test_linked_etag_mismatch_is_refused(server: Server, tmp_path: Path) -> None:
    server.state.files["m.onnx"] = DETECTOR
    server.state.linked_etag["m.onnx"] = f'"{_sha256(POSE)}"'
    dest = tmp_path / "m.onnx"
    with pytest.raises(UserError, match=f"is {_sha256(DETECTOR)}, expected {_sha256(POSE)}"):
        dl.download(server.url("m.onnx"), dest, progress=False)
    assert (tmp_path / "m.onnx.bad").read_bytes() == DETECTOR and not dest.exists()


def test_linked_etag_match_is_accepted(server: Server, tmp_path: Path) -> None:
    server.state.files["m.onnx"] = DETECTOR
    server.state.linked = True  # quoted, as Hugging Face sends it
    dest = tmp_path / "m.onnx"
    assert dl.download(server.url("m.onnx"), dest, progress=False).read_bytes() == DETECTOR


def test_redirect_to_another_host_is_refused(server: Server, tmp_path: Path) -> None:
    server.state.redirects["m.onnx"] = "http://downloads.example.invalid/m.onnx"
    dest = tmp_path / "m.onnx"
    with pytest.raises(UserError) as info:
        dl.download(server.url("m.onnx"), dest, progress=False)
    message = str(info.value)
    assert message.startswith(f"refused the redirect from {server.url('m.onnx')} to "
                              "http://downloads.example.invalid/m.onnx")
    assert "\n" not in message and list(tmp_path.iterdir()) == []


def test_redirect_within_allowed_hosts_is_followed(server: Server, other_server: Server,
                                                   tmp_path: Path) -> None:
    other_server.state.files["cdn/m.onnx"] = DETECTOR
    other_server.state.linked = True
    target = other_server.url("cdn/m.onnx").replace("127.0.0.1", "localhost")
    server.state.redirects["m.onnx"] = target
    dest = tmp_path / "m.onnx"
    dl.download(server.url("m.onnx"), dest, hosts=("local*",), progress=False)
    assert dest.read_bytes() == DETECTOR
    assert other_server.state.requests == [("/cdn/m.onnx", None, 200)]


def test_https_to_http_redirect_is_refused(tls_server: Server, other_server: Server,
                                           tmp_path: Path) -> None:
    other_server.state.files["m.onnx"] = DETECTOR
    tls_server.state.files["ok.onnx"] = POSE
    dl.download(tls_server.url("ok.onnx"), tmp_path / "ok.onnx", progress=False)  # TLS works
    tls_server.state.redirects["m.onnx"] = other_server.url("m.onnx")  # same host, plain HTTP
    with pytest.raises(UserError) as info:
        dl.download(tls_server.url("m.onnx"), tmp_path / "m.onnx", progress=False)
    assert str(info.value).startswith(f"refused the redirect from {tls_server.url('m.onnx')} "
                                      f"to {other_server.url('m.onnx')}")
    assert other_server.state.requests == [] and not (tmp_path / "m.onnx").exists()


def test_404_names_url_and_destination(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "missing.onnx"
    url = server.url("missing.onnx")
    with pytest.raises(UserError) as info:
        dl.download(url, dest, progress=False)
    message = str(info.value)
    assert "HTTP 404" in message
    assert f"download {url} and save it as {dest}" in message
    assert not dest.exists() and not dest.with_suffix(".onnx.part").exists()


def test_offline_is_one_clear_error(tmp_path: Path) -> None:
    url = _free_port_url()
    dest = tmp_path / "gone.onnx"
    with pytest.raises(UserError) as info:
        dl.download(url, dest, progress=False, timeout=5)
    assert f"could not download {url}" in str(info.value)
    assert f"save it as {dest}" in str(info.value)


# ----------------------------------------------------------------------------- fetch


def test_fetch_downloads_and_verifies(releases, server: Server, tmp_path: Path) -> None:
    path = hub.fetch("det", tmp_path, progress=False)
    assert path == tmp_path / "det.onnx" and path.read_bytes() == DETECTOR
    assert hub.fetch("pose", tmp_path, progress=False).read_bytes() == POSE


def test_fetch_keeps_valid_cached_file(releases, server: Server, tmp_path: Path) -> None:
    hub.fetch("det", tmp_path, progress=False)
    count = len(server.state.requests)
    assert hub.fetch("det", tmp_path, progress=False) == tmp_path / "det.onnx"
    assert len(server.state.requests) == count  # nothing downloaded
    hub.fetch("det", tmp_path, progress=False, force=True)
    assert len(server.state.requests) == count + 1


def test_fetch_replaces_broken_cached_file(releases, server: Server, tmp_path: Path) -> None:
    (tmp_path / "det.onnx").write_bytes(b"garbage")
    assert hub.fetch("det", tmp_path, progress=False).read_bytes() == DETECTOR
    assert (tmp_path / "det.onnx.bad").read_bytes() == b"garbage"


@pytest.mark.parametrize("payload", [b"<html>rate limited</html>", POSE, _detector_model(640)],
                         ids=["not-onnx", "wrong-stage", "wrong-size"])
def test_fetch_rejects_bad_file(releases, server: Server, tmp_path: Path, payload) -> None:
    server.state.files["det.onnx"] = payload
    with pytest.raises(UserError) as info:
        hub.fetch("det", tmp_path, progress=False)
    message = str(info.value)
    assert "not a usable detector model" in message and server.url("det.onnx") in message
    assert "\n" not in message
    assert not (tmp_path / "det.onnx").exists()
    assert (tmp_path / "det.onnx.bad").read_bytes() == payload


def _sdk_zip(model: bytes) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("rtmpose-m_simcc/deploy.json", "{}")
        zf.writestr("rtmpose-m_simcc/end2end.onnx", model)
        zf.writestr("rtmpose-m_simcc/pipeline.json", "{}")
    return buf.getvalue()


def test_fetch_extracts_zip_member(releases, server: Server, tmp_path: Path) -> None:
    server.state.files["sdk.zip"] = _sdk_zip(POSE)
    path = hub.fetch("sdk", tmp_path, progress=False)
    assert path == tmp_path / "sdk.onnx" and path.read_bytes() == POSE
    assert not (tmp_path / "sdk.zip").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sdk.onnx", "sdk.onnx.json"]


def test_zip_archive_is_kept_until_its_model_verifies(monkeypatch, releases, server: Server,
                                                      tmp_path: Path) -> None:
    server.state.files["sdk.zip"] = _sdk_zip(POSE)  # 256x192 inside; the release says 384x288
    sdk = releases["sdk"]
    monkeypatch.setitem(hub.RELEASES, "sdk", replace(sdk, input_size=(288, 384)))
    with pytest.raises(UserError) as info:
        hub.fetch("sdk", tmp_path, progress=False)
    message = str(info.value)
    assert "not a usable pose model" in message and f"kept {tmp_path / 'sdk.zip'}" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sdk.onnx.bad", "sdk.zip"]

    monkeypatch.setitem(hub.RELEASES, "sdk", sdk)  # the registry entry is fixed
    assert hub.fetch("sdk", tmp_path, progress=False).read_bytes() == POSE
    assert [r[0] for r in server.state.requests] == ["/sdk.zip"]  # downloaded once
    assert not (tmp_path / "sdk.zip").exists()


def test_member_by_full_path_from_an_archive_with_two_models(monkeypatch, releases,
                                                            server: Server, tmp_path: Path) -> None:
    """rtmpose-cpu.zip holds rtmdet-nano/end2end.onnx and rtmpose-m/end2end.onnx: the
    release names its member by path, a bare name would be ambiguous."""
    import io

    from tests.onnx_models import make_end2end_onnx

    det = make_end2end_onnx(tmp_path / "e2e.onnx", np.array([[10, 10, 100, 200]], np.float32),
                            [0], np.zeros((3, 1)), np.zeros(1), size=320, head="rtmdet")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("rtmpose-ort/rtmpose-m/end2end.onnx", POSE)
        zf.writestr("rtmpose-ort/rtmdet-nano/end2end.onnx", det.read_bytes())
        zf.writestr("rtmpose-ort/rtmdet-nano/pipeline.json", "{}")
    server.state.files["cpu.zip"] = buf.getvalue()
    by_path = hub.Release("nano", "detector", server.url("cpu.zip"), "nano.onnx", (320, 320),
                          member="rtmpose-ort/rtmdet-nano/end2end.onnx", det_norm="rtmdet")
    monkeypatch.setitem(hub.RELEASES, "nano", by_path)
    cache = tmp_path / "cache"
    assert hub.fetch("nano", cache, progress=False).read_bytes() == det.read_bytes()
    bare = replace(by_path, name="bare", filename="bare.onnx", member="end2end.onnx")
    monkeypatch.setitem(hub.RELEASES, "bare", bare)
    with pytest.raises(UserError, match="expected one end2end.onnx in the archive, found 2"):
        hub.fetch("bare", cache, progress=False)


def test_other_valid_model_under_a_pinned_name_is_refused(monkeypatch, releases,
                                                          server: Server, tmp_path: Path) -> None:
    monkeypatch.setitem(hub.RELEASES, "det", replace(releases["det"], sha256=_sha256(DETECTOR)))
    other = _detector_model(416, seed=1)  # loads and fits the detector stage as well
    server.state.files["det.onnx"] = other
    with pytest.raises(UserError) as info:
        hub.fetch("det", tmp_path, progress=False)
    assert (f"SHA-256 is {_sha256(other)}, expected {_sha256(DETECTOR)} (pinned in the model "
            "registry)") in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["det.onnx.bad"]
    server.state.files["det.onnx"] = DETECTOR
    assert hub.fetch("det", tmp_path, progress=False).read_bytes() == DETECTOR


def test_digest_recorded_at_first_download_and_checked_later(releases, server: Server,
                                                            tmp_path: Path) -> None:
    path = hub.fetch("det", tmp_path, progress=False)
    record = json.loads((tmp_path / "det.onnx.json").read_text())
    assert record["sha256"] == _sha256(DETECTOR) and record["size"] == len(DETECTOR)
    assert record["url"] == server.url("det.onnx") and record["name"] == "det"
    assert hub.resolve_model("det", "detector", tmp_path) == path

    path.write_bytes(_detector_model(416, seed=1))  # still a valid detector, but not this one
    count = len(server.state.requests)
    for use in (lambda: hub.fetch("det", tmp_path, progress=False),
                lambda: hub.resolve_model("det", "detector", tmp_path)):
        with pytest.raises(ModelError) as info:
            use()
        message = str(info.value)
        assert "the cached file changed since it was downloaded" in message
        assert f"recorded {_sha256(DETECTOR)}" in message and "\n" not in message
        assert message.endswith("run 'dwpose fetch det --force' to download it again")
    assert len(server.state.requests) == count  # nothing downloaded behind the user's back
    assert hub.fetch("det", tmp_path, progress=False, force=True).read_bytes() == DETECTOR


def test_file_saved_by_hand_gets_a_record(releases, server: Server, tmp_path: Path) -> None:
    (tmp_path / "det.onnx").write_bytes(DETECTOR)
    hub.fetch("det", tmp_path, progress=False)
    assert server.state.requests == []
    record = json.loads((tmp_path / "det.onnx.json").read_text())
    assert record["sha256"] == _sha256(DETECTOR) and record["url"] is None


def test_fetch_bad_zip(releases, server: Server, tmp_path: Path) -> None:
    server.state.files["sdk.zip"] = b"PK not really a zip"
    with pytest.raises(UserError, match="not a readable zip archive"):
        hub.fetch("sdk", tmp_path, progress=False)
    assert (tmp_path / "sdk.zip.bad").exists() and not (tmp_path / "sdk.onnx").exists()


def test_fetch_unknown_name(releases, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown model 'nope'.*det, pose, sdk"):
        hub.fetch("nope", tmp_path)


def test_mirror(monkeypatch, releases, server: Server, tmp_path: Path) -> None:
    monkeypatch.setenv(hub.MIRROR_ENV, server.base + "/mirror/")
    server.state.files["mirror/det.onnx"] = DETECTOR
    server.state.files["det.onnx"] = b"upstream, not used"
    assert hub.release_url(releases["det"]) == server.base + "/mirror/det.onnx"
    assert hub.fetch("det", tmp_path, progress=False).read_bytes() == DETECTOR


def test_mirror_redirects_stay_on_the_mirror_host(monkeypatch, releases, server: Server,
                                                   other_server: Server, tmp_path: Path) -> None:
    other_server.state.files["det.onnx"] = DETECTOR
    other_server.state.redirects["det.onnx"] = server.url("det.onnx")  # the release's own host
    mirror = other_server.base.replace("127.0.0.1", "localhost")
    monkeypatch.setenv(hub.MIRROR_ENV, mirror)
    with pytest.raises(UserError, match=f"refused the redirect from {mirror}/det.onnx to "):
        hub.fetch("det", tmp_path, progress=False)
    assert server.state.requests == []


def test_mirror_must_be_a_url(monkeypatch, tmp_path: Path) -> None:
    env = {**os.environ, hub.MIRROR_ENV: "not a url", hub.HOME_ENV: str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "app.cli", "fetch", "--no-progress",
                           "yolox_nano"], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "dwpose fetch: error: DWPOSE_MIRROR='not a url' is not a URL: set it to the http://, "
        "https:// or file:// URL of a folder laid out like the model cache, or unset it"]
    assert list(tmp_path.iterdir()) == []


def test_each_release_has_its_own_cache_and_mirror_name(monkeypatch, server: Server,
                                                         tmp_path: Path) -> None:
    names = [r.filename for r in hub.RELEASES.values()]
    downloads = [r.download_name for r in hub.RELEASES.values()]
    assert len(set(names)) == len(names) and len(set(downloads)) == len(downloads)
    # yolox_l (Hugging Face) and yolox_l_megvii (GitHub) are both .../yolox_l.onnx upstream.
    monkeypatch.setenv(hub.MIRROR_ENV, server.base)
    assert hub.release_url(hub.RELEASES["yolox_l"]) == server.url("yolox_l.onnx")
    assert hub.release_url(hub.RELEASES["yolox_l_megvii"]) == server.url("yolox_l_megvii.onnx")
    models = {"yolox_l": _detector_model(640), "yolox_l_megvii": _detector_model(640, seed=1)}
    for name, data in models.items():  # test models, so no pins
        monkeypatch.setitem(hub.RELEASES, name, replace(hub.RELEASES[name], sha256=None))
        server.state.files[f"{name}.onnx"] = data
    for name, data in models.items():
        assert hub.fetch(name, tmp_path, progress=False).read_bytes() == data


def test_release_hosts() -> None:
    hf, github = hub.RELEASES["yolox_l"].hosts, hub.RELEASES["yolox_nano"].hosts
    for host in ("huggingface.co", "cdn-lfs.huggingface.co", "cdn-lfs-us-1.hf.co",
                 "cas-bridge.xethub.hf.co"):
        assert dl.host_allowed(host, hf) and not dl.host_allowed(host, github)
    for host in ("github.com", "objects.githubusercontent.com",
                 "release-assets.githubusercontent.com"):
        assert dl.host_allowed(host, github) and not dl.host_allowed(host, hf)
    assert hub.RELEASES["dwpose-m_256x192"].hosts == ("download.openmmlab.com",)
    assert not dl.host_allowed("huggingface.co.example.com", hf)


def test_mirror_file_url(monkeypatch, releases, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "pose.onnx").write_bytes(POSE)
    monkeypatch.setenv(hub.MIRROR_ENV, mirror.as_uri())
    assert hub.fetch("pose", tmp_path / "cache", progress=False).read_bytes() == POSE


def test_default_cache_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DWPOSE_HOME", str(tmp_path / "home"))
    assert hub.default_cache_dir() == tmp_path / "home"
    monkeypatch.delenv("DWPOSE_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.default_cache_dir() == tmp_path / "xdg" / "dwpose"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert hub.default_cache_dir() == Path.home() / ".cache" / "dwpose"


def test_release_table_is_consistent() -> None:
    assert hub.default_models(on_gpu=True) == {"detector": "yolox_l", "pose": "dw-ll_ucoco_384"}
    assert hub.default_models(on_gpu=False) == {"detector": "yolox_nano",
                                                "pose": "dwpose-m_256x192"}
    for pair in hub.DEFAULT_PAIRS.values():
        assert [hub.RELEASES[name].stage for name in pair.values()] == list(pair)
    assert hub.RELEASES["yolox_l"].url == "https://huggingface.co/yzd-v/DWPose/resolve/main/yolox_l.onnx"
    assert hub.RELEASES["dw-ll_ucoco_384"].url == (
        "https://huggingface.co/yzd-v/DWPose/resolve/main/dw-ll_ucoco_384.onnx")
    pinned = {"dw-ll_ucoco_384", "yolox_l", "yolox_nano", "yolox_tiny", "yolox_s", "yolox_m",
              "yolox_l_megvii", "yolox_x", "yolox_darknet"}
    assert pinned <= {name for name, r in hub.RELEASES.items() if r.sha256}
    assert hub.RELEASES["yolox_l"].sha256 == hub.RELEASES["yolox_l_megvii"].sha256  # one file
    for r in hub.RELEASES.values():
        assert r.sha256 is None or re.fullmatch("[0-9a-f]{64}", r.sha256)
        assert r.stage in hub.STAGES and r.url.startswith("https://")
        assert r.filename == f"{r.name}.onnx"
        assert (r.member is not None) == r.url.endswith(".zip")
        if r.stage == "detector":
            assert r.input_size[0] == r.input_size[1] and r.input_size[0] % 32 == 0
            # end2end exports (NMS in the graph) say how their input is normalised
            assert ("humanart" in r.url or "rtmdet" in r.name) == (r.det_norm is not None)


# ----------------------------------------------------------------------------- resolve_model


def test_resolve_model(releases, server: Server, tmp_path: Path) -> None:
    mine = tmp_path / "mine.onnx"
    mine.write_bytes(b"anything")
    assert hub.resolve_model(mine, "detector", tmp_path) == mine
    assert hub.resolve_model(str(mine), "pose", tmp_path) == mine

    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="run 'dwpose fetch det' or pass the path"):
        hub.resolve_model("det", "detector", cache, download=False)
    assert server.state.requests == []
    assert hub.resolve_model("det", "detector", cache) == cache / "det.onnx"
    assert hub.resolve_model("det", "detector", cache, download=False) == cache / "det.onnx"
    assert hub.resolve_model(None, "pose", cache) == cache / "pose.onnx"

    with pytest.raises(UserError, match="neither an existing file.*det$"):
        hub.resolve_model("yolov8", "detector", cache)
    with pytest.raises(UserError, match=r"yolov8\.onnx: detector model file not found"):
        hub.resolve_model("yolov8.onnx", "detector", cache)
    with pytest.raises(UserError, match="'pose' is a pose model, not a detector"):
        hub.resolve_model("pose", "detector", cache)


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(monkeypatch, server: Server, tmp_path: Path) -> Path:
    """``dwpose`` with only the fetch subcommand, mirror = local server, cache in tmp."""
    monkeypatch.setattr(cli, "SUBCOMMANDS", ("fetch",))
    monkeypatch.setenv("DWPOSE_MIRROR", server.base)
    monkeypatch.setenv("DWPOSE_HOME", str(tmp_path / "home"))
    for name in ("yolox_l", "dw-ll_ucoco_384", "yolox_nano"):  # test models: not the pinned files
        monkeypatch.setitem(hub.RELEASES, name, replace(hub.RELEASES[name], sha256=None))
    server.state.files.update({"yolox_l.onnx": _detector_model(640),
                               "dw-ll_ucoco_384.onnx": _pose_model(384, 288, batch=1),
                               "yolox_nano.onnx": DETECTOR})
    return tmp_path / "home"


def test_default_pair_follows_the_gpu(monkeypatch) -> None:
    from engines import device

    for gpu, pair in ((True, ("yolox_l", "dw-ll_ucoco_384")),
                      (False, ("yolox_nano", "dwpose-m_256x192"))):
        monkeypatch.setattr(device, "has_cuda", lambda gpu=gpu: gpu)
        assert tuple(hub.default_models().values()) == pair


def test_cli_fetch_defaults(cli_env: Path, server: Server, capsys, monkeypatch) -> None:
    from engines import device

    monkeypatch.setattr(device, "has_cuda", lambda: True)  # the GPU pair
    assert cli.main(["fetch", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"yolox_l: {cli_env / 'yolox_l.onnx'}" in out
    assert f"dw-ll_ucoco_384: {cli_env / 'dw-ll_ucoco_384.onnx'}" in out
    assert {r[0] for r in server.state.requests} == {"/yolox_l.onnx", "/dw-ll_ucoco_384.onnx"}

    assert cli.main(["fetch", "--list"]) == 0
    table = capsys.readouterr().out
    rows = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    columns = re.compile(r"(\S+)(?: \*)?\s+(pose|detector)\s+(SimCC pose|raw YOLOX|"
                         r"end2end \(\w+\))\s+(\d+x\d+)\s+([\d.]+ [\w -]+?)\s+(yes|no|partial)")
    fields = {name: columns.match(row).groups()[1:] for name, row in rows.items()
              if columns.match(row)}
    assert rows["yolox_l"].startswith("yolox_l *")
    assert fields["yolox_l"] == ("detector", "raw YOLOX", "640x640", "50.1 COCO", "yes")
    assert fields["dw-ll_ucoco_384"] == ("pose", "SimCC pose", "384x288", "66.5 whole", "yes")
    assert fields["yolox_nano"] == ("detector", "raw YOLOX", "416x416", "25.8 COCO", "no")
    assert fields["rtmdet-nano_person"][1:4] == ("end2end (rtmdet)", "320x320", "40.3 COCO person")
    assert fields["rtmw-x-l_384x288"][2:4] == ("384x288", "70.1 whole")
    assert str(cli_env) in table


def test_cli_fetch_names_and_cache_dir(cli_env: Path, tmp_path: Path, capsys) -> None:
    other = tmp_path / "elsewhere"
    assert cli.main(["fetch", "yolox_nano", "--cache-dir", str(other), "--no-progress"]) == 0
    assert (other / "yolox_nano.onnx").read_bytes() == DETECTOR
    assert not cli_env.exists()


def test_cli_fetch_failure_is_one_line(cli_env: Path, server: Server, capsys) -> None:
    server.state.not_found = True
    assert cli.main(["fetch", "yolox_nano", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("dwpose fetch: error: could not download ")
    assert f"{server.base}/yolox_nano.onnx" in err and str(cli_env / "yolox_nano.onnx") in err


def test_cli_fetch_unknown_name(cli_env: Path, server: Server, capsys) -> None:
    assert cli.main(["fetch", "yolox_nano", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown model 'nope'" in err
    assert server.state.requests == []  # names are checked before anything is downloaded


def test_cli_fetch_help(monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli, "SUBCOMMANDS", ("fetch",))
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["fetch", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for word in ("--all", "--list", "--cache-dir", "--force", "DWPOSE_HOME", "DWPOSE_MIRROR"):
        assert word in text


def test_real_megvii_nano_fits_its_release(monkeypatch, tmp_path: Path, yolox_nano) -> None:
    """The real upstream file, served from a file:// mirror, passes fetch's checks."""
    monkeypatch.setenv(hub.MIRROR_ENV, yolox_nano.parent.as_uri())
    path = hub.fetch("yolox_nano", tmp_path, progress=False)
    assert path.read_bytes() == yolox_nano.read_bytes()
    record = json.loads((tmp_path / "yolox_nano.onnx.json").read_text())
    assert record["sha256"] == hub.RELEASES["yolox_nano"].sha256  # the pin is the real file's
