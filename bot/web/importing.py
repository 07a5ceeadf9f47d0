"""The upload form for provincial staff: a products sheet, checked (dry run) or imported.

The work runs in a thread-friendly way: reading the workbook happens in a worker thread, so a
large or hostile file never stalls the event loop that also answers the chat webhooks.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ocop_core.db import transaction
from ocop_core.errors import DomainError
from ocop_core.excel import products_import
from ocop_core.i18n import N_

if TYPE_CHECKING:
    from bot.web.desk import Desk


class ImportPages:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/import", self.form)
        router.add_post("/import", self.upload)

    def _province_only(self, request: web.Request) -> None:
        from bot.web.desk import FORBIDDEN, Refuse

        signed = self.desk.need(request)
        if not products_import.may_import(signed.actor):  # the core decides; the page follows
            raise Refuse(*FORBIDDEN)

    async def form(self, request: web.Request) -> web.Response:
        self._province_only(request)
        return self.desk.render("import.html", request, {"nav": "import", "result": None})

    async def upload(self, request: web.Request) -> web.Response:
        self._province_only(request)
        limit = products_import.MAX_FILE_BYTES
        signed, fields, content = await self.desk.form(request, file_limit=limit)
        dry_run = fields.get("dry_run") in ("1", "on")
        context: dict[str, Any] = {"nav": "import", "dry_run": dry_run}
        if not content:
            context["refusal"] = (N_("desk.import.no_file"), {})
            return self.desk.render("import.html", request, context, status=400)
        try:
            # Unpacking and parsing are CPU work: a worker thread keeps the loop answering.
            parsed = await asyncio.to_thread(products_import.read_rows, content)
            async with transaction(self.desk.sessions) as s:
                report = await products_import.import_products(
                    s, self.desk.core, signed.actor, content, dry_run=dry_run, parsed=parsed
                )
                if not report.ok:
                    raise _Rollback(report)
        except _Rollback as rb:
            report = rb.report
        except DomainError as exc:
            context["refusal"] = (exc.key, exc.params)
            return self.desk.render("import.html", request, context, status=422)
        context["result"] = report
        return self.desk.render("import.html", request, context, status=200 if report.ok else 422)


class _Rollback(Exception):
    """Leave the transaction without storing anything (a refused sheet)."""

    def __init__(self, report: products_import.ImportReport) -> None:
        super().__init__("refused")
        self.report = report
