"""``ocop-bot dossier show`` lists the documents received: type, page, pages, date, sender."""

from __future__ import annotations

import io

from bot.cli_documents import print_documents
from ocop_core.clock import VN_TZ
from tests.conftest import Core
from tests.officer_helpers import submitted_dossier


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
    seeded = await submitted_dossier(
        core.sessions, core.ctx, user="an", product="Chè", skip=frozenset(), submit=False
    )
    out = io.StringIO()
    await print_documents(core.sessions, seeded.dossier_id + 999, VN_TZ, "en", out)
    assert out.getvalue().strip() == "no documents received yet"
