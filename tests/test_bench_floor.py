"""The engine benchmark's floor issues the engine's statements, so its ratios stay honest."""

import json
from pathlib import Path

from bench import engine as bench_engine


def test_floor_issues_the_same_statements_as_the_engine(tmp_path: Path) -> None:
    """A schema or storage change the floor's copied SQL does not follow fails here, not silently
    in a benchmark nobody reran: main() exits 1 on any shape mismatch or store-check problem."""
    code = bench_engine.main(
        [
            "--members", "5000", "--ledger-rows", "20000", "--ops", "20", "--warmup", "5",
            "--shape-ops", "60", "--synchronous", "NORMAL", "--db", str(tmp_path / "bench.db"),
            "--json", str(tmp_path / "report.json"),
        ]
    )  # fmt: skip
    shapes = json.loads((tmp_path / "report.json").read_text())["shapes"]["NORMAL"]
    assert len(shapes) == 6
    assert {name: s["same"] for name, s in shapes.items() if not s["same"]} == {}
    assert code == 0
