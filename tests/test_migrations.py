"""Migrations build the same schema on an empty SQLite and an empty PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from bot.app import prepare_database
from ocop_core import models  # noqa: F401
from ocop_core.db import make_engine
from tests.conftest import PG_URL


async def _schema(url: str) -> dict[str, set[str]]:
    engine = make_engine(url)
    await prepare_database(engine)
    await prepare_database(engine)  # running it twice changes nothing
    async with engine.connect() as conn:
        schema = await conn.run_sync(
            lambda c: {
                t: {col["name"] for col in inspect(c).get_columns(t)}
                for t in inspect(c).get_table_names()
            }
        )
        units = (await conn.execute(text("select count(*) from commune"))).scalar_one()
        provinces = (
            await conn.execute(text("select count(*) from province where legacy = false"))
        ).scalar_one()
    await engine.dispose()
    assert units == 3321 and provinces == 34
    return schema


def _expected() -> dict[str, set[str]]:
    return {name: {c.name for c in t.columns} for name, t in SQLModel.metadata.tables.items()}


async def test_empty_sqlite(tmp_path: Path) -> None:
    schema = await _schema(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    schema.pop("alembic_version")
    assert schema == _expected()


async def test_empty_postgresql() -> None:
    if not PG_URL:
        pytest.skip("OCOP_TEST_DATABASE_URL not set")
    name = f"ocop_mig_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(
        make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        schema = await _schema(url)
        schema.pop("alembic_version")
        assert schema == _expected()
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    await asyncio.sleep(0)
