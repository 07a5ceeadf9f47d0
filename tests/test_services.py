"""Dossier use cases against a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlmodel import func, select

from ocop_core import receipts
from ocop_core.authz import Actor
from ocop_core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationError
from ocop_core.lifecycle import Stage
from ocop_core.models import Dossier, DossierEvent, Role
from ocop_core.services import dossiers, status
from tests.conftest import Core, vn_time
from tests.factories import BINH_LU, HOAN_KIEM, TAN_PHONG, attach_all, registration


async def _register(core: Core, actor: Actor, **kw: object) -> Dossier:
    async with core.session() as s:
        return await dossiers.register_dossier(s, core.ctx, actor, registration(**kw))


async def test_register_assigns_code_plan_and_event(core: Core) -> None:
    _, alice = await core.person("alice")
    d = await _register(core, alice)
    assert receipts.normalise(d.receipt_code) == d.receipt_code
    assert d.receipt_code.startswith("1226-")
    assert (d.province_code, d.ruleset, d.stage) == ("12", "qd26-2026", Stage.IDEA_REGISTERED)
    assert d.plan_id.startswith("national")
    async with core.session() as s:
        events = (await s.exec(select(DossierEvent).where(DossierEvent.dossier_id == d.id))).all()
        found = await dossiers.get_dossier(s, alice, d.receipt_code.lower().replace("-", " "))
    # Registration puts the dossier in its round: that placement is an event of its own.
    assert [e.action for e in events] == ["register", "assign_round"]
    assert found.id == d.id


async def test_unknown_commune_and_set_are_refused(core: Core) -> None:
    _, alice = await core.person("alice")
    with pytest.raises(ValidationError) as err:
        await _register(core, alice, commune="99999")
    assert err.value.key == "error.unknown_commune"
    with pytest.raises(ValidationError):
        await _register(core, alice, criteria_set=27)
    async with core.session() as s:
        assert (await s.exec(select(func.count()).select_from(Dossier))).one() == 0


async def test_full_journey_qd26_with_events(core: Core) -> None:
    _, alice = await core.person("alice")
    _, officer = await core.person("officer", Role.COMMUNE, commune=BINH_LU)
    _, staff = await core.person("staff", Role.PROVINCE, commune=BINH_LU)
    d = await _register(core, alice)
    async with core.session() as s:
        with pytest.raises(InvalidTransition) as err:
            await dossiers.submit(s, core.ctx, alice, d)
        assert err.value.key == "error.documents_missing"
    async with core.session() as s:
        await attach_all(s, core, alice, d)
        await dossiers.submit(s, core.ctx, alice, d)
    async with core.session() as s:
        summary = await status.status_summary(s, core.ctx, alice, d.receipt_code)
    assert summary.dossier.stage == Stage.SUBMITTED
    assert summary.next_actor == "commune"
    assert summary.missing == []
    # 26/2026: the commune has 15 working days from 1/6/2026 → 22/6/2026.
    assert summary.deadline is not None and summary.deadline.due == date(2026, 6, 22)
    async with core.session() as s:
        d = await dossiers.get_dossier(s, officer, d.receipt_code)
        checks = {k: {"met": True, "note": "ok"} for k in dossiers.COMMUNE_CRITERIA}
        await dossiers.record_commune_check(s, core.ctx, officer, d, results=checks)
        await dossiers.forward(s, core.ctx, officer, d)
    assert d.stage == Stage.AT_PROVINCE
    async with core.session() as s:
        d = await dossiers.get_dossier(s, staff, d.receipt_code)
        await dossiers.record_score(s, core.ctx, staff, d, points="85,5")
        assert (d.stage, d.stars, d.points) == (Stage.PROVINCE_SCORED, 4, 85.5)
        await dossiers.certify(s, core.ctx, staff, d, number="123/QĐ-UBND", issued=date(2026, 6, 1))
    assert d.stage == Stage.CERTIFIED
    assert d.certificate_expiry == date(2029, 6, 1)
    async with core.session() as s:
        events = await dossiers.events_of(s, staff, d)
    actions = [e.action for e in events]
    assert actions[0] == "register" and actions[-5:] == [
        "submit",
        "record_commune_check",
        "forward",
        "record_score",
        "certify",
    ]
    assert all(e.actor_id is not None for e in events)


async def test_forward_refused_when_knockout_missing(core: Core) -> None:
    _, alice = await core.person("alice")
    _, officer = await core.person("officer", Role.COMMUNE, commune=BINH_LU)
    d = await _register(core, alice)
    async with core.session() as s:
        await attach_all(s, core, alice, d)
        await dossiers.submit(s, core.ctx, alice, d)
    async with core.session() as s:
        d = await dossiers.get_dossier(s, officer, d.receipt_code)
        checks = {k: {"met": True} for k in dossiers.COMMUNE_CRITERIA}
        await dossiers.record_commune_check(s, core.ctx, officer, d, results=checks)
    async with core.session() as s:  # the food-safety certificate is withdrawn (replaced by none)
        from ocop_core.models import Document

        docs = (
            await s.exec(select(Document).where(Document.requirement == "food_safety_certificate"))
        ).all()
        for doc in docs:
            doc.replaced = True
            s.add(doc)
    async with core.session() as s:
        d = await dossiers.get_dossier(s, officer, d.receipt_code)
        with pytest.raises(InvalidTransition) as err:
            await dossiers.forward(s, core.ctx, officer, d)
    assert err.value.key == "error.cannot_forward_missing"
    assert "doc.food_safety_certificate" in err.value.params["items"]


async def test_authorization_matrix(core: Core) -> None:
    """Who sees which dossier: owner, own commune, own province, admin — nobody else."""
    _, alice = await core.person("alice")
    _, bob = await core.person("bob")
    _, officer_x = await core.person("ox", Role.COMMUNE, commune=BINH_LU)
    _, officer_y = await core.person("oy", Role.COMMUNE, commune=TAN_PHONG)
    _, staff_lc = await core.person("slc", Role.PROVINCE, commune=TAN_PHONG)
    _, staff_hn = await core.person("shn", Role.PROVINCE, commune=HOAN_KIEM)
    _, admin = await core.person("admin", Role.ADMIN)
    d = await _register(core, alice)  # in Bình Lư, Lai Châu
    expected = {
        "alice": (alice, True),
        "bob": (bob, False),
        "officer of the commune": (officer_x, True),
        "officer of another commune": (officer_y, False),
        "staff of the province": (staff_lc, True),
        "staff of another province": (staff_hn, False),
        "admin": (admin, True),
    }
    for label, (actor, allowed) in expected.items():
        async with core.session() as s:
            listed = [x.id for x in await dossiers.list_dossiers(s, actor)]
            if allowed:
                assert (await dossiers.get_dossier(s, actor, d.receipt_code)).id == d.id, label
                assert d.id in listed, label
            else:
                with pytest.raises(NotFound) as err:
                    await dossiers.get_dossier(s, actor, d.receipt_code)
                # The refusal is the same as for a code that does not exist.
                assert err.value.key == "error.dossier_not_found", label
                assert d.id not in listed, label
                with pytest.raises(NotFound):
                    await dossiers.get_dossier_by_id(s, actor, d.id or 0)
    async with core.session() as s:
        with pytest.raises(NotFound) as missing:
            await dossiers.get_dossier(s, bob, "1226-ZZZZZ")
    assert missing.value.key == "error.dossier_not_found"


async def test_producer_cannot_act_as_officer(core: Core) -> None:
    _, alice = await core.person("alice")
    d = await _register(core, alice)
    async with core.session() as s:
        await attach_all(s, core, alice, d)
        await dossiers.submit(s, core.ctx, alice, d)
    async with core.session() as s:
        with pytest.raises(Forbidden):
            await dossiers.record_commune_check(
                s, core.ctx, alice, d, results={k: {"met": True} for k in dossiers.COMMUNE_CRITERIA}
            )


async def test_two_officers_at_once_one_wins(core: Core) -> None:
    _, alice = await core.person("alice")
    _, o1 = await core.person("o1", Role.COMMUNE, commune=BINH_LU)
    _, o2 = await core.person("o2", Role.COMMUNE, commune=BINH_LU)
    d = await _register(core, alice)
    async with core.session() as s:
        await attach_all(s, core, alice, d)
        await dossiers.submit(s, core.ctx, alice, d)
    seen_version = d.version + 2 - 2  # the card both officers looked at
    async with core.session() as s:
        seen_version = (await dossiers.get_dossier(s, o1, d.receipt_code)).version

    async def act(officer: Actor, reason: str) -> str:
        try:
            async with core.session() as s:
                dd = await dossiers.get_dossier(s, officer, d.receipt_code)
                await dossiers.return_to_producer(
                    s, core.ctx, officer, dd, reason=reason, expected_version=seen_version
                )
            return "ok"
        except (Conflict, InvalidTransition) as exc:
            return exc.key

    results = await asyncio.gather(act(o1, "thiếu ảnh"), act(o2, "thiếu nhãn"))
    assert sorted(results) == ["error.dossier_changed", "ok"]
    async with core.session() as s:
        events = await dossiers.events_of(s, o1, d)
    assert [e.action for e in events].count("return") == 1


async def test_receipt_codes_unique_under_concurrency(core: Core) -> None:
    """Two tasks create 150 dossiers each at once; every other code is drawn from a tiny space
    (4 symbols per position: 1,024 codes), so collisions are frequent and must be drawn again."""
    _, alice = await core.person("alice")
    _, bob = await core.person("bob")
    import random

    rng = random.Random(7)
    symbols_drawn = 0

    def narrow(n: int) -> int:  # only 4 symbols per position: collisions are frequent
        nonlocal symbols_drawn
        symbols_drawn += 1
        return rng.randrange(min(n, 4))

    async def make(actor: Actor, count: int) -> list[str]:
        codes = []
        for i in range(count):
            async with core.session() as s:
                d = await dossiers.register_dossier(
                    s,
                    core.ctx,
                    actor,
                    registration(name=f"Sản phẩm {i}"),
                    randbelow=narrow if i % 2 == 0 else None,
                )
                codes.append(d.receipt_code)
        return codes

    each = 150
    a, b = await asyncio.gather(make(alice, each), make(bob, each))
    assert len(set(a) | set(b)) == 2 * each
    async with core.session() as s:
        n = (await s.exec(select(func.count(func.distinct(Dossier.receipt_code))))).one()
    assert n == 2 * each
    # More narrow codes were drawn than stored: some collided and were drawn again.
    assert symbols_drawn // receipts.RANDOM_LEN > 2 * (each // 2), symbols_drawn


async def test_officer_inbox_most_urgent_first(core: Core) -> None:
    _, alice = await core.person("alice")
    _, officer = await core.person("officer", Role.COMMUNE, commune=BINH_LU)
    first = await _register(core, alice, name="A")
    async with core.session() as s:
        await attach_all(s, core, alice, first)
        await dossiers.submit(s, core.ctx, alice, first)  # due 22/6 (15 working days)
    core.clock.set(vn_time(2026, 6, 10, 9, 0))
    second = await _register(core, alice, name="B")  # producer filing deadline later
    other = await _register(core, alice, name="C", commune=TAN_PHONG)
    async with core.session() as s:
        inbox = await status.officer_inbox(s, officer)
    assert [d.id for d in inbox] == [first.id, second.id]
    assert other.id not in [d.id for d in inbox]
