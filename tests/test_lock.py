"""The lock file installs every dependency pyproject.toml names (re-lock with `python3 tasks.py
lock` after adding one), so a fresh machine gets exactly what was tested."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_every_declared_dependency_is_locked() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    extras = project["optional-dependencies"]
    declared = {_name(r) for r in [*project["dependencies"], *extras["dev"], *extras["postgres"]]}
    lines = (ROOT / "requirements" / "lock.txt").read_text("utf-8").splitlines()
    locked = {
        _name(line)
        for line in lines
        if line and not line.startswith((" ", "#", "-")) and "==" in line
    }
    assert declared <= locked, f"not in requirements/lock.txt: {sorted(declared - locked)}"


def test_every_runtime_dependency_has_an_upper_bound() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    unbounded = [r for r in project["dependencies"] if "<" not in r]
    assert unbounded == []
