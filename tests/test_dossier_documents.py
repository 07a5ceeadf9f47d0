"""``ocop-bot dossier show`` lists the documents received: type, page, pages, date, sender."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot.cli.documents import print_documents
from ocop_core.clock import VN_TZ, FixedClock
from ocop_core.db import make_engine, session_factory
from ocop_core.plans import PlanRegistry
from ocop_core.services.context import CoreContext
from tests.conftest import Core
from tests.officer_helpers import submitted_dossier

BIN = Path(sys.executable).parent / "ocop-bot"


async def test_documents_listed_with_sender_and_date(core: Core) -> None:
    seeded = await submitted_dossier(core.sessions, core.ctx, user="Lò Văn A", product="Mật ong")
    out = io.StringIO()
    await print_documents(core.sessions, seeded.dossier_id, VN_TZ, "vi", out)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0].split() == ["DOCUMENT", "PAGE", "PAGES", "RECEIVED", "SENT", "BY"]
    assert "Phiếu đăng ký (Mẫu 01) [mau01_registration]" in text
    received = core.clock.now().astimezone(VN_TZ).strftime("%d/%m/%Y")
    body = lines[1:-1]
    assert body and all(f"{received} 09:00  Lò Văn A (telegram)" in line for line in body), text
    assert lines[-1].strip().endswith("file(s) received")
    assert int(lines[-1].split()[0]) == len(body)


async def test_no_documents_yet(core: Core) -> None:
    out = io.StringIO()
    await print_documents(core.sessions, 424242, VN_TZ, "en", out)
    assert out.getvalue().strip() == "no documents received yet"


async def test_dossier_show_command_lists_documents(
    tmp_path: Path, sqlite_template: Path, clock: FixedClock
) -> None:
    """The operator's command on a data directory holding one dossier with its pages."""
    data = tmp_path / "var"
    data.mkdir()
    shutil.copyfile(sqlite_template, data / "ocop.sqlite3")
    engine = make_engine(f"sqlite+aiosqlite:///{data / 'ocop.sqlite3'}")
    ctx = CoreContext(clock=clock, plans=PlanRegistry(), data_dir=data)
    try:
        seeded = await submitted_dossier(session_factory(engine), ctx, user="an", product="Chè")
    finally:
        await engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCOP_")}
    done = await asyncio.to_thread(
        subprocess.run,
        [str(BIN), "dossier", "show", seeded.code],
        env={**env, "OCOP_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert seeded.code in done.stdout
    assert "Phiếu đăng ký (Mẫu 01) [mau01_registration]" in done.stdout
    assert "an (telegram)" in done.stdout and "6 file(s) received" in done.stdout
