"""The officers' web desk, mounted at /desk on the same aiohttp app (and port) as the webhooks.

Sign-in is by a single-use link from chat; the session lives in the database and its secret in a
Secure, HttpOnly, SameSite=Strict cookie. Every page asks the core, with the acting person, for
what to show: scope and authorisation are decided there, never here. Every form carries the
session's CSRF token. Pages are server-rendered Jinja2 with one static stylesheet, no scripts.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import BodyPartReader, web
from babel.dates import format_date
from babel.numbers import format_decimal
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.handlers.links import servable_path
from bot.web import charts
from ocop_core.clock import VN_TZ
from ocop_core.db import transaction
from ocop_core.errors import DomainError, NotFound
from ocop_core.excel import XLSX_MIME, products_import
from ocop_core.excel import exports as xlsx
from ocop_core.i18n import N_, normalise_locale, translate
from ocop_core.rules import taxonomy
from ocop_core.services import desk, review, web_access
from ocop_core.services.context import CoreContext
from ocop_core.services.desk import DossierFilter
from ocop_core.services.web_access import Signed, SignInRefused

log = logging.getLogger("ocop.desk")

HERE = Path(__file__).resolve().parent
COOKIE = "ocop_desk"
PREFIX = "/desk"
CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SIGNED: web.RequestKey[Signed | None] = web.RequestKey("desk_signed", object)  # type: ignore[arg-type]
LOCALE: web.RequestKey[str] = web.RequestKey("desk_locale", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Refuse(Exception):
    """Answer with a short page instead: status, title and message catalog keys."""

    def __init__(self, status: int, title: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.params = status, title, message, params


FORBIDDEN = (403, N_("desk.forbidden_title"), N_("desk.forbidden"))


class Desk:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        core: CoreContext,
        *,
        secure_cookie: bool = True,
    ) -> None:
        self.sessions = sessions
        self.core = core
        self.secure_cookie = secure_cookie

    # -- wiring ------------------------------------------------------------------------------

    def add_routes(self, web_app: web.Application) -> None:
        from bot.web.importing import ImportPages

        app = web.Application(middlewares=[self._headers, self._auth], client_max_size=12 << 20)
        aiohttp_jinja2.setup(
            app,
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
        )
        r = app.router
        r.add_get("/signin/{token}", self.signin_form)
        r.add_post("/signin/{token}", self.signin)
        r.add_post("/signout", self.signout)
        r.add_get("/", self.overview)
        r.add_get("/dossiers", self.dossier_list)
        r.add_get("/dossiers.xlsx", self.dossier_export)
        r.add_get(r"/dossiers/{id:\d{1,12}}", self.dossier_page)
        r.add_get(r"/dossiers/{id:\d{1,12}}/mau03.pdf", self.mau03)
        r.add_get(r"/documents/{id:\d{1,12}}", self.document)
        r.add_get("/certificates", self.certificate_list)
        r.add_get("/certificates.xlsx", self.certificate_export)
        r.add_get("/products.xlsx", self.product_export)
        r.add_get("/targets", self.targets)
        r.add_get("/targets.xlsx", self.target_export)
        ImportPages(self).add_routes(r)
        r.add_static("/static", HERE / "static", append_version=False)
        web_app.add_subapp(PREFIX, app)
        web_app.router.add_get(PREFIX, self._to_root)

    async def _to_root(self, _request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{PREFIX}/")

    # -- middlewares ---------------------------------------------------------------------------

    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except Refuse as r:
            response = self._message(request, r)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Referrer-Policy"] = "no-referrer"  # sign-in links are secrets
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request[SIGNED] = None
        token = request.cookies.get(COOKIE)
        if token and not request.path.startswith(f"{PREFIX}/static/"):  # no database for CSS
            async with transaction(self.sessions) as s:
                request[SIGNED] = await web_access.session_for(s, self.core, token)
        return await handler(request)

    def need(self, request: web.Request) -> Signed:
        signed = request.get(SIGNED)
        if signed is None:
            raise Refuse(401, N_("desk.signin_needed_title"), N_("desk.signin_needed"))
        return signed

    async def form(
        self, request: web.Request, *, file_limit: int = 0
    ) -> tuple[Signed, dict[str, str], bytes | None]:
        """A POSTed form of a signed-in officer, its CSRF token checked: its text fields and, for
        a multipart form, the "file" part (at most ``file_limit`` bytes; longer: ``Refuse``).
        Read as a stream, so the web server's small body limit does not cut a spreadsheet."""
        signed = self.need(request)
        origin = request.headers.get("Origin")
        if origin and origin != "null" and origin.split("://", 1)[-1] != request.host:
            raise Refuse(403, N_("desk.csrf_title"), N_("desk.csrf"))
        fields: dict[str, str] = {}
        data: bytes | None = None
        if request.content_type.startswith("multipart/"):
            fields, data = await _multipart(request, file_limit)
        else:
            posted = await request.post()
            fields = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
        sent = fields.get("csrf", "")
        if not secrets.compare_digest(sent.encode(), signed.session.csrf.encode()):
            raise Refuse(403, N_("desk.csrf_title"), N_("desk.csrf"))
        return signed, fields, data

    # -- rendering ---------------------------------------------------------------------------

    def _context(self, request: web.Request) -> dict[str, Any]:
        signed = request.get(SIGNED)
        locale = normalise_locale(signed.account.locale if signed else request.get(LOCALE))
        return {
            "locale": locale,
            "t": lambda key, **p: translate(key, locale, **p),
            "d": lambda v: _date(v, locale),
            "dt": lambda v: _datetime(v, locale),
            "n": lambda v: "" if v is None else format_decimal(v, locale=locale),
            "signed": signed,
            "csrf": signed.session.csrf if signed else "",
            "is_province": bool(signed and products_import.may_import(signed.actor)),
            "qs": lambda params: urlencode(params),
        }

    def render(
        self, name: str, request: web.Request, context: dict[str, Any], *, status: int = 200
    ) -> web.Response:
        full = {**self._context(request), **context}
        return aiohttp_jinja2.render_template(name, request, full, status=status)

    def _message(self, request: web.Request, r: Refuse) -> web.Response:
        return self.render(
            "message.html",
            request,
            {"title_key": r.title, "message_key": r.message, "params": r.params},
            status=r.status,
        )

    # -- sign in and out -----------------------------------------------------------------------

    async def signin_form(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            async with transaction(self.sessions) as s:
                account = await web_access.peek_sign_in(s, self.core, token)
        except SignInRefused as exc:
            raise _refused(exc) from None
        request[LOCALE] = account.locale
        return self.render("signin.html", request, {"name": account.display_name})

    async def signin(self, request: web.Request) -> web.Response:
        try:
            async with transaction(self.sessions) as s:
                new = await web_access.redeem_sign_in(s, self.core, request.match_info["token"])
        except SignInRefused as exc:
            raise _refused(exc) from None
        log.info("desk: account %s signed in", new.account_id)
        response = web.Response(status=303, headers={"Location": f"{PREFIX}/"})
        response.set_cookie(
            COOKIE,
            new.token,
            max_age=int(web_access.SESSION_TTL.total_seconds()),
            path=PREFIX,
            secure=self.secure_cookie,
            httponly=True,
            samesite="Strict",
        )
        return response

    async def signout(self, request: web.Request) -> web.Response:
        await self.form(request)
        async with transaction(self.sessions) as s:
            await web_access.end_session(s, self.core, request.cookies.get(COOKIE))
        request[SIGNED] = None
        response = self._message(
            request, Refuse(200, N_("desk.signed_out_title"), N_("desk.signed_out"))
        )
        response.del_cookie(COOKIE, path=PREFIX)
        return response

    # -- pages ---------------------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.Response:
        signed = self.need(request)
        year = DossierFilter.parse(request.query).year
        async with transaction(self.sessions) as s:
            ov = await desk.overview(s, self.core, signed.actor, year)
        loc = normalise_locale(signed.account.locale)
        funnel = charts.funnel(
            translate(N_("desk.chart.funnel"), loc),
            [(translate(f"desk.funnel.{k}", loc), n) for k, n in ov.funnel],
        )
        by_commune = charts.bars(
            translate(N_("desk.chart.by_commune"), loc), [(n, k) for _, n, k in ov.by_commune]
        )
        return self.render(
            "overview.html",
            request,
            {"ov": ov, "funnel": funnel, "by_commune": by_commune, "nav": "overview"},
        )

    async def dossier_list(self, request: web.Request) -> web.Response:
        signed = self.need(request)
        f = DossierFilter.parse(request.query)
        async with transaction(self.sessions) as s:
            page = await desk.list_dossiers(s, self.core, signed.actor, f)
            communes = await desk.communes_in_scope(s, signed.actor)
            years = await desk.years_in_scope(s, signed.actor)
            rounds = await desk.rounds_in_scope(s, signed.actor)
        return self.render(
            "dossiers.html",
            request,
            {
                "f": f,
                "page": page,
                "communes": communes,
                "years": years,
                "rounds": rounds,
                "stages": desk.STAGE_ORDER,
                "sets": [cs.code for cs in taxonomy().sets],
                "nav": "dossiers",
            },
        )

    async def dossier_export(self, request: web.Request) -> web.Response:
        signed = self.need(request)
        f = DossierFilter.parse(request.query)
        async with transaction(self.sessions) as s:
            page = await desk.list_dossiers(s, self.core, signed.actor, f, export=True)
        data = await asyncio.to_thread(xlsx.dossiers_xlsx, page.rows)
        return _xlsx(data, "ho-so-ocop.xlsx")

    async def dossier_page(self, request: web.Request) -> web.Response:
        signed = self.need(request)
        try:
            async with transaction(self.sessions) as s:
                view = await desk.dossier_view(s, signed.actor, int(request.match_info["id"]))
        except NotFound:
            raise Refuse(*FORBIDDEN) from None  # another commune's dossier or none: same answer
        return self.render("dossier.html", request, {"v": view, "nav": "dossiers"})

    async def document(self, request: web.Request) -> web.StreamResponse:
        """A document's file for preview, after the core confirmed the officer may see it."""
        signed = self.need(request)
        try:
            async with transaction(self.sessions) as s:
                doc = await desk.document_for(s, signed.actor, int(request.match_info["id"]))
        except NotFound:
            raise Refuse(*FORBIDDEN) from None
        path = servable_path(self.core.data_dir, doc.path)  # inside the media store, a file
        if path is None:
            raise Refuse(404, N_("desk.gone_title"), N_("desk.gone"))
        inline = doc.mime.startswith("image/") or doc.mime == "application/pdf"
        name = f"{doc.requirement}-{doc.page}{path.suffix}"
        return web.FileResponse(
            path,
            headers={
                "Content-Type": doc.mime,
                "Content-Disposition": f"{'inline' if inline else 'attachment'}; "
                f"filename*=UTF-8''{quote(name, safe='')}",
                "Content-Security-Policy": "default-src 'none'; img-src 'self'; "
                "style-src 'unsafe-inline'; frame-ancestors 'self'",
                "X-Frame-Options": "SAMEORIGIN",
                "Cache-Control": "private, no-store",
            },
        )

    async def mau03(self, request: web.Request) -> web.StreamResponse:
        signed = self.need(request)
        try:
            async with transaction(self.sessions) as s:
                path = await review.commune_report(
                    s, self.core, signed.actor, int(request.match_info["id"])
                )
        except NotFound as exc:
            if exc.key == "error.no_commune_check":
                raise Refuse(404, N_("desk.no_report_title"), N_("desk.no_report")) from None
            raise Refuse(*FORBIDDEN) from None
        except DomainError:
            raise Refuse(*FORBIDDEN) from None
        return web.FileResponse(
            path,
            headers={
                "Content-Type": "application/pdf",
                "Content-Disposition": f"inline; filename={path.name}",
            },
        )

    async def certificate_list(self, request: web.Request) -> web.Response:
        signed = self.need(request)
        async with transaction(self.sessions) as s:
            rows = await desk.certificates(s, self.core, signed.actor, limit=500)
        return self.render("certificates.html", request, {"rows": rows, "nav": "certificates"})

    async def certificate_export(self, request: web.Request) -> web.Response:
        signed = self.need(request)
        async with transaction(self.sessions) as s:
            rows = await desk.certificates(s, self.core, signed.actor)
        data = await asyncio.to_thread(xlsx.certificates_xlsx, rows)
        return _xlsx(data, "giay-chung-nhan-ocop.xlsx")

    async def product_export(self, request: web.Request) -> web.Response:
        """Danh sách sản phẩm OCOP: every certified product in scope, soonest expiry first."""
        signed = self.need(request)
        async with transaction(self.sessions) as s:
            rows = await desk.certificates(s, self.core, signed.actor)
        data = await asyncio.to_thread(xlsx.products_xlsx, [c.row for c in rows])
        return _xlsx(data, "danh-sach-san-pham-ocop.xlsx")

    async def targets(self, request: web.Request) -> web.Response:
        signed = self.need(request)
        async with transaction(self.sessions) as s:
            years = await desk.achieved_by_year(s, signed.actor)
            plans = await desk.targets_in_scope(s, self.core, signed.actor)
        return self.render(
            "targets.html", request, {"years": years, "plans": plans, "nav": "targets"}
        )

    async def target_export(self, request: web.Request) -> web.Response:
        signed = self.need(request)
        async with transaction(self.sessions) as s:
            plans = await desk.targets_in_scope(s, self.core, signed.actor)
        data = await asyncio.to_thread(xlsx.targets_xlsx, plans)
        return _xlsx(data, "chi-tieu-ocop.xlsx")


async def _multipart(request: web.Request, file_limit: int) -> tuple[dict[str, str], bytes | None]:
    fields: dict[str, str] = {}
    data: bytes | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file" and file_limit:
                data = await _read_part(part, file_limit)
            elif part.name and len(fields) < 20:
                fields[part.name] = (await part.read(decode=True))[:200].decode(errors="replace")
            else:
                await part.release()
    except (ValueError, AssertionError):  # a malformed body
        raise Refuse(400, N_("desk.import.refused"), N_("desk.import.no_file")) from None
    return fields, data


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    raw = bytearray()
    while chunk := await part.read_chunk(256 * 1024):
        raw += chunk
        if len(raw) > limit:
            raise Refuse(413, N_("desk.import.refused"), N_("desk.import.too_big"), mb=limit >> 20)
    return bytes(raw)


def _refused(exc: SignInRefused) -> Refuse:
    status = 410 if exc.reason in ("used", "expired") else 403
    return Refuse(status, f"desk.signin.{exc.reason}_title", exc.key)


def _xlsx(data: bytes, filename: str) -> web.Response:
    return web.Response(
        body=data,
        headers={
            "Content-Type": XLSX_MIME,
            "Content-Disposition": f"attachment; filename={filename}",
        },
    )


def _date(value: date | None, locale: str) -> str:
    if value is None:
        return ""
    pattern = "dd/MM/yyyy" if locale == "vi" else "d MMM yyyy"
    return format_date(value, pattern, locale=locale)


def _datetime(value: datetime | None, locale: str) -> str:
    if value is None:
        return ""
    local = value.astimezone(VN_TZ)
    return f"{_date(local.date(), locale)} {local:%H:%M}"
