"""The package layers of DESIGN.md hold (import-linter, configured in pyproject.toml), and the
check really rejects an upward import: a copy of the package with one added is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=src,
        timeout=120,
        check=False,
    )


def test_the_layers_hold_for_the_package() -> None:
    result = lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_is_rejected(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "fieldcast", copy / "fieldcast", ignore=shutil.ignore_patterns("__pycache__"))
    # accounts is below live: accounts importing live is what the layers forbid.
    (copy / "fieldcast" / "accounts" / "upward.py").write_text("from fieldcast.live import models  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert "fieldcast.accounts.upward -> fieldcast.live.models" in result.stdout


def test_a_cycle_between_siblings_is_rejected(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "fieldcast", copy / "fieldcast", ignore=shutil.ignore_patterns("__pycache__"))
    # chat and media are siblings of one layer: the layers contract refuses them importing each
    # other at all, and the cycle contract refuses the loop.
    (copy / "fieldcast" / "chat" / "loop.py").write_text("from fieldcast.media import paths  # noqa\n")
    (copy / "fieldcast" / "media" / "paths.py").write_text("from fieldcast.chat import loop  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No package-level cycles BROKEN" in result.stdout
