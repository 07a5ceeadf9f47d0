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


async def test_desk_columns_are_backfilled(tmp_path: Path) -> None:
    """0006 fills the stored search text and documents-complete flag of existing dossiers."""
    from ocop_core.admin_units import sync_admin_units
    from ocop_core.db import session_factory, transaction, upgrade
    from ocop_core.documents_complete import blocking_codes

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}")
    await upgrade(engine, "0005")
    async with transaction(session_factory(engine)) as s:
        await sync_admin_units(s)
    codes = sorted(blocking_codes(1, "new"))
    now = "2026-06-01 00:00:00"
    async with engine.begin() as conn:
        commune = (
            await conn.execute(text("select code from commune where province_code = '12' limit 1"))
        ).scalar_one()
        await conn.execute(
            text(
                "insert into producer (id, kind, name, representative, address, commune_code,"
                " created_at) values (1, 'household', 'Hộ Đặng Văn Sáu', '', '', :c, :t)"
            ),
            {"c": commune, "t": now},
        )
        for i, product in ((1, "Mật ong bạc hà"), (2, "Chè Shan tuyết")):
            await conn.execute(
                text(
                    "insert into dossier (id, receipt_code, producer_id, province_code,"
                    " commune_code, product_name, criteria_set, attempt, ruleset, plan_id, year,"
                    " stage, details, version, created_at, updated_at) values (:i, :r, 1, '12',"
                    " :c, :p, 1, 'new', 'qd26-2026', '', 2026, 'documents_pending', '{}', 1,"
                    " :t, :t)"
                ),
                {"i": i, "r": f"1226-AAAA{i}", "c": commune, "p": product, "t": now},
            )
        for code in codes:  # dossier 1 has every blocking document, dossier 2 none
            await conn.execute(
                text(
                    "insert into document (dossier_id, requirement, page, path, sha256, mime,"
                    " pages, size_bytes, quality_flags, replaced, created_at) values"
                    " (1, :q, 1, 'x', :q, 'image/jpeg', 1, 1, '[]', false, :t)"
                ),
                {"q": code, "t": now},
            )
    await upgrade(engine)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("select id, search_text, documents_complete from dossier order by id")
            )
        ).all()
    await engine.dispose()
    assert codes
    assert [tuple(r) for r in rows] == [
        (1, "mat ong bac ha | ho dang van sau", True),
        (2, "che shan tuyet | ho dang van sau", False),
    ]
