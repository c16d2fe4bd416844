"""The Makefile's install step: keyed by pyproject.toml's content, not its age."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_pyproject_only_touched_does_not_install_again(tmp_path: Path) -> None:
    """A fresh clone or a branch switch gives pyproject.toml a new modification time with the
    same content: `make` reinstalled everything (and, in a clone sharing a venv, pointed its
    editable install at the clone). A changed content still installs."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    # The Makefile's STAMP: `cat pyproject.toml | sha1sum | cut -c1-12`.
    digest = hashlib.sha1((tmp_path / "pyproject.toml").read_bytes()).hexdigest()[:12]  # noqa: S324
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    stamp = venv / f".installed-{digest}"
    stamp.touch()
    os.utime(stamp, (1_000_000, 1_000_000))  # older than the pyproject.toml just copied

    def dry_run() -> str:  # what `make install` would run, run nothing
        return subprocess.run(
            ["make", "-n", "install"], cwd=tmp_path, capture_output=True, text=True
        ).stdout

    assert "pip install" not in dry_run()
    with (tmp_path / "pyproject.toml").open("a") as changed:
        changed.write("\n# changed\n")
    assert "pip install -q -e" in dry_run()
