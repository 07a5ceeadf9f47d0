"""Benchmark: reminder fan-out through the fake Telegram Bot API, and computing fires.

1. Fan-out: 10,000 producers get a reminder (queued by ``ocop-bot remind --now``) and the real
   ``ocop-bot run`` delivers them through the fake Bot API, which enforces Telegram's flood limits
   scaled ×10 (300 messages/s overall, 10/s per chat). Meanwhile other people ask the bot for help.
   Prints the achieved rate as a fraction of the limit (target ≥ 0.9), the number of 429 answers
   (target 0) and the p99 of an interactive reply during the fan-out (target ≤ 1 s). Run twice:
   the messages fall due while the bot runs (as a deadline's reminders do), and they are waiting
   when it starts — then the bot's first pass runs at the same time: it moves the 10,000 dossiers,
   filed for a 2024 round, to today's rounds, and drops their 20,000 late fires.
2. Computing fires for 100,000 dossiers on SQLite (target ≤ 5 s): first computation (every fire
   inserted) and a recomputation (the steady state of the 10-minute job).

    python bench/fanout.py [--recipients 10000] [--dossiers 100000] [--skip-fanout] [--skip-compute]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Telegram server lives in tests/

from sqlalchemy import func, insert, text  # noqa: E402
from sqlmodel import select  # noqa: E402

from bot.app import prepare_database  # noqa: E402
from ocop_core.admin_units import current_communes  # noqa: E402
from ocop_core.clock import VN_TZ, FixedClock  # noqa: E402
from ocop_core.db import make_engine, session_factory, transaction  # noqa: E402
from ocop_core.lifecycle import Stage  # noqa: E402
from ocop_core.models import (  # noqa: E402
    Account,
    AccountCommune,
    Document,
    Dossier,
    Fire,
    Outbox,
    OutboxStatus,
    Producer,
    Role,
)
from ocop_core.plans import PlanRegistry  # noqa: E402
from ocop_core.reminders import compute_fires  # noqa: E402
from ocop_core.rules import get_ruleset, requirements_for  # noqa: E402
from ocop_core.services.context import CoreContext  # noqa: E402
from tests.botprocess import BotProcess  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramServer, RateLimits  # noqa: E402
from tests.reminders_world import receipt, seed_producers  # noqa: E402

SCALE = 10  # default; --scale 1 is Telegram's real 30/s (a busy machine still keeps up)
BIN = Path(sys.executable).parent / "ocop-bot"
BATCH = 5000


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(*args: str, env: dict[str, str], cwd: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(BIN),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(out.decode())
    return out.decode()


# -- 1. fan-out ---------------------------------------------------------------------------------


async def fanout(
    recipients: int, askers: int = 10, scale: float = SCALE, *, due_after: float = 0.0
) -> None:
    """``due_after``: seconds after the bot was started that the messages fall due (0: already
    due when it starts); enough for its start and first pass to be over by then."""
    limit = 30.0 * scale
    work = Path(tempfile.mkdtemp(prefix="ocop-fanout-"))
    url = f"sqlite+aiosqlite:///{work / 'ocop.sqlite3'}"
    engine = make_engine(url)
    await prepare_database(engine)
    await engine.dispose()
    async with FakeTelegramServer(rate_limits=RateLimits().scaled(scale)) as server:
        people = [server.person(first_name=f"P{i}") for i in range(recipients)]
        await seed_producers(url, [p.id for p in people], stage=Stage.DISTRICT_SCORED)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCOP_")}
        env.update(OCOP_DATABASE_URL=url, OCOP_LOG_LEVEL="WARNING", OCOP_QUIET_HOURS="off")
        t0 = time.perf_counter()
        out = await _run("remind", "--now", "2024-10-23T08:00:00+07:00", env=env, cwd=work)
        queued_in = time.perf_counter() - t0
        print(f"remind --now queued the fan-out in {queued_in:.1f} s: {out.strip()}", flush=True)
        if due_after:
            await _due_at(url, datetime.now(UTC) + timedelta(seconds=due_after))
        env.update(
            OCOP_TELEGRAM_TOKEN=server.token,
            OCOP_TELEGRAM_API_URL=server.base_url,
            OCOP_TELEGRAM_FILE_URL=server.base_file_url,
            OCOP_TELEGRAM_GLOBAL_RATE=str(limit),
        )
        others = [server.person(first_name=f"Asker{i}") for i in range(askers)]
        fanout_ids = {p.id for p in people}
        bot = BotProcess(work / "var", env)
        await bot.start()
        when = f"due {due_after:.0f} s after the bot's start" if due_after else "due at its start"
        latencies: list[float] = []
        try:
            await server.wait_until(lambda: len(server.sent) >= 50, timeout=60)
            n = 0
            while sum(1 for m in server.sent if m.chat_id in fanout_ids) < recipients * 0.95:
                asker = others[n % askers]
                n += 1
                started = time.perf_counter()
                await asker.send_text("/trogiup")
                await asker.wait_for_messages(1, timeout=30)
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.1)  # enough samples for a p99 to mean something
            await server.wait_until(lambda: all(p.inbox for p in people), timeout=300)
        finally:
            await bot.stop()
    sends = sorted(
        r.at
        for r in server.requests
        if r.method.lower() == "sendmessage" and r.ok and r.chat_id in fanout_ids
    )
    rate = (len(sends) - 1) / (sends[-1] - sends[0])
    every = [
        r.at
        for r in server.requests
        if r.method.lower() == "sendmessage" and r.ok and sends[0] <= r.at <= sends[-1]
    ]
    total_rate = (len(every) - 1) / (sends[-1] - sends[0])
    too_many = sum(1 for r in server.rejections if r.error_code == 429)
    engine = make_engine(url)
    async with session_factory(engine)() as s:
        sent_rows = (
            await s.exec(select(func.count()).where(Outbox.status == OutboxStatus.SENT))
        ).one()
    await engine.dispose()
    p99 = _pct(latencies, 0.99)
    print()
    print(
        f"fan-out {when}: {len(sends):,} recipients ({sent_rows:,} outbox rows sent) in "
        f"{sends[-1] - sends[0]:.1f} s through the fake Bot API limited to {limit:.0f} msg/s"
    )
    print(
        f"  achieved rate        {rate:8.1f} msg/s = {rate / limit:.3f} of the limit  "
        f"(target >= 0.9) {'ok' if rate / limit >= 0.9 else 'MISSED'}"
    )
    print(f"  with the replies     {total_rate:8.1f} msg/s = {total_rate / limit:.3f} of the limit")
    print(
        f"  429 answers          {too_many:8d}                        "
        f"(target 0)      {'ok' if too_many == 0 else 'MISSED'}"
    )
    print(
        f"  interactive replies  p50 {_pct(latencies, 0.5) * 1000:6.0f} ms, p99 "
        f"{p99 * 1000:6.0f} ms over {len(latencies)}  (target p99 <= 1000 ms) "
        f"{'ok' if p99 <= 1.0 else 'MISSED'}"
    )


async def _due_at(url: str, at: datetime) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            Outbox.__table__.update()  # type: ignore[attr-defined]
            .where(Outbox.__table__.c.status == OutboxStatus.QUEUED)  # type: ignore[attr-defined]
            .values(next_attempt_at=at)
        )
    await engine.dispose()


# -- 2. computing fires -------------------------------------------------------------------------

STAGES = [
    Stage.IDEA_REGISTERED,
    Stage.DOCUMENTS_PENDING,
    Stage.SUBMITTED,
    Stage.COMMUNE_CHECKED,
    Stage.AT_PROVINCE,
    Stage.PROVINCE_SCORED,
    Stage.CERTIFIED,
]


async def generate(url: str, n: int) -> None:
    """100,000 dossiers under the national calendar of 2026 in five provinces, with officers,
    documents (three per dossier), filing dates and certificates."""
    engine = make_engine(url)
    await prepare_database(engine)
    rng = random.Random(7)
    communes = [c for c in current_communes() if c[2] in {"12", "11", "14", "15", "37"}][:400]
    provinces = sorted({c[2] for c in communes})
    now = datetime(2026, 10, 1, 1, tzinfo=UTC)
    producers = n // 2
    rs = get_ruleset("qd26-2026")
    async with engine.begin() as conn:
        accounts = [
            {
                "id": i,
                "channel": "telegram",
                "platform_user_id": str(i),
                "chat_id": str(i),
                "display_name": f"p{i}",
                "phone_verified": False,
                "locale": "vi",
                "role": Role.PRODUCER,
                "status": "active",
                "created_at": now,
            }
            for i in range(1, producers + 1)
        ]
        officers = []
        for j, (code, _name, province) in enumerate(communes):
            officers.append((producers + 1 + j, Role.COMMUNE, province, code))
        for k, province in enumerate(provinces):
            officers.append((producers + 1 + len(communes) + k, Role.PROVINCE, province, None))
        accounts += [
            {
                "id": oid,
                "channel": "telegram",
                "platform_user_id": f"o{oid}",
                "chat_id": f"o{oid}",
                "display_name": f"o{oid}",
                "phone_verified": False,
                "locale": "vi",
                "role": role,
                "province_code": province,
                "status": "active",
                "created_at": now,
            }
            for oid, role, province, _ in officers
        ]
        await _insert(conn, Account, accounts)
        await _insert(
            conn,
            AccountCommune,
            [{"account_id": oid, "commune_code": c} for oid, _, _, c in officers if c],
        )
        await _insert(
            conn,
            Producer,
            [
                {
                    "id": i,
                    "account_id": i,
                    "kind": "household",
                    "name": f"Hộ {i}",
                    "representative": "",
                    "address": "",
                    "commune_code": communes[i % len(communes)][0],
                    "created_at": now,
                }
                for i in range(1, producers + 1)
            ],
        )
        dossiers = []
        for i in range(1, n + 1):
            producer = (i - 1) // 2 + 1
            commune, _name, province = communes[producer % len(communes)]
            stage = rng.choice(STAGES)
            created = now - timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
            row: dict[str, Any] = {
                "id": i,
                "receipt_code": receipt(province, 2026, i),
                "producer_id": producer,
                "province_code": province,
                "commune_code": commune,
                "product_name": f"Sản phẩm {i}",
                "criteria_set": rng.randint(1, 26),
                "attempt": "new",
                "ruleset": "qd26-2026",
                "plan_id": f"national-{province}-2026",
                "year": 2026,
                "stage": stage,
                "details": {},
                "version": 1,
                "created_at": created,
                "updated_at": created,
                "submitted_at": None,
                "certificate_number": None,
                "certificate_date": None,
                "certificate_expiry": None,
            }
            if stage == Stage.SUBMITTED:
                row["submitted_at"] = now - timedelta(days=rng.randint(0, 20))
            if stage == Stage.CERTIFIED:
                issued = date(2023, 1, 1) + timedelta(days=rng.randint(0, 1200))
                row.update(
                    certificate_number=f"{i}/QĐ-UBND",
                    certificate_date=issued,
                    certificate_expiry=rs.certificate_expiry(issued),
                )
            dossiers.append(row)
        await _insert(conn, Dossier, dossiers)
        docs = []
        for d in dossiers:
            for req in requirements_for(d["criteria_set"], "new")[:3]:
                docs.append(
                    {
                        "dossier_id": d["id"],
                        "requirement": req.code,
                        "page": 1,
                        "path": "x",
                        "sha256": f"{d['id']:032x}{req.order:032x}",
                        "mime": "image/jpeg",
                        "pages": 1,
                        "size_bytes": 1,
                        "quality_flags": [],
                        "replaced": False,
                        "created_at": now,
                    }
                )
        await _insert(conn, Document, docs)
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    await engine.dispose()


async def _insert(conn: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), BATCH):
        await conn.execute(insert(model), rows[i : i + BATCH])


async def compute(n: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="ocop-fires-"))
    url = f"sqlite+aiosqlite:///{work / 'bench.sqlite3'}"
    t0 = time.perf_counter()
    await generate(url, n)
    print(f"\ngenerated {n:,} dossiers (SQLite) in {time.perf_counter() - t0:.1f} s", flush=True)
    engine = make_engine(url)
    sessions = session_factory(engine)
    at = datetime(2026, 10, 1, 8, tzinfo=VN_TZ)
    ctx = CoreContext(clock=FixedClock(at), plans=PlanRegistry())
    rows = []
    for label in ("first computation", "recomputation", "recomputation, 1 day later"):
        if label.endswith("later"):
            ctx.clock.set(at + timedelta(days=1))  # type: ignore[attr-defined]
        t = time.perf_counter()
        async with transaction(sessions) as s:
            stats = await compute_fires(s, ctx)
        rows.append((label, time.perf_counter() - t, stats))
    async with sessions() as s:
        fires = (await s.exec(select(func.count()).select_from(Fire))).one()
    await engine.dispose()
    print(f"computing fires for {n:,} dossiers on SQLite ({fires:,} fires in the table):")
    for label, seconds, stats in rows:
        verdict = "ok" if seconds <= 5 else "MISSED"
        print(
            f"  {label:<28} {seconds:6.2f} s  ({stats.wanted:,} wanted, {stats.written:,} "
            f"written, {stats.cancelled:,} cancelled, {stats.dropped:,} dropped)  "
            f"target <= 5 s {verdict}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--scale", type=float, default=SCALE, help="× Telegram's limits")
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--skip-compute", action="store_true")
    args = parser.parse_args()
    if not args.skip_fanout:
        await fanout(args.recipients, scale=args.scale, due_after=15)
        await fanout(args.recipients, scale=args.scale)
    if not args.skip_compute:
        await compute(args.dossiers)


if __name__ == "__main__":
    asyncio.run(main())
