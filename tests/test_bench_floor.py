"""The engine benchmark's floor issues the engine's statements, so its ratios stay honest."""

from pathlib import Path

import pytest

from bench import engine as bench_engine


def test_floor_issues_the_same_statements_as_the_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A schema or storage change the floor's copied SQL does not follow fails here, not silently
    in a benchmark nobody reran: main() exits 1 on any shape mismatch or store-check problem."""
    code = bench_engine.main(
        [
            "--members", "5000", "--ledger-rows", "20000", "--ops", "20", "--warmup", "5",
            "--shape-ops", "60", "--synchronous", "NORMAL", "--db", str(tmp_path / "bench.db"),
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "SHAPE MISMATCH" not in out
    assert out.count(" same") == 6, out
    assert code == 0
