"""The real test data, each file found in ../shared, the model cache, or downloaded.

A test asks for a file by its path under ``shared/data``, e.g.
``need("video/street_multi_person.mp4")`` (``tests/conftest.py``). It is taken from, in order:

1. ``../shared/data`` beside the checkout (``$DWPOSE_SHARED`` names another copy);
2. the project's model cache (``engines.hub.default_cache_dir()``: ``$DWPOSE_HOME``, else
   ``~/.cache/dwpose``): a released model where ``dwpose fetch`` puts it, other files under
   ``test-data/<path>``;
3. a download from its public source into that cache, or from ``$DWPOSE_MIRROR`` when set
   (a folder laid out like the cache: ``test-data/<path>``, as ``dwpose fetch`` takes
   ``<mirror>/<model file>``); a released model goes through ``engines.hub.fetch`` itself.

A cached or downloaded file must have the SHA-256 pinned here (that of the copy in ../shared;
a release's own pin in ``engines.hub``), else it is moved aside to ``<file>.bad``. When all
three fail, ``Missing`` says why for each.
A host that failed once is not asked again in the same process (no network: one failure).

``python -m tests.realdata PATH...`` prints the resolved files, one a line, or the reason on
stderr with exit status 1 (``.ci/run``'s user stage uses it).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from engines import hub
from engines.download import file_digest
from engines.errors import UserError

#: mmpose at a fixed commit: its tests/data/coco images, annotations, LICENSE and demo video
#: are byte for byte the copies in ../shared.
_MMPOSE = ("https://raw.githubusercontent.com/open-mmlab/mmpose/"
           "759b39c13fea6ba094afc1fa932f51dc1b11cbf9")
SHARED_ENV = "DWPOSE_SHARED"
#: The cache folder (and mirror folder) of the real files that are not released models.
TEST_DATA = "test-data"


class Missing(Exception):
    """A real data file that none of the three sources could give (the message says why)."""


@dataclass(frozen=True)
class DataFile:
    """One real file: its path under shared/data, its SHA-256 and where it is published.

    ``release``: the ``engines.hub`` release it is (cached and fetched as ``dwpose fetch``
    does); ``url``: the public source of any other file (``None``: not published anywhere).
    """

    path: str
    sha256: str
    url: str | None = None
    release: str | None = None

    @property
    def source(self) -> str | None:
        """Where a download of this file comes from (mirror applied), if anywhere."""
        if self.release:
            return hub.release_url(hub.get_release(self.release))
        if self.url is None:
            return None
        mirror = hub.mirror_url()
        return f"{mirror}/{TEST_DATA}/{self.path}" if mirror else self.url


def _mmpose(path: str, sha256: str, source: str) -> DataFile:
    return DataFile(path, sha256, f"{_MMPOSE}/{source}")


FILES: dict[str, DataFile] = {f.path: f for f in (
    DataFile("models/yolox_nano.onnx", hub.RELEASES["yolox_nano"].sha256, release="yolox_nano"),
    # The project's own weight-stripped export of the upstream DWPose-t graph: not published.
    DataFile("models/upstream/dwpose_t_256x192.graph.onnx",
             "5a1b4c4bafdd05498618668b31d2bab43507ecb53c9eec5253255bdea4b792a9"),
    _mmpose("coco_wholebody/000000000785.jpg",
            "83981537a7baeafbeb9c8cb67b3484dc26433f574b3685d021fa537e277e4726",
            "tests/data/coco/000000000785.jpg"),
    _mmpose("coco_wholebody/000000040083.jpg",
            "89b9c3771c9428e0e25134cde9bc0a962318a477d267ef47f8e1872526207da7",
            "tests/data/coco/000000040083.jpg"),
    _mmpose("coco_wholebody/000000196141.jpg",
            "8e66c7dd60fe81fb0eae99314eb5e6c191e53f739760fa36ae7ba56f10115814",
            "tests/data/coco/000000196141.jpg"),
    _mmpose("coco_wholebody/000000197388.jpg",
            "dec0fbb931cb609bf481e56b89cd2fbbab79839f22832c3bbe69a8fae2769cdd",
            "tests/data/coco/000000197388.jpg"),
    _mmpose("coco_wholebody/test_coco_wholebody.json",
            "239b250a0407ab4e6a0d20574995bb92b1bcf5dd768f59045d8982554d958b84",
            "tests/data/coco/test_coco_wholebody.json"),
    _mmpose("coco_wholebody/LICENSE_mmpose_tests",
            "aa2c6f3408169b96e5547c875deb481c91502514c1885fa0acb4b596c8909cb9", "LICENSE"),
    _mmpose("video/street_multi_person.mp4",
            "dc788b413f384887dab9502197657c05393efd1d26825831e4da6fa75b4908c9",
            "demo/resources/demo.mp4"),
    # A clip cut for this project (61 frames, 576x1024): no public copy is known.
    DataFile("video/single_person_dance.mp4",
             "4b15aae050115adeeb1e4f814b502f6deb2819f4f4a902dea6a4225b7e0f8b4d"),
)}

#: Hosts (scheme://netloc) a download already failed from in this process: what failed.
_unreachable: dict[str, str] = {}


def shared_data() -> Path:
    """``$DWPOSE_SHARED/data``, else ``../shared/data`` beside the checkout."""
    root = os.environ.get(SHARED_ENV) or Path(__file__).resolve().parents[2] / "shared"
    return Path(root) / "data"


def cache_path(entry: DataFile) -> Path:
    """Where ``entry`` lives in the project's model cache (whether or not it is there)."""
    if entry.release:
        return hub.cached_path(entry.release)
    return hub.default_cache_dir() / TEST_DATA / entry.path


def _bad(path: Path, entry: DataFile) -> str | None:
    """``None`` when ``path`` has the pinned hash; else moves it to ``.bad`` and says so."""
    got = file_digest(path)
    if got == entry.sha256:
        return None
    bad = path.with_name(path.name + ".bad")
    os.replace(path, bad)
    return f"its SHA-256 is {got}, not the pinned {entry.sha256} (moved to {bad})"


def _download(entry: DataFile, target: Path) -> str | None:
    """Download ``entry`` into the cache; ``None`` on success, else why not."""
    try:
        url = entry.source
    except UserError as exc:  # a $DWPOSE_MIRROR that is not a URL
        return f"no download tried: {exc}"
    if url is None:
        return f"it has no public download: copy it to {target} by hand"
    host = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    if host in _unreachable:
        return (f"no download tried ({host} failed earlier in this run: "
                f"{_unreachable[host]}): save {url} there by hand")
    try:
        if entry.release:
            hub.fetch(entry.release, progress=False)
        else:
            hub.download(url, target, sha256=entry.sha256, progress=False)
    except UserError as exc:
        _unreachable[host] = f"{url} did not download"
        hint = f"; or run 'dwpose fetch {entry.release}'" if entry.release else ""
        return f"the download failed: {exc}{hint}"
    return None


def _from_cache(entry: DataFile) -> Path:
    """``entry`` from the cache, else downloaded into it; ``Missing`` with every reason."""
    target = cache_path(entry)
    stale = _bad(target, entry) if target.is_file() else None
    if target.is_file():  # it passed: _bad moves a file that does not aside
        return target
    why = _download(entry, target)
    if why is None:
        return target
    cached = f"the cached copy was not usable ({stale})" if stale else f"not in the cache {target}"
    raise Missing(f"{entry.path}: not in {shared_data() / entry.path} (../shared beside the "
                  f"checkout, or ${SHARED_ENV}); {cached}; {why}")


def resolve(path: str) -> Path:
    """The real file at ``path`` under shared/data (a key of ``FILES``), from the first source
    that has it; ``Missing`` naming all three when none does."""
    shared = shared_data() / path
    return shared if shared.is_file() else _from_cache(FILES[path])


def resolve_dir(folder: str) -> Path:
    """The folder holding every registered file under ``folder`` (e.g. ``coco_wholebody``):
    ../shared's when it has them all, else the cache's (downloading what it lacks)."""
    entries = [e for key, e in FILES.items() if key.startswith(folder.rstrip("/") + "/")]
    if not entries:
        raise KeyError(f"no registered files under {folder!r}")
    if all((shared_data() / e.path).is_file() for e in entries):
        return shared_data() / folder
    for entry in entries:
        _from_cache(entry)
    return cache_path(entries[0]).parent


def main(argv: list[str]) -> int:
    try:
        paths = [resolve(path) for path in argv]
    except Missing as exc:
        print(exc, file=sys.stderr)
        return 1
    print("\n".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
