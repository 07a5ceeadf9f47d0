"""Builders for reminder tests: people, dossiers at a chosen stage, legacy communes, and a tick
(compute + dispatch) under the injected clock."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text, update
from sqlmodel import col, select

from ocop_core.admin_units import fold
from ocop_core.authz import Actor
from ocop_core.clock import VN_TZ
from ocop_core.db import make_engine
from ocop_core.models import Account, Commune, Dossier, Fire, Outbox, Producer, Role
from ocop_core.receipts import ALPHABET
from ocop_core.reminders import DispatchStats, QuietHours, compute_fires, dispatch_due
from ocop_core.services import dossiers
from tests.conftest import Core, vn_time
from tests.factories import registration

# Legacy (pre-2025) communes of Hà Nam (L35): the Commune table keeps such rows for old dossiers.
HA_NAM = "L35"
LIEM_CHINH = "L3513321"
THANH_HA = "L3513330"


async def add_legacy_communes(core: Core) -> None:
    async with core.session() as s:
        for code, name in ((LIEM_CHINH, "Xã Liêm Chính"), (THANH_HA, "Xã Thanh Hà")):
            if await s.get(Commune, code) is None:
                s.add(
                    Commune(
                        code=code,
                        name=name,
                        name_ascii=fold(name),
                        province_code=HA_NAM,
                        legacy=True,
                        successor_code=None,
                    )
                )


async def dossier_at(
    core: Core,
    owner: Actor,
    commune: str,
    stage: str,
    *,
    registered: datetime,
    product: str = "Mật ong bạc hà",
    **changes: Any,
) -> Dossier:
    """Register a dossier at ``registered`` (which picks the plan of that year), then put it at
    ``stage`` directly: the transitions themselves are tested in test_services."""
    saved = core.clock.now()
    core.clock.set(registered)
    try:
        async with core.session() as s:
            d = await dossiers.register_dossier(
                s, core.ctx, owner, registration(commune=commune, name=product)
            )
            await s.exec(
                update(Dossier)
                .where(col(Dossier.id) == d.id)
                .values(stage=stage, **changes)
                .execution_options(synchronize_session=False)
            )
            await s.refresh(d)
    finally:
        core.clock.set(saved)
    return d


async def tick(core: Core, quiet: QuietHours | None = None) -> DispatchStats:
    """What the scheduler does: compute the fires, then dispatch the due ones."""
    async with core.session() as s:
        await compute_fires(s, core.ctx)
    return await dispatch_due(core.sessions, core.ctx, quiet=quiet)


@dataclass(frozen=True)
class Sent:
    who: str
    day: date
    kind: str
    text: str


async def outbox_log(core: Core) -> list[Sent]:
    """Every queued reminder: recipient name, local day it was queued, fire kind, text."""
    async with core.session() as s:
        rows = (
            await s.exec(
                select(Outbox, Account)
                .join(Account, col(Account.id) == col(Outbox.account_id))
                .order_by(col(Outbox.id))
            )
        ).all()
        kinds = dict((await s.exec(select(Fire.id, Fire.kind))).all())
    return [
        Sent(
            a.display_name,
            o.created_at.astimezone(VN_TZ).date(),
            kinds.get(int(o.idempotency_key.removeprefix("fire:")), "?"),
            o.payload["text"],
        )
        for o, a in rows
        if o.idempotency_key.startswith("fire:")
    ]


async def simulate(
    core: Core, start: date, end: date, *, hour: int = 8, minute: int = 0
) -> list[Sent]:
    """Tick once a day at ``hour``:``minute`` local time from ``start`` to ``end`` inclusive."""
    day = start
    while day <= end:
        core.clock.set(vn_time(day.year, day.month, day.day, hour, minute))
        await tick(core)
        day += timedelta(days=1)
    return await outbox_log(core)


def by_person(log: list[Sent]) -> dict[str, list[tuple[date, str]]]:
    out: dict[str, list[tuple[date, str]]] = {}
    for sent in log:
        out.setdefault(sent.who, []).append((sent.day, sent.kind))
    return out


def days(*items: tuple[int, int, int]) -> list[date]:
    return [date(*d) for d in items]


async def fire_counts(core: Core) -> Counter[str]:
    async with core.session() as s:
        statuses = (await s.exec(select(Fire.status))).all()
    return Counter(statuses)


def at_utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN_TZ).astimezone(UTC)


def receipt(province: str, year: int, i: int) -> str:
    tail = ""
    for _ in range(5):
        tail += ALPHABET[i % 32]
        i //= 32
    return f"{province}{year % 100:02d}-{tail}"


async def seed_producers(
    url: str,
    chat_ids: list[int | str],
    *,
    stage: str,
    commune: str = "03390",
    province: str = "12",
    plan_id: str = "lai-chau-2024",
    ruleset: str = "qd148-2023",
    year: int = 2024,
    registered: datetime | None = None,
    first_id: int = 1,
    points: float | None = 75.0,  # district-forward concerns only dossiers of 70 points or more
) -> None:
    """One Telegram producer and one dossier per chat id, inserted set-wise (thousands at once)."""
    at = (registered or vn_time(2024, 9, 1, 9, 0)).astimezone(UTC)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            ids = range(first_id, first_id + len(chat_ids))
            batches = [
                (
                    Account,
                    [
                        {
                            "id": i,
                            "channel": "telegram",
                            "platform_user_id": str(chat),
                            "chat_id": str(chat),
                            "display_name": f"p{i}",
                            "phone_verified": False,
                            "locale": "vi",
                            "role": Role.PRODUCER,
                            "status": "active",
                            "created_at": at,
                        }
                        for i, chat in zip(ids, chat_ids, strict=True)
                    ],
                ),
                (
                    Producer,
                    [
                        {
                            "id": i,
                            "account_id": i,
                            "kind": "household",
                            "name": f"Hộ {i}",
                            "representative": "",
                            "address": "",
                            "commune_code": commune,
                            "created_at": at,
                        }
                        for i in ids
                    ],
                ),
                (
                    Dossier,
                    [
                        {
                            "id": i,
                            "receipt_code": receipt(province, year, i),
                            "producer_id": i,
                            "province_code": province,
                            "commune_code": commune,
                            "product_name": f"Sản phẩm {i}",
                            "criteria_set": 4,
                            "attempt": "new",
                            "ruleset": ruleset,
                            "plan_id": plan_id,
                            "year": year,
                            "stage": stage,
                            "points": points,
                            "details": {},
                            "version": 1,
                            "created_at": at,
                            "updated_at": at,
                        }
                        for i in ids
                    ],
                ),
            ]
            for model, rows in batches:
                for k in range(0, len(rows), 2000):
                    await conn.execute(insert(model), rows[k : k + 2000])
            if conn.dialect.name == "postgresql":
                for table in ("account", "producer", "dossier"):
                    await conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
    finally:
        await engine.dispose()
