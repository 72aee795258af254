"""Fixtures for driving the `loyaltybot` command line, in-process and as a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str


def write_config(directory: Path, program: str = 'preset = "marketplace"', extra: str = "") -> Path:
    path = directory / "config.toml"
    path.write_text(
        f'[storage]\npath = "{directory / "loyalty.db"}"\nsynchronous = "FULL"\n'
        f'[telegram]\nbot_username = "loyalty_test_bot"\n{extra}\n[program]\n{program}\n'
    )
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def cli(config_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run a CLI command in-process against the test config; return code, stdout, stderr."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(["-c", str(config_path), *args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_child(
    *args: str,
    cwd: Path | None = None,
    input_bytes: bytes | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ...` as a separate process (stdin: `input_bytes`, else nothing)."""
    child = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd or ROOT,
        input=input_bytes if input_bytes is not None else b"",
        capture_output=True,
        timeout=120,
        check=False,
        env=env,
    )
    return subprocess.CompletedProcess(
        child.args, child.returncode, child.stdout.decode(errors="replace"),
        child.stderr.decode(errors="replace"),
    )  # fmt: skip


def write_events(path: Path, events: Iterable[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path
