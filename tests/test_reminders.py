"""Reminder fires under an injected clock: who gets what, on which day, exactly once.

Each scenario ticks (compute + dispatch) once a day at 08:00 Vietnam time and reads the outbox.
Plans: Lai Châu 2024 (30/10, 30/11), Hà Nam 2024 (legacy province L35: 30/11, 31/12) and the
national calendar of Decision 26/2026.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, time, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from ocop_core.clock import VN_TZ
from ocop_core.db import make_engine, session_factory
from ocop_core.lifecycle import Stage
from ocop_core.models import Account, Fire, FireStatus, Outbox, Role
from ocop_core.plans import BUILTIN_DIR, PlanRegistry
from ocop_core.reminders import compute_fires, dispatch_due
from ocop_core.rules import get_ruleset
from tests.conftest import Core, vn_time
from tests.factories import BINH_LU, HOAN_KIEM, TAN_PHONG, attach_all
from tests.reminders_world import (
    HA_NAM,
    LIEM_CHINH,
    THANH_HA,
    add_legacy_communes,
    at_utc,
    by_person,
    days,
    dossier_at,
    fire_counts,
    outbox_log,
    seed_producers,
    simulate,
    tick,
)

SEPT_1_2024 = vn_time(2024, 9, 1, 9, 0)


async def _lai_chau_world(core: Core) -> dict[str, int]:
    """Four producers and officers around them, in Lai Châu (12) and, for contrast, Hà Nội."""
    _, p1 = await core.person("p1")
    _, p2 = await core.person("p2")
    _, p3 = await core.person("p3")
    _, p4 = await core.person("p4")
    await core.person("c_binhlu", Role.COMMUNE, commune=BINH_LU)
    await core.person("c_tanphong", Role.COMMUNE, commune=TAN_PHONG)
    await core.person("c_hanoi", Role.COMMUNE, commune=HOAN_KIEM)
    await core.person("v_laichau", Role.PROVINCE, commune=BINH_LU)
    await core.person("v_hanoi", Role.PROVINCE, commune=HOAN_KIEM)
    ids = {}
    at = SEPT_1_2024
    # district-forward (30/10; producer + province)
    d1 = await dossier_at(core, p1, BINH_LU, Stage.DISTRICT_SCORED, registered=at, points=75.0)
    ids["d1"] = d1.id
    # province-council (30/11; province only): the producer hears nothing from the plan
    ids["d2"] = (await dossier_at(core, p2, TAN_PHONG, Stage.AT_PROVINCE, registered=at)).id
    # district-council (30/10; producer + commune); p3 reads English
    ids["d3"] = (await dossier_at(core, p3, BINH_LU, Stage.COMMUNE_CHECKED, registered=at)).id
    async with core.session() as s:
        account = await s.get(Account, p3.account_id)
        assert account is not None
        account.locale = "en"
    # commune-check (30/10, offsets 45/30/21/14/7; commune + producer) and missing documents
    ids["d4"] = (await dossier_at(core, p4, TAN_PHONG, Stage.DOCUMENTS_PENDING, registered=at)).id
    return ids


# A whole year of the 2024 plan computed day by day: tens of seconds on PostgreSQL when the
# machine is busy, more than the default minute.
@pytest.mark.timeout(180)
async def test_lai_chau_2024_right_people_right_days_once(core: Core) -> None:
    await _lai_chau_world(core)
    log = await simulate(core, date(2024, 9, 1), date(2024, 12, 5))
    got = by_person(log)
    oct_countdown = days((2024, 10, 16), (2024, 10, 23), (2024, 10, 27), (2024, 10, 29))
    nov_countdown = days((2024, 11, 16), (2024, 11, 23), (2024, 11, 27), (2024, 11, 29))
    check_days = days(
        (2024, 9, 15), (2024, 9, 30), (2024, 10, 9), (2024, 10, 16), (2024, 10, 23), (2024, 10, 29)
    )
    nudges = days((2024, 9, 8), (2024, 9, 15), (2024, 9, 22))
    assert [d for d, _ in got["p1"]] == oct_countdown
    assert [d for d, _ in got["p3"]] == oct_countdown
    # No district role exists: the provincial staff of Lai Châu record the district's results, so
    # they get the district-forward of d1 and the district council of d3 (October), and the
    # provincial council of d2 (November); the commune officer of Bình Lư gets neither.
    assert [d for d, _ in got["v_laichau"]] == sorted(oct_countdown * 2) + nov_countdown
    assert sorted(got["p4"]) == sorted(
        [(d, "milestone") for d in check_days] + [(d, "missing_documents") for d in nudges]
    )
    assert [d for d, _ in got["c_tanphong"]] == check_days
    for nobody in ("p2", "c_binhlu", "c_hanoi", "v_hanoi"):
        assert nobody not in got, got.get(nobody)
    # Exactly one message per fire, and every sent fire has its message (round notices aside).
    async with core.session() as s:
        keys = [
            k for k in (await s.exec(select(Outbox.idempotency_key))).all() if k.startswith("fire:")
        ]
        sent = (await s.exec(select(func.count()).where(Fire.status == FireStatus.SENT))).one()
    assert len(keys) == len(set(keys)) == sent == len(log)
    # What the producer reads: what is due, by when (dd/mm/yyyy), their own dossier, what to type.
    text = next(s.text for s in log if s.who == "p1" and s.day == date(2024, 10, 23))
    assert "30/10/2024" in text and "còn 7 ngày" in text and "/trangthai" in text
    assert "Cấp huyện chuyển hồ sơ" in text
    missing = next(s.text for s in log if s.who == "p4" and s.kind == "missing_documents")
    assert "Còn thiếu: Phiếu đăng ký" in missing and "/giayto" in missing
    english = next(s.text for s in log if s.who == "p3" and s.day == date(2024, 10, 27))
    assert "Deadline reminder: District OCOP council scores" in english
    assert "Deadline: 30/10/2024 (3 days left)." in english and "/trangthai" in english
    officer = next(s.text for s in log if s.who == "v_laichau")
    assert "1 hồ sơ" in officer and "/tinh" in officer


async def test_ticking_twice_at_the_same_instant_sends_nothing_more(core: Core) -> None:
    await _lai_chau_world(core)
    first = await simulate(core, date(2024, 10, 16), date(2024, 10, 16))
    again = await simulate(core, date(2024, 10, 16), date(2024, 10, 16))
    assert first and len(again) == len(first)
    async with core.session() as s:
        pending_past = (
            await s.exec(
                select(func.count()).where(
                    Fire.status == FireStatus.PENDING,
                    col(Fire.fire_at) <= core.clock.now(),
                )
            )
        ).one()
    assert pending_past == 0
    assert Counter(s.who for s in first)["p1"] == 1


async def test_ha_nam_2024_legacy_province(core: Core) -> None:
    await add_legacy_communes(core)
    _, p5 = await core.person("p5")
    _, p6 = await core.person("p6")
    await core.person("c_liemchinh", Role.COMMUNE, commune=LIEM_CHINH)
    await core.person("c_thanhha", Role.COMMUNE, commune=THANH_HA)
    await core.person("v_hanam", Role.PROVINCE, commune=LIEM_CHINH)
    await core.person("v_laichau", Role.PROVINCE, commune=BINH_LU)
    at = SEPT_1_2024
    d5 = await dossier_at(core, p5, LIEM_CHINH, Stage.AT_DISTRICT, registered=at)
    d6 = await dossier_at(core, p6, THANH_HA, Stage.PROVINCE_SCORED, registered=at, points=92.0)
    assert d5.plan_id == d6.plan_id == "ha-nam-2024" and d5.province_code == HA_NAM
    got = by_person(await simulate(core, date(2024, 11, 1), date(2025, 1, 5)))
    nov = days((2024, 11, 16), (2024, 11, 23), (2024, 11, 27), (2024, 11, 29))
    dec = days((2024, 12, 17), (2024, 12, 24), (2024, 12, 28), (2024, 12, 30))
    # district-council (30/11): the producer and the provincial staff who record it.
    assert [d for d, _ in got["p5"]] == nov
    # province-council and ministry-filing (both 31/12): two fires a day for Hà Nam's staff.
    assert [d for d, _ in got["v_hanam"]] == sorted(nov + dec + dec)
    for nobody in ("p6", "c_liemchinh", "c_thanhha", "v_laichau"):
        assert nobody not in got, got.get(nobody)


async def test_national_calendar_2026_and_commune_check(core: Core) -> None:
    _, p7 = await core.person("p7")
    _, p8 = await core.person("p8")
    await core.person("c_binhlu", Role.COMMUNE, commune=BINH_LU)
    await core.person("c_tanphong", Role.COMMUNE, commune=TAN_PHONG)
    filed = vn_time(2026, 10, 1, 10, 0)
    d7 = await dossier_at(
        core, p7, BINH_LU, Stage.SUBMITTED, registered=vn_time(2026, 9, 1, 9, 0), submitted_at=filed
    )
    # Registered 20/09: nudges on 27/09, 04/10, 11/10 while its documents are missing.
    await dossier_at(core, p8, TAN_PHONG, Stage.DOCUMENTS_PENDING, registered=vn_time(2026, 9, 20))
    assert d7.plan_id == "national-12-2026"
    got = by_person(await simulate(core, date(2026, 9, 15), date(2026, 11, 1)))
    oct_countdown = days((2026, 10, 16), (2026, 10, 23), (2026, 10, 27), (2026, 10, 29))
    # r2-commune-forward (30/10; commune + producer) for the submitted dossier.
    assert [d for d, k in got["p7"]] == oct_countdown
    # 15 working days from 01/10/2026 (Thursday): 22/10/2026; reminders 7, 3 and 1 days before.
    # Still unchecked after it: once the next day (23/10), then weekly (30/10).
    check = days((2026, 10, 15), (2026, 10, 19), (2026, 10, 21), (2026, 10, 23), (2026, 10, 30))
    assert sorted(got["c_binhlu"]) == sorted(
        [(d, "milestone") for d in oct_countdown] + [(d, "commune_check") for d in check]
    )
    # r2-producer-filing: 15 working days before 30/10 → 09/10/2026, so 25/9, 2/10, 6/10, 8/10.
    filing = days((2026, 9, 25), (2026, 10, 2), (2026, 10, 6), (2026, 10, 8))
    nudges = days((2026, 9, 27), (2026, 10, 4), (2026, 10, 11))
    assert sorted(got["p8"]) == sorted(
        [(d, "milestone") for d in filing] + [(d, "missing_documents") for d in nudges]
    )
    assert "c_tanphong" not in got  # producer-filing is for producers only


async def test_uploaded_document_cancels_its_nudge(core: Core) -> None:
    _, p4 = await core.person("p4")
    _, p5 = await core.person("p5")
    d4 = await dossier_at(core, p4, TAN_PHONG, Stage.DOCUMENTS_PENDING, registered=SEPT_1_2024)
    # A neighbour whose documents stay missing: only p4's upload counts for p4's dossier.
    await dossier_at(core, p5, TAN_PHONG, Stage.DOCUMENTS_PENDING, registered=SEPT_1_2024)
    got = by_person(await simulate(core, date(2024, 9, 1), date(2024, 9, 9)))
    assert ("2024-09-08", "missing_documents") in [(str(d), k) for d, k in got["p4"]]
    # Everything arrives on 10/09, after the computation at 08:00 of that day...
    core.clock.set(vn_time(2024, 9, 10, 8, 0))
    await tick(core)
    core.clock.set(vn_time(2024, 9, 10, 15, 0))
    async with core.session() as s:
        await attach_all(s, core, p4, d4)
    # ...and the nudge due 15/09 is cancelled whether dispatch or computation sees it first.
    core.clock.set(vn_time(2024, 9, 15, 8, 0))
    stats = await dispatch_due(core.sessions, core.ctx)
    assert stats.cancelled == 1
    assert [(m.name, m.kind) for m in stats.messages if m.kind == "missing_documents"] == [
        ("p5", "missing_documents")
    ]
    log = await simulate(core, date(2024, 9, 15), date(2024, 9, 30))
    nudges = [s for s in log if s.kind == "missing_documents"]
    assert [s.day for s in nudges if s.who == "p4"] == [date(2024, 9, 8)]
    assert [s.day for s in nudges if s.who == "p5"] == days(
        (2024, 9, 8), (2024, 9, 15), (2024, 9, 22)
    )
    async with core.session() as s:
        statuses = Counter(
            (
                await s.exec(
                    select(Fire.status).where(
                        Fire.kind == "missing_documents", Fire.subject_id == d4.id
                    )
                )
            ).all()
        )
    assert statuses == {FireStatus.SENT: 1, FireStatus.CANCELLED: 2}
    # With the documents in, the commune-check reminder now tells p4 to file the dossier.
    text = next(s.text for s in log if s.who == "p4" and s.kind == "milestone")
    assert "đủ giấy tờ" in text and "Nộp hồ sơ cho xã" in text


async def test_catch_up_after_downtime_sends_latest_only_and_drops_late(core: Core) -> None:
    ids = await _lai_chau_world(core)
    await simulate(core, date(2024, 10, 1), date(2024, 10, 15))
    # Down from 15/10 to 28/10 10:00: 16/10, 23/10 and 27/10 passed; only the latest goes.
    core.clock.set(vn_time(2024, 10, 28, 10, 0))
    stats = await tick(core)
    p1 = [m for m in stats.messages if m.name == "p1"]
    assert len(p1) == 1 and "còn 2 ngày" in p1[0].text
    assert stats.superseded > 0
    # Down again from 28/10 to 02/11: the 29/10 fires' deadline (30/10) has passed: dropped.
    core.clock.set(vn_time(2024, 11, 2, 8, 0))
    stats = await tick(core)
    assert not [m for m in stats.messages if m.name in ("p1", "p3", "c_binhlu")]
    async with core.session() as s:
        late = (
            await s.exec(
                select(Fire).where(Fire.subject_id == ids["d1"], Fire.status == FireStatus.DROPPED)
            )
        ).all()
    assert {f.scope.rsplit("/", 1)[1] for f in late} == {"14", "7", "1"}


async def test_nothing_in_quiet_hours(core: Core) -> None:
    await _lai_chau_world(core)
    # The service comes up at 21:30 on 16/10 with the 08:00 fires still pending.
    core.clock.set(vn_time(2024, 10, 16, 21, 30))
    assert (await tick(core)).quiet
    core.clock.set(vn_time(2024, 10, 17, 6, 59))
    assert (await tick(core)).quiet
    async with core.session() as s:
        assert (await s.exec(select(func.count()).select_from(Outbox))).one() == 0
    core.clock.set(vn_time(2024, 10, 17, 7, 0))
    stats = await tick(core)
    assert not stats.quiet and {m.name for m in stats.messages} >= {"p1", "p3", "v_laichau"}
    # Every fire is stored for 08:00 local time.
    async with core.session() as s:
        moments = {f.fire_at.astimezone(VN_TZ).time() for f in (await s.exec(select(Fire))).all()}
    assert moments == {time(8, 0)}


async def test_certificate_of_15_03_2024_window_days(core: Core) -> None:
    _, p9 = await core.person("p9")
    issued = date(2024, 3, 15)
    expiry = get_ruleset("qd148-2023").certificate_expiry(issued)
    assert expiry == date(2027, 3, 15)
    await dossier_at(
        core,
        p9,
        BINH_LU,
        Stage.CERTIFIED,
        registered=vn_time(2024, 1, 10, 9, 0),
        certificate_number="45/QĐ-UBND",
        certificate_date=issued,
        certificate_expiry=expiry,
    )
    # qd26-2026 window: opens 180 days before expiry (16/09/2026), closes 120 days before
    # (15/11/2026); the certificate expires 15/03/2027.
    expected = [date(2026, 9, 16), date(2026, 11, 15), date(2027, 3, 15)]
    core.clock.set(vn_time(2024, 3, 20, 9, 0))
    await tick(core)
    async with core.session() as s:
        fires = (await s.exec(select(Fire).order_by(col(Fire.fire_at)))).all()
    assert [f.fire_at for f in fires] == [at_utc(d.year, d.month, d.day, 8) for d in expected]
    for day in expected:
        for probe, sends in ((-1, False), (0, True), (1, False)):
            moment = day + timedelta(days=probe)
            core.clock.set(vn_time(moment.year, moment.month, moment.day, 7, 59))
            assert not (await tick(core)).messages
            core.clock.set(vn_time(moment.year, moment.month, moment.day, 8, 0))
            assert bool((await tick(core)).messages) is sends, moment
    log = await outbox_log(core)
    assert [s.day for s in log] == expected
    assert "16/09/2026" not in log[0].text and "15/11/2026" in log[0].text
    assert "15/03/2027" in log[0].text and "/dangky" in log[0].text
    assert "ngày cuối" in log[1].text and "hết hạn hôm nay" in log[2].text


async def test_plan_edited_after_computation_moves_fires(core: Core, tmp_path: Path) -> None:
    await _lai_chau_world(core)
    await simulate(core, date(2024, 10, 10), date(2024, 10, 16))  # the 14-day fire went on 16/10
    async with core.session() as s:
        before = {f.id: f for f in (await s.exec(select(Fire))).all()}
    # The province moves the district deadlines from 30/10 to 15/11.
    source = (BUILTIN_DIR / "lai-chau-2024.toml").read_text(encoding="utf-8")
    edited = source.replace("due = 2024-10-30", "due = 2024-11-15")
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "lai-chau-2024.toml").write_text(edited, encoding="utf-8")
    core.ctx.plans = PlanRegistry([tmp_path / "plans"])
    log = await simulate(core, date(2024, 10, 17), date(2024, 11, 20))
    async with core.session() as s:
        after = {f.id: f for f in (await s.exec(select(Fire))).all()}
    # Same fires (same ids), moved; none doubled.
    moved = [
        i
        for i in before
        if before[i].status == FireStatus.PENDING
        and "/district-" in before[i].scope
        and before[i].scope.endswith("/7")
    ]
    assert moved and all(
        after[i].fire_at.astimezone(VN_TZ).date() == date(2024, 11, 8) for i in moved
    )
    p1 = [s.day for s in log if s.who == "p1"]
    # 16/10 went before the edit (the 14-day reminder is not repeated); then 8, 12 and 14/11.
    assert p1 == days((2024, 10, 16), (2024, 11, 8), (2024, 11, 12), (2024, 11, 14))
    assert "15/11/2024" in next(s.text for s in log if s.who == "p1" and s.day.month == 11)
    keys = Counter((f.subject_type, f.subject_id, f.kind, f.scope) for f in after.values())
    assert max(keys.values()) == 1


async def test_clock_jumps_neither_repeat_nor_flood(core: Core) -> None:
    await _lai_chau_world(core)
    first = await simulate(core, date(2024, 10, 16), date(2024, 10, 16))
    # The clock jumps back a day (NTP correction, VM restore): nothing is sent again.
    core.clock.set(vn_time(2024, 10, 15, 8, 0))
    assert not (await tick(core)).messages
    core.clock.set(vn_time(2024, 10, 16, 8, 0))
    assert not (await tick(core)).messages
    # It jumps forward past every deadline of October: late fires are dropped, not flooded.
    core.clock.set(vn_time(2024, 11, 1, 8, 0))
    stats = await tick(core)
    assert not [m for m in stats.messages if m.name in ("p1", "p3", "c_binhlu")]
    assert len(await outbox_log(core)) == len(first) + len(stats.messages)


async def test_two_dispatchers_hand_each_fire_over_once(core: Core) -> None:
    """Two workers (separate engines, as two processes have) dispatch the same due fires at once:
    on PostgreSQL FOR UPDATE SKIP LOCKED splits them, on SQLite the writer lock serialises them."""
    url = core.engine.url.render_as_string(hide_password=False)
    await seed_producers(url, list(range(1, 401)), stage=Stage.DISTRICT_SCORED)
    core.clock.set(vn_time(2024, 10, 23, 8, 0))
    async with core.session() as s:
        await compute_fires(s, core.ctx)
    engines = [make_engine(url) for _ in range(2)]
    try:
        first, second = await asyncio.gather(
            *(dispatch_due(session_factory(e), core.ctx, batch_size=20) for e in engines)
        )
    finally:
        for e in engines:
            await e.dispose()
    # 400 fires of 23/10 go; the 400 of 16/10 (14 days before) are superseded by them.
    assert first.queued + second.queued == 400
    assert first.due + second.due == 800
    if core.engine.dialect.name == "postgresql":
        assert first.due > 0 and second.due > 0  # both took batches side by side
    async with core.session() as s:
        keys = (await s.exec(select(Outbox.idempotency_key))).all()
        sent = (await s.exec(select(func.count()).where(Fire.status == FireStatus.SENT))).one()
    assert len(keys) == len(set(keys)) == sent == 400


async def test_a_pass_that_fails_half_way_leaves_the_next_one_right(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary tables stay with the pooled connection between passes: a pass that dies
    after filling them (rolled back) must not leave rows, or a missing table, to the next."""
    from ocop_core.reminders import compute

    await _lai_chau_world(core)

    async def broken(*_args: object) -> None:
        raise RuntimeError("the database went away half-way")

    async def failing_pass() -> None:
        monkeypatch.setattr(compute, "want_commune_checks", broken)
        with pytest.raises(RuntimeError):
            async with core.session() as s:
                await compute.compute_fires(s, core.ctx)
        monkeypatch.undo()

    core.clock.set(vn_time(2024, 10, 16, 8, 0))
    await failing_pass()  # the connection's first pass: its tables' creation is rolled back
    await tick(core)
    wanted = (await fire_counts(core))[FireStatus.PENDING]
    assert wanted > 0
    core.clock.set(vn_time(2024, 10, 17, 8, 0))
    await failing_pass()  # the tables stay, its rows are rolled back
    async with core.session() as s:
        stats = await compute.compute_fires(s, core.ctx)
    assert stats.written == 0 and stats.cancelled == 0  # nothing left over, nothing lost
    assert (await fire_counts(core))[FireStatus.PENDING] == wanted
