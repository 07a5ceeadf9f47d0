"""The ``ocop-bot`` command as an operator runs it: real processes, real files."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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
    listed = ocop(data_dir, "plan", "list")
    assert listed.returncode == 0 and "lai-chau-2024" in listed.stdout
    shown = ocop(data_dir, "plan", "show", "12", "2024")
    assert shown.returncode == 0 and "30/10/2024" in shown.stdout and "30/11/2024" in shown.stdout
    national = ocop(data_dir, "plan", "show", "12", "2027")
    assert national.returncode == 0 and "30/04/2027" in national.stdout
    bad = tmp_path / "bad-plan.toml"
    bad.write_text(
        (Path(__file__).parent.parent / "ocop_core" / "plans" / "lai-chau-2024.toml")
        .read_text(encoding="utf-8")
        .replace("2024-10-30", "2024-02-30", 1),
        encoding="utf-8",
    )
    refused = ocop(data_dir, "plan", "load", str(bad))
    assert refused.returncode == 1
    assert "bad-plan.toml" in refused.stderr
    assert not (data_dir / "plans" / "lai-chau-2024.toml").exists()


def test_officer_add_and_unknown_commune(data_dir: Path) -> None:
    ok = ocop(data_dir, "officer", "add", "--commune", "03390", "--telegram-id", "4242")
    assert ok.returncode == 0, ok.stderr
    assert "commune" in ok.stdout
    bad = ocop(data_dir, "officer", "add", "--commune", "99999", "--zalo-id", "77")
    assert bad.returncode == 1
    assert "99999" in bad.stderr and "xã" in bad.stderr.lower()


def test_dossier_commands(data_dir: Path) -> None:
    listed = ocop(data_dir, "dossier", "list")
    assert listed.returncode == 0 and "0 dossier(s)" in listed.stdout
    missing = ocop(data_dir, "dossier", "show", "1226-ZZZZZ")
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
