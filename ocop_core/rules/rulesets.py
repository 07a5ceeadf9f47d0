"""Versioned evaluation rules: star bands, levels, certificate validity, round calendar."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Literal, Self

from pydantic import Field, model_validator

from ocop_core.errors import ValidationError
from ocop_core.i18n import N_

from ._data import Frozen, read_toml
from .dates import add_months

LevelCode = Literal["commune", "district", "province", "central"]
Points = float | int | Decimal

# One file per legal version; the file stem must equal the ruleset id.
RULESET_FILES: tuple[str, ...] = ("qd148-2023.toml", "qd1489-2025.toml", "qd26-2026.toml")


def _plain(x: float) -> int | float:
    # "0", not "0.0", when a bound is shown to a person.
    return int(x) if x.is_integer() else x


class Level(Frozen):
    """One tier a dossier passes through."""

    code: LevelCode
    scores: bool  # the commune checks the dossier but gives no points
    certifies: tuple[int, ...] = ()  # stars whose certificate this level issues
    forward_threshold: float | None = None  # points >= this go on to the next level
    check_working_days: int | None = Field(default=None, ge=1)

    @property
    def label_key(self) -> str:
        return f"level.{self.code}"

    @model_validator(mode="after")
    def _scoring_only(self) -> Self:
        if not self.scores and (self.certifies or self.forward_threshold is not None):
            raise ValueError(f"level {self.code} gives no points, so it cannot certify or forward")
        return self


class StarBand(Frozen):
    stars: int = Field(ge=1)
    min_points: float = Field(ge=0)


class MonthDay(Frozen):
    """A recurring deadline; ``year_offset`` = 1 when it falls in the year after the round's."""

    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    year_offset: int = Field(default=0, ge=0, le=1)

    @model_validator(mode="after")
    def _real_day(self) -> Self:
        # 29/02 would vanish in three years out of four, so a legal deadline cannot be one.
        date(2001, self.month, self.day)
        return self

    def in_year(self, round_year: int) -> date:
        return date(round_year + self.year_offset, self.month, self.day)


class CalendarRound(Frozen):
    """One evaluation round; each date is a "trước ngày" (before) deadline."""

    number: int = Field(ge=1)
    commune_forward_before: MonthDay  # commune sends checked dossiers to the province
    province_close_before: MonthDay  # provincial council finishes the round
    central_file_before: MonthDay  # province files >= 90-point products with the Ministry
    central_close_before: MonthDay  # central council finishes the round

    def deadlines(self, round_year: int) -> tuple[date, date, date, date]:
        """The four deadlines of this round in ``round_year``, in the order a dossier meets them."""
        return (
            self.commune_forward_before.in_year(round_year),
            self.province_close_before.in_year(round_year),
            self.central_file_before.in_year(round_year),
            self.central_close_before.in_year(round_year),
        )

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        d = self.deadlines(2001)
        if list(d) != sorted(d) or len(set(d)) != len(d):
            raise ValueError(f"round {self.number}: deadlines are not in chronological order")
        return self


class Calendar(Frozen):
    rounds: tuple[CalendarRound, ...] = Field(min_length=1)


class Ruleset(Frozen):
    """One legal version of the evaluation rules, read from its TOML file."""

    id: str
    title: str  # legal citation
    effective_from: date  # first filing day it governs
    filings_until: date | None = None  # last filing day it governs; None = to this day
    effective_until: date | None = None  # the day it lapses; None = still in force
    amends: str | None = None  # the ruleset this one amends (1489 amends 148)
    # Days a newer decision lets dossiers filed under older rules finish under them (Art. 11).
    transition_days: int | None = Field(default=None, gt=0)
    transition_reevaluation_days: int | None = Field(default=None, gt=0)
    max_points: int = Field(gt=0)
    certificate_min_stars: int = Field(ge=1)
    certificate_validity_months: int = Field(gt=0)
    reevaluation_opens_days_before: int | None = Field(default=None, gt=0)
    reevaluation_closes_days_before: int | None = Field(default=None, gt=0)
    reevaluation_decision_days: int | None = Field(default=None, gt=0)
    expiry_notice_days: int | None = Field(default=None, gt=0)
    star_bands: tuple[StarBand, ...] = Field(min_length=1)  # highest first
    levels: tuple[Level, ...] = Field(min_length=1)  # in the order a dossier travels
    calendar: Calendar | None = None

    @property
    def label_key(self) -> str:
        return f"ruleset.{self.id}"

    # ---- consistency of the data, checked once at load ----

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        bands = self.star_bands
        if [b.stars for b in bands] != list(range(len(bands), 0, -1)):
            raise ValueError("star bands must list stars N..1, highest first")
        mins = [b.min_points for b in bands]
        if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins) or mins[-1] != 0:
            raise ValueError("star band minimums must fall strictly and end at 0")
        if mins[0] > self.max_points:
            raise ValueError("top band starts above max_points")
        codes = [lv.code for lv in self.levels]
        if len(set(codes)) != len(codes):
            raise ValueError("duplicate level codes")
        if self.levels[-1].forward_threshold is not None:
            raise ValueError("the last level has nobody to forward to")
        certified = sorted(s for lv in self.levels for s in lv.certifies)
        if certified != list(range(self.certificate_min_stars, len(bands) + 1)):
            raise ValueError("each certifiable star rating needs exactly one certifying level")
        if self.filings_until is not None and self.filings_until < self.effective_from:
            raise ValueError("filings_until is before effective_from")
        window = (self.reevaluation_opens_days_before, self.reevaluation_closes_days_before)
        if (window[0] is None) != (window[1] is None):
            raise ValueError("re-evaluation window needs both ends or neither")
        if window[0] is not None and window[1] is not None and window[0] <= window[1]:
            raise ValueError("re-evaluation window must open before it closes")
        return self

    # ---- validity ----

    def governs_filing(self, filed_on: date) -> bool:
        """Whether a dossier filed on ``filed_on`` starts under this ruleset."""
        ends = self.filings_until
        return self.effective_from <= filed_on and (ends is None or filed_on <= ends)

    def in_force(self, d: date) -> bool:
        """Whether this ruleset still applies to some dossier on ``d`` (it has not lapsed)."""
        until = self.effective_until
        return self.effective_from <= d and (until is None or d <= until)

    @property
    def has_district(self) -> bool:
        return any(lv.code == "district" for lv in self.levels)

    # ---- points and stars ----

    def _checked(self, points: Points) -> Points:
        if isinstance(points, bool) or not isinstance(points, int | float | Decimal):
            raise TypeError(f"points must be a number, not {type(points).__name__}")
        finite = points.is_finite() if isinstance(points, Decimal) else math.isfinite(points)
        # NaN compares False with everything, so it must be refused before any comparison.
        floor = self.star_bands[-1].min_points
        if not finite or points < floor or points > self.max_points:
            raise ValidationError(
                N_("error.points_range"),
                points=points,
                min_points=_plain(floor),
                max_points=self.max_points,
            )
        return points

    def stars_for(self, points: Points) -> int:
        """The star rating of an averaged council score (Decimal and float compare exactly)."""
        p = self._checked(points)
        for band in self.star_bands:
            if p >= band.min_points:
                return band.stars
        raise AssertionError("unreachable: the lowest band starts at 0")

    def grants_certificate(self, stars: int) -> bool:
        """Only ratings from ``certificate_min_stars`` up get a decision and a certificate."""
        return stars >= self.certificate_min_stars

    # ---- levels ----

    def level(self, code: str) -> Level:
        for lv in self.levels:
            if lv.code == code:
                return lv
        raise ValidationError(N_("error.unknown_level"), level=code)

    def next_level(self, code: str) -> Level | None:
        index = self.levels.index(self.level(code))
        return self.levels[index + 1] if index + 1 < len(self.levels) else None

    @property
    def scoring_levels(self) -> tuple[Level, ...]:
        return tuple(lv for lv in self.levels if lv.scores)

    def certifying_level(self, stars: int) -> Level:
        if isinstance(stars, bool) or stars not in {b.stars for b in self.star_bands}:
            raise ValidationError(
                N_("error.stars_range"),
                stars=stars,
                min_stars=self.star_bands[-1].stars,
                max_stars=self.star_bands[0].stars,
            )
        for lv in self.levels:
            if stars in lv.certifies:
                return lv
        raise ValidationError(N_("error.stars_not_certified"), stars=stars)

    def forwards(self, level_code: str, points: Points) -> bool:
        """Whether a product scored ``points`` at this level goes on to the next one."""
        lv = self.level(level_code)
        p = self._checked(points)
        if not lv.scores:
            raise ValidationError(N_("error.level_not_scoring"), level=level_code)
        return lv.forward_threshold is not None and p >= lv.forward_threshold

    # ---- certificate dates ----

    def certificate_expiry(self, issued: date) -> date:
        return add_months(issued, self.certificate_validity_months)

    def reevaluation_window(self, expiry: date) -> tuple[date, date]:
        """First and last day to file a re-evaluation dossier for a certificate expiring then."""
        opens, closes = self.reevaluation_opens_days_before, self.reevaluation_closes_days_before
        if opens is None or closes is None:
            raise ValidationError(N_("error.no_reevaluation_window"), ruleset_id=self.id)
        return expiry - timedelta(days=opens), expiry - timedelta(days=closes)


@cache
def all_rulesets() -> tuple[Ruleset, ...]:
    """Every ruleset, oldest first."""
    loaded: list[Ruleset] = []
    for name in RULESET_FILES:
        rs = Ruleset.model_validate(read_toml(name))
        if f"{rs.id}.toml" != name:
            raise ValueError(f"{name} declares id {rs.id!r}")
        loaded.append(rs)
    return tuple(sorted(loaded, key=lambda r: r.effective_from))


def get_ruleset(ruleset_id: str) -> Ruleset:
    for rs in all_rulesets():
        if rs.id == ruleset_id:
            return rs
    raise ValidationError(N_("error.unknown_ruleset"), ruleset_id=ruleset_id)


def ruleset_for_date(d: date) -> Ruleset:
    """The ruleset a dossier filed on ``d`` starts under (its ``effective_from``/``filings_until``).

    A newer decision wins from its first day even while the old one lingers for dossiers already
    filed. Dates before the oldest ruleset get the oldest one (1048-era rules are not modelled).
    """
    rulesets = all_rulesets()
    for rs in rulesets:
        if rs.governs_filing(d):
            return rs
    started = [rs for rs in rulesets if rs.effective_from <= d]
    return started[-1] if started else rulesets[0]


def transition_end(ruleset_id: str, attempt: str = "new") -> date | None:
    """The last day a dossier filed under ``ruleset_id`` may still finish under it.

    Art. 11 of 26/2026: first-time and upgrade dossiers within 60 days, re-evaluations within 30.
    ``None``: no newer decision has set a limit (the ruleset is still the current one, or it was
    amended in place, as 1489 amended 148 from its first day).
    """
    rs = get_ruleset(ruleset_id)
    newer = [
        n for n in all_rulesets() if n.effective_from > rs.effective_from and n.transition_days
    ]
    if not newer:
        return None
    nxt = newer[0]
    days = nxt.transition_reevaluation_days if attempt == "reevaluation" else nxt.transition_days
    return nxt.effective_from + timedelta(days=days or 0)


def governing_ruleset(filed_on: date, on: date, attempt: str = "new") -> Ruleset:
    """The rules a dossier filed on ``filed_on`` follows on ``on``.

    It keeps the rules of its filing date; when a newer decision's transition has run out (Art. 11
    of 26/2026) it continues under the rules in force on ``on``. 148 as originally issued became
    148 as amended by 1489 on 06/07/2025, so a 148 dossier still open then follows 1489.
    """
    start = ruleset_for_date(filed_on)
    today = ruleset_for_date(on)
    if today.id == start.id:
        return start
    if today.amends == start.id:
        return today
    end = transition_end(start.id, attempt)
    if end is not None and on <= end:
        return start
    return today
