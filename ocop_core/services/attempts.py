"""Limits on guessing: invite codes and receipt codes.

Every failed attempt is a row (kind, account, time); a new attempt is refused while the account
(or everyone together) has too many failures inside the window, with a message saying how long
to wait. Failures are logged without the code, and a burst across all accounts logs one alert
line per window.

A failure is usually followed by the refusal rolling back the step's savepoint, which would
take the failure row with it; so failures wait in ``session.info`` and are written by a
``before_commit`` hook of the outer transaction.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, func
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.errors import DomainError
from ocop_core.i18n import N_
from ocop_core.models import FailedAttempt

log = logging.getLogger("ocop.attempts")

INVITE = "invite"
RECEIPT = "receipt"
_PENDING = "ocop_failed_attempts"


@dataclass(frozen=True)
class Limit:
    per_account: int
    overall: int  # all accounts together
    window: timedelta
    alert_after: int  # failures of everyone in the window that make one alert log line


@dataclass(frozen=True)
class AttemptLimits:
    invite: Limit = Limit(5, 50, timedelta(minutes=30), 20)
    receipt: Limit = Limit(10, 300, timedelta(minutes=15), 100)

    def of(self, kind: str) -> Limit:
        return self.invite if kind == INVITE else self.receipt


@dataclass
class _Alerts:
    last: dict[str, datetime] = field(default_factory=dict)


_ALERTS = _Alerts()


class TooManyAttempts(DomainError):
    """Refused before looking: the person must wait ``minutes`` minutes."""


async def check(
    s: AsyncSession, kind: str, account_id: int | None, now: datetime, limits: AttemptLimits
) -> None:
    """Refuse (TooManyAttempts) while this account or everyone has too many recent failures."""
    if account_id is None:  # the operator's CLI
        return
    limit = limits.of(kind)
    since = now - limit.window
    base = select(func.count(), func.min(FailedAttempt.at)).where(
        col(FailedAttempt.kind) == kind, col(FailedAttempt.at) > since
    )
    mine, first_mine = (await s.exec(base.where(FailedAttempt.account_id == account_id))).one()
    everyone, first_any = (await s.exec(base)).one()
    if mine >= limit.per_account:
        raise TooManyAttempts(N_("error.too_many_attempts"), minutes=_wait(first_mine, since))
    if everyone >= limit.overall:
        log.warning("attempt limit: all %s lookups paused (%d failures)", kind, everyone)
        raise TooManyAttempts(N_("error.too_many_attempts"), minutes=_wait(first_any, since))


def _wait(first: datetime | None, since: datetime) -> int:
    """Minutes until the oldest failure in the window leaves it."""
    if first is None:
        return 1
    if first.tzinfo is None:
        first = first.replace(tzinfo=since.tzinfo)
    return max(1, math.ceil((first - since).total_seconds() / 60))


async def record_failure(
    s: AsyncSession, kind: str, account_id: int | None, now: datetime, limits: AttemptLimits
) -> None:
    """Count a failure (written when the outer transaction commits); log it, never the code."""
    if account_id is None:
        return
    pending: list[FailedAttempt] = s.sync_session.info.setdefault(_PENDING, [])
    pending.append(FailedAttempt(kind=kind, account_id=account_id, at=now))
    log.info("failed %s attempt by account %s", kind, account_id)
    limit = limits.of(kind)
    recent = (
        await s.exec(
            select(func.count()).where(
                col(FailedAttempt.kind) == kind, col(FailedAttempt.at) > now - limit.window
            )
        )
    ).one()
    last = _ALERTS.last.get(kind)
    if recent + 1 >= limit.alert_after and (last is None or now - last > limit.window):
        _ALERTS.last[kind] = now
        log.warning(
            "ALERT: %d failed %s attempts in the last %d minutes: someone may be guessing",
            recent + 1,
            kind,
            limit.window.total_seconds() // 60,
        )


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending: list[Any] = session.info.pop(_PENDING, [])
    for row in pending:
        session.add(row)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous: Any) -> None:
    if previous.parent is None:  # the whole transaction went, not a savepoint: so do they
        session.info.pop(_PENDING, None)
