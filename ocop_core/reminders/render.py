"""Reminder texts, in the recipient's language: what is due, by which date (dd/mm/yyyy), what is
still missing in this person's dossier, and what to type next. Every word comes from the catalogs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from babel.dates import format_date

from ocop_core.i18n import N_, normalise_locale, translate
from ocop_core.lifecycle import EDITABLE
from ocop_core.models import Dossier, Role
from ocop_core.plans import Milestone
from ocop_core.plans.models import INFO_KINDS

__all__ = [
    "DossierFacts",
    "certificate_text",
    "commune_check_text",
    "fmt_date",
    "nudge_text",
    "officer_milestone_text",
    "producer_milestone_text",
]

MAX_CODES = 5  # receipt codes listed in an officer's reminder; the rest are counted

_EXPIRY_KEYS = {
    "opens": N_("reminder.expiry.opens"),
    "closes": N_("reminder.expiry.closes"),
    "expires": N_("reminder.expiry.expires"),
}
_INBOX_KEYS = {
    Role.COMMUNE.value: N_("reminder.next.commune_inbox"),
    Role.PROVINCE.value: N_("reminder.next.province_inbox"),
}


@dataclass(frozen=True)
class DossierFacts:
    """A dossier as a reminder describes it: its stage and its missing blocking documents."""

    dossier: Dossier
    missing: Sequence[str] = field(default_factory=tuple)  # requirement codes, checklist order


def fmt_date(d: date) -> str:
    """Vietnamese day-first dates (30/10/2024) in every language: the plans are written so."""
    return format_date(d, "dd/MM/yyyy", locale="vi")


def _due_line(locale: str, deadline: date, today: date) -> str:
    days = (deadline - today).days
    if days > 0:
        return translate(N_("reminder.due.days"), locale, date=fmt_date(deadline), days=days)
    if days == 0:
        return translate(N_("reminder.due.today"), locale, date=fmt_date(deadline))
    return translate(N_("reminder.due.passed"), locale, date=fmt_date(deadline))


def _dossier_lines(locale: str, facts: DossierFacts) -> list[str]:
    """The dossier, what it still lacks, and the one thing to type next."""
    d = facts.dossier
    lines = [
        translate(
            N_("reminder.dossier"),
            locale,
            code=d.receipt_code,
            product=d.product_name,
            stage=f"stage.{d.stage}",
        )
    ]
    if d.stage in EDITABLE:
        if facts.missing:
            items = [f"doc.{code}" for code in facts.missing]
            lines.append(translate(N_("reminder.missing"), locale, items=items))
            lines.append(translate(N_("reminder.next.documents"), locale))
        else:
            lines.append(translate(N_("reminder.complete"), locale))
            lines.append(translate(N_("reminder.next.submit"), locale, button="docs.submit"))
    else:
        lines.append(translate(N_("reminder.next.status"), locale, code=d.receipt_code))
    return lines


def producer_milestone_text(
    locale: str | None, milestone: Milestone, deadline: date, today: date, facts: DossierFacts
) -> str:
    loc = normalise_locale(locale)
    lines = [
        translate(N_("reminder.milestone.head"), loc, what=milestone.title(loc)),
        _due_line(loc, deadline, today),
        *_dossier_lines(loc, facts),
    ]
    return "\n".join(lines)


def _codes(locale: str, codes: Sequence[str], count: int) -> str:
    shown = ", ".join(codes[:MAX_CODES])
    if count > len(codes[:MAX_CODES]):
        more = count - len(codes[:MAX_CODES])
        return translate(N_("reminder.officer.more"), locale, codes=shown, more=more)
    return shown


def officer_milestone_text(
    locale: str | None,
    role: str,
    milestone: Milestone,
    deadline: date,
    today: date,
    codes: Sequence[str],
    count: int,
) -> str:
    loc = normalise_locale(locale)
    # Another body's step (the central council): the officer is informed, not asked to act.
    head = N_("rounds.reminder.info_head") if milestone.kind in INFO_KINDS else None
    lines = [
        translate(head or N_("reminder.milestone.head"), loc, what=milestone.title(loc)),
        _due_line(loc, deadline, today),
        translate(N_("reminder.officer.count"), loc, count=count, codes=_codes(loc, codes, count)),
        translate(_INBOX_KEYS.get(role, N_("reminder.next.commune_inbox")), loc),
    ]
    return "\n".join(lines)


def nudge_text(locale: str | None, facts: DossierFacts, today: date) -> str:
    loc = normalise_locale(locale)
    d = facts.dossier
    lines = [translate(N_("reminder.nudge.head"), loc, code=d.receipt_code, product=d.product_name)]
    if d.next_due is not None and d.next_due >= today:
        lines.append(translate(N_("reminder.nudge.next_due"), loc, date=fmt_date(d.next_due)))
    lines.extend(_dossier_lines(loc, facts)[1:])  # the head already names the dossier
    return "\n".join(lines)


def certificate_text(
    locale: str | None, moment: str, dossier: Dossier, closes: date, expiry: date
) -> str:
    loc = normalise_locale(locale)
    head = translate(
        _EXPIRY_KEYS[moment],
        loc,
        number=dossier.certificate_number or "—",
        product=dossier.product_name,
        closes=fmt_date(closes),
        expiry=fmt_date(expiry),
    )
    return "\n".join([head, translate(N_("reminder.next.reevaluate"), loc)])


def commune_check_text(
    locale: str | None,
    deadline: date,
    today: date,
    working_days: int,
    codes: Sequence[str],
    count: int,
) -> str:
    loc = normalise_locale(locale)
    lines = [
        translate(
            N_("reminder.check.head"),
            loc,
            count=count,
            working_days=working_days,
            codes=_codes(loc, codes, count),
        ),
        _due_line(loc, deadline, today),
        translate(N_("reminder.next.commune_inbox"), loc),
    ]
    if deadline < today:
        lines.insert(0, translate(N_("rounds.reminder.overdue_head"), loc))
    return "\n".join(lines)
