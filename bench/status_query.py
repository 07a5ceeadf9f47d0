"""Benchmark: a producer's status summary and a commune officer's 50 most urgent dossiers.

Generates 100,000 dossiers, 1,000,000 events and 300,000 documents on SQLite (a file) and on
PostgreSQL (OCOP_BENCH_DATABASE_URL, else OCOP_TEST_DATABASE_URL, else the local server), then
times the two read paths through the real use cases, each in its own transaction as a request
would run. Prints p50/p99 per database. Target: p99 ≤ 20 ms on both.

    python bench/status_query.py [--dossiers 100000] [--samples 1000] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import prepare_database
from ocop_core.admin_units import current_communes
from ocop_core.authz import Actor
from ocop_core.clock import FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.lifecycle import Stage
from ocop_core.models import (
    Account,
    AccountCommune,
    Document,
    Dossier,
    DossierEvent,
    Producer,
    Role,
)
from ocop_core.plans import PlanRegistry
from ocop_core.receipts import ALPHABET
from ocop_core.rules import requirements_for
from ocop_core.services import status
from ocop_core.services.context import CoreContext

STAGES = [
    Stage.IDEA_REGISTERED,
    Stage.DOCUMENTS_PENDING,
    Stage.SUBMITTED,
    Stage.COMMUNE_CHECKED,
    Stage.AT_PROVINCE,
    Stage.PROVINCE_SCORED,
    Stage.CERTIFIED,
]
BATCH = 10_000


def _code(i: int, province: str) -> str:
    tail = ""
    n = i
    for _ in range(5):
        tail += ALPHABET[n % 32]
        n //= 32
    return f"{province}26-{tail}"


async def generate(url: str, n_dossiers: int) -> dict[str, Any]:
    engine = make_engine(url)
    await prepare_database(engine)
    rng = random.Random(42)
    communes = [c for c in current_communes() if c[2] in {"12", "11", "14", "15", "37"}][:400]
    now = datetime(2026, 6, 1, tzinfo=UTC)
    n_producers = n_dossiers // 2
    t0 = time.perf_counter()
    async with engine.begin() as conn:
        accounts = [
            {
                "id": i + 1,
                "channel": "telegram",
                "platform_user_id": str(i + 1),
                "chat_id": str(i + 1),
                "display_name": f"p{i}",
                "phone_verified": False,
                "locale": "vi",
                "role": Role.PRODUCER,
                "status": "active",
                "created_at": now,
            }
            for i in range(n_producers)
        ]
        officers = [
            {
                "id": n_producers + j + 1,
                "channel": "telegram",
                "platform_user_id": f"o{j}",
                "chat_id": f"o{j}",
                "display_name": f"o{j}",
                "phone_verified": False,
                "locale": "vi",
                "role": Role.COMMUNE,
                "province_code": communes[j][2],
                "status": "active",
                "created_at": now,
            }
            for j in range(len(communes))
        ]
        for chunk in _chunks(accounts + officers):
            await conn.execute(insert(Account), chunk)
        await conn.execute(
            insert(AccountCommune),
            [
                {"account_id": o["id"], "commune_code": communes[j][0]}
                for j, o in enumerate(officers)
            ],
        )
        producers = [
            {
                "id": i + 1,
                "account_id": i + 1,
                "kind": "household",
                "name": f"Hộ {i}",
                "representative": "",
                "address": "",
                "commune_code": communes[i % len(communes)][0],
                "created_at": now,
            }
            for i in range(n_producers)
        ]
        for chunk in _chunks(producers):
            await conn.execute(insert(Producer), chunk)
        dossiers = []
        for i in range(n_dossiers):
            commune = communes[(i // 2) % len(communes)]
            stage = rng.choice(STAGES)
            dossiers.append(
                {
                    "id": i + 1,
                    "receipt_code": _code(i, commune[2]),
                    "producer_id": i // 2 + 1,
                    "province_code": commune[2],
                    "commune_code": commune[0],
                    "product_name": f"Sản phẩm {i}",
                    "criteria_set": rng.randint(1, 26),
                    "attempt": "new",
                    "ruleset": "qd26-2026",
                    "plan_id": f"national-{commune[2]}-2026",
                    "year": 2026,
                    "stage": stage,
                    "details": {},
                    "version": 1,
                    "next_due": date(2026, 4, 30) + timedelta(days=rng.randint(0, 240)),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for chunk in _chunks(dossiers):
            await conn.execute(insert(Dossier), chunk)
        docs = []
        for d in dossiers:
            reqs = requirements_for(d["criteria_set"], "new")
            for req in reqs[:3]:
                docs.append(
                    {
                        "dossier_id": d["id"],
                        "requirement": req.code,
                        "page": 1,
                        "path": "x",
                        "sha256": uuid.uuid4().hex,
                        "mime": "image/jpeg",
                        "pages": 1,
                        "size_bytes": 1,
                        "quality_flags": [],
                        "replaced": False,
                        "created_at": now,
                    }
                )
        for chunk in _chunks(docs):
            await conn.execute(insert(Document), chunk)
        events = (
            {
                "dossier_id": (k % n_dossiers) + 1,
                "action": "edit",
                "from_stage": "x",
                "to_stage": "x",
                "note": "",
                "data": {},
                "at": now + timedelta(seconds=k),
            }
            for k in range(n_dossiers * 10)
        )
        batch: list[dict[str, Any]] = []
        for ev in events:
            batch.append(ev)
            if len(batch) == BATCH:
                await conn.execute(insert(DossierEvent), batch)
                batch = []
        if batch:
            await conn.execute(insert(DossierEvent), batch)
    async with engine.begin() as conn:
        if engine.url.get_backend_name() == "postgresql":
            await conn.execute(text("ANALYZE"))
        else:
            await conn.execute(text("ANALYZE"))
    elapsed = time.perf_counter() - t0
    await engine.dispose()
    return {
        "producers": n_producers,
        "officers": officers,
        "communes": communes,
        "dossiers": dossiers,
        "docs": len(docs),
        "events": n_dossiers * 10,
        "seconds": elapsed,
    }


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, data: dict[str, Any], samples: int) -> dict[str, tuple[float, float]]:
    engine = make_engine(url)
    sessions = session_factory(engine)
    ctx = CoreContext(clock=FixedClock(datetime(2026, 6, 1, 2, tzinfo=UTC)), plans=PlanRegistry())
    rng = random.Random(1)
    summary_ms: list[float] = []
    inbox_ms: list[float] = []
    for i in range(samples + 50):  # the first 50 warm the caches and are not counted
        d = rng.choice(data["dossiers"])
        producer = Actor(account_id=d["producer_id"], role=Role.PRODUCER)
        t = time.perf_counter()
        async with transaction(sessions) as s:
            summary = await status.status_summary(s, ctx, producer, d["receipt_code"])
        elapsed = (time.perf_counter() - t) * 1000
        assert summary.dossier.id == d["id"]
        if i >= 50:
            summary_ms.append(elapsed)
        j = rng.randrange(len(data["officers"]))
        officer = Actor(
            account_id=data["officers"][j]["id"],
            role=Role.COMMUNE,
            communes=frozenset({data["communes"][j][0]}),
        )
        t = time.perf_counter()
        async with transaction(sessions) as s:
            inbox = await status.officer_inbox(s, officer, limit=50)
        elapsed = (time.perf_counter() - t) * 1000
        assert len(inbox) <= 50
        if i >= 50:
            inbox_ms.append(elapsed)
    await engine.dispose()
    return {
        "producer status summary": (statistics.median(summary_ms), _pct(summary_ms, 0.99)),
        "officer 50 most urgent": (statistics.median(inbox_ms), _pct(inbox_ms, 0.99)),
    }


async def _pg_database(base: str) -> tuple[str, str]:
    name = f"ocop_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(
        make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False), name


async def _drop_pg(base: str, name: str) -> None:
    admin = create_async_engine(
        make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    targets: list[tuple[str, str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="ocop-bench-"))
    targets.append(("SQLite", f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}", None))
    pg_base = os.environ.get("OCOP_BENCH_DATABASE_URL") or os.environ.get(
        "OCOP_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    )
    if not args.skip_postgres:
        url, name = await _pg_database(pg_base)
        targets.append(("PostgreSQL", url, name))
    rows = []
    for label, url, pg_name in targets:
        try:
            data = await generate(url, args.dossiers)
            print(
                f"{label}: generated {len(data['dossiers']):,} dossiers, {data['events']:,} "
                f"events, {data['docs']:,} documents in {data['seconds']:.1f} s",
                flush=True,
            )
            for name, (p50, p99) in (await measure(url, data, args.samples)).items():
                rows.append((label, name, p50, p99))
        finally:
            if pg_name:
                await _drop_pg(pg_base, pg_name)
    print()
    print(f"{'database':<11} {'query':<26} {'p50 ms':>8} {'p99 ms':>8}  target p99 <= 20 ms")
    for label, name, p50, p99 in rows:
        verdict = "ok" if p99 <= 20 else "MISSED"
        print(f"{label:<11} {name:<26} {p50:>8.2f} {p99:>8.2f}  {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
