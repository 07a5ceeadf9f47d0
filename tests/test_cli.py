"""The ``ocop-bot`` command as an operator runs it: real files; real processes where being one
matters (start-up, the installed entry point, ``run``), the same ``main()`` in this process for
the rest (``ocop_here``: a new Python process costs seconds and proves nothing more there)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from unittest import mock

import pytest

from bot.cli import main

BIN = Path(sys.executable).parent / "ocop-bot"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCOP_")}
    env.update(OCOP_DATA_DIR=str(data_dir), OCOP_WEB_PORT="0", **extra)
    return env


def ocop(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=data_dir.parent,
    )


def ocop_here(data_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """``ocop(data_dir, *args)`` without a new process: the same environment (plus ``extra``
    OCOP_ variables), working directory and exit code, stdout and stderr captured. Logging is
    left as pytest set it up. From a test's event loop: ``await asyncio.to_thread(ocop_here, …)``
    (the command runs its own loop)."""
    out, err = io.StringIO(), io.StringIO()
    env = {k: v for k, v in _env(data_dir, **extra).items() if k.startswith("OCOP_")}
    with (
        mock.patch.dict(os.environ, clear=False),
        mock.patch("bot.cli.setup_logging"),
        contextlib.chdir(data_dir.parent),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        for key in [k for k in os.environ if k.startswith("OCOP_")]:
            del os.environ[key]
        os.environ.update(env)
        try:
            main(list(args))
            code = 0
        except SystemExit as exited:
            code = exited.code if isinstance(exited.code, int) else int(exited.code is not None)
    return subprocess.CompletedProcess(["ocop-bot", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "var"
    done = ocop(path, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    return path


def test_version(data_dir: Path) -> None:
    out = ocop(data_dir, "version")
    assert out.returncode == 0 and out.stdout.startswith("ocop-bot ")


@pytest.mark.parametrize(
    "args",
    [
        ["officer", "add", "--commune", "03390"],
        ["plan", "show", "12"],
        ["plan", "show", "12", "next-year"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """In process: argparse refuses before anything starts, a subprocess would add nothing."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.strip().count("\n") == 0 and err.startswith("ocop-bot:")


def test_the_installed_command_refuses_bad_arguments_too(data_dir: Path) -> None:
    out = ocop(data_dir, "frobnicate")
    assert out.returncode == 2 and out.stderr.startswith("ocop-bot:")


def test_plan_commands(data_dir: Path, tmp_path: Path) -> None:
    listed = ocop_here(data_dir, "plan", "list")
    assert listed.returncode == 0 and "lai-chau-2024" in listed.stdout
    shown = ocop_here(data_dir, "plan", "show", "12", "2024")
    assert shown.returncode == 0 and "30/10/2024" in shown.stdout and "30/11/2024" in shown.stdout
    national = ocop_here(data_dir, "plan", "show", "12", "2027")
    assert national.returncode == 0 and "30/04/2027" in national.stdout
    bad = tmp_path / "bad-plan.toml"
    bad.write_text(
        (Path(__file__).parent.parent / "ocop_core" / "plans" / "lai-chau-2024.toml")
        .read_text(encoding="utf-8")
        .replace("2024-10-30", "2024-02-30", 1),
        encoding="utf-8",
    )
    refused = ocop_here(data_dir, "plan", "load", str(bad))
    assert refused.returncode == 1
    assert "bad-plan.toml" in refused.stderr
    assert not (data_dir / "plans" / "lai-chau-2024.toml").exists()


def test_officer_add_and_unknown_commune(data_dir: Path) -> None:
    ok = ocop_here(data_dir, "officer", "add", "--commune", "03390", "--telegram-id", "4242")
    assert ok.returncode == 0, ok.stderr
    assert "commune" in ok.stdout
    bad = ocop_here(data_dir, "officer", "add", "--commune", "99999", "--zalo-id", "77")
    assert bad.returncode == 1
    assert "99999" in bad.stderr and "xã" in bad.stderr.lower()


def test_dossier_commands(data_dir: Path) -> None:
    listed = ocop_here(data_dir, "dossier", "list")
    assert listed.returncode == 0 and "0 dossier(s)" in listed.stdout
    missing = ocop_here(data_dir, "dossier", "show", "1226-ZZZZZ")
    assert missing.returncode == 1 and "1226-ZZZZZ" in missing.stderr


def test_run_starts_without_token(tmp_path: Path) -> None:
    """The README's run command on a fresh data dir: SQLite, no token, channels reported."""
    log = tmp_path / "run.log"
    with log.open("w") as out:  # a file, not a pipe: an unread pipe would block the bot
        proc = subprocess.Popen(
            [str(BIN), "run"],
            env=_env(tmp_path / "var"),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and "Ready" not in log.read_text():
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
            text = log.read_text()
            assert "Telegram: not configured" in text and "Zalo: not configured" in text
            port = re.search(r"http://127\.0\.0\.1:(\d+)", text)
            assert port, text
            url = f"http://127.0.0.1:{port.group(1)}/health"
            with urllib.request.urlopen(url, timeout=10) as r:
                assert json.load(r) == {"ok": True}
            assert (tmp_path / "var" / "ocop.sqlite3").exists()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, log.read_text()[-3000:]


def test_doctor_as_an_operator_runs_it(data_dir: Path) -> None:
    """On the module's migrated database: JSON, exit 0; a bad variable: exit 1, named."""
    done = ocop(data_dir, "doctor", "--json")
    payload = json.loads(done.stdout)
    assert done.returncode == (0 if payload["ok"] else 1), done.stderr
    assert {c["name"]: c["status"] for c in payload["checks"]}["database"] == "ok"
    bad = subprocess.run(
        [str(BIN), "doctor"],
        env=_env(data_dir, OCOP_QUIET_HOURS="sometimes"),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=data_dir.parent,
    )
    assert bad.returncode == 1
    assert "✘ Settings parse: configuration error: OCOP_QUIET_HOURS" in bad.stdout


def test_dossier_add_prints_round_ruleset_and_next_date(data_dir: Path) -> None:
    common = ["--criteria-set", "4", "--producer-name", "HTX Ong mật", "--phone", "0912345678"]
    today = ["--now", "2026-12-01T09:00:00+07:00"]
    lai_chau = ocop_here(
        data_dir, "dossier", "add", "--commune", "03390", "--product", "Mật ong", *common, *today
    )
    assert lai_chau.returncode == 0, lai_chau.stderr
    assert "qd26-2026" in lai_chau.stdout and "national-12-2027#1" in lai_chau.stdout
    assert "next date: 08/04/2027" in lai_chau.stdout
    # A former Hà Nam commune (Phường Phủ Lý, Ninh Bình today), on paper, filed 02/09/2024.
    ha_nam = ocop_here(
        data_dir, "dossier", "add", "--commune", "13291", "--product", "Bánh cuốn", *common,
        "--filed-on", "2024-09-02", *today,
    )  # fmt: skip
    assert ha_nam.returncode == 0, ha_nam.stderr
    assert "ha-nam-2024" in ha_nam.stdout and "qd148-2023" in ha_nam.stdout
    assert "next date: 31/10/2024" in ha_nam.stdout
    code = ha_nam.stdout.split()[0]
    shown = ocop_here(data_dir, "dossier", "show", code)
    assert shown.returncode == 0, shown.stderr
    assert "ha-nam-2024#1" in shown.stdout and "assign_round: - → ha-nam-2024#1" in shown.stdout


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (["--commune", "99999"], "99999"),
        (["--criteria-set", "44"], "44"),
        (["--filed-on", "2026-12-02"], "02/12/2026"),
        (["--phone", "12345"], "di động"),
    ],
)
def test_dossier_add_bad_input_one_line_nothing_stored(
    data_dir: Path, change: list[str], says: str
) -> None:
    args = {
        "--commune": "03408",
        "--product": "Chè",
        "--criteria-set": "4",
        "--producer-name": "Hộ C",
        "--phone": "0912345678",
        "--now": "2026-12-01T09:00:00+07:00",
    }
    args.update(dict(zip(change[::2], change[1::2], strict=True)))
    before = ocop_here(data_dir, "dossier", "list").stdout.splitlines()[-1]
    out = ocop_here(data_dir, "dossier", "add", *[x for kv in args.items() for x in kv])
    assert out.returncode == 1
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("ocop-bot:")]
    assert len(lines) == 1 and says in lines[0]
    assert ocop_here(data_dir, "dossier", "list").stdout.splitlines()[-1] == before


def test_plan_show_by_name_and_progress(data_dir: Path) -> None:
    ha_nam = ocop_here(data_dir, "plan", "show", "Hà Nam", "2024")
    assert ha_nam.returncode == 0 and "ha-nam-2024" in ha_nam.stdout
    assert "ước tính" in ha_nam.stdout and "142–152" in ha_nam.stdout
    ninh_binh = ocop_here(data_dir, "plan", "show", "ninh", "binh", "2027")
    assert ninh_binh.returncode == 0 and "national-37-2027" in ninh_binh.stdout
    progress = ocop_here(data_dir, "plan", "progress", "lai chau", "2024")
    assert progress.returncode == 0, progress.stderr
    assert "20" in progress.stdout and "34" in progress.stdout
