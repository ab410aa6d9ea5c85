#!/usr/bin/env bash
# The GPU ready check as one command on a bare GPU machine (see docs/gpu.md):
#
#   benchmarks/gpu_check.sh [--wheels DIR] [--timeout SECONDS] [gpu_check.py options...]
#
# --wheels DIR   install every wheel in DIR first (no index, no dependency resolution: the
#                folder holds each missing package and its missing dependencies) into a
#                private folder put on PYTHONPATH, leaving the machine's packages alone
# --timeout S    hard limit for the whole check (default 300); the JSON keeps every part
#                finished before it (gpu_check.py writes it after each part)
# $PYTHON        the interpreter (default python3, the one that holds torch on the GPU machine)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WHEELS=""
LIMIT=300
while [[ $# -gt 0 ]]; do
  case "$1" in
    --wheels) WHEELS="${2:?--wheels needs a folder}"; shift 2 ;;
    --timeout) LIMIT="${2:?--timeout needs seconds}"; shift 2 ;;
    *) break ;;
  esac
done

if [[ -n "$WHEELS" ]]; then
  shopt -s nullglob
  wheels=("$WHEELS"/*.whl)
  if [[ ${#wheels[@]} -eq 0 ]]; then
    echo "gpu_check.sh: error: --wheels $WHEELS: no .whl file there" >&2
    exit 2
  fi
  SITE="${TMPDIR:-/tmp}/gpu_check_site"
  echo "installing ${#wheels[@]} wheel(s) from $WHEELS into $SITE"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "${wheels[@]}"
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
cd "$ROOT"

rc=0
timeout --kill-after=10 "$LIMIT" "$PYTHON" benchmarks/gpu_check.py "$@" || rc=$?
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  echo "gpu_check.sh: stopped at the $LIMIT s limit; the JSON holds the parts finished" >&2
fi
exit $rc
