"""The released models this app runs, their cache, ``dwpose fetch`` and ``resolve_model``.

Models are cached in ``default_cache_dir()`` (``engines.paths``: ``$DWPOSE_HOME``, else the
system's cache folder) as ``<name>.onnx``; the transfer itself (resume, redirect rules,
served digests) is ``engines.download``. What a model has to pass before it is used:

- a download: the size the server announced, the SHA-256 pinned here (``Release.sha256``) and
  any digest the server states; then it must load and fit its stage (``verify``). A zip release
  keeps its archive until the extracted model has passed, so a rejected model is not
  downloaded again on the next try.
- after its first good download (or the first time a file saved by hand verifies) the model's
  SHA-256 is recorded in ``<file>.json`` beside it; ``fetch`` and ``resolve_model`` check a
  cached file against that record (else against the pin) before they hand it out.

``$DWPOSE_MIRROR`` (an ``http(s)://`` or ``file://`` folder): every release is fetched from
``$DWPOSE_MIRROR/<download name>`` (``Release.download_name``: the archive's name for a zip
release, else the cache file's name), so a mirror is laid out like the cache; redirects may
only stay on the mirror's host. See docs/downloads.md.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from .download import download, file_digest
from .errors import ModelError, UserError
from .files import atomic_path, move, open_binary, write_error, write_file
from .paths import HOME_ENV, default_cache_dir

STAGES = ("detector", "pose")
MIRROR_ENV = "DWPOSE_MIRROR"

#: Hosts that serve the files of an upstream host (its redirect targets), as ``fnmatch``
#: patterns: Hugging Face resolve URLs redirect to its LFS / Xet CDNs, GitHub release downloads
#: to its object stores.
CDN_HOSTS: dict[str, tuple[str, ...]] = {
    "huggingface.co": ("cdn-lfs*.huggingface.co", "cdn-lfs*.hf.co", "cas-bridge.xethub.hf.co"),
    "github.com": ("objects.githubusercontent.com", "release-assets.githubusercontent.com"),
}


@dataclass(frozen=True)
class Release:
    """One released model file.

    ``input_size`` is (width, height) of the network input, as ``PoseIO.input_size``.
    ``member``: for OpenMMLab ``*.zip`` ONNX SDKs, the file inside the archive that is
    extracted to ``filename``: a bare name (in a sub-folder whose name varies) or a full path.
    ``sha256``: the SHA-256 of the file at ``url`` (the archive, for a zip), where one is
    established (see the sources above ``_RELEASES``); None where none is.
    """

    name: str
    stage: str
    url: str
    filename: str
    input_size: tuple[int, int]
    notes: str = ""
    member: str | None = None
    det_norm: str | None = None  # end2end detectors: "yolox" or "rtmdet" input normalisation
    ap: str = ""  # published accuracy and its benchmark: "66.5 whole" (COCO-WholeBody), ...
    sha256: str | None = None

    @property
    def archive(self) -> str | None:
        """File name the downloaded archive is cached under (``None`` for a plain .onnx)."""
        return url_basename(self.url) if self.member else None

    @property
    def family(self) -> str:
        """What kind of model file it is, as ``dwpose fetch --list`` shows it."""
        if self.stage == "pose":
            return "SimCC pose"
        return f"end2end ({self.det_norm})" if self.det_norm else "raw YOLOX"

    @property
    def download_name(self) -> str:
        """Name of the downloaded file, in the cache and on a mirror (unique per release)."""
        return self.archive or self.filename

    @property
    def hosts(self) -> tuple[str, ...]:
        """Hosts the release may be served from: its URL's host and that host's CDNs."""
        host = urlsplit(self.url).hostname or ""
        return (host, *CDN_HOSTS.get(host, ()))


_HF = "https://huggingface.co/yzd-v/DWPose/resolve/main"
_MEGVII = "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0"
_MMPOSE = "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk"
_RTMW = "https://download.openmmlab.com/mmpose/v1/projects/rtmw/onnx_sdk"


def _pose_zip(name: str, stem: str, size: tuple[int, int], notes: str, ap: str) -> Release:
    return Release(name, "pose", f"{_MMPOSE}/{stem}.zip", f"{name}.onnx", size, notes,
                   member="end2end.onnx", ap=ap)


# SHA-256 pins (``Release.sha256``). Neither Megvii nor the DWPose authors publish digests;
# each pin below is stated in public code that downloads the same URL, none is from memory:
# - Megvii 0.1.1rc0 assets (yolox_nano ... yolox_darknet, yolox_l_megvii): SciML/YOLOWeights.jl
#   src/YOLOWeights.jl ("hashed from a clean download of exactly that URL"). The yolox_nano one
#   is also the sha256sum of the real release file on these machines
#   (shared/data/models/yolox_nano.onnx); other projects pin the same nano/tiny/s/m/x values.
# - Hugging Face yzd-v/DWPose yolox_l.onnx (216,746,733 bytes) and dw-ll_ucoco_384.onnx
#   (134,399,116 bytes): pinned together with those sizes and the repo's revisions (e.g.
#   1a7144101628d69ee7a3768d1ee3a094070dc388) by several public projects in the code index;
#   this yolox_l.onnx is byte-identical to Megvii's (same digest in YOLOWeights.jl). Hugging
#   Face also serves each as X-Linked-Etag, which engines.download checks too.
# - OpenMMLab zips: no digest is published (COMPAT.md section 1); the extracted model's is
#   recorded at its first good download.
_RELEASES: tuple[Release, ...] = (
    # --- The official DWPose pair (static batch 1). The Hugging Face repo is the one the
    # DWPose README links ("We upload all DWPose models to huggingface", IDEA-Research/DWPose
    # README.md); these exact resolve URLs are used verbatim in yuvraj108c/ComfyUI-Dwpose-Tensorrt
    # README.md and Fannovel16-style ControlNet annotators.
    Release("dw-ll_ucoco_384", "pose", f"{_HF}/dw-ll_ucoco_384.onnx", "dw-ll_ucoco_384.onnx",
            (288, 384), "DWPose-l 384x288; the official DWPose model (batch 1)", ap="66.5 whole",
            sha256="724f4ff2439ed61afb86fb8a1951ec39c6220682803b4a8bd4f598cd913b1843"),
    Release("yolox_l", "detector", f"{_HF}/yolox_l.onnx", "yolox_l.onnx", (640, 640),
            "YOLOX-L 640 COCO-80, raw output; the official DWPose detector", ap="50.1 COCO",
            sha256="7860ae79de6c89a3c1eb72ae9a2756c0ccfbe04b7791bb5880afabd97855a411"),
    # --- DWPose ONNX SDKs from OpenMMLab (zip with <folder>/end2end.onnx, dynamic batch).
    # URLs confirmed in Tau-J/rtmlib README.md ("WholeBody 133 Keypoints" table; rtmlib's
    # tools/file.py extracts the member ending in end2end.onnx).
    _pose_zip("dwpose-t_256x192", "rtmpose-t_simcc-ucoco_dw-ucoco_270e-256x192-dcf277bf_20230728",
              (192, 256), "DWPose-t 256x192, OpenMMLab ONNX SDK", ap="48.5 whole"),
    _pose_zip("dwpose-s_256x192", "rtmpose-s_simcc-ucoco_dw-ucoco_270e-256x192-3fd922c8_20230728",
              (192, 256), "DWPose-s 256x192, OpenMMLab ONNX SDK", ap="53.8 whole"),
    _pose_zip("dwpose-m_256x192", "rtmpose-m_simcc-ucoco_dw-ucoco_270e-256x192-c8b76419_20230728",
              (192, 256), "DWPose-m 256x192, OpenMMLab ONNX SDK", ap="60.6 whole"),
    _pose_zip("dwpose-l_256x192", "rtmpose-l_simcc-ucoco_dw-ucoco_270e-256x192-4d6dfc62_20230728",
              (192, 256), "DWPose-l 256x192, OpenMMLab ONNX SDK", ap="63.1 whole"),
    _pose_zip("dwpose-l_384x288", "rtmpose-l_simcc-ucoco_dw-ucoco_270e-384x288-2438fd99_20230728",
              (288, 384), "DWPose-l 384x288, OpenMMLab ONNX SDK", ap="66.5 whole"),
    # --- RTMW (Cocktail14), rtmlib's default whole-body models: same SimCC I/O, symbolic
    # keypoint axis. URLs in Tau-J/rtmlib rtmlib/tools/solution/wholebody.py; whole AP from
    # mmpose projects/rtmpose/README.md (RTMW-m 58.2, RTMW-l 66.0 / 70.1 at 384x288).
    Release("rtmw-l-m_256x192", "pose",
            f"{_RTMW}/rtmw-dw-l-m_simcc-cocktail14_270e-256x192_20231122.zip",
            "rtmw-l-m_256x192.onnx", (192, 256),
            "RTMW-m (distilled from l) 256x192; rtmlib lightweight", ap="58.2 whole",
            member="end2end.onnx"),
    Release("rtmw-x-l_256x192", "pose",
            f"{_RTMW}/rtmw-dw-x-l_simcc-cocktail14_270e-256x192_20231122.zip",
            "rtmw-x-l_256x192.onnx", (192, 256),
            "RTMW-l (distilled from x) 256x192; rtmlib balanced", ap="66.0 whole",
            member="end2end.onnx"),
    Release("rtmw-x-l_384x288", "pose",
            f"{_RTMW}/rtmw-dw-x-l_simcc-cocktail14_270e-384x288_20231122.zip",
            "rtmw-x-l_384x288.onnx", (288, 384),
            "RTMW-l (distilled from x) 384x288; rtmlib performance", ap="70.1 whole",
            member="end2end.onnx"),
    # --- Raw YOLOX exports (output [1,N,85], no NMS inside) from Megvii's 0.1.1rc0 release.
    # URLs confirmed in Megvii-BaseDetection/YOLOX demo/ONNXRuntime/README.md.
    Release("yolox_nano", "detector", f"{_MEGVII}/yolox_nano.onnx", "yolox_nano.onnx",
            (416, 416), "YOLOX-Nano 416; fastest", ap="25.8 COCO",
            sha256="c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d"),
    Release("yolox_tiny", "detector", f"{_MEGVII}/yolox_tiny.onnx", "yolox_tiny.onnx",
            (416, 416), "YOLOX-Tiny 416", ap="32.8 COCO",
            sha256="427cc366d34e27ff7a03e2899b5e3671425c262ea2291f88bb942bc1cc70b0f7"),
    Release("yolox_s", "detector", f"{_MEGVII}/yolox_s.onnx", "yolox_s.onnx", (640, 640),
            "YOLOX-S 640", ap="40.5 COCO",
            sha256="c5c2d13e59ae883e6af3b45daea64af4833a4951c92d116ec270d9ddbe998063"),
    Release("yolox_m", "detector", f"{_MEGVII}/yolox_m.onnx", "yolox_m.onnx", (640, 640),
            "YOLOX-M 640", ap="47.2 COCO",
            sha256="21ff6cfdeb53b013bac2249599e55f00bff3cfdfdab37ed7a4620818c1d15b3f"),
    Release("yolox_l_megvii", "detector", f"{_MEGVII}/yolox_l.onnx", "yolox_l_megvii.onnx",
            (640, 640), "YOLOX-L 640, Megvii's own export of yolox_l", ap="50.1 COCO",
            sha256="7860ae79de6c89a3c1eb72ae9a2756c0ccfbe04b7791bb5880afabd97855a411"),
    Release("yolox_x", "detector", f"{_MEGVII}/yolox_x.onnx", "yolox_x.onnx", (640, 640),
            "YOLOX-X 640; most accurate, slowest", ap="51.5 COCO",
            sha256="c892d7aaf1c4746d8a4d675bec669a4db4f434b4ee1efb654bc9b353379c7c55"),
    Release("yolox_darknet", "detector", f"{_MEGVII}/yolox_darknet.onnx", "yolox_darknet.onnx",
            (640, 640), "YOLOX-Darknet53 640", ap="48.0 COCO",
            sha256="10ccc527877c6ee5596929c4b3eee5ad6a78038647260bc9abdfce9a0df55d05"),
    # --- mmdeploy end2end person detectors (NMS in the graph), rtmlib's defaults. URLs in
    # Tau-J/rtmlib's solutions; Human-Art AP from mmpose projects/rtmpose/README.md. The
    # HumanArt YOLOX zips hold 20230928/yolox_onnx/<name>/end2end.onnx.
    Release("yolox_tiny_humanart", "detector",
            f"{_MMPOSE}/yolox_tiny_8xb8-300e_humanart-6f3252f9.zip", "yolox_tiny_humanart.onnx",
            (416, 416),
            "YOLOX-Tiny 416 person (COCO + Human-Art)", ap="47.7 Human-Art",
            member="end2end.onnx", det_norm="yolox"),
    Release("yolox_m_humanart", "detector", f"{_MMPOSE}/yolox_m_8xb8-300e_humanart-c2c7a14a.zip",
            "yolox_m_humanart.onnx", (640, 640),
            "YOLOX-M 640 person (COCO + Human-Art)", ap="59.1 Human-Art",
            member="end2end.onnx", det_norm="yolox"),
    Release("yolox_x_humanart", "detector", f"{_MMPOSE}/yolox_x_8xb8-300e_humanart-a39d44ed.zip",
            "yolox_x_humanart.onnx", (640, 640),
            "YOLOX-X 640 person (COCO + Human-Art)", ap="61.3 Human-Art",
            member="end2end.onnx", det_norm="yolox"),
    # RTMDet-nano person: OpenMMLab's rtmpose-cpu.zip, which also holds an rtmpose-m
    # end2end.onnx (17 keypoints): the member is named by its full path.
    Release("rtmdet-nano_person", "detector",
            "https://download.openmmlab.com/mmpose/v1/projects/rtmpose/rtmpose-cpu.zip",
            "rtmdet-nano_person.onnx", (320, 320),
            "RTMDet-nano 320 person; fastest", ap="40.3 COCO person",
            member="rtmpose-ort/rtmdet-nano/end2end.onnx", det_norm="rtmdet"),
)

#: Released models by name.
RELEASES: dict[str, Release] = {r.name: r for r in _RELEASES}

#: What ``dwpose`` uses when no model is given, by where the models run. On a GPU: the official
#: DWPose pair (DWPose-l 384x288, 66.5 whole AP, 7.68 ms TensorRT FP16 on a GTX 1660 Ti). On the
#: CPU: YOLOX-Nano + DWPose-m 256x192 (60.6 whole AP), which keeps up with a camera there where
#: DWPose-l does not (measured with ``dwpose bench``, see docs/models.md).
DEFAULT_PAIRS: dict[str, dict[str, str]] = {
    "gpu": {"detector": "yolox_l", "pose": "dw-ll_ucoco_384"},
    "cpu": {"detector": "yolox_nano", "pose": "dwpose-m_256x192"},
}


def default_models(on_gpu: bool | None = None) -> dict[str, str]:
    """The default pair for models that run on a GPU or on the CPU; ``None``: whether this
    machine has a CUDA GPU."""
    if on_gpu is None:
        from .device import has_cuda

        on_gpu = has_cuda()
    return DEFAULT_PAIRS["gpu" if on_gpu else "cpu"]


def url_basename(url: str) -> str:
    """Last path component of ``url`` (query and fragment dropped)."""
    return PurePosixPath(unquote(urlsplit(url).path)).name


def mirror_url() -> str | None:
    """``$DWPOSE_MIRROR`` without its trailing slash (None when unset).

    It must be an ``http(s)://host/...`` or ``file:///...`` URL; anything else is a
    ``UserError`` naming the variable and its value.
    """
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        ok = (parts.scheme in ("http", "https") and bool(parts.hostname)) or (
            parts.scheme == "file" and bool(parts.path))
    except ValueError:
        ok = False
    if not ok:
        raise UserError(f"{MIRROR_ENV}={value!r} is not a URL: set it to the http://, https:// "
                        "or file:// URL of a folder laid out like the model cache, or unset it")
    return value.rstrip("/")


def release_url(release: Release) -> str:
    """Where to download ``release`` from: upstream, or ``$DWPOSE_MIRROR/<download name>``."""
    mirror = mirror_url()
    return f"{mirror}/{release.download_name}" if mirror else release.url


def get_release(name: str) -> Release:
    """The release called ``name``; ``UserError`` listing the known names otherwise."""
    try:
        return RELEASES[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}; released models: "
                        f"{', '.join(RELEASES)} (see 'dwpose fetch --list')") from None


def release_of(path: str | Path, cache_dir: str | Path | None = None) -> Release | None:
    """The release whose cache file ``path`` is (in ``cache_dir`` or the default cache)."""
    path = Path(path).expanduser().resolve()
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    if path.parent != cache.resolve():
        return None
    return next((r for r in RELEASES.values() if r.filename == path.name), None)


def cached_path(name: str, cache_dir: str | Path | None = None) -> Path:
    """Where release ``name`` lives in the cache (whether or not it is there)."""
    return Path(cache_dir or default_cache_dir()) / get_release(name).filename


# --------------------------------------------------------------------------- fetch / resolve


def verify(path: str | Path, release: Release) -> None:
    """Raise ``ModelError`` unless ``path`` loads and has ``release``'s stage I/O, family and
    size (a detector file that leaves its size open takes the release's)."""
    from .models import END2END, RAW_YOLOX, load_model

    if release.stage == "detector":
        _, io = load_model(path, "detector", det_size=release.input_size[0],
                           det_size_source=f"registry entry {release.name}", device="cpu",
                           threads=1)
        family = END2END if release.det_norm else RAW_YOLOX
        if io.family != family:
            raise ModelError(f"{path}: {io.describe()}; {release.name} is {release.family}")
        got = (io.input_size, io.input_size)
    else:
        got = load_model(path, "pose", device="cpu", threads=1)[1].input_size
    if tuple(got) != tuple(release.input_size):
        w, h = release.input_size
        raise ModelError(f"{path}: input is {got[0]}x{got[1]} (WxH); {release.name} is "
                         f"{w}x{h}")


def _extract_member(archive: Path, release: Release, target: Path) -> None:
    """Extract ``release.member`` from ``archive`` to ``target``: a bare file name is found in
    any sub-folder (the SDK folder names vary), a path is taken as it is (an archive with
    several ``end2end.onnx``)."""
    assert release.member is not None
    by_path = "/" in release.member
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n == release.member
                     or (not by_path and PurePosixPath(n).name == release.member)]
            if len(names) != 1:
                raise UserError(f"{archive}: expected one {release.member} in the archive, "
                                f"found {len(names)}; delete it and run 'dwpose fetch "
                                f"{release.name}' again")
            with atomic_path(target, "model") as tmp, zf.open(names[0]) as src:
                _copy(src, tmp, target)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        bad = _move_aside(archive)
        raise UserError(f"{archive}: not a readable zip archive ({exc}); moved it to {bad}; run "
                        f"'dwpose fetch {release.name}' again") from None


def _copy(src: BinaryIO, tmp: Path, target: Path) -> None:
    """Copy the open archive member ``src`` to ``tmp`` (written for ``target``)."""
    try:
        with open_binary(tmp) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except OSError as exc:  # the disk, not the archive
        raise write_error(target, exc, "model") from None


def _move_aside(path: Path) -> Path:
    """Move ``path`` (and its digest record) out of the way to ``<path>.bad``."""
    bad = path.with_name(path.name + ".bad")
    if path.exists():
        move(path, bad, "damaged file")
    record_path(path).unlink(missing_ok=True)
    return bad


def record_path(model: Path) -> Path:
    """Where the digest record of the cached ``model`` is kept: ``<model>.json``."""
    return model.with_name(model.name + ".json")


def _recorded_sha256(model: Path) -> str | None:
    """The SHA-256 recorded for ``model`` at its first good download (None if no record)."""
    try:
        digest = json.loads(record_path(model).read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return digest if isinstance(digest, str) else None


def _record(model: Path, release: Release, url: str | None, sha256: str) -> None:
    """Record ``model``'s digest once it verified (``url``: where it came from; None for a
    file saved by hand)."""
    data = {"name": release.name, "url": url, "size": model.stat().st_size, "sha256": sha256,
            "verified": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_file(record_path(model), json.dumps(data, indent=1) + "\n", "digest record")


def _check_digest(release: Release, model: Path) -> str | None:
    """Check the cached ``model`` against its record, else against the release's pin.

    Returns the file's SHA-256 when there was something to check it against. A file that
    changed since it was recorded, or that is not the pinned release, is a ``ModelError``.
    """
    recorded = _recorded_sha256(model)
    expected = recorded or (release.sha256 if not release.archive else None)
    if expected is None:
        return None
    found = file_digest(model)
    if found == expected.lower():
        return found
    fix = f"run 'dwpose fetch {release.name} --force' to download it again"
    if recorded:
        raise ModelError(f"{model}: the cached file changed since it was downloaded (SHA-256 "
                         f"{found}, recorded {expected} in {record_path(model)}); {fix}")
    raise ModelError(f"{model}: not the released {release.name} (SHA-256 {found}, the release's "
                     f"is {expected}); {fix}")


def _cached(release: Release, target: Path) -> bool:
    """Whether the cached ``target`` can be used as is.

    A file that changed since its record was written is an error (the user decides, with
    ``--force``). One without a record (saved by hand) that is not the pinned release, or any
    that does not verify, is moved to ``<file>.bad`` (False: download it again). One that
    passes and had no record gets one.
    """
    recorded = _recorded_sha256(target) is not None
    try:
        found = _check_digest(release, target)
    except ModelError as exc:
        if recorded:
            raise
        _replaced(release, target, exc)
        return False
    try:
        verify(target, release)
    except ModelError as exc:
        _replaced(release, target, exc)
        return False
    if not recorded:
        _record(target, release, None, found or file_digest(target))
    return True


def _replaced(release: Release, target: Path, why: ModelError) -> None:
    bad = _move_aside(target)
    print(f"dwpose: cached {release.name} is not usable ({why}); moved it to {bad} and "
          "downloading it again", file=sys.stderr)


def fetch(name: str, cache_dir: str | Path | None = None, progress: bool = True,
          force: bool = False) -> Path:
    """Make release ``name`` available in the cache and return its verified ``.onnx`` path.

    A cached file that passes (``_cached``) is returned without any download; ``force``
    downloads it again. A download that does not verify is moved to ``<file>.bad``; the
    archive of a zip release is kept until its model has verified, then removed.
    """
    release = get_release(name)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache / release.filename
    downloaded = cache / release.download_name
    url = release_url(release)
    hosts = () if mirror_url() else release.hosts  # a mirror: its own host only
    if force:
        for stale in (target, record_path(target), downloaded, *(
                downloaded.with_name(downloaded.name + end) for end in (".part", ".part.json"))):
            stale.unlink(missing_ok=True)
    elif target.exists() and _cached(release, target):
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the model cache {cache} ({exc.strerror or exc}); "
                        f"set {HOME_ENV} or pass --cache-dir") from None
    if not (release.archive and downloaded.exists()):  # a kept archive is not downloaded again
        download(url, downloaded, sha256=release.sha256, hosts=hosts, progress=progress)
    if release.archive:
        _extract_member(downloaded, release, target)
    try:
        verify(target, release)
    except ModelError as exc:
        bad = _move_aside(target)
        kept = (f"; kept {downloaded}: the next 'dwpose fetch {release.name}' unpacks it again "
                "without downloading, '--force' downloads it anew") if release.archive else ""
        raise UserError(f"{release.name} downloaded from {url} is not a usable {release.stage} "
                        f"model ({exc}); moved it to {bad}{kept}") from None
    _record(target, release, url, file_digest(target))
    if release.archive:
        downloaded.unlink()
    return target


def resolve_model(spec: str | Path | None, stage: str, cache_dir: str | Path | None = None,
                  download: bool = True) -> Path:
    """Turn what the user gave for ``stage`` into a model file path.

    An existing path is returned as is; a release name maps to its cached file (checked
    against its digest record, else its pin; fetched when missing and ``download``); ``None``
    means this machine's ``default_models()[stage]``. Anything else is a ``UserError`` that
    lists the released names for the stage.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, not {stage!r}")
    if spec is None or str(spec) == "":
        spec = default_models()[stage]
    path = Path(spec).expanduser()
    if path.exists():
        return path
    names = [r.name for r in RELEASES.values() if r.stage == stage]
    text = str(spec)
    if text not in RELEASES and (path.suffix or len(path.parts) > 1):
        raise ModelError(f"{path}: {stage} model file not found")
    if text not in RELEASES:
        raise UserError(f"{stage} model {text!r} is neither an existing file nor a released "
                        f"model; released {stage} models: {', '.join(names)}")
    release = RELEASES[text]
    if release.stage != stage:
        raise UserError(f"{text!r} is a {release.stage} model, not a {stage}; released "
                        f"{stage} models: {', '.join(names)}")
    cached = cached_path(text, cache_dir)
    if cached.exists():
        _check_digest(release, cached)
        return cached
    if not download:
        raise UserError(f"{stage} model {text!r} is not downloaded yet ({cached} is missing): "
                        f"run 'dwpose fetch {text}' or pass the path of a .onnx file")
    return fetch(text, cache_dir)
