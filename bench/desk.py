"""Benchmark: the desk's pages and exports over real HTTP with many dossiers.

Generates dossiers in one province (Lai Châu, so one provincial officer sees every row: the
worst case), three documents each and one in six certified, on SQLite (a file) and, when
OCOP_TEST_DATABASE_URL is set, on PostgreSQL (in a scratch database next to it, dropped after).
Then, signed in as that officer, times page renders (overview; the dossier table unfiltered, with
an accent-free search and with the overdue filter) and the export of the 20,000 dossiers of one
year as .xlsx. Prints p50/p99 in ms and the export time. Targets (not asserted): p99 ≤ 150 ms
for the pages with 100,000 dossiers, the 20,000-row export ≤ 10 s.

    python bench/desk.py [--dossiers 100000] [--samples 200] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import prepare_database
from bot.web import Desk
from ocop_core.admin_units import current_communes
from ocop_core.clock import FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.documents_complete import is_complete
from ocop_core.lifecycle import Stage
from ocop_core.models import Account, Document, Dossier, Producer, Role
from ocop_core.plans import PlanRegistry
from ocop_core.receipts import ALPHABET
from ocop_core.rules import requirements_for
from ocop_core.search_text import search_text
from ocop_core.services import web_access
from ocop_core.services.context import CoreContext

PROVINCE = "12"
STAGES = [
    Stage.IDEA_REGISTERED,
    Stage.DOCUMENTS_PENDING,
    Stage.SUBMITTED,
    Stage.COMMUNE_CHECKED,
    Stage.AT_PROVINCE,
    Stage.PROVINCE_SCORED,
    Stage.CERTIFIED,
]
BATCH = 5_000
EXPORT_ROWS = 20_000
NOW = datetime(2026, 6, 10, 2, tzinfo=UTC)


def _code(i: int) -> str:
    tail, n = "", i
    for _ in range(5):
        tail += ALPHABET[n % 32]
        n //= 32
    return f"{PROVINCE}26-{tail}"


def _doc_codes(criteria_set: int) -> list[str]:
    """The three documents each generated dossier holds."""
    return [r.code for r in requirements_for(criteria_set, "new")[:3]]


def _producer_name(i: int) -> str:
    return f"Hộ Đặng Văn {i}"


def _dossier(i: int, n_export: int, rng: random.Random, communes: list[str]) -> dict[str, Any]:
    stage = rng.choice(STAGES)
    cs = rng.randint(1, 26)
    product = rng.choice(["Mật ong", "Chè Shan tuyết", "Gạo nếp", "Măng khô"]) + f" {i}"
    certified = stage == Stage.CERTIFIED
    issued = date(2024, 1, 1) + timedelta(days=rng.randint(0, 800))
    return {
        "id": i + 1,
        "receipt_code": _code(i),
        "producer_id": i // 2 + 1,
        "province_code": PROVINCE,
        "commune_code": communes[(i // 2) % len(communes)],
        "product_name": product,
        # A bulk insert skips the ORM hook that keeps this column current: set it here.
        "search_text": search_text(product, _producer_name(i // 2)),
        "criteria_set": cs,
        "attempt": "new",
        "ruleset": "qd26-2026",
        "plan_id": f"national-{PROVINCE}-2026",
        "year": 2025 if i < n_export else 2026,
        "stage": stage,
        "points": 75.0 if certified else None,
        "stars": 4 if certified else None,
        "certificate_number": f"{i}/QĐ-UBND" if certified else None,
        "certificate_date": issued if certified else None,
        "certificate_expiry": issued + timedelta(days=3 * 365) if certified else None,
        "details": {},
        "version": 1,
        "documents_complete": is_complete(cs, "new", _doc_codes(cs)),
        "next_due": date(2026, 4, 30) + timedelta(days=rng.randint(0, 240)),
        "created_at": NOW,
        "updated_at": NOW,
    }


async def generate(url: str, n: int) -> int:
    """Fill the database; returns the provincial officer's account id."""
    engine = make_engine(url)
    await prepare_database(engine)
    rng = random.Random(42)
    communes = [c[0] for c in current_communes() if c[2] == PROVINCE]
    n_producers = n // 2
    async with engine.begin() as conn:
        officer_id = n_producers + 1
        await conn.execute(
            insert(Account),
            [
                {
                    "id": officer_id,
                    "channel": "telegram",
                    "platform_user_id": "officer",
                    "chat_id": "officer",
                    "display_name": "Cán bộ tỉnh",
                    "phone_verified": False,
                    "locale": "vi",
                    "role": Role.PROVINCE,
                    "province_code": PROVINCE,
                    "status": "active",
                    "created_at": NOW,
                }
            ],
        )
        producers = [
            {
                "id": i + 1,
                "kind": "household",
                "name": _producer_name(i),
                "representative": "",
                "address": "",
                "commune_code": communes[i % len(communes)],
                "created_at": NOW,
            }
            for i in range(n_producers)
        ]
        for chunk in _chunks(producers):
            await conn.execute(insert(Producer), chunk)
        export_rows = min(EXPORT_ROWS, n // 5)
        dossiers = [_dossier(i, export_rows, rng, communes) for i in range(n)]
        for chunk in _chunks(dossiers):
            await conn.execute(insert(Dossier), chunk)
        docs = [
            {
                "dossier_id": d["id"],
                "requirement": req,
                "page": 1,
                "path": "x",
                "sha256": uuid.uuid4().hex,
                "mime": "image/jpeg",
                "pages": 1,
                "size_bytes": 1,
                "quality_flags": [],
                "replaced": False,
                "created_at": NOW,
            }
            for d in dossiers
            for req in _doc_codes(d["criteria_set"])
        ]
        for chunk in _chunks(docs):
            await conn.execute(insert(Document), chunk)
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    await engine.dispose()
    return officer_id


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


PAGES = {
    "overview": "/desk/",
    "dossiers": "/desk/dossiers",
    "dossiers?q": "/desk/dossiers?q=che+shan",
    "dossiers?overdue": "/desk/dossiers?overdue=1&sort=-due",
}


async def measure(url: str, officer_id: int, samples: int, data_dir: Path) -> dict[str, Any]:
    from aiohttp import web

    engine = make_engine(url)
    sessions = session_factory(engine)
    ctx = CoreContext(clock=FixedClock(NOW), plans=PlanRegistry(), data_dir=data_dir)
    web_app = web.Application()
    Desk(sessions, ctx).add_routes(web_app)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    async with transaction(sessions) as s:
        token = await web_access.issue_for_account(s, ctx, officer_id)
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        async with http.post(f"{base}/desk/signin/{token}", allow_redirects=False) as r:
            raw = r.headers.getone("Set-Cookie")
        headers = {"Cookie": raw.split(";", 1)[0]}
        for name, path in PAGES.items():
            times = []
            for i in range(samples + 5):  # five warm-up requests, not counted
                t = time.perf_counter()
                async with http.get(base + path, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, (path, r.status)
                if i >= 5:
                    times.append((time.perf_counter() - t) * 1000)
            results[name] = (_pct(times, 0.5), _pct(times, 0.99))
        t = time.perf_counter()
        async with http.get(f"{base}/desk/dossiers.xlsx?year=2025", headers=headers) as r:
            body = await r.read()
            assert r.status == 200
        results["export"] = (time.perf_counter() - t, len(body))
    await runner.cleanup()
    await engine.dispose()
    return results


def report(label: str, n: int, results: dict[str, Any]) -> None:
    print(f"\n{label}: {n:,} dossiers")
    for name in PAGES:
        p50, p99 = results[name]
        print(f"  {name:<18} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    seconds, size = results["export"]
    rows = min(EXPORT_ROWS, n // 5)
    print(f"  export {rows:,} rows  {seconds:6.2f} s   ({size / 1e6:.1f} MB .xlsx)")


async def main(args: argparse.Namespace) -> None:
    print("Figures from a shared machine: indicative only.", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'desk-bench.sqlite3'}"
        t = time.perf_counter()
        officer = await generate(url, args.dossiers)
        print(f"SQLite: generated in {time.perf_counter() - t:.1f} s")
        report("SQLite", args.dossiers, await measure(url, officer, args.samples, Path(tmp)))
    pg = os.environ.get("OCOP_TEST_DATABASE_URL", "")
    if args.skip_postgres or not pg:
        print("\nPostgreSQL: skipped (set OCOP_TEST_DATABASE_URL)")
        return
    base = make_url(pg.replace("postgresql://", "postgresql+asyncpg://", 1))
    name = f"{base.database}_deskbench"
    admin = create_async_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = base.set(database=name).render_as_string(hide_password=False)
        t = time.perf_counter()
        officer = await generate(url, args.dossiers)
        print(f"\nPostgreSQL: generated in {time.perf_counter() - t:.1f} s")
        with tempfile.TemporaryDirectory() as tmp:
            report(
                "PostgreSQL", args.dossiers, await measure(url, officer, args.samples, Path(tmp))
            )
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--skip-postgres", action="store_true")
    asyncio.run(main(parser.parse_args()))
