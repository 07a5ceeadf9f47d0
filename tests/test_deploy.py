"""docs/deploy.md works: its nginx and systemd files parse, its backup and restore commands run
against the local PostgreSQL with the same row counts, two processes share one database."""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import crossplane
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import build_web_app, prepare_database
from bot.handlers.upload_page import MAX_UPLOAD
from bot.settings import Settings
from ocop_core.db import make_engine
from tests.botprocess import BotProcess
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDE = DOCS / "deploy.md"
NGINX = DOCS / "nginx" / "ocop-bot.conf"
UNITS = sorted((DOCS / "systemd").glob("*"))
BIN = Path(sys.executable).parent / "ocop-bot"


def doc_block(marker: str) -> str:
    """The fenced block that follows ``<!-- marker -->`` in docs/deploy.md."""
    guide = GUIDE.read_text(encoding="utf-8")
    found = re.search(rf"<!-- {re.escape(marker)} -->\n```\w*\n(.*?)```", guide, re.DOTALL)
    assert found, f"no block after <!-- {marker} --> in {GUIDE}"
    return found.group(1)


# -- nginx -------------------------------------------------------------------------------------


def _main_conf(tmp_path: Path, site: Path) -> Path:
    """The snippet goes in the http block of a main nginx.conf, as conf.d/ files do."""
    main = tmp_path / "nginx.conf"
    temp = "".join(
        f"    {kind}_temp_path {tmp_path}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\n{temp}    access_log {tmp_path}/access.log;\n"
        f"    include {site};\n}}\n",
        encoding="utf-8",
    )
    return main


def test_nginx_example_parses(tmp_path: Path) -> None:
    parsed = crossplane.parse(str(_main_conf(tmp_path, NGINX)))
    assert parsed["status"] == "ok", parsed["errors"]
    site = next(c for c in parsed["config"] if c["file"] == str(NGINX))["parsed"]
    upstream = next(d for d in site if d["directive"] == "upstream")
    assert len([d for d in upstream["block"] if d["directive"] == "server"]) >= 2
    https = [d for d in site if d["directive"] == "server"][1]["block"]
    limit = next(d for d in https if d["directive"] == "client_max_body_size")["args"][0]
    # A whole upload (with its multipart wrapping) passes nginx; other bodies the bot caps lower.
    assert int(limit.rstrip("m")) * 2**20 >= MAX_UPLOAD + 2**20
    assert build_web_app(Settings(_env_file=None))._client_max_size < MAX_UPLOAD  # type: ignore[call-arg]
    locations = {" ".join(d["args"]) for d in https if d["directive"] == "location"}
    assert {"/link/", "/", "= /metrics"} <= locations


def test_nginx_accepts_the_example(tmp_path: Path) -> None:
    """``nginx -t`` on the example when nginx is installed (certificate and logs made local)."""
    nginx, openssl = shutil.which("nginx"), shutil.which("openssl")
    if not nginx or not openssl:
        pytest.skip("nginx or openssl not installed: `nginx -t` skipped (crossplane parsed it)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=ocop.example.gov.vn", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    site = NGINX.read_text(encoding="utf-8")
    site = site.replace("/etc/letsencrypt/live/ocop.example.gov.vn/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/ocop.example.gov.vn/privkey.pem", str(key))
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    local = tmp_path / "ocop-bot.conf"
    local.write_text(site, encoding="utf-8")
    main = _main_conf(tmp_path, local)
    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr


# -- systemd -----------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_unit_parses(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit, encoding="utf-8")
    assert parser.has_section("Unit") and parser["Unit"].get("Description")
    if unit.suffix == ".service":
        start = parser["Service"]["ExecStart"].split()[0]
        assert start.startswith("/opt/ocop-bot/")
        local = ROOT / start.removeprefix("/opt/ocop-bot/")
        assert local.exists() or start.endswith("/.venv/bin/ocop-bot"), start


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the units, with /opt/ocop-bot pointing at this checkout."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze not installed (configparser checked the units)")
    names = {"ocop-bot@.service": "ocop-bot@8081.service"}
    for unit in UNITS:
        content = unit.read_text(encoding="utf-8")
        content = content.replace("/opt/ocop-bot/.venv/bin/ocop-bot", str(BIN))
        content = content.replace("/opt/ocop-bot/", f"{ROOT}/")
        (tmp_path / names.get(unit.name, unit.name)).write_text(content, encoding="utf-8")
    files = sorted(str(p) for p in tmp_path.iterdir())
    done = subprocess.run([analyze, "verify", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    problems = [
        line
        for line in done.stderr.splitlines()
        if "ocop-bot" in line and "Documentation" not in line and "file://" not in line
    ]
    assert not problems, problems


# -- backups -----------------------------------------------------------------------------------


def test_guide_shows_the_backup_script_as_shipped() -> None:
    assert doc_block("file: docs/ocop-backup.sh") == (DOCS / "ocop-backup.sh").read_text()
    assert os.access(DOCS / "ocop-backup.sh", os.X_OK)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _seed_and_count(url: str) -> dict[str, int]:
    """Migrate the source, make sure a few tables hold rows, count every table."""
    engine = make_engine(url)
    try:
        await prepare_database(engine)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO account (channel, platform_user_id, chat_id, display_name, "
                    "phone_verified, locale, role, status, created_at) VALUES ('terminal', :u, "
                    ":u, 'backup drill', false, 'vi', 'producer', 'active', now())"
                ),
                {"u": f"drill-{uuid.uuid4().hex[:8]}"},
            )
            tables = await conn.execute(
                text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                    "'public' AND table_type = 'BASE TABLE' ORDER BY 1"
                )
            )
            counts = {}
            for (name,) in tables.all():
                counts[name] = (await conn.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar()
        return counts
    finally:
        await engine.dispose()


async def _database_exists(url: str, name: str) -> bool:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            )
            return found.first() is not None
    finally:
        await engine.dispose()


async def test_backup_and_restore_drill(tmp_path: Path) -> None:
    """The guide's backup script, then its restore drill into a scratch database: the drill's
    row counts equal the counts taken before the backup, and the scratch database is gone."""
    if not PG_URL:
        pytest.skip("OCOP_TEST_DATABASE_URL not set: backup drill skipped")
    if not all(shutil.which(t) for t in ("pg_dump", "pg_restore", "psql", "createdb", "dropdb")):
        pytest.skip("PostgreSQL client tools (pg_dump…) not installed: backup drill skipped")
    before = await _seed_and_count(PG_URL)
    assert before["commune"] > 1000 and before["account"] >= 1
    source = _libpq(PG_URL)
    backups = tmp_path / "backups"
    env = {**os.environ, "PGURL": source, "BACKUP_DIR": str(backups)}
    backup = await asyncio.to_thread(
        subprocess.run,
        [str(DOCS / "ocop-backup.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert backup.returncode == 0, backup.stderr
    assert "backup written:" in backup.stdout and len(list(backups.glob("ocop-*.dump"))) == 1

    env_file = tmp_path / "backup.env"
    env_file.write_text(f"PGURL={source}\nBACKUP_DIR={backups}\n", encoding="utf-8")
    drill = f"ocop_drill_{uuid.uuid4().hex[:8]}"
    script = doc_block("test: restore-drill").replace("/etc/ocop-bot/backup.env", str(env_file))
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", script],
        env={k: v for k, v in os.environ.items() if k not in ("PGURL", "BACKUP_DIR")}
        | {"DRILL": drill},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"restore drill OK: {len(before)} tables, same row counts" in done.stdout
    restored = dict(
        (name, int(n))
        for name, n in (
            line.split("|")
            for line in (tmp_path / "drill-counts.txt").read_text().splitlines()
            if line
        )
    )
    assert restored == before
    assert not await _database_exists(PG_URL, drill)


# -- two processes on one PostgreSQL -----------------------------------------------------------


def _health(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
        return json.load(r)  # type: ignore[no-any-return]


async def test_two_processes_share_postgresql(pg_url: str, tmp_path: Path) -> None:
    env = {"OCOP_DATABASE_URL": pg_url}
    first, second = BotProcess(tmp_path / "var", env), BotProcess(tmp_path / "var", env)
    await first.start()
    try:
        await second.start()
        try:
            for bot in (first, second):
                assert bot.web_port and await asyncio.to_thread(_health, bot.web_port)
                assert "database: postgresql" in bot.log
                assert not any("SQLite shared" in line for line in bot.output)
            doctor = await asyncio.create_subprocess_exec(
                str(BIN),
                "doctor",
                "--json",
                env={k: v for k, v in os.environ.items() if not k.startswith("OCOP_")}
                | {"OCOP_DATA_DIR": str(tmp_path / "var"), **env},
                stdout=asyncio.subprocess.PIPE,
                cwd=tmp_path,
            )
            out, _ = await doctor.communicate()
            checks = {c["name"]: c for c in json.loads(out)["checks"]}
            assert checks["database"]["status"] == "ok"
            assert checks["processes"]["detail"] == "PostgreSQL, 2 process(es) running"
        finally:
            assert await second.stop() == 0
    finally:
        assert await first.stop() == 0


# -- settings file and first migration ---------------------------------------------------------


def test_example_env_file_is_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.settings import load_settings

    monkeypatch.chdir(tmp_path)
    for line in doc_block("test: env-file").splitlines():
        name, _, value = line.partition("=")
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert s.public_url and s.telegram_webhook_secret and s.database_url.startswith("postgresql")


async def test_migrate_and_check_commands(pg_url: str, tmp_path: Path) -> None:
    """Section 4 as written, with this checkout for /opt/ocop-bot, a local env file (the test
    database, no tokens) and no sudo: `db upgrade` migrates, `doctor` then passes."""
    env_file = tmp_path / "ocop-bot.env"
    env_file.write_text(
        f"OCOP_DATA_DIR={tmp_path / 'var'}\nOCOP_DATABASE_URL={_libpq(pg_url)}\n", encoding="utf-8"
    )
    script = (
        doc_block("test: migrate-and-check")
        .replace("sudo -u ocop ", "")
        .replace("/etc/ocop-bot/ocop-bot.env", str(env_file))
        .replace("/opt/ocop-bot/.venv/bin/ocop-bot", str(BIN))
    )
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", script],
        env={k: v for k, v in os.environ.items() if not k.startswith("OCOP_")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Database is at the latest schema (postgresql)" in done.stdout
    assert "✔ Database reachable and migrated: postgresql" in done.stdout
    assert "All needed checks passed" in done.stdout
