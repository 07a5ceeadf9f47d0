"""``ocop-bot dossier list|show|add``: the dossiers, one dossier in full (its round, the rules it
follows, its next date and the history of its round moves), and paper dossiers brought to the
commune."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import date

from bot.app import App
from bot.cli.common import on_app, print_rows
from bot.cli.documents import print_documents
from bot.cli.instants import parse_instant
from ocop_core.authz import Actor
from ocop_core.clock import FixedClock, local_today
from ocop_core.db import transaction
from ocop_core.errors import ValidationError
from ocop_core.i18n import N_, translate
from ocop_core.models import ProducerKind
from ocop_core.phones import normalise_vn_mobile
from ocop_core.services import dossiers, rounds, status
from ocop_core.services.dossiers import ProducerInput, RegistrationInput
from ocop_core.services.rollover import round_label


def _iso_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dossier = sub.add_parser("dossier", help="dossiers").add_subparsers(
        dest="dossier_cmd", required=True
    )
    list_ = dossier.add_parser("list", help="list dossiers")
    list_.add_argument("--limit", type=int, default=50)
    list_.set_defaults(func=on_app(list_all))
    show_ = dossier.add_parser("show", help="show one dossier by its receipt code")
    show_.add_argument("code")
    show_.set_defaults(func=on_app(show))
    add_ = dossier.add_parser("add", help="register a dossier brought to the commune on paper")
    add_.add_argument("--commune", required=True, help="today's commune code, e.g. 03390")
    add_.add_argument("--product", required=True, help="product name")
    add_.add_argument("--criteria-set", required=True, type=int, help="criteria set 1–26")
    add_.add_argument("--producer-name", required=True)
    add_.add_argument("--phone", required=True, help="the producer's mobile, e.g. 0912345678")
    add_.add_argument(
        "--kind", choices=[k.value for k in ProducerKind], default=ProducerKind.HOUSEHOLD.value
    )
    add_.add_argument("--filed-on", type=_iso_day, default=None, help="YYYY-MM-DD (default today)")
    add_.add_argument(
        "--now",
        type=parse_instant,
        default=None,
        help="act as if it were this instant, e.g. 2026-12-01T09:00:00+07:00 (default: now)",
    )
    add_.set_defaults(func=on_app(add))


async def list_all(app: App, args: argparse.Namespace) -> int:
    async with transaction(app.sessions) as s:
        rows = await dossiers.list_dossiers(s, Actor.system(), limit=args.limit)
    table = [["CODE", "STAGE", "COMMUNE", "DUE", "PRODUCT"]]
    table += [
        [
            d.receipt_code,
            d.stage,
            d.commune_code,
            d.next_due.strftime("%d/%m/%Y") if d.next_due else "-",
            d.product_name,
        ]
        for d in rows
    ]
    print_rows(table)
    print(f"{len(rows)} dossier(s)")
    return 0


def _day(d: date | None, locale: str) -> str:
    return d.strftime("%d/%m/%Y") if d else translate(N_("rounds.by_province_plan"), locale)


async def add(app: App, args: argparse.Namespace) -> int:
    locale = app.settings.default_locale
    phone = normalise_vn_mobile(args.phone)
    if phone is None:
        raise ValidationError(N_("onboarding.phone.invalid"))
    data = RegistrationInput(
        producer=ProducerInput(
            kind=args.kind, name=args.producer_name, commune_code=args.commune, phone=phone
        ),
        product_name=args.product,
        criteria_set=args.criteria_set,
        filed_on=args.filed_on,
    )
    ctx = replace(app.ctx, clock=FixedClock(args.now)) if args.now else app.ctx
    async with transaction(app.sessions) as s:
        d = await dossiers.register_dossier(s, ctx, Actor.system(), data)
        info = await rounds.current_round(s, d)
    print(f"{d.receipt_code}  {d.product_name}")
    print(f"  ruleset:   {translate(f'ruleset.{d.ruleset}', locale)} ({d.ruleset})")
    print(f"  plan:      {d.plan_id or '-'}")
    print(f"  round:     {round_label(info, locale)}" + (f" ({info.key})" if info else ""))
    print(f"  next date: {_day(d.next_due, locale)}")
    if d.next_due is not None and d.next_due < local_today(ctx.clock):
        print("  (that date has passed: the next reminders pass moves it to the next open round)")
    return 0


async def show(app: App, args: argparse.Namespace) -> int:
    locale = app.settings.default_locale
    async with transaction(app.sessions) as s:
        summary = await status.status_summary(s, app.ctx, Actor.system(), args.code)
        d = summary.dossier
        events = await dossiers.events_of(s, Actor.system(), d)
        info = await rounds.current_round(s, d)
    done, total = summary.progress
    print(f"{d.receipt_code}  {d.product_name}")
    print(f"  stage:     {translate(summary.stage_key, locale)} ({d.stage})")
    print(f"  set:       {d.criteria_set} — {translate(f'set.{d.criteria_set}', locale)}")
    print(f"  filed on:  {rounds.filed_on(d):%d/%m/%Y}")
    print(f"  ruleset:   {translate(f'ruleset.{d.ruleset}', locale)} ({d.ruleset})")
    print(f"  round:     {round_label(info, locale)}" + (f" ({info.key})" if info else ""))
    print(f"  next date: {_day(d.next_due, locale)}")
    print(
        f"  documents  {done}/{total}; missing: "
        + (", ".join(r.code for r in summary.missing) or "none")
    )
    if d.stars:
        print(f"  points {d.points}, {d.stars}★")
    print("  history:")
    for e in events:
        what = (
            rounds.describe(e.data)
            if e.action == rounds.ASSIGN_ROUND
            else f"{e.from_stage} → {e.to_stage}"
        )
        print(f"    {e.at:%Y-%m-%d %H:%M} {e.action}: {what} {e.note}".rstrip())
    await print_documents(app.sessions, d.id or 0, app.settings.tz, locale)
    return 0
