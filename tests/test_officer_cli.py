"""``ocop-bot officer invite|invites|revoke`` as the operator runs them (real processes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_cli import ocop

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("officer-cli") / "var"
    done = ocop(path, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    return path


def test_invite_list_revoke(data_dir: Path) -> None:
    made = ocop(data_dir, "officer", "invite", "--commune", "03390", "--days", "3")
    assert made.returncode == 0, made.stderr
    code = made.stdout.splitlines()[0]
    assert CODE.match(code), made.stdout  # short and typeable: 8 symbols, no I/L/O/U
    assert f"/canbo {code}" in made.stdout and "Xã Bình Lư" in made.stdout
    listed = ocop(data_dir, "officer", "invites")
    assert listed.returncode == 0 and "commune" in listed.stdout and "open" in listed.stdout
    assert code not in listed.stdout  # stored hashed: never shown again
    revoked = ocop(data_dir, "officer", "revoke", code.lower())
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    listed = ocop(data_dir, "officer", "invites")
    assert "revoked" in listed.stdout
    assert "open" not in ocop(data_dir, "officer", "invites", "--open").stdout.split("\n", 1)[1]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["officer", "invite", "--commune", "99999"], "99999"),
        (["officer", "invite", "--commune", "03390", "--days", "0"], "1 đến 90"),
        (["officer", "revoke", "ZZZZ-ZZZZ"], "Mã mời không đúng"),
    ],
)
def test_refusals_are_one_line(data_dir: Path, args: list[str], complaint: str) -> None:
    out = ocop(data_dir, *args)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("ocop-bot:")
    assert complaint in out.stderr


def test_province_invite_without_commune(data_dir: Path) -> None:
    made = ocop(data_dir, "officer", "invite", "--role", "province", "--province", "12")
    assert made.returncode == 0, made.stderr
    assert CODE.match(made.stdout.splitlines()[0])
    assert "province for the province of Lai Châu, province code 12" in made.stdout, made.stdout
    unknown = ocop(data_dir, "officer", "invite", "--role", "province", "--province", "99")
    assert unknown.returncode == 1 and "99" in unknown.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["officer", "invite", "--role", "province"],
        ["officer", "invite"],
        ["officer", "invite", "--province", "12"],
    ],
)
def test_invite_scope_usage_errors(data_dir: Path, args: list[str]) -> None:
    out = ocop(data_dir, *args)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("ocop-bot:")
    assert "--province" in out.stderr or "--commune" in out.stderr
