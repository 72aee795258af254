"""`loyaltybot run` on `[storage] backend = "postgresql"`: the same journey as on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from telegram_emulator import TelegramEmulator, serve
from tests.e2e.test_service_end_to_end import emu, member_journey
from tests.postgres_kit import PostgresSchemas
from tests.run_kit import API_KEY, Service, child_env, run_config

__all__ = ["emu"]  # the fixture, shared with the SQLite journey
DSN_ENV = "LBT_E2E_DSN"


@pytest.fixture
def schema(postgres_schemas: PostgresSchemas) -> Iterator[str]:
    name = postgres_schemas.create()
    yield name
    postgres_schemas.give_back(name)


async def test_polling_service_end_to_end_on_postgresql(
    tmp_path: Path, emu: TelegramEmulator, schema: str, postgres_schemas: PostgresSchemas
) -> None:
    async with serve(emu) as base_url:
        config = run_config(tmp_path, base_url)
        text = config.read_text().replace(
            "[storage]\n", f'[storage]\nbackend = "postgresql"\ndsn_env = "{DSN_ENV}"\n', 1
        )
        config.write_text(text)
        env = child_env(
            SHOP_API_KEY=API_KEY, BOT_TOKEN=emu.token, **{DSN_ENV: postgres_schemas.dsn_for(schema)}
        )
        async with Service(config, env) as service:  # migrates the empty schema itself
            port = await service.port()
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=headers
            ) as client:
                await member_journey(client, emu.user(1001, "Ann", language_code="en"))
            assert await service.stop() == 0
    assert "Traceback" not in service.log
    assert "level=ERROR" not in service.log
    assert f"PostgreSQL (${DSN_ENV})" in service.log
    assert "postgresql://" not in service.log  # the DSN is a secret
