"""./scripts/demo installs once and then starts without reinstalling anything unchanged."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.cli.conftest import ROOT

FAKE_PYTHON = """#!/usr/bin/env bash
echo "python $*" >> "$(dirname "$0")/../calls.log"
"""
FAKE_LOYALTYBOT = """#!/usr/bin/env bash
echo "loyaltybot $*" >> "$(dirname "$0")/../calls.log"
"""


def checkout(tmp_path: Path) -> Path:
    """A copy of the project's script with a stand-in .venv that records what it is asked."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "demo", tmp_path / "scripts" / "demo")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_ = tmp_path / ".venv" / "bin"
    bin_.mkdir(parents=True)
    for name, body in (("python", FAKE_PYTHON), ("loyaltybot", FAKE_LOYALTYBOT)):
        (bin_ / name).write_text(body)
        (bin_ / name).chmod(0o755)
    return tmp_path


def calls(root: Path) -> list[str]:
    log = root / ".venv" / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def start(root: Path, *args: str) -> None:
    subprocess.run([root / "scripts" / "demo", *args], check=True, timeout=30)


def test_installs_once_then_starts_without_pip(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    start(root)
    first = calls(root)
    assert any("-m pip install --quiet -e ." in c for c in first), first
    assert first[-1] == "loyaltybot demo -c config.example.toml"
    start(root, "--db", "demo.db")
    assert calls(root) == ["loyaltybot demo -c config.example.toml --db demo.db"]
    with (root / "pyproject.toml").open("a") as changed:
        changed.write("\n# a new dependency\n")
    start(root)
    assert any("-m pip install" in c for c in calls(root))  # changed: installed again
