"""Dossiers that missed their round's date move to the next open round, and people are told once.

Run by the reminders pass (``compute_fires``) before fires are computed, so reminders follow the new
round at once. Set-wise where it matters: the missed (round, stage) pairs are found from the
distinct pairs in use, the next round is chosen once per kind of dossier, and the moves, their
audit events and their notices are written in bulk.

A miss is news only while it is recent: a dossier whose round ended long ago (old data, a paper
dossier filed years back) is moved silently.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.clock import local_today
from ocop_core.i18n import N_, translate
from ocop_core.lifecycle import COMMUNE_DESK, EDITABLE, TERMINAL
from ocop_core.models import (
    Account,
    AccountCommune,
    Dossier,
    DossierEvent,
    EvaluationRound,
    Producer,
    Role,
)
from ocop_core.plans.rounds import RoundRef, legacy_plan_codes
from ocop_core.rules import governing_ruleset
from ocop_core.services import rounds
from ocop_core.services.context import CoreContext
from ocop_core.services.deadlines import next_due_for
from ocop_core.services.outbox import PRIORITY_NOTICE, enqueue_many

__all__ = ["NOTICE_WINDOW_DAYS", "RollStats", "roll_over", "round_label"]

_TERMINAL = sorted(s.value for s in TERMINAL)
# Stages at which the commune officer is the one concerned; later stages concern provincial staff.
_COMMUNE_SIDE = frozenset(EDITABLE | COMMUNE_DESK)
NOTICE_WINDOW_DAYS = 14  # a round missed longer ago than this is moved without a message


@dataclass
class RollStats:
    moved: int = 0  # dossiers put in another round (or out of one)
    notices: int = 0  # messages queued
    more: bool = False  # stopped at ``limit``: another pass has more to move


@dataclass
class _Move:
    dossier: Dossier
    before: rounds.RoundInfo | None
    after: RoundRef | None
    reason: str
    tell: bool


@dataclass
class _Pass:
    """What one pass has looked up already (rounds by id and key, choices, recipients)."""

    ctx: CoreContext
    today: date
    rows_by_id: dict[int, EvaluationRound] = field(default_factory=dict)
    choices: dict[tuple[Any, ...], RoundRef | None] = field(default_factory=dict)
    legacy: dict[str, tuple[str, ...]] = field(default_factory=dict)  # commune → old plan codes
    officers: dict[tuple[str, str], list[Account]] = field(default_factory=dict)


async def _rows(s: AsyncSession, p: _Pass) -> None:
    for row in (await s.exec(select(EvaluationRound))).all():
        p.rows_by_id[row.id or 0] = row


def _before(p: _Pass, dossier: Dossier) -> rounds.RoundInfo | None:
    row = p.rows_by_id.get(dossier.round_id or 0)
    return rounds.info_of_row(row) if row is not None else None


async def _missed_pairs(s: AsyncSession, p: _Pass) -> list[tuple[int, str, date]]:
    """(round id, stage, missed date) for pairs in use whose gate date is behind today."""
    pairs = (
        await s.exec(
            select(Dossier.round_id, Dossier.stage)
            .where(col(Dossier.round_id).is_not(None), col(Dossier.stage).not_in(_TERMINAL))
            .distinct()
        )
    ).all()
    missed: list[tuple[int, str, date]] = []
    for round_id, stage in pairs:
        row = p.rows_by_id.get(round_id or 0)
        ref = rounds.resolve(p.ctx, rounds.info_of_row(row)) if row is not None else None
        gate = ref.gate(stage) if ref is not None else None
        if gate is not None and gate.due < p.today:
            missed.append((round_id or 0, stage, gate.due))
    return missed


def _choose(
    p: _Pass, province: str, commune: str, stage: str, filed: date, attempt: str
) -> RoundRef | None:
    # The filing day matters only through the rules it makes the dossier follow today: keyed by
    # those, a pass over thousands of dossiers chooses a handful of times, not once per dossier.
    legacy = p.legacy.get(commune)
    if legacy is None:
        legacy = p.legacy[commune] = legacy_plan_codes(commune)
    rules = governing_ruleset(filed, p.today, attempt).id
    key = (province, legacy, stage, rules, attempt)
    if key not in p.choices:
        p.choices[key] = rounds.round_for(p.ctx, province, legacy, stage, filed, attempt, p.today)
    return p.choices[key]


def _choose_for(p: _Pass, d: Dossier) -> RoundRef | None:
    filed = rounds.filed_on(d)
    return _choose(p, d.province_code, d.commune_code, d.stage, filed, d.attempt)


async def _unplaced(s: AsyncSession, p: _Pass, limit: int) -> list[tuple[Dossier, RoundRef]]:
    """Dossiers in no round for which a round is open now (read as plain rows, loaded if so)."""
    cols = (
        Dossier.id,
        Dossier.province_code,
        Dossier.commune_code,
        Dossier.stage,
        Dossier.filed_on,
        Dossier.created_at,
        Dossier.attempt,
    )
    rows = (
        await s.exec(
            select(*cols).where(
                col(Dossier.round_id).is_(None), col(Dossier.stage).not_in(_TERMINAL)
            )
        )
    ).all()
    wanted: dict[int, RoundRef] = {}
    for dossier_id, province, commune, stage, filed, created, attempt in rows:
        day = rounds.filing_day(filed, created)
        ref = _choose(p, province, commune, stage, day, attempt)
        if ref is not None:
            wanted[dossier_id] = ref
            if len(wanted) >= limit:
                break
    if not wanted:
        return []
    loaded = (await s.exec(select(Dossier).where(col(Dossier.id).in_(sorted(wanted))))).all()
    return [(d, wanted[d.id or 0]) for d in loaded]


async def _moves(s: AsyncSession, p: _Pass, limit: int) -> list[_Move]:
    """Up to ``limit`` candidate moves; ``roll_over`` keeps those whose round changes."""
    moves: list[_Move] = []
    recent = p.today - timedelta(days=NOTICE_WINDOW_DAYS)
    for round_id, stage, missed_on in await _missed_pairs(s, p):
        if len(moves) >= limit:
            return moves
        stmt = (
            select(Dossier)
            .where(Dossier.round_id == round_id, Dossier.stage == stage)
            .order_by(col(Dossier.id))
            .limit(limit - len(moves))
        )
        for d in (await s.exec(stmt)).all():
            # Never the same round: its gate for this stage is behind ``today``.
            moves.append(_Move(d, _before(p, d), _choose_for(p, d), "missed", missed_on >= recent))
    if len(moves) >= limit:
        return moves
    # Dossiers no loaded plan governed: a plan or a new ruleset's calendar may apply now.
    for d, ref in await _unplaced(s, p, limit - len(moves)):
        # Stored before rounds existed and already on that round's plan: record, no news.
        backfill = d.plan_id == ref.plan.id
        moves.append(_Move(d, None, ref, "backfill" if backfill else "opened", not backfill))
    return moves


async def _round_ids(
    s: AsyncSession, p: _Pass, moves: Sequence[_Move], now: datetime
) -> dict[str, int]:
    ids = {row.key: row.id or 0 for row in p.rows_by_id.values()}
    for move in moves:
        ref = move.after
        if ref is not None and ref.key not in ids:
            row = await rounds.round_row(s, ref, now)
            ids[ref.key] = row.id or 0
            p.rows_by_id[row.id or 0] = row
    return ids


async def roll_over(s: AsyncSession, ctx: CoreContext, *, limit: int | None = None) -> RollStats:
    """Move every dossier whose round is over for its stage; one notice per move and person.

    With ``limit``, at most that many dossiers are looked at; ``more`` then says whether to call
    again (in a new transaction: the caller keeps each one short).
    """
    p = _Pass(ctx, local_today(ctx.clock))
    await _rows(s, p)
    candidates = await _moves(s, p, limit if limit is not None else sys.maxsize)
    more = limit is not None and len(candidates) >= limit
    moves = [
        m
        for m in candidates
        if (m.after.key if m.after else None) != (m.before.key if m.before else None)
    ]
    if not moves:
        return RollStats(more=more)
    now = ctx.clock.now()
    ids = await _round_ids(s, p, moves, now)
    await _write(s, p, moves, ids, now)
    notices = 0
    items = []
    for move in moves:
        if move.tell:
            items.extend(await _notices(s, p, move))
    if items:
        notices = await enqueue_many(s, items, now=now)
    return RollStats(moved=len(moves), notices=notices, more=more)


async def _write(
    s: AsyncSession, p: _Pass, moves: Sequence[_Move], ids: dict[str, int], now: datetime
) -> None:
    """The moves as two bulk statements: the dossiers' new round, and one event each."""
    updates, events = [], []
    for move in moves:
        d, ref = move.dossier, move.after
        rounds.set_round_fields(d, ref, ids.get(ref.key) if ref else None)
        d.next_due = next_due_for(p.ctx, d, p.today)
        updates.append(
            {
                "b_id": d.id,
                "round_id": d.round_id,
                "round_number": d.round_number,
                "plan_id": d.plan_id,
                "year": d.year,
                "ruleset": d.ruleset,
                "next_due": d.next_due,
                "updated_at": now,
            }
        )
        events.append(rounds.move_event(d, None, move.before, ref, move.reason, now))
    table = Dossier.__table__  # type: ignore[attr-defined]
    stmt = update(table).where(table.c.id == bindparam("b_id"))
    values = {k: bindparam(k) for k in updates[0] if k != "b_id"}
    conn = await s.connection()
    await conn.execute(stmt.values(**values), updates)
    await conn.execute(insert(DossierEvent.__table__), events)  # type: ignore[attr-defined]
    for move in moves:
        s.expire(move.dossier)


async def _officers(s: AsyncSession, p: _Pass, dossier: Dossier) -> list[Account]:
    commune_side = dossier.stage in _COMMUNE_SIDE
    key = ("c", dossier.commune_code) if commune_side else ("p", dossier.province_code)
    if key not in p.officers:
        if commune_side:
            stmt = (
                select(Account)
                .join(AccountCommune, col(AccountCommune.account_id) == col(Account.id))
                .where(AccountCommune.commune_code == key[1], Account.role == Role.COMMUNE)
            )
        else:
            stmt = select(Account).where(
                Account.role == Role.PROVINCE, Account.province_code == key[1]
            )
        p.officers[key] = list((await s.exec(stmt)).all())
    return p.officers[key]


async def _recipients(s: AsyncSession, p: _Pass, dossier: Dossier) -> list[Account]:
    people: list[Account] = []
    producer = await s.get(Producer, dossier.producer_id)
    if producer is not None and producer.account_id is not None:
        account = await s.get(Account, producer.account_id)
        if account is not None:
            people.append(account)
    return people + await _officers(s, p, dossier)


def round_label(info: rounds.RoundInfo | RoundRef | None, locale: str) -> str:
    if info is None:
        return translate(N_("rounds.by_province_plan"), locale)
    return translate(N_("rounds.label"), locale, number=info.number, year=info.year)


async def _notices(
    s: AsyncSession, p: _Pass, move: _Move
) -> list[tuple[Account, dict[str, Any], str, int]]:
    d, before, after = move.dossier, move.before, move.after
    await s.refresh(d)
    key = N_("rounds.notice.missed") if before is not None else N_("rounds.notice.placed")
    ident = f"round:{d.id}:{before.key if before else '-'}>{after.key if after else '-'}"
    items = []
    for account in await _recipients(s, p, d):
        locale = account.locale or "vi"
        nxt = d.next_due.strftime("%d/%m/%Y") if d.next_due else round_label(None, locale)
        text = translate(
            key,
            locale,
            code=d.receipt_code,
            product=d.product_name,
            missed=round_label(before, locale),
            round=round_label(after, locale),
            ruleset=translate(f"ruleset.{d.ruleset}", locale),
            next=nxt,
        )
        items.append((account, {"text": text}, f"{ident}:{account.id}", PRIORITY_NOTICE))
    return items
