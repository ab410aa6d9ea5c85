"""One file over HTTP(S) or ``file://`` for ``dwpose fetch``: resumable, redirect-guarded, checked.

``download(url, dest)`` streams into ``<dest>.part`` and moves it to ``dest`` only once it has
the size the server announced and every digest known for it matches:

- ``sha256``: the digest the caller pins (the model registry);
- digests the server states: ``X-Linked-Etag`` (Hugging Face: the SHA-256 of an LFS file; it
  comes on the redirect to the CDN), ``Digest: SHA-256=..`` / ``MD5=..`` (RFC 3230) and, on a
  whole-file answer, ``Content-MD5``.

A file that does not match is moved to ``<dest>.bad`` and reported with both digests.

Resuming: when a download starts, the answer's validator (a strong ``ETag``, else
``Last-Modified``) and the served digests are kept in ``<dest>.part.json``. An interrupted
download is resumed with ``Range`` + ``If-Range: <validator>``, so a server whose file changed
sends the whole new file (200) instead of the rest of the old one; a ``.part`` without a
validator is never trusted and the download restarts from zero, as it does after a 200 answer
to a ranged request or a 206 that does not start where we asked.

Redirects: only to ``https`` (never from https down to http) and only to the URL's own host or
to one of ``hosts`` (``fnmatch`` patterns such as ``cdn-lfs*.huggingface.co``); anything else
is refused with both URLs named.

HTTPS trusts the system's certificate store. Where Python has none (the python.org installer
for macOS, until its "Install Certificates.command" is run, fails every download with
CERTIFICATE_VERIFY_FAILED), certifi's bundle is used, and the error says what to run.

Every failure is one line (``UserError``; a file that cannot be written is ``engines.files``'s
error). Standard library (urllib), tqdm, and certifi on macOS.
"""
from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import http.client
import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

from .errors import UserError
from .files import move, open_binary, replace, write_file

#: The operating system whose rules apply (``sys.platform``); tests set another.
SYSTEM = sys.platform

USER_AGENT = "dwpose-fetch/0.1 (+python-urllib)"
PINNED = "pinned in the model registry"


@dataclass(frozen=True)
class Digest:
    """A digest a file must have: ``algorithm`` (hashlib name), lower-case ``hex`` and where
    it comes from (``source``, for the error message)."""

    algorithm: str
    hex: str
    source: str


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of the file at ``path``."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``host`` matches one of ``patterns`` (``fnmatch``, case-insensitive)."""
    host = host.lower()
    return any(fnmatch.fnmatchcase(host, p.lower()) for p in patterns)


def check_redirect(old: str, new: str, hosts: tuple[str, ...]) -> None:
    """Refuse (``UserError``) a redirect from ``old`` to ``new`` that leaves HTTPS or ``hosts``."""
    before, after = urlsplit(old), urlsplit(new)
    if after.scheme not in ("http", "https") or (before.scheme == "https"
                                                  and after.scheme != "https"):
        raise UserError(f"refused the redirect from {old} to {new}: downloads stay on "
                        f"{before.scheme}")
    if not host_allowed(after.hostname or "", hosts):
        raise UserError(f"refused the redirect from {old} to {new}: {after.hostname} is not a "
                        f"host this file is served from ({', '.join(hosts)})")


def _has_ca_store() -> bool:
    """Whether OpenSSL's default certificate file or folder exists."""
    paths = ssl.get_default_verify_paths()
    return any(p and os.path.exists(p) for p in (paths.cafile, paths.capath))


def ssl_context() -> ssl.SSLContext:
    """The system's certificate store; on a macOS Python without one, certifi's bundle."""
    context = ssl.create_default_context()
    if SYSTEM == "darwin" and not _has_ca_store():
        try:
            import certifi
        except ImportError:  # the error then says how to install certificates
            return context
        context.load_verify_locations(certifi.where())
    return context


def opener(*handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """urllib's opener with ``ssl_context`` and ``handlers``."""
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=ssl_context()),
                                       *handlers)


def remote_size(url: str, timeout: float = 10.0) -> int | None:
    """Size the server announces for ``url`` (a HEAD request), or None when unknown."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": USER_AGENT})
    try:
        with opener().open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return int(length) if length and length.isdigit() else None


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows only the redirects ``check_redirect`` allows and keeps each hop's headers."""

    def __init__(self, hosts: tuple[str, ...]) -> None:
        super().__init__()
        self.hosts = hosts
        self.hops: list[Message] = []

    def redirect_request(self, req: urllib.request.Request, fp, code: int, msg: str,
                         headers: Message, newurl: str) -> urllib.request.Request | None:
        try:
            check_redirect(req.full_url, newurl, self.hosts)
        except UserError:
            fp.close()
            raise
        self.hops.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


# --------------------------------------------------------------------------- served digests

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIGEST_NAMES = {"sha-256": "sha256", "md5": "md5"}
_DIGEST_BYTES = {"sha256": 32, "md5": 16}


def _b64_hex(value: str, algorithm: str) -> str | None:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == _DIGEST_BYTES[algorithm] else None


def served_digests(headers: Message, *, whole: bool, linked_only: bool = False) -> list[Digest]:
    """The digests of the whole file that ``headers`` state (malformed values are ignored).

    ``whole``: the answer carries the whole file, so ``Content-MD5`` (a digest of the body)
    is one of the file. ``linked_only``: only ``X-Linked-Etag`` (the headers of a redirect).
    """
    found = []
    linked = (headers.get("X-Linked-Etag") or "").strip().removeprefix("W/").strip('"').lower()
    if _HEX64.fullmatch(linked):
        found.append(Digest("sha256", linked, "the server's X-Linked-Etag"))
    if linked_only:
        return found
    for item in (headers.get("Digest") or "").split(","):
        name, _, value = item.partition("=")
        algorithm = _DIGEST_NAMES.get(name.strip().lower())
        hex_value = _b64_hex(value, algorithm) if algorithm else None
        if hex_value:
            found.append(Digest(algorithm, hex_value, f"the server's Digest {name.strip()}"))
    md5 = _b64_hex(headers.get("Content-MD5") or "", "md5") if whole else None
    if md5:
        found.append(Digest("md5", md5, "the server's Content-MD5"))
    return found


def _validator(headers: Message) -> str | None:
    """What ``If-Range`` may name: a strong ``ETag``, else ``Last-Modified``."""
    etag = (headers.get("ETag") or "").strip()
    if etag and not etag.startswith("W/"):
        return etag
    return (headers.get("Last-Modified") or "").strip() or None


# --------------------------------------------------------------------------- the .part record


@dataclass(frozen=True)
class _Partial:
    """What ``<dest>.part.json`` keeps about a download under way."""

    url: str
    validator: str
    digests: tuple[Digest, ...]

    @classmethod
    def load(cls, path: Path, url: str) -> _Partial | None:
        """The record at ``path`` if it is readable and for ``url``, else None."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            record = cls(data["url"], data["validator"],
                         tuple(Digest(*d) for d in data.get("digests", [])))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return record if record.url == url and isinstance(record.validator, str) else None

    def save(self, path: Path) -> None:
        data = {"url": self.url, "validator": self.validator,
                "digests": [[d.algorithm, d.hex, d.source] for d in self.digests]}
        write_file(path, json.dumps(data), "download record", durable=False)


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- download


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = str(exc.reason)
        if "CERTIFICATE_VERIFY_FAILED" in reason and SYSTEM == "darwin":
            reason += (": this Python has no certificates; run 'Install Certificates.command' "
                       "in its folder under /Applications, or pip install certifi")
        return reason
    return str(exc) or type(exc).__name__


def _download_error(url: str, dest: Path, why: str) -> UserError:
    """The one-line failure; a ``.part`` that can be resumed is kept (and said so), any other
    is removed."""
    part, record = _sibling(dest, ".part"), _sibling(dest, ".part.json")
    kept = ""
    if part.exists() and part.stat().st_size and record.exists():
        kept = (f"; kept {part.stat().st_size} bytes in {part}, run the same command again "
                "to resume")
    else:
        _discard(part, record)
    return UserError(f"could not download {url} ({why}){kept}; to install it by hand, "
                     f"download {url} and save it as {dest}")


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range: bytes a-b/N`` (or ``bytes */N``)."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _finish(url: str, dest: Path, expected: list[Digest]) -> Path:
    """Check ``<dest>.part`` against ``expected`` and move it to ``dest`` (or ``<dest>.bad``)."""
    part, record = _sibling(dest, ".part"), _sibling(dest, ".part.json")
    found = {a: file_digest(part, a) for a in {d.algorithm for d in expected}}
    for want in expected:
        if found[want.algorithm] != want.hex:
            bad = move(part, _sibling(dest, ".bad"), "rejected download")
            _discard(record)
            name = "SHA-256" if want.algorithm == "sha256" else want.algorithm.upper()
            raise UserError(f"{url}: the downloaded file's {name} is {found[want.algorithm]}, "
                            f"expected {want.hex} ({want.source}); moved it to {bad}")
    replace(part, dest, "downloaded model")
    _discard(record)
    return dest


def download(url: str, dest: str | Path, *, sha256: str | None = None,
             hosts: tuple[str, ...] = (), progress: bool = True, timeout: float = 30,
             chunk: int = 1 << 20) -> Path:
    """Download ``url`` to ``dest`` (see the module docstring) and return ``dest``.

    ``sha256``: the digest the file must have. ``hosts``: where redirects may lead besides
    the URL's own host. Any failure raises a one-line ``UserError`` naming the URL and the
    file to save by hand.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part, record_path = _sibling(dest, ".part"), _sibling(dest, ".part.json")
    allowed = (urlsplit(url).hostname or "", *hosts)
    pinned = [Digest("sha256", sha256.lower(), PINNED)] if sha256 else []
    for _attempt in range(2):  # the second pass only after a resume the server refused
        record = _Partial.load(record_path, url)
        have = part.stat().st_size if part.exists() else 0
        if have and record is None:  # no validator: nothing says these bytes are this file's
            _discard(part, record_path)
            have = 0
        redirects = _GuardedRedirects(allowed)
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if have:
            request.add_header("Range", f"bytes={have}-")
            request.add_header("If-Range", record.validator)
        try:
            response = opener(redirects).open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:
                _, total = _content_range(exc.headers.get("Content-Range"))
                exc.close()
                if total == have:  # the .part already holds the whole file
                    return _finish(url, dest, pinned + list(record.digests))
                _discard(part, record_path)  # the .part does not fit this file: start again
                continue
            raise _download_error(url, dest, _reason(exc)) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise _download_error(url, dest, _reason(exc)) from None
        with response:
            status = getattr(response, "status", None)
            hops = [d for h in redirects.hops for d in served_digests(h, whole=False,
                                                                     linked_only=True)]
            if status == 206:
                start, total = _content_range(response.headers.get("Content-Range"))
                if start != have:  # a range we did not ask for: start again from zero
                    _discard(part, record_path)
                    continue
                digests = [*record.digests, *hops,
                           *served_digests(response.headers, whole=False)]
                mode = "ab"
            else:  # 200 (or a file: URL): the whole file, whatever we asked for
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                have, mode = 0, "wb"
                digests = [*hops, *served_digests(response.headers, whole=True)]
                validator = _validator(response.headers) if status == 200 else None
                if validator:
                    _Partial(url, validator, tuple(digests)).save(record_path)
                else:
                    _discard(record_path)
            _stream(response, part, mode, have, total, url, dest, progress, chunk)
        size = part.stat().st_size
        if total is not None and size != total:
            if size > total:
                _discard(part, record_path)
            raise _download_error(url, dest, f"transfer ended after {size} of {total} bytes")
        return _finish(url, dest, pinned + digests)
    raise _download_error(url, dest, "the server refused to resume the download")


def _stream(response, part: Path, mode: str, have: int, total: int | None, url: str,
            dest: Path, progress: bool, chunk: int) -> None:
    """Append the response body to ``part`` with a progress bar."""
    from tqdm import tqdm

    bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
               desc=dest.name, disable=not progress, file=sys.stderr, leave=False)
    try:
        with open_binary(part, append=mode == "ab") as out, bar:
            while True:
                try:
                    data = response.read(chunk)
                except (OSError, http.client.HTTPException) as exc:
                    out.flush()
                    raise _download_error(url, dest, _reason(exc)) from None
                if not data:
                    break
                out.write(data)
                bar.update(len(data))
    except OSError as exc:  # writing failed: disk full, permissions
        raise UserError(f"could not write {part} ({exc.strerror or exc})") from None

