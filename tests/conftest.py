"""Shared fixtures: a migrated database on SQLite and, when OCOP_TEST_DATABASE_URL is set,
on PostgreSQL; a fixed clock; helpers to make people of every role."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import prepare_database
from ocop_core.authz import Actor
from ocop_core.clock import VN_TZ, FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.models import Account, Role
from ocop_core.plans import PlanRegistry
from ocop_core.services import accounts
from ocop_core.services.context import CoreContext
from tests import botprocess

PG_URL = os.environ.get("OCOP_TEST_DATABASE_URL", "")
if PG_URL.startswith("postgresql://"):
    PG_URL = "postgresql+asyncpg://" + PG_URL.removeprefix("postgresql://")

# Tables a test may write; administrative units are loaded once per run and kept.
MUTABLE_TABLES = (
    "dossierevent",
    "document",
    "conversationstate",
    "dossier",
    "evaluation_round",
    "producer",
    "accountcommune",
    "account",
)


def _extra_tables() -> tuple[str, ...]:
    from sqlmodel import SQLModel

    known = set(MUTABLE_TABLES) | {"province", "commune", "alembic_version"}
    return tuple(t for t in SQLModel.metadata.tables if t not in known)


async def _migrate(url: str) -> None:
    engine = make_engine(url)
    await prepare_database(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session", autouse=True)
def _bots_start_migrated(sqlite_template: Path) -> None:
    """Bot processes on SQLite start from the migrated template (tests/botprocess.py)."""
    botprocess.SQLITE_TEMPLATE = sqlite_template


async def _admin_engine() -> AsyncEngine:
    url = make_url(PG_URL).set(database="postgres")
    return create_async_engine(url, isolation_level="AUTOCOMMIT")


def worker_database(base_url: str, worker: str) -> str:
    """This test process's own database name: the configured one plus the pytest-xdist worker id
    ("gw0", "gw1"…, or "main" without xdist), so parallel workers never share tables."""
    base = make_url(base_url).database or "ocop_test"
    return f"{base}_{worker}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("OCOP_TEST_DATABASE_URL not set: PostgreSQL tests skipped")
    name = worker_database(PG_URL, os.environ.get("PYTEST_XDIST_WORKER", "main"))

    async def drop() -> None:
        admin = await _admin_engine()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    async def create() -> None:
        # Created afresh: one left by an interrupted run may hold another branch's schema.
        await drop()
        admin = await _admin_engine()
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()

    asyncio.run(create())
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(_migrate(url))
        yield url
    finally:
        asyncio.run(drop())


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database URL; every test using it runs on both databases."""
    if request.param == "sqlite":
        target = tmp_path / "ocop.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite+aiosqlite:///{target}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "ocop.sqlite3"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


# The sequences of the ids of these tables (serial or identity columns) on PostgreSQL.
_RESTART_SEQUENCES = text(
    "SELECT setval(s.oid, 1, false) FROM pg_class s "
    "JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
    "JOIN pg_class t ON t.oid = d.refobjid "
    "WHERE s.relkind = 'S' AND t.relname = ANY(:tables)"
)


async def _truncate(engine: AsyncEngine) -> None:
    """Empty the tables a test may write, children first, and let their ids start at 1 again.
    DELETE, not TRUNCATE: on PostgreSQL a TRUNCATE of these tables makes new files for each
    (~0.4 s per test), while deleting the few rows a test leaves takes milliseconds."""
    tables = (*_extra_tables(), *MUTABLE_TABLES)
    async with engine.begin() as conn:
        for table in tables:
            await conn.execute(text(f"DELETE FROM {table}"))
        if engine.url.get_backend_name() == "postgresql":
            await conn.execute(_RESTART_SEQUENCES, {"tables": list(tables)})


@dataclass
class Core:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    ctx: CoreContext
    clock: FixedClock

    def session(self) -> object:
        return transaction(self.sessions)

    async def person(
        self,
        name: str,
        role: str = Role.PRODUCER,
        *,
        commune: str | None = None,
        channel: str = "telegram",
    ) -> tuple[Account, Actor]:
        """An account of any role, and the Actor the core resolves for it."""
        async with transaction(self.sessions) as s:
            account = await accounts.get_or_create_account(
                s,
                self.ctx,
                channel=channel,
                platform_user_id=f"{name}-{uuid.uuid4().hex[:6]}",
                chat_id=name,
                display_name=name,
            )
            if role != Role.PRODUCER:
                await accounts.grant_role(s, Actor.system(), account, role, commune_code=commune)
            actor = await accounts.actor_for(s, account)
        return account, actor


def vn_time(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN_TZ)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(vn_time(2026, 6, 1, 9, 0))


@pytest.fixture
async def core(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Core]:
    engine = make_engine(db_url)
    await _truncate(engine)
    ctx = CoreContext(clock=clock, plans=PlanRegistry(), data_dir=tmp_path / "data")
    yield Core(engine, session_factory(engine), ctx, clock)
    await engine.dispose()
