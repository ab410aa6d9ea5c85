"""The layers only point down (setup.cfg's import-linter contract): app over trainer and
calibration over engines. The contract holds here, and it catches an upward import."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "trainer", "calibration", "engines")


def _lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with ``root``'s setup.cfg, its packages first on the path."""
    pytest.importorskip("importlinter", reason="import-linter is in the dev extra")
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='setup.cfg', no_cache=True))")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_layers_contract_is_kept():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    (tmp_path / "engines" / "upward.py").write_text("from trainer.models import build_model\n")
    done = _lint(tmp_path)
    assert done.returncode == 1
    assert "0 kept, 1 broken" in done.stdout and "engines.upward -> trainer.models" in done.stdout
