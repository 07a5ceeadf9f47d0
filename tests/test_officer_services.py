"""Officer use cases in the core, without a chat: invites, the inbox's scope, which actions a
card offers, the producer's notices, the report font. SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from ocop_core.authz import Actor
from ocop_core.errors import Conflict, Forbidden, NotFound, ValidationError
from ocop_core.lifecycle import Stage
from ocop_core.models import Account, Invite, Role
from ocop_core.reports import report_font
from ocop_core.services import accounts, dossiers, invites, notices, review
from tests.conftest import Core
from tests.factories import BINH_LU, TAN_PHONG
from tests.officer_helpers import officer_actor, submitted_dossier


async def _account(core: Core, name: str) -> Account:
    account, _ = await core.person(name)
    return account


def test_codes_are_short_typeable_and_forgiving() -> None:
    code = invites.new_code()
    assert len(code) == 9 and code[4] == "-"
    assert not set(code.replace("-", "")) & set("ILOU")
    assert invites.normalise(code.lower().replace("-", " ")) == code
    assert invites.normalise("O1L2-ABCD") == "0112-ABCD"  # O/I/L read as 0/1/1
    for bad in ("", "ABC", "ABCD-EFGH-J", "ABCD-EFG!", "UUUU-UUUU"):
        assert invites.normalise(bad) is None
    assert invites.hash_code(code) != code and len(invites.hash_code(code)) == 64


async def test_invite_lifecycle_and_scope(core: Core) -> None:
    async with core.session() as s:
        issued = await invites.create_invite(s, core.ctx, Actor.system(), commune_code=BINH_LU)
        stored = (await s.exec(select(Invite))).one()
    assert issued.code not in stored.code_hash  # only the hash is kept
    lan = await _account(core, "lan")
    async with core.session() as s:
        account, invite = await invites.redeem_invite(s, core.ctx, lan, issued.code)
        actor = await accounts.actor_for(s, account)
    assert (actor.role, actor.communes, actor.province_code) == (
        Role.COMMUNE,
        frozenset({BINH_LU}),
        "12",
    )
    assert invite.used_by == lan.id
    minh = await _account(core, "minh")
    async with core.session() as s:
        with pytest.raises(Conflict) as used:
            await invites.redeem_invite(s, core.ctx, minh, issued.code)
    assert used.value.key == "error.invite_used"


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"commune_code": "99999"}, "error.unknown_commune"),
        ({"commune_code": BINH_LU, "role": "producer"}, "error.unknown_role"),
        ({"commune_code": BINH_LU, "days": 91}, "error.invite_days"),
    ],
)
async def test_invite_refusals(core: Core, kw: dict[str, object], key: str) -> None:
    async with core.session() as s:
        with pytest.raises(ValidationError) as err:
            await invites.create_invite(s, core.ctx, Actor.system(), **kw)  # type: ignore[arg-type]
    assert err.value.key == key


async def test_only_admins_issue_invites(core: Core) -> None:
    _, officer = await core.person("o", Role.COMMUNE, commune=BINH_LU)
    async with core.session() as s:
        with pytest.raises(Forbidden):
            await invites.create_invite(s, core.ctx, officer, commune_code=BINH_LU)
        with pytest.raises(Forbidden):
            await invites.list_invites(s, officer)


async def test_expired_and_revoked(core: Core) -> None:
    async with core.session() as s:
        old = await invites.create_invite(s, core.ctx, Actor.system(), commune_code=BINH_LU, days=1)
        gone = await invites.create_invite(s, core.ctx, Actor.system(), commune_code=BINH_LU)
        await invites.revoke_invite(s, core.ctx, Actor.system(), code=gone.code)
    core.clock.advance(timedelta(days=1, seconds=1))
    lan = await _account(core, "lan")
    for code, key in ((old.code, "error.invite_expired"), (gone.code, "error.invite_revoked")):
        async with core.session() as s:
            with pytest.raises(Conflict) as err:
                await invites.redeem_invite(s, core.ctx, lan, code)
        assert err.value.key == key
    async with core.session() as s:
        with pytest.raises(NotFound) as err:
            await invites.redeem_invite(s, core.ctx, lan, "2222-2222")
        states = {
            invites.state_of(i, core.clock.now())
            for i in await invites.list_invites(s, Actor.system())
        }
    assert err.value.key == "error.invite_unknown"
    assert states == {"expired", "revoked"}


async def test_same_code_at_once_one_wins(core: Core) -> None:
    async with core.session() as s:
        issued = await invites.create_invite(s, core.ctx, Actor.system(), commune_code=BINH_LU)
    people = [await _account(core, f"p{i}") for i in range(2)]

    async def redeem(account: Account) -> str:
        try:
            async with core.session() as s:
                await invites.redeem_invite(s, core.ctx, account, issued.code)
            return "ok"
        except Conflict as exc:
            return exc.key

    results = await asyncio.gather(*(redeem(p) for p in people))
    assert sorted(results) == ["error.invite_used", "ok"]
    async with core.session() as s:
        roles = [(await s.get(Account, p.id)).role for p in people]  # type: ignore[union-attr]
    assert sorted(roles) == [Role.COMMUNE, Role.PRODUCER]


async def test_inbox_scope_views_and_actions(core: Core) -> None:
    mine = await submitted_dossier(core.sessions, core.ctx, user="pa", product="A")
    theirs = await submitted_dossier(
        core.sessions, core.ctx, user="pb", product="B", commune=TAN_PHONG
    )
    _, lan = await core.person("lan", Role.COMMUNE, commune=BINH_LU)
    _, staff = await core.person("staff", Role.PROVINCE, commune=BINH_LU)
    _, producer = await core.person("prod")
    async with core.session() as s:
        page = await review.inbox(s, lan)
        assert [e.dossier.id for e in page.entries] == [mine.dossier_id]
        assert page.counts == {Stage.SUBMITTED: 1}
        with pytest.raises(NotFound):
            await review.inbox(s, lan, commune=TAN_PHONG)  # not their commune: "not found"
        with pytest.raises(NotFound):
            await review.card(s, core.ctx, lan, theirs.dossier_id)
        with pytest.raises(NotFound):
            await review.export_document(s, core.ctx, lan, theirs.dossier_id, "mau01_registration")
        with pytest.raises(NotFound):
            await review.inbox(s, producer)
        card = await review.card(s, core.ctx, lan, mine.dossier_id)
        assert card.actions == [
            review.ACT_CHECK,
            review.ACT_REQUEST,
            review.ACT_RETURN,
            review.ACT_REJECT,
        ]
        # Provincial staff see the province, by commune too, but cannot check for the commune.
        page = await review.inbox(s, staff, view=review.VIEW_OPEN)
        assert {e.dossier.id for e in page.entries} == {mine.dossier_id, theirs.dossier_id}
        overview = await review.communes_overview(s, staff)
        assert {code for code, _name, _n in overview} == {BINH_LU, TAN_PHONG}
        card = await review.card(s, core.ctx, staff, theirs.dossier_id)
        assert review.ACT_CHECK not in card.actions and review.ACT_REJECT in card.actions


async def test_notices_follow_events(core: Core) -> None:
    seeded = await submitted_dossier(core.sessions, core.ctx, user="pa", product="A", locale="en")
    officer = await officer_actor(core.sessions, core.ctx, Role.COMMUNE, BINH_LU)
    async with core.session() as s:
        d = await dossiers.get_dossier_by_id(s, officer, seeded.dossier_id)
        assert await notices.notice_for(s, d) is None  # the producer's own submission
        await dossiers.request_documents(
            s, core.ctx, officer, d, items=["lab_test_report"], note="page 2"
        )
        notice = await notices.notice_for(s, d)
        assert notice is not None and notice.text_key == "notice.needs_documents_note"
        assert notice.params["items"] == ["doc.lab_test_report"]
        assert notice.recipient_id == seeded.producer_account_id
        fire = await notices.schedule_document_nudge(s, core.ctx, d, notice)
        again = await notices.schedule_document_nudge(s, core.ctx, d, notice)
    assert fire is not None and again is None  # one nudge per request
    assert fire.fire_at.astimezone(core.clock.now().tzinfo) > core.clock.now()
    # The reminders engine's recompute keeps it while the dossier is with the producer.
    from ocop_core.models import Fire, FireStatus
    from ocop_core.reminders.compute import compute_fires

    async with core.session() as s:
        await compute_fires(s, core.ctx, wait_for_lock=True)
    async with core.session() as s:
        kept = await s.get(Fire, fire.id)
    assert kept is not None and kept.status == FireStatus.PENDING


def test_report_font_is_installed_by_the_project() -> None:
    font = report_font()
    assert font.name == "SourceSansPro" and font.regular.is_file() and font.bold.is_file()


async def test_province_invite_needs_no_commune(core: Core) -> None:
    async with core.session() as s:
        issued = await invites.create_invite(
            s, core.ctx, Actor.system(), role=Role.PROVINCE, province_code="12"
        )
        assert issued.invite.province_code == "12"
    lan = await _account(core, "lan")
    async with core.session() as s:
        account, _ = await invites.redeem_invite(s, core.ctx, lan, issued.code)
        assert account.role == Role.PROVINCE and account.province_code == "12"
    for kw, key in (
        ({"role": Role.PROVINCE, "province_code": "99"}, "error.province_unknown"),
        ({"role": Role.PROVINCE}, "error.officer_needs_commune"),
        ({"role": Role.COMMUNE, "province_code": "12"}, "error.officer_needs_commune"),
    ):
        async with core.session() as s:
            with pytest.raises(ValidationError) as err:
                await invites.create_invite(s, core.ctx, Actor.system(), **kw)  # type: ignore[arg-type]
        assert err.value.key == key
