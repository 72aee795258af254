"""bench/http_parts.py's in-process part still drives the real shop API, so its parts stay true."""

import argparse
import logging
from pathlib import Path

from bench import http_parts
from storage import events as store_events


async def test_the_in_process_parts_measure_the_api_answering(tmp_path: Path) -> None:
    """Every call must answer 200 (`call` raises otherwise: a moved route or a changed key
    fails here, not in a benchmark nobody reran); the stub is put back and logging left as
    it was found."""
    real_apply, level = store_events.apply_event, logging.getLogger().level
    parts = await http_parts.in_process(
        argparse.Namespace(sync="NORMAL", stories=3, rounds=1), tmp_path
    )
    assert set(parts) == {"direct", "app, store stubbed", "bare app", "app", "app + log line"}
    assert all(len(v) == 1 and v[0] > 0 for v in parts.values())
    # The stub answers without the store: far cheaper than the app on a real one.
    assert parts["app, store stubbed"][0] < parts["app"][0]
    assert store_events.apply_event is real_apply
    assert logging.getLogger().level == level
    assert "event=request" in (tmp_path / "in-process.log").read_text()
