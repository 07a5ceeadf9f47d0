"""/dulieu on both channels (see, export, correct, erase) and ``ocop-bot person``: after erasure
no personal field of the person remains in any table or log line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import select

from bot.cli import main as cli_main
from bot.flows import build_flows
from bot.flows.router import Conversations
from ocop_core.clock import FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.models import Account, Document, Outbox, Role
from ocop_core.plans import PlanRegistry
from ocop_core.services.context import CoreContext
from tests.conftest import vn_time
from tests.factories import BINH_LU
from tests.officer_helpers import officer_actor, submitted_dossier
from tests.transcript import ZALO_LIKE, Person

NAME = "Nguyễn Thị Lành"
PHONE = "0912345678"


@dataclass
class World:
    conv: Conversations
    ctx: CoreContext
    db: Path
    codes: list[str]
    user: str


async def seed(sessions: object, ctx: CoreContext, user: str, channel: str) -> list[str]:
    kept = await submitted_dossier(
        sessions,
        ctx,
        user=user,
        product="Rượu ngô",
        channel=channel,  # type: ignore[arg-type]
    )
    draft = await submitted_dossier(
        sessions,  # type: ignore[arg-type]
        ctx,
        user=user,
        product="Chè shan",
        channel=channel,
        submit=False,
    )
    await officer_actor(sessions, ctx, Role.COMMUNE, BINH_LU)  # type: ignore[arg-type]
    async with transaction(sessions) as s:  # type: ignore[arg-type]
        account = (await s.exec(select(Account).where(Account.platform_user_id == user))).one()
        account.display_name, account.phone = NAME, PHONE
        s.add(account)
    return [kept.code, draft.code]


@pytest.fixture(params=["telegram", "zalo"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_url: str
) -> AsyncIterator[World]:
    db = tmp_path / "ocop.sqlite3"  # where sqlite_url copied the migrated template
    engine = make_engine(sqlite_url)
    ctx = CoreContext(
        clock=FixedClock(vn_time(2026, 9, 1, 9, 0)), plans=PlanRegistry(), data_dir=tmp_path
    )
    sessions = session_factory(engine)
    user = f"{request.param}-user-4242"
    codes = await seed(sessions, ctx, user, request.param)
    yield World(Conversations(sessions, ctx, build_flows()), ctx, db, codes, user)
    await engine.dispose()


def leftovers(db: Path, needles: list[str]) -> list[str]:
    """Every cell of every table that still holds one of ``needles``."""
    found = []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                cell = json.dumps(row, ensure_ascii=False, default=str)
                found += [f"{table}: {n}" for n in needles if n in cell]
    return found


async def choose(p: Person, label: str) -> None:
    """Tap a button on Telegram; type the option's number on Zalo."""
    if p.channel == "telegram":
        await p.tap(label)
        return
    number = next(i for i, c in enumerate(p.choices, 1) if label in c)
    await p.say(str(number))


async def test_dulieu_see_export_correct_erase(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ocop")  # everything the bot itself logs
    channel = "zalo" if world.user.startswith("zalo") else "telegram"
    p = Person(world.conv, world.user, channel=channel)
    if channel == "zalo":
        p.caps = ZALO_LIKE
    kept, draft = world.codes

    await p.say("/dulieu")
    assert "Dữ liệu cá nhân của bạn" in p.text
    await choose(p, "Xem dữ liệu")
    assert NAME in p.text and PHONE in p.text and kept in p.text and draft in p.text

    await choose(p, "Sửa họ tên")
    await p.say("Nguyễn Thị Lành Anh")
    assert "Đã sửa họ tên thành: Nguyễn Thị Lành Anh" in p.text
    await p.say("/dulieu")
    await choose(p, "Sửa số điện thoại")
    await p.say("12345")
    assert "không đúng dạng số di động" in p.text  # asked again
    await p.say("0987 654 321")
    assert "Đã sửa số điện thoại thành: 0987654321" in p.text

    await p.say("/dulieu")
    await choose(p, "Tải bản sao")
    [reply] = [r for r in p.last if r.files]
    export = reply.files[0]
    with zipfile.ZipFile(io.BytesIO(export.path.read_bytes())) as z:
        data = json.loads(z.read("data.json"))
        assert data["account"]["name"] == "Nguyễn Thị Lành Anh"
        assert data["account"]["phone"] == "0987654321"
        assert {d["receipt_code"] for d in data["dossiers"]} == {kept, draft}
        assert any(n.startswith("documents/") for n in z.namelist())

    media = [world.ctx.data_dir / d for d in await _document_paths(world)]
    assert media and all(m.exists() for m in media)
    await p.say("/dulieu")
    await choose(p, "Rút đồng ý")
    assert "không hoàn tác được" in p.text
    await choose(p, "Có, xóa")
    assert "Đã xóa dữ liệu của bạn" in p.text and kept in p.text and draft not in p.text
    assert not any(m.exists() for m in media)  # documents deleted from disk
    assert not export.path.exists()  # and the export

    needles = [NAME, "Lành Anh", PHONE, "0987654321", world.user, "HTX Rượu ngô"]
    assert leftovers(world.db, needles) == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert [n for n in needles if n in logged] == []
    async with world.conv.sessions() as s:
        told = (await s.exec(select(Outbox))).all()
    assert [o for o in told if kept in o.payload["text"] and "rút đồng ý" in o.payload["text"]]
    # Writing again starts over with consent; the kept dossier no longer names anyone.
    await p.say("Xin chào")
    assert "Chọn ngôn ngữ" in p.text


async def _document_paths(world: World) -> list[str]:
    async with world.conv.sessions() as s:
        return [d.path for d in (await s.exec(select(Document))).all()]


def test_person_erase_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "var"
    monkeypatch.setenv("OCOP_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)
    # main() sets up logging on the stderr of the moment, here pytest's capture of this test:
    # later tests of the same worker would log into a closed file.
    monkeypatch.setattr("bot.cli.setup_logging", lambda *_a, **_k: None)

    async def prepare() -> list[str]:
        from bot.app import open_app
        from bot.settings import load_settings

        async with open_app(load_settings()) as app:
            return await seed(app.sessions, app.ctx, "777000", "telegram")

    codes = asyncio.run(prepare())
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def run(*args: str) -> int:
        try:
            with pytest.raises(SystemExit) as exit_:
                cli_main(list(args))
        finally:  # the CLI sets up logging on this test's captured stderr: undo it
            for handler in [h for h in root.handlers if h not in handlers]:
                root.removeHandler(handler)
            root.setLevel(level)
        return int(exit_.value.code or 0)

    assert run("person", "show", "--telegram-id", "777000") == 0
    shown = capsys.readouterr().out
    assert NAME in shown and codes[0] in shown
    assert run("person", "export", "--telegram-id", "777000") == 0
    assert "data-" in capsys.readouterr().out
    assert run("person", "erase", "--telegram-id", "777000") == 1  # without --yes: nothing
    assert run("person", "erase", "--telegram-id", "777000", "--yes") == 0
    out = capsys.readouterr().out
    assert codes[0] in out and codes[1] not in out
    assert leftovers(data_dir / "ocop.sqlite3", [NAME, PHONE, "777000"]) == []
    assert not list((data_dir / "exports").glob("data-*.zip"))


async def test_outbox_retention_forgets_delivered_texts(sqlite_url: str, tmp_path: Path) -> None:
    from datetime import timedelta

    from ocop_core.models import OutboxStatus
    from ocop_core.services import accounts, outbox, personal_data

    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    ctx = CoreContext(clock=FixedClock(vn_time(2026, 9, 1, 9, 0)), data_dir=tmp_path)
    now = ctx.clock.now()
    try:
        async with transaction(sessions) as s:
            who = await accounts.get_or_create_account(
                s, ctx, channel="telegram", platform_user_id="r1", chat_id="r1"
            )
            for key, age, status in (
                ("old-sent", 100, OutboxStatus.SENT),
                ("new-sent", 10, OutboxStatus.SENT),
                ("old-queued", 100, OutboxStatus.QUEUED),
                ("old-failed", 95, OutboxStatus.FAILED),
            ):
                row = await outbox.enqueue(
                    s, who, {"text": key}, key=key, now=now - timedelta(days=age)
                )
                assert row is not None
                row.status = status
                s.add(row)
        async with transaction(sessions) as s:
            removed = await personal_data.purge_outbox(s, before=now - timedelta(days=90))
        async with sessions() as s:
            left = sorted(o.idempotency_key for o in (await s.exec(select(Outbox))).all())
    finally:
        await engine.dispose()
    assert removed == 2 and left == ["new-sent", "old-queued"]


async def test_officer_access_to_personal_data_is_recorded(sqlite_url: str, tmp_path: Path) -> None:
    from ocop_core.models import DataAccess
    from ocop_core.services import review

    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    ctx = CoreContext(
        clock=FixedClock(vn_time(2026, 9, 1, 9, 0)), plans=PlanRegistry(), data_dir=tmp_path
    )
    try:
        seeded = await submitted_dossier(sessions, ctx, user="p-1", product="Mật ong")
        officer = await officer_actor(sessions, ctx, Role.COMMUNE, BINH_LU)
        async with transaction(sessions) as s:
            await review.card(s, ctx, officer, seeded.dossier_id)
            await review.export_document(s, ctx, officer, seeded.dossier_id, "mau01_registration")
        async with sessions() as s:
            rows = (await s.exec(select(DataAccess))).all()
    finally:
        await engine.dispose()
    assert [(r.officer_id, r.dossier_id, r.what) for r in rows] == [
        (officer.account_id, seeded.dossier_id, "card"),
        (officer.account_id, seeded.dossier_id, "document:mau01_registration"),
    ]
