"""Plain-text rendering of a plan for the CLI (``plan show``)."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

from ocop_core.i18n import N_, translate
from ocop_core.plans.models import Milestone, Plan

__all__ = ["format_date", "render_plan", "target_range"]

_COLUMNS = (
    N_("plan.col.due"),
    N_("plan.col.starts"),
    N_("plan.col.level"),
    N_("plan.col.audience"),
    N_("plan.col.milestone"),
)


def format_date(d: date | None) -> str:
    """Vietnamese day-first style, the way the plans themselves write dates."""
    return d.strftime("%d/%m/%Y") if d else "—"


def _t(key: str, locale: str, **params: Any) -> str:
    try:
        return translate(key, locale, **params)
    except FileNotFoundError:
        # No catalog yet (fresh checkout): show the key, as translate() does for unknown keys.
        return key.format(**params) if params else key


def _row(m: Milestone, locale: str) -> list[str]:
    return [
        format_date(m.due),
        format_date(m.starts),
        _t(f"plan.level.{m.level}", locale),
        ", ".join(_t(f"audience.{a}", locale) for a in m.audience),
        _t(f"milestone.{m.kind}", locale),
    ]


def render_plan(plan: Plan, locale: str) -> str:
    """A table of the milestones, each followed by its own title and the section it quotes."""
    header = [_t(key, locale) for key in _COLUMNS]
    rows = [_row(m, locale) for m in plan.milestones]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [
        plan.title,
        _t(
            "plan.render.meta",
            locale,
            province=plan.province_name,
            code=plan.province_code,
            year=plan.year,
            ruleset=plan.ruleset,
            plan_id=plan.id,
        ),
        _t("plan.render.source", locale, source=plan.source),
        "",
        line(header),
        line(["-" * w for w in widths]),
    ]
    for m, cells in zip(plan.milestones, rows, strict=True):
        out.append(line(cells))
        out.append(f"    {m.title(locale)} ({m.source})")
        if m.inferred:
            out.append("    " + _t("rounds.plan.inferred", locale, reason=m.inferred))
    out.extend(_target_lines(plan, locale))
    return unicodedata.normalize("NFC", "\n".join(out)) + "\n"


def target_range(low: float, high: float | None, unit: str) -> str:
    """ "20", "25–30" or "50 %": how a goal reads in the plan."""
    text = f"{low:g}" if high is None else f"{low:g}–{high:g}"
    return f"{text} %" if unit == "percent" else text


def _target_lines(plan: Plan, locale: str) -> list[str]:
    if not plan.targets:
        return []
    out = ["", _t("rounds.plan.targets", locale, year=plan.year)]
    for target in plan.targets:
        goal = target_range(target.min, target.max, target.unit)
        out.append(f"  - {goal}: {target.title(locale)} ({target.source})")
    return out
