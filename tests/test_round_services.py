"""Rounds in the database: registration places a dossier, a missed date moves it, once."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from ocop_core.authz import Actor
from ocop_core.errors import ValidationError
from ocop_core.models import Dossier, EvaluationRound, Outbox, Role
from ocop_core.reminders import roll_over_in_steps
from ocop_core.services import dossiers, rounds
from ocop_core.services.rollover import roll_over
from tests.conftest import Core, vn_time
from tests.factories import BINH_LU, attach_all, registration

PHU_LY = "13291"  # Phường Phủ Lý, Ninh Bình: Hà Nam until 30/06/2025


async def _register(core: Core, actor: Actor, commune: str = BINH_LU, **kw: object) -> Dossier:
    async with core.session() as s:
        return await dossiers.register_dossier(
            s, core.ctx, actor, registration(commune=commune, **kw)
        )


async def test_registering_today_in_lai_chau_gives_round_1_of_2027(core: Core) -> None:
    core.clock.set(vn_time(2026, 12, 1, 9, 0))
    _, alice = await core.person("alice")
    d = await _register(core, alice)
    assert (d.plan_id, d.round_number, d.ruleset) == ("national-12-2027", 1, "qd26-2026")
    assert d.next_due == date(2027, 4, 8)  # the producer's filing date of round 1
    async with core.session() as s:
        info = await rounds.current_round(s, d)
        history = await rounds.round_history(s, d)
    assert info is not None and (info.intake_due, info.commune_due) == (
        date(2027, 4, 8),
        date(2027, 4, 30),
    )
    assert [(e.data["from"], e.data["to"], e.data["reason"]) for e in history] == [
        (None, "national-12-2027#1", "registered")
    ]


async def test_two_registrations_creating_one_round_at_once_share_its_row(core: Core) -> None:
    """The first dossier of a round creates its row; a second transaction doing the same before
    the first commits waits for it and uses that row instead of failing on the unique key."""
    _, alice = await core.person("alice")
    _, bob = await core.person("bob")
    async with core.session() as s:
        first = await dossiers.register_dossier(s, core.ctx, alice, registration())
        second = asyncio.create_task(_register(core, bob))
        await _until_blocked(core, second)  # bob's insert of the same round waits for this commit
    assert (await second).round_id == first.round_id
    async with core.session() as s:
        assert (await s.exec(select(EvaluationRound.key))).all() == ["national-12-2026#2"]


async def _until_blocked(core: Core, task: asyncio.Task[Dossier]) -> None:
    """On PostgreSQL, until another session waits on a row lock (SQLite serialises writers)."""
    if core.engine.dialect.name != "postgresql":
        return
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(20), core.engine.connect() as conn:
        while not task.done() and not (await conn.execute(waiting)).scalar_one():
            await conn.rollback()  # a fresh snapshot of pg_stat_activity each time
            await asyncio.sleep(0.01)


async def test_paper_dossier_of_a_former_ha_nam_commune_in_2024(core: Core) -> None:
    core.clock.set(vn_time(2026, 12, 1, 9, 0))
    d = await _register(core, Actor.system(), commune=PHU_LY, filed_on=date(2024, 9, 2))
    # Today's province (Ninh Bình) keeps the dossier in its staff's scope; Hà Nam's plan applies.
    assert (d.province_code, d.plan_id, d.ruleset) == ("37", "ha-nam-2024", "qd148-2023")
    assert d.filed_on == date(2024, 9, 2) and d.next_due == date(2024, 10, 31)
    _, ninh_binh = await core.person("nb", Role.PROVINCE, commune=PHU_LY)
    async with core.session() as s:
        assert (await dossiers.get_dossier(s, ninh_binh, d.receipt_code)).id == d.id


async def test_future_filing_day_is_refused_and_nothing_stored(core: Core) -> None:
    core.clock.set(vn_time(2026, 12, 1, 9, 0))
    with pytest.raises(ValidationError) as exc:
        await _register(core, Actor.system(), filed_on=date(2026, 12, 2))
    assert exc.value.key == "rounds.error.filed_in_future"
    async with core.session() as s:
        assert (await s.exec(select(Dossier))).all() == []


async def test_missed_30_10_rolls_to_round_1_of_2027_with_one_notice(core: Core) -> None:
    _, alice = await core.person("alice")
    await core.person("officer", Role.COMMUNE, commune=BINH_LU)
    d = await _register(core, alice)  # 01/06/2026: round 2 of 2026
    assert (d.plan_id, d.round_number) == ("national-12-2026", 2)
    async with core.session() as s:
        await attach_all(s, core, alice, d)
        await dossiers.submit(s, core.ctx, alice, d)
    core.clock.set(vn_time(2026, 10, 30, 9, 0))
    async with core.session() as s:
        assert (await roll_over(s, core.ctx)).moved == 0  # the commune still has today
    core.clock.set(vn_time(2026, 10, 31, 9, 0))
    async with core.session() as s:
        stats = await roll_over(s, core.ctx)
    assert (stats.moved, stats.notices) == (1, 2)  # the producer and the commune officer
    core.clock.set(vn_time(2026, 11, 7, 9, 0))
    async with core.session() as s:
        assert (await roll_over(s, core.ctx)).moved == 0  # once
        d = await s.get(Dossier, d.id)
        assert d is not None
        assert (d.plan_id, d.round_number, d.next_due) == ("national-12-2027", 1, date(2027, 4, 30))
        texts = (await s.exec(select(Outbox.payload).order_by(col(Outbox.id)))).all()
        moves = [e.data for e in await rounds.round_history(s, d)]
        assert (await s.exec(select(EvaluationRound.key))).all() == [
            "national-12-2026#2",
            "national-12-2027#1",
        ]
    assert [(m["from"], m["to"], m["reason"]) for m in moves] == [
        (None, "national-12-2026#2", "registered"),
        ("national-12-2026#2", "national-12-2027#1", "missed"),
    ]
    assert len(texts) == 2
    for payload in texts:
        assert "đã lỡ đợt 2 năm 2026" in payload["text"]
        assert "đợt 1 năm 2027" in payload["text"] and "30/04/2027" in payload["text"]


async def test_many_missed_dossiers_move_a_few_per_transaction_each_once(core: Core) -> None:
    """The scheduler's pass moves ``step`` dossiers per transaction (SQLite's write lock is
    released between them): five missed dossiers in steps of two are three transactions, and
    every dossier moves once, its producer told once."""
    people = [await core.person(f"p{i}") for i in range(5)]
    registered = []
    for _, actor in people:
        d = await _register(core, actor)  # 01/06/2026: round 2 of 2026
        async with core.session() as s:
            await attach_all(s, core, actor, d)
            await dossiers.submit(s, core.ctx, actor, d)
        registered.append(d)
    core.clock.set(vn_time(2026, 10, 31, 9, 0))
    async with core.session() as s:
        first = await roll_over(s, core.ctx, limit=2)
    assert (first.moved, first.notices, first.more) == (2, 2, True)
    assert await roll_over_in_steps(core.sessions, core.ctx, step=2) == 3  # 2 + 1, then none
    assert await roll_over_in_steps(core.sessions, core.ctx, step=2) == 0
    async with core.session() as s:
        for d in registered:
            moves = [e.data["to"] for e in await rounds.round_history(s, d)]
            assert moves == ["national-12-2026#2", "national-12-2027#1"], moves
        notices = (await s.exec(select(Outbox.account_id))).all()
    assert sorted(notices) == sorted(account.id for account, _ in people)


async def test_transition_moves_a_1489_dossier_to_26_2026_after_21_07_2026(core: Core) -> None:
    core.clock.set(vn_time(2026, 5, 10, 9, 0))
    _, bob = await core.person("bob")
    d = await _register(core, bob)
    assert (d.plan_id, d.round_id, d.ruleset, d.next_due) == ("", None, "qd1489-2025", None)
    core.clock.set(vn_time(2026, 7, 21, 9, 0))
    async with core.session() as s:
        assert (await roll_over(s, core.ctx)).moved == 0
    core.clock.set(vn_time(2026, 7, 22, 9, 0))
    async with core.session() as s:
        stats = await roll_over(s, core.ctx)
        d = await s.get(Dossier, d.id)
    assert stats.moved == 1 and d is not None
    assert (d.plan_id, d.round_number, d.ruleset) == ("national-12-2026", 2, "qd26-2026")


async def test_status_names_the_3_star_minimums_still_missing(core: Core) -> None:
    from ocop_core.services import status

    _, alice = await core.person("alice")
    d = await _register(core, alice)
    async with core.session() as s:
        summary = await status.summarise(s, core.ctx, d)
    assert {r.code for r in summary.star_minimums_missing} == {
        "quality_declaration",
        "label_packaging",
        "intellectual_property",
        "distribution_contracts",
        "product_story",
    }


async def test_a_dossier_without_a_loaded_plan_says_so(core: Core) -> None:
    from ocop_core.services import status

    core.clock.set(vn_time(2025, 9, 10, 9, 0))
    _, bob = await core.person("bob")
    d = await _register(core, bob)
    async with core.session() as s:
        summary = await status.summarise(s, core.ctx, d)
    assert summary.deadline is None and summary.by_province_plan and d.ruleset == "qd1489-2025"


@pytest.mark.parametrize(
    ("commune", "stage_after"),
    [(PHU_LY, "district_scored"), (BINH_LU, "province_scored")],
    ids=["ha-nam-returns-to-district", "lai-chau-has-no-such-path"],
)
async def test_province_score_under_70_goes_back_only_where_the_plan_says(
    core: Core, commune: str, stage_after: str
) -> None:
    from sqlalchemy import update

    core.clock.set(vn_time(2024, 12, 1, 9, 0))
    d = await _register(core, Actor.system(), commune=commune, filed_on=date(2024, 9, 2))
    async with core.session() as s:
        await s.exec(update(Dossier).where(col(Dossier.id) == d.id).values(stage="at_province"))
    _, staff = await core.person("staff", Role.PROVINCE, commune=commune)
    async with core.session() as s:
        d = await s.get(Dossier, d.id)
        assert d is not None
        await dossiers.record_score(s, core.ctx, staff, d, points="65")
    assert (d.stage, d.stars) == (stage_after, 3)


def test_stars_are_potential_until_the_awarding_level_records_them() -> None:
    from ocop_core.services.results import stars_are_potential

    def d(stage: str, stars: int, ruleset: str = "qd26-2026") -> Dossier:
        return Dossier(
            receipt_code="",
            producer_id=0,
            province_code="12",
            commune_code=BINH_LU,
            product_name="",
            criteria_set=4,
            ruleset=ruleset,
            plan_id="",
            year=2026,
            stage=stage,
            stars=stars,
        )

    assert stars_are_potential(d("province_scored", 5))  # only the Ministry awards 5★
    assert not stars_are_potential(d("province_scored", 4))
    assert not stars_are_potential(d("central_scored", 5))
    assert stars_are_potential(d("district_scored", 4, "qd148-2023"))  # 148: the province does
    assert not stars_are_potential(d("certified", 5))


async def test_plan_progress_counts_the_plans_territory_and_year(core: Core) -> None:
    from sqlalchemy import update

    from ocop_core.services.plan_progress import plan_progress, plan_targets

    core.clock.set(vn_time(2024, 12, 20, 9, 0))
    ha_nam = await _register(core, Actor.system(), commune=PHU_LY, filed_on=date(2024, 9, 2))
    await _register(
        core, Actor.system(), commune="13324", filed_on=date(2024, 9, 3), producer_name="Hộ B"
    )
    # A commune of Ninh Bình that was never in Hà Nam does not count for Hà Nam's plan.
    await _register(core, Actor.system(), commune="14464", filed_on=date(2024, 9, 3))
    async with core.session() as s:
        await s.exec(
            update(Dossier)
            .where(col(Dossier.id) == ha_nam.id)
            .values(stage="certified", stars=4, certificate_date=date(2024, 12, 15))
        )
        plan, rows = await plan_progress(s, core.ctx, "L35", 2024)
    assert plan.id == "ha-nam-2024"
    got = {r.target.id: r.achieved for r in rows}
    assert got["new-3-star-products"] == 1 and got["economic-organisations"] == 2
    assert got["modern-channels"] is None  # not something the bot can count
    assert [t.id for t in plan_targets(core.ctx, "12", 2024)] == [
        "potential-products",
        "new-3-star-products",
    ]
