"""The OpenAPI document is true to the code: valid OpenAPI 3.1, every route documented and
nothing more, examples valid against their schemas, and schemathesis, run from the document
against a live server, finds no server error and no answer outside the document.

(Every answer of every other test in this folder is also checked against the document: see
`tests/api/contract.py`.)"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot

from bot.api.app import ROUTES
from bot.api.openapi import document
from bot.api.server import http_server
from bot.service import parse_update
from loyalty.clock import ManualClock
from loyalty.loader import load_program
from storage.events import apply_event
from tests.api.conftest import API_KEY, app_for, make_config
from tests.api.contract import validator
from tests.conftest import open_store

DOC = document()
METHODS = {"get", "post", "put", "patch", "delete"}


def test_the_document_is_valid_openapi_3_1() -> None:
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    errors = [str(e) for e in definitions.OPENAPI_31_VALIDATOR.iter_errors(DOC)]
    assert errors == []
    assert DOC["openapi"] == "3.1.0"


def test_every_route_is_documented_and_every_operation_exists() -> None:
    served = {
        (method.lower(), route.path)
        for route in ROUTES
        for method in route.methods or ()
        if method != "HEAD"  # Starlette answers HEAD for every GET route
    }
    documented = {
        (method, path)
        for path, item in DOC["paths"].items()
        for method in item
        if method in METHODS
    }
    assert served == documented


def _examples() -> Iterator[tuple[str, dict[str, Any], Any]]:
    """Yield (where, schema, example) for every example in the document."""
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            media_types = [("request", operation.get("requestBody", {}).get("content", {}))]
            for status, response in operation["responses"].items():
                media_types.append((status, response.get("content", {})))
            for where, content in media_types:
                for media in content.values():
                    if "example" in media:
                        yield f"{method} {path} {where}", media["schema"], media["example"]
                    for name, example in media.get("examples", {}).items():
                        yield f"{method} {path} {where} {name}", media["schema"], example["value"]


def test_every_example_is_valid_against_its_schema() -> None:
    examples = list(_examples())
    assert len(examples) >= 15
    for where, schema, example in examples:
        errors = [str(e) for e in validator(schema).iter_errors(example)]
        assert errors == [], where


def test_wrong_bodies_are_invalid_against_the_schemas() -> None:
    event = validator({"$ref": "#/components/schemas/Event"})
    good = {"id": "e", "type": "order.paid", "occurred_at": "2026-01-01T00:00:00Z",
            "data": {"order_id": "o"}}  # fmt: skip
    assert event.is_valid(good)
    assert not event.is_valid({**good, "type": "order.shipped"})
    assert not event.is_valid({**good, "data": {"order_id": "o", "amount_cents": 5}})
    hold = validator({"$ref": "#/components/schemas/HoldRequest"})
    assert not hold.is_valid({"hold_id": "h", "member_id": "m", "order_id": "o", "points": True})


def schemathesis_cli() -> list[str]:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if found:
        return [found]
    return [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()"]


async def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    tmp_path: Path,
) -> None:
    """A bounded run (seeded, 5 examples per operation, no coverage phase): the full run is
    in docs/shop-api.md."""
    pytest.importorskip("schemathesis")
    clock = ManualClock(datetime.fromisoformat("2026-07-01T12:00:00+00:00"))
    program = load_program({"preset": "vip-shop"})
    store = await open_store(tmp_path / "st.db", program, clock)
    try:
        # The documented examples name these: let them reach the success paths too.
        for n, (type_, data) in enumerate([
            ("member.upserted", {"member_id": "m-1001"}),
            ("member.email_verified", {"member_id": "m-1001"}),
            ("order.placed", {"order_id": "o-1", "member_id": "m-1001", "amount_cents": 90_000}),
            ("order.delivered", {"order_id": "o-1"}),
            ("review.submitted", {"order_id": "o-1"}),
        ]):  # fmt: skip
            await apply_event(store, {"id": f"seed-{n}", "type": type_, "data": data,
                                      "occurred_at": clock().isoformat()})  # fmt: skip
        bot = Bot("123:" + "a" * 35)  # de_json only attaches it; nothing is sent

        async def push(update: dict[str, Any]) -> None:  # as the service reads updates
            parse_update(update, bot)

        # In webhook mode, so that missing_required_header runs too (polling mode answers
        # the webhook 404 for everyone: the one reason that check is excluded in the README).
        app = app_for(
            store,
            config=make_config({"preset": "vip-shop"}),
            telegram_webhook=push,
            webhook_secret="webhook-secret-not-given-to-schemathesis",
        )
        async with http_server(app, "127.0.0.1", 0) as live:
            child = await asyncio.create_subprocess_exec(
                *schemathesis_cli(), "run", f"{live.url}/api/v1/openapi.json",
                "--header", f"Authorization: Bearer {API_KEY}",
                "--checks", "all",
                # The one exclusion (docs/shop-api.md says why): schema-valid requests that
                # name members or orders that do not exist are 422 by contract, and so is an
                # occurred_at more than an hour ahead, a maximum no static schema can hold.
                "--exclude-checks", "positive_data_acceptance",
                "--phases", "examples,fuzzing,stateful",
                "--max-examples", "5", "--seed", "1", "--generation-database", "none",
                "--workers", "1", "--no-color",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                cwd=tmp_path,
            )  # fmt: skip
            output, _ = await asyncio.wait_for(child.communicate(), 120)
        text = output.decode(errors="replace")
        assert child.returncode == 0, text
        assert "14 selected / 14 total" in text, text
    finally:
        await store.close()
