"""Administrative units from the maintained ``vietnam-provinces`` package (34 provinces and
3,321 communes since 1/7/2025), mirrored into our tables so dossiers can reference them, plus
pre-2025 provinces kept for old records."""

from __future__ import annotations

from functools import cache

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from vietnam_provinces import Province as VnProvince
from vietnam_provinces import Ward as VnWard

from ocop_core.admin_units_legacy import legacy_provinces
from ocop_core.models import Commune, Province
from ocop_core.text import fold  # re-exported: older code imports it from here


def province_code(value: int) -> str:
    return f"{value:02d}"


def commune_code(value: int) -> str:
    return f"{value:05d}"


@cache
def current_provinces() -> tuple[tuple[str, str], ...]:
    """(code, name) of today's 34 provinces. Plain tuples: ORM rows must not be shared."""
    return tuple(
        (province_code(int(p.code)), p.name)
        for p in sorted(VnProvince.iter_all(), key=lambda p: int(p.code))
    )


@cache
def current_communes() -> tuple[tuple[str, str, str], ...]:
    """(code, name, province code) of today's 3,321 communes."""
    return tuple(
        (commune_code(int(w.code)), w.name, province_code(int(w.province_code)))
        for w in VnWard.iter_all()
    )


async def sync_admin_units(session: AsyncSession) -> int:
    """Insert the units that are missing (idempotent). Returns how many rows were added."""
    have_p = set((await session.exec(select(Province.code))).all())
    have_c = set((await session.exec(select(Commune.code))).all())
    added = 0
    for code, name in current_provinces():
        if code not in have_p:
            session.add(Province(code=code, name=name))
            added += 1
    for lp in legacy_provinces():
        if lp.code not in have_p:
            session.add(
                Province(code=lp.code, name=lp.name, legacy=True, successor_code=lp.successor)
            )
            added += 1
    await session.flush()
    for code, name, province in current_communes():
        if code not in have_c:
            session.add(
                Commune(code=code, name=name, name_ascii=fold(name), province_code=province)
            )
            added += 1
    await session.flush()
    return added


async def search_communes(
    session: AsyncSession, province: str | None, query: str, limit: int = 8
) -> list[Commune]:
    """Communes of a province (or of the whole country when ``province`` is None) whose name
    contains every word typed, accents ignored."""
    words = [w for w in fold(query).split() if w not in {"xa", "phuong", "dac", "khu"}]
    stmt = select(Commune).where(col(Commune.legacy).is_(False))
    if province is not None:
        stmt = stmt.where(Commune.province_code == province)
    for word in words:
        stmt = stmt.where(col(Commune.name_ascii).contains(word, autoescape=True))  # "%", "_"
    rows = (await session.exec(stmt.order_by(Commune.name).limit(limit * 4))).all()
    # Whole-word matches first: "tam duong" should put "Xã Tam Đường" before "Tam Đường Mới".
    rows = sorted(rows, key=lambda c: (not c.name_ascii.endswith(" ".join(words)), c.name))
    return list(rows[:limit])


async def get_commune(session: AsyncSession, code: str) -> Commune | None:
    return await session.get(Commune, code.strip())
