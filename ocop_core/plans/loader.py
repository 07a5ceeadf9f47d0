"""Reading plan files and choosing the plan that applies to a province and year."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pydantic

from ocop_core.errors import NotFound
from ocop_core.i18n import N_
from ocop_core.plans.errors import PlanValidationError
from ocop_core.plans.models import Plan
from ocop_core.plans.national import (
    NATIONAL_TEMPLATE,
    national_first_year,
    national_plan,
    parse_national_plan_id,
)

__all__ = ["BUILTIN_DIR", "PlanRegistry", "builtin_plan_files", "load_plan_file"]

BUILTIN_DIR = Path(__file__).resolve().parent

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_ARRAY_TABLE = re.compile(r"^\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]")
_TABLE = re.compile(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]")
_KEY = re.compile(r"^([A-Za-z0-9_-]+)\s*=\s*(.*)$")
_DATE_LIKE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})\b")


def builtin_plan_files() -> list[Path]:
    """The plan files shipped with the package (the national calendar template is not a plan)."""
    return sorted(p for p in BUILTIN_DIR.glob("*.toml") if p != NATIONAL_TEMPLATE)


def load_plan_file(path: Path) -> Plan:
    """Read and validate one plan file; any problem raises :class:`PlanValidationError`."""
    name = path.name
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise PlanValidationError(name, "(file)", f"cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PlanValidationError(
            name, "(file)", f"not UTF-8 text (byte {exc.start}): save the file as UTF-8"
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        field, reason = _explain_toml_error(text, str(exc))
        raise PlanValidationError(name, field, reason) from None
    try:
        return Plan.model_validate(raw)
    except PlanValidationError as exc:
        raise PlanValidationError(name, exc.field, _at_line(text, exc.field, exc.reason)) from None
    except pydantic.ValidationError as exc:
        field, reason = _explain_pydantic_error(exc)
        raise PlanValidationError(name, field, _at_line(text, field, reason)) from None


_FIELD_PATH = re.compile(r"^(?:([A-Za-z_]+)\[(\d+)\]\.)?([A-Za-z_]+)")


def _at_line(text: str, field: str, reason: str) -> str:
    """The reason with the line of the file it is about, for the person editing the file."""
    match = _FIELD_PATH.match(field)
    if match is None or "(line " in reason:
        return reason
    table, index, key = match.group(1), match.group(2), match.group(3)
    seen, inside = -1, table is None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if header := _ARRAY_TABLE.match(stripped) or _TABLE.match(stripped):
            if table is None:
                break  # top-level keys come before the first table
            seen += header.group(1) == table
            inside = header.group(1) == table and seen == int(index)
            continue
        if inside and (key_match := _KEY.match(stripped)) and key_match.group(1) == key:
            return f"{reason} (line {number})"
    return reason


def _explain_toml_error(text: str, message: str) -> tuple[str, str]:
    """Turn tomllib's "(at line N, column M)" into a field path such as ``milestones[2].due``."""
    match = _TOML_POSITION.search(message)
    if match is None:
        return "(end of file)", f"TOML syntax error: {message}"
    lineno = int(match.group(1))
    table: str | None = None
    counts: dict[str, int] = {}
    key: str | None = None
    value = ""
    for number, line in enumerate(text.splitlines()[:lineno], start=1):
        stripped = line.strip()
        if m := _ARRAY_TABLE.match(stripped):
            counts[m.group(1)] = counts.get(m.group(1), -1) + 1
            table = f"{m.group(1)}[{counts[m.group(1)]}]"
        elif m := _TABLE.match(stripped):
            table = m.group(1)
        elif number == lineno and (m := _KEY.match(stripped)):
            key, value = m.group(1), m.group(2)
    if key is None:
        return f"line {lineno}", f"TOML syntax error: {message}"
    field = f"{table}.{key}" if table else key
    if date_match := _DATE_LIKE.match(value):
        # tomllib only says "Invalid date"; say which date and why (e.g. 30 February).
        try:
            date.fromisoformat(date_match.group(1))
        except ValueError as exc:
            return field, f"impossible date {date_match.group(1)}: {exc} (line {lineno})"
    return field, f"TOML syntax error: {message}"


def _explain_pydantic_error(exc: pydantic.ValidationError) -> tuple[str, str]:
    error = exc.errors(include_url=False)[0]
    loc = error["loc"]
    field = _path(loc) or "(top level)"
    given: Any = error.get("input")
    if error["type"] == "literal_error":
        # "unknown stage 'paid'; expected one of …" reads better than "Input should be …".
        what = next((str(p) for p in reversed(loc) if isinstance(p, str)), "value")
        expected = error.get("ctx", {}).get("expected", "")
        return field, f"unknown {what} {given!r}; expected one of {expected}"
    reason = error["msg"].removeprefix("Value error, ")
    if isinstance(given, str | int | float | date) and not isinstance(given, bool):
        reason = f"{reason} (got {given!r})"
    return field, reason


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class PlanRegistry:
    """The plans the bot knows: the built-in files plus every ``*.toml`` in ``extra_dirs``.

    A file in an extra directory replaces a built-in plan with the same id or the same province and
    year (a province can publish its own calendar). A directory that does not exist yet holds no
    plans. Loading is all-or-nothing: one bad file raises :class:`PlanValidationError` and no
    registry is built.
    """

    def __init__(self, extra_dirs: Sequence[Path] = ()) -> None:
        builtin = [load_plan_file(p) for p in builtin_plan_files()]
        extra: list[tuple[Path, Plan]] = []
        for directory in extra_dirs:
            if not directory.exists():
                continue  # e.g. the data dir's plans/ before any plan was installed: no extra plans
            if not directory.is_dir():
                raise PlanValidationError(directory.name, "(directory)", "not a directory")
            extra.extend((p, load_plan_file(p)) for p in sorted(directory.glob("*.toml")))

        by_id: dict[str, Plan] = {p.id: p for p in builtin}
        claimed: dict[str, Path] = {}  # plan id or "code/year" → extra file that defined it
        for path, plan in extra:
            slot = f"{plan.province_code}/{plan.year}"
            for key, field in ((plan.id, "id"), (slot, "province_code")):
                if key in claimed:
                    raise PlanValidationError(
                        path.name, field, f"{key!r} is already defined by {claimed[key].name}"
                    )
                claimed[key] = path
            by_id = {
                k: p
                for k, p in by_id.items()
                if k != plan.id and (p.province_code, p.year) != (plan.province_code, plan.year)
            }
            by_id[plan.id] = plan
        self._by_id = by_id
        self._by_slot = {(p.province_code, p.year): p for p in by_id.values()}

    def plans(self) -> list[Plan]:
        """Plans loaded from files, by year then province (national plans are made on demand)."""
        return sorted(self._by_id.values(), key=lambda p: (p.year, p.province_code, p.id))

    def get(self, plan_id: str) -> Plan:
        plan = self._by_id.get(plan_id)
        if plan is not None:
            return plan
        parsed = parse_national_plan_id(plan_id)
        if parsed is not None:
            return national_plan(*parsed)
        raise NotFound(N_("error.plan_not_found"), plan=plan_id)

    def file_plan(self, province_code: str, year: int) -> Plan | None:
        """The plan file for that province and year, if one was loaded (no national fallback)."""
        return self._by_slot.get((province_code, year))

    def plan_for(self, province_code: str, year: int) -> Plan:
        """The file plan for that province and year, else the national calendar (from 2026).

        Raises ``NotFound`` (``error.plan_not_found``) when neither applies.
        """
        plan = self._by_slot.get((province_code, year))
        if plan is not None:
            return plan
        if year >= national_first_year():
            return national_plan(province_code, year)
        raise NotFound(N_("error.plan_not_found"), province=province_code, year=year)
