"""Deployment checks: each a small function returning a :class:`CheckResult` with one line of
advice. ``ocop-bot doctor`` runs them all; ``ocop-bot run`` prints the offline ones that flag
something dangerous as start-up warnings (:func:`startup_warnings`).

Operator-facing text here is English, like the rest of the operator's command line. No detail
ever contains a token, a secret or a URL that holds one.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import socket
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.settings import Settings, SettingsError, load_settings
from ocop_core.db import is_sqlite

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
MIN_FREE = 500 * 1024 * 1024  # below this, uploads start failing soon: a failure
LOW_FREE = 2 * 1024 * 1024 * 1024  # below this, a warning
HTTP_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str  # stable id for monitoring, e.g. "telegram.webhook"
    title: str
    status: str  # ok | warn | fail | skip
    detail: str = ""
    advice: str = ""  # one line: what to do; empty when nothing is to be done

    @property
    def ok(self) -> bool:
        """Needed for exit code 0: anything but a failure."""
        return self.status != FAIL

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _result(name: str, title: str, status: str, detail: str, advice: str = "") -> CheckResult:
    return CheckResult(name, title, status, detail, advice)


# -- settings, database, disk ------------------------------------------------------------------


def check_settings() -> tuple[CheckResult, Settings | None]:
    title = "Settings parse"
    try:
        settings = load_settings()
    except SettingsError as exc:
        advice = "fix that variable in the environment or .env (see README, Configuration)"
        if "OCOP_PUBLIC_URL" in str(exc):  # the one an operator meets on a LAN install
            advice = (
                "serve the bot over HTTPS (a reverse proxy with a certificate, docs/deploy.md) and "
                "set OCOP_PUBLIC_URL to that https:// address; plain http is only for this machine"
            )
        return _result("settings", title, FAIL, str(exc), advice), None
    return _result("settings", title, OK, "all OCOP_* variables valid"), settings


def _sqlite_file_exists(url: str) -> bool:
    database = make_url(url).database or ""
    return database == ":memory:" or Path(database).exists()


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def check_database(settings: Settings) -> CheckResult:
    """Reachable, at the latest migration, administrative units loaded. Never migrates."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from ocop_core.db import alembic_config, make_engine

    title = "Database reachable and migrated"
    upgrade = "run `ocop-bot db upgrade` (migrations and administrative units)"
    url = settings.database_url
    if is_sqlite(url) and not _sqlite_file_exists(url):
        return _result("database", title, FAIL, f"no database file at {_safe_url(url)}", upgrade)
    expected = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    # A server that does not answer must not hold doctor for asyncpg's default minute.
    engine = make_engine(url, **({} if is_sqlite(url) else {"connect_args": {"timeout": 10}}))
    try:
        async with engine.connect() as conn:
            current = set(
                await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
            )
            communes = 0
            if current == expected:
                communes = (await conn.execute(text("SELECT count(*) FROM commune"))).scalar_one()
    except Exception as exc:  # any driver error: the operator needs its kind, not a traceback
        detail = f"cannot connect to {_safe_url(url)}: {_reason(exc, url)}"
        advice = "check OCOP_DATABASE_URL and that the database server is running"
        return _result("database", title, FAIL, detail, advice)
    finally:
        await engine.dispose()
    backend = make_url(url).get_backend_name()
    if current != expected:
        have = ", ".join(sorted(current)) or "none (empty database)"
        detail = f"{backend}: schema at {have}, this version needs {', '.join(sorted(expected))}"
        return _result("database", title, FAIL, detail, upgrade)
    if not communes:
        return _result("database", title, FAIL, f"{backend}: no administrative units", upgrade)
    return _result("database", title, OK, f"{backend}, schema {', '.join(expected)}")


def _reason(exc: BaseException, url: str) -> str:
    """The driver's own first line (e.g. "password authentication failed"), never the password."""
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [""])[0][:160]
    password = make_url(url).password
    if password:
        first = first.replace(str(password), "***")
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


def disk_free(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (tests patch this probe)."""
    return shutil.disk_usage(path).free


def check_data_dir(settings: Settings) -> CheckResult:
    title = "Data directory writable with free space"
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-") as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError as exc:
        detail = f"cannot write in {path}: {exc.strerror}"
        advice = "give the bot's user write access to OCOP_DATA_DIR (documents are stored there)"
        return _result("data_dir", title, FAIL, detail, advice)
    free = disk_free(path)
    detail = f"{path.resolve()}: {free / 2**30:.1f} GiB free"
    advice = "free space or move OCOP_DATA_DIR to a larger disk (uploaded documents live there)"
    if free < MIN_FREE:
        return _result("data_dir", title, FAIL, detail, advice)
    if free < LOW_FREE:
        return _result("data_dir", title, WARN, detail, advice)
    return _result("data_dir", title, OK, detail)


# -- channels ----------------------------------------------------------------------------------


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


async def check_telegram(settings: Settings) -> list[CheckResult]:
    """Token (getMe) and the webhook, or that polling is possible."""
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError

    from bot.handlers.telegram_http import AiohttpRequest

    title = "Telegram token valid (getMe)"
    if settings.telegram_token is None:
        return [_result("telegram.token", title, SKIP, "OCOP_TELEGRAM_TOKEN not set")]
    bot = Bot(
        settings.telegram_token.get_secret_value(),
        base_url=settings.telegram_api_url,
        base_file_url=settings.telegram_file_url,
        request=AiohttpRequest(1),  # the bot's own transport, checked
        get_updates_request=AiohttpRequest(1),
    )
    try:
        async with bot:  # initialize() calls getMe
            info = await bot.get_webhook_info()
            username = bot.username
    except InvalidToken:
        detail = f"the Bot API at {_host(settings.telegram_api_url)} refused the token"
        advice = "copy the token again from @BotFather into OCOP_TELEGRAM_TOKEN"
        return [_result("telegram.token", title, FAIL, detail, advice)]
    except TelegramError as exc:
        detail = f"cannot reach the Bot API at {_host(settings.telegram_api_url)}: {exc}"
        advice = "check the network and OCOP_TELEGRAM_API_URL (it ends in /bot)"
        return [_result("telegram.token", title, FAIL, detail, advice)]
    token = _result("telegram.token", title, OK, f"@{username}")
    return [token, telegram_webhook(settings, info.url, info.last_error_message)]


def telegram_webhook(settings: Settings, registered: str, last_error: str | None) -> CheckResult:
    title = "Telegram webhook registered with a secret, or polling possible"
    name = "telegram.webhook"
    if not settings.public_url:
        if registered:
            detail = f"polling, but a webhook is registered at {registered}"
            advice = "`ocop-bot run` removes it; make sure no other deployment uses this token"
            return _result(name, title, WARN, detail, advice)
        return _result(name, title, OK, "polling (no OCOP_PUBLIC_URL)")
    if settings.telegram_webhook_secret is None:
        return _result(name, title, FAIL, *_NO_TELEGRAM_SECRET)
    from bot.handlers.telegram import WEBHOOK_PATH

    ours = f"{settings.public_url}{WEBHOOK_PATH}"
    if not registered:
        detail = "not registered yet"
        return _result(name, title, WARN, detail, "`ocop-bot run` registers it at start-up")
    if registered != ours:
        detail = f"registered at {registered}, not at {ours}"
        advice = "another deployment receives the updates: restart this one or fix OCOP_PUBLIC_URL"
        return _result(name, title, FAIL, detail, advice)
    if last_error:
        detail = f"registered at {ours}; Telegram's last delivery error: {last_error}"
        advice = "check that the reverse proxy forwards the webhook path to the bot"
        return _result(name, title, WARN, detail, advice)
    return _result(name, title, OK, f"registered at {ours}, secret set")


_NO_TELEGRAM_SECRET = (
    "webhook mode without OCOP_TELEGRAM_WEBHOOK_SECRET: every update would be refused",
    "set OCOP_TELEGRAM_WEBHOOK_SECRET to a random string of A-Z, a-z, 0-9, _ and - (1-256)",
)


async def check_zalo(settings: Settings) -> list[CheckResult]:
    """Token (getMe) and the webhook, or that polling is possible."""
    from bot.handlers.zalo_client import ZaloClient, ZaloError

    title = "Zalo token valid (getMe)"
    if settings.zalo_bot_token is None:
        return [_result("zalo.token", title, SKIP, "OCOP_ZALO_BOT_TOKEN not set")]
    client = ZaloClient(
        settings.zalo_bot_token.get_secret_value(), settings.zalo_api_url, timeout=HTTP_TIMEOUT
    )
    try:
        me = await client.get_me()
        try:
            registered = str((await client.call("getWebhookInfo") or {}).get("url") or "")
        except ZaloError as exc:
            if exc.code != 404:  # 404 has been seen for "no webhook"
                raise
            registered = ""
    except ZaloError as exc:
        where = _host(settings.zalo_api_url)
        if exc.code == 401:
            detail = f"the Zalo Bot API at {where} refused the token"
            advice = "copy the token again from the Zalo Bot Manager into OCOP_ZALO_BOT_TOKEN"
        else:
            code = f"{exc.code} " if exc.code else ""
            detail = f"cannot use the Zalo Bot API at {where}: {code}{exc.description}"
            advice = "check the network and OCOP_ZALO_API_URL (the base, without /bot<token>)"
        return [_result("zalo.token", title, FAIL, detail, advice)]
    finally:
        await client.close()
    name = str(me.get("account_name") or me.get("display_name") or me.get("id") or "bot")
    return [_result("zalo.token", title, OK, name), zalo_webhook(settings, registered)]


def zalo_webhook(settings: Settings, registered: str) -> CheckResult:
    title = "Zalo webhook registered, or polling possible"
    name = "zalo.webhook"
    if not settings.public_url:
        if registered:
            detail = f"polling, but a webhook is registered at {registered}"
            advice = "`ocop-bot run` removes it; make sure no other deployment uses this token"
            return _result(name, title, WARN, detail, advice)
        return _result(name, title, OK, "polling (no OCOP_PUBLIC_URL)")
    from bot.handlers.zalo import WEBHOOK_PATH

    ours = f"{settings.public_url}{WEBHOOK_PATH}"
    if not registered:
        return _result(name, title, WARN, "not registered yet", "`ocop-bot run` registers it")
    if registered != ours:
        detail = f"registered at {registered}, not at {ours}"
        advice = "another deployment receives the updates: restart this one or fix OCOP_PUBLIC_URL"
        return _result(name, title, FAIL, detail, advice)
    return _result(name, title, OK, f"registered at {ours}, secret set")


# -- public URL and links ----------------------------------------------------------------------


async def check_public_url(settings: Settings) -> CheckResult:
    """``/health`` through OCOP_PUBLIC_URL, from this process: DNS, TLS, proxy and bot all up."""
    title = "Public URL reachable (/health)"
    if not settings.public_url:
        return _result("public_url", title, SKIP, "OCOP_PUBLIC_URL not set (polling mode)")
    url = f"{settings.public_url}/health"
    advice = (
        "check DNS, the certificate, the reverse proxy (docs/deploy.md) and that `ocop-bot run` "
        "is running"
    )
    try:
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as resp:
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return _result("public_url", title, FAIL, f"{url}: {type(exc).__name__}", advice)
    if status != 200:
        return _result("public_url", title, FAIL, f"{url}: HTTP {status}", advice)
    if urlsplit(url).scheme != "https" and not _is_loopback(_host(url)):
        detail = f"{url} answers, but over plain HTTP"
        advice = "Telegram and Zalo deliver webhooks only to HTTPS: put TLS on the reverse proxy"
        return _result("public_url", title, WARN, detail, advice)
    return _result("public_url", title, OK, f"{url} answers")


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _is_private(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return host.endswith((".local", ".lan", ".internal"))


def check_links(settings: Settings) -> CheckResult:
    """Upload/download links sent to Zalo users must open on a phone."""
    title = "Links reachable from phones"
    if settings.zalo_bot_token is None:
        return _result("links", title, SKIP, "Zalo off: no links are sent")
    advice = "set OCOP_PUBLIC_URL to this server's public HTTPS address"
    base = settings.public_url or f"http://{settings.web_host}:{settings.web_port}"
    host = _host(base)
    if _is_loopback(host):
        detail = f"Zalo users would get upload links on {base}, which no phone can open"
        return _result("links", title, FAIL, detail, advice)
    if _is_private(host):
        detail = f"links on {base} open only on the same local network"
        return _result("links", title, WARN, detail, advice)
    return _result("links", title, OK, f"links on {base}")


# -- plans, clock, process layout --------------------------------------------------------------


def check_plans(settings: Settings) -> CheckResult:
    from ocop_core.plans import PlanRegistry, PlanValidationError

    title = "Plan files valid"
    try:
        registry = PlanRegistry([settings.plans_dir])
    except PlanValidationError as exc:
        advice = "fix the file (`ocop-bot plan load FILE --check` explains) or remove it"
        return _result("plans", title, FAIL, str(exc), advice)
    installed = len(list(settings.plans_dir.glob("*.toml"))) if settings.plans_dir.is_dir() else 0
    detail = f"{len(registry.plans())} plan(s), {installed} installed in {settings.plans_dir}"
    return _result("plans", title, OK, detail)


SKEW_WARN, SKEW_FAIL = 60.0, 600.0  # seconds off the platform's clock


def check_clock(
    settings: Settings, now: datetime | None = None, reference: tuple[str, datetime] | None = None
) -> CheckResult:
    """Deadlines and reminder hours are counted in OCOP_TIMEZONE on the system clock, and links
    expire by it: compare it with a platform's clock (``reference``: host and its time)."""
    title = "Clock and time zone"
    local = (now or datetime.now(settings.tz)).astimezone(settings.tz)
    detail = f"{local:%Y-%m-%d %H:%M} in {settings.timezone} (UTC{local:%z})"
    ntp = "set the system clock and keep it synchronised (e.g. `timedatectl set-ntp true`)"
    if local.year < 2025:
        return _result("clock", title, FAIL, f"the system clock reads {detail}", ntp)
    if reference is not None:
        host, theirs = reference
        skew = (local - theirs).total_seconds()
        detail += f"; {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} {host}"
        if abs(skew) > SKEW_FAIL:
            return _result("clock", title, FAIL, detail, ntp)
        if abs(skew) > SKEW_WARN:
            return _result("clock", title, WARN, detail, ntp)
    if settings.timezone != "Asia/Ho_Chi_Minh":
        advice = "OCOP deadlines are Vietnam time: set OCOP_TIMEZONE=Asia/Ho_Chi_Minh"
        return _result("clock", title, WARN, detail, advice)
    return _result("clock", title, OK, detail)


async def platform_time(settings: Settings) -> tuple[str, datetime] | None:
    """The ``Date`` header of the configured platform's API server (Telegram, else Zalo)."""
    if settings.telegram_token:
        url = settings.telegram_api_url
    elif settings.zalo_bot_token:
        url = settings.zalo_api_url
    else:
        return None
    parts = urlsplit(url)
    try:
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.head(f"{parts.scheme}://{parts.netloc}/", allow_redirects=False) as resp,
        ):
            header = resp.headers.get("Date")
        return (parts.hostname or "", parsedate_to_datetime(header)) if header else None
    except (aiohttp.ClientError, TimeoutError, OSError, TypeError, ValueError):
        return None  # the token checks report an unreachable platform


def check_quiet_hours(settings: Settings) -> CheckResult:
    title = "Quiet hours for reminders"
    if settings.quiet_hours.strip().lower() == "off":
        detail = "OCOP_QUIET_HOURS=off: reminders may be sent in the middle of the night"
        advice = "set OCOP_QUIET_HOURS, e.g. 20:00-07:00"
        return _result("quiet_hours", title, WARN, detail, advice)
    return _result("quiet_hours", title, OK, f"no reminders {settings.quiet_hours}")


def check_processes(settings: Settings, running: list[str] | None = None) -> CheckResult:
    """SQLite serves one process well; several processes writing need PostgreSQL."""
    title = "Database fits the number of processes"
    pids = running if running is not None else running_processes(settings.data_dir)
    if not is_sqlite(settings.database_url):
        return _result("processes", title, OK, f"PostgreSQL, {len(pids)} process(es) running")
    if len(pids) > 1:
        detail = f"SQLite shared by {len(pids)} running bot processes (pids {', '.join(pids)})"
        advice = "run one process on SQLite, or move to PostgreSQL (docs/deploy.md)"
        return _result("processes", title, WARN, detail, advice)
    return _result("processes", title, OK, f"SQLite, {len(pids)} process(es) running")


def _pid_dir(data_dir: Path) -> Path:
    return data_dir / "run"


def running_processes(data_dir: Path) -> list[str]:
    """Live ``ocop-bot run`` processes on this data directory: "pid" on this host, "host/pid" on
    another one sharing the directory (taken as alive). Stale files of this host are removed."""
    here = socket.gethostname()
    alive = []
    folder = _pid_dir(data_dir)
    for file in sorted(folder.glob("*.pid")) if folder.is_dir() else []:
        host, _, pid = file.stem.rpartition("-")
        if not pid.isdigit():
            continue
        if host != here:
            alive.append(f"{host}/{pid}")
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            file.unlink(missing_ok=True)
            continue
        except PermissionError:
            pass  # alive, another user's
        alive.append(pid)
    return alive


def register_process(data_dir: Path) -> Path:
    """Mark this process as a running bot (for the SQLite warning); remove the file at exit."""
    folder = _pid_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{socket.gethostname()}-{os.getpid()}.pid"
    marker.write_text(str(os.getpid()))
    return marker


# -- all together ------------------------------------------------------------------------------


async def run_checks(settings: Settings) -> list[CheckResult]:
    results = [await check_database(settings), check_data_dir(settings)]
    results += await check_telegram(settings)
    results += await check_zalo(settings)
    results += [await check_public_url(settings), check_links(settings)]
    clock = check_clock(settings, reference=await platform_time(settings))
    results += [check_plans(settings), clock, check_quiet_hours(settings)]
    results.append(check_processes(settings))
    return results


def startup_warnings(settings: Settings, running: list[str] | None = None) -> list[str]:
    """What doctor would flag as dangerous, from the settings alone (no network): plain lines."""
    checks = [check_links(settings), check_processes(settings, running)]
    checks.append(check_quiet_hours(settings))
    if settings.public_url and settings.telegram_token and not settings.telegram_webhook_secret:
        checks.append(_result("telegram.webhook", "", FAIL, *_NO_TELEGRAM_SECRET))
    return [
        f"Warning: {c.detail}. {c.advice[:1].upper()}{c.advice[1:]}."
        for c in checks
        if c.status in (WARN, FAIL)
    ]


def announce_startup(settings: Settings, port: int, out: TextIO = sys.stdout) -> None:
    """``ocop-bot run``, once the web server listens on ``port``: mark this process as running
    and print each start-up warning once."""
    marker = register_process(settings.data_dir)
    atexit.register(marker.unlink, missing_ok=True)
    actual = settings.model_copy(update={"web_port": port})
    for line in startup_warnings(actual, running_processes(settings.data_dir)):
        print(line, file=out, flush=True)
