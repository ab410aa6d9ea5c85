"""``dwpose fetch``: download released models into the cache, or list them."""
from __future__ import annotations

import argparse
from pathlib import Path

from engines import hub

DESCRIPTION = """\
Download released detector and pose models into the model cache, resume an interrupted
download, and check that each file loads and has the inputs/outputs its stage needs.
With no NAME, fetches this machine's default pair: with a CUDA GPU the official DWPose pair,
yolox_l (detector) and dw-ll_ucoco_384 (pose); without one yolox_nano and dwpose-m_256x192.
Models already in the cache and valid are not downloaded again."""

EPILOG = """\
cache folder: --cache-dir, else $DWPOSE_HOME, else the system's cache folder:
              %LOCALAPPDATA%\\dwpose\\Cache (Windows), ~/Library/Caches/dwpose (macOS),
              $XDG_CACHE_HOME/dwpose or ~/.cache/dwpose (Linux); 'dwpose doctor' shows it
mirror:       set DWPOSE_MIRROR=http://host/dir (or https://, file:///dir) to download every
              file from DWPOSE_MIRROR/<download name> instead of upstream: the name it has in
              the cache (NAME.onnx, or the .zip of an OpenMMLab release, as 'dwpose fetch
              --list -v' shows), so a copy of a model cache is a mirror; redirects must stay
              on the mirror's host
checks:       the SHA-256 pinned for the release and any digest the server states, then the
              model must load and fit its stage; its SHA-256 is then kept in NAME.onnx.json and
              checked whenever the cached file is used ('--force' downloads it again)
offline:      download the URL shown by 'dwpose fetch --list -v' yourself and save it under the
              name shown; a .zip is unpacked by the next 'dwpose fetch NAME'

examples:
  dwpose fetch                      # this machine's default pair
  dwpose fetch yolox_nano dwpose-m_256x192
  dwpose fetch --list"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fetch`` subcommand."""
    p = subparsers.add_parser(
        "fetch", help="download released models into the cache (--list shows them)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="released model names (see --list); default: this machine's default "
                        "pair (yolox_l + dw-ll_ucoco_384 with a GPU, yolox_nano + "
                        "dwpose-m_256x192 without)")
    p.add_argument("--all", action="store_true", help="fetch every released model")
    p.add_argument("--list", action="store_true",
                   help="print the released models and whether they are cached, then exit")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="with --list: also print each download URL and cached file")
    p.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                   help="model cache folder (default: $DWPOSE_HOME, else the system's cache "
                        "folder, see below)")
    p.add_argument("--force", action="store_true",
                   help="download again even when a valid file is cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _size(release: hub.Release) -> str:
    w, h = release.input_size
    return f"{h}x{w}"


def _state(release: hub.Release, cache: Path) -> str:
    target = cache / release.filename
    if target.exists():
        return "yes"
    partial = [target.with_name(target.name + ".part")]
    if release.archive:
        partial += [cache / release.archive, cache / (release.archive + ".part")]
    return "partial" if any(p.exists() for p in partial) else "no"


def _where() -> str:
    from engines.device import has_cuda

    return "a CUDA GPU" if has_cuda() else "no GPU: the CPU pair"


def list_releases(cache: Path, verbose: bool = False) -> str:
    """The release table ``--list`` prints: stage, family, input size, published accuracy."""
    defaults = set(hub.default_models().values())
    rows = [("NAME", "STAGE", "FAMILY", "INPUT HxW", "AP", "CACHED", "NOTES")]
    for r in hub.RELEASES.values():
        name = r.name + (" *" if r.name in defaults else "")
        rows.append((name, r.stage, r.family, _size(r), r.ap, _state(r, cache), r.notes))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    if verbose:
        lines.append("")
        for r in hub.RELEASES.values():
            lines.append(f"{r.name}: {hub.release_url(r)} -> {cache / r.download_name}")
    lines += ["", "AP: whole = COCO-WholeBody whole-body AP; COCO = COCO box AP (80 classes); "
                  "COCO person, Human-Art = person box AP",
              f"* default models on this machine ({_where()}); cache: {cache}"]
    return "\n".join(line.rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    """Fetch the asked-for models (stops at the first failure with one clear error)."""
    cache = args.cache_dir.expanduser() if args.cache_dir else hub.default_cache_dir()
    if args.list:
        print(list_releases(cache, args.verbose))
        return 0
    if args.all:
        names = list(hub.RELEASES)
    elif args.names:
        names = list(dict.fromkeys(args.names))
    else:
        names = list(hub.default_models().values())
    for name in names:  # check every name before downloading anything
        hub.get_release(name)
    for name in names:
        path = hub.fetch(name, cache, progress=not args.no_progress, force=args.force)
        print(f"{name}: {path}")
    return 0
