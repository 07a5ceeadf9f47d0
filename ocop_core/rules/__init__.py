"""OCOP legal rules as versioned data: taxonomy, rulesets and dossier requirements.

The numbers and lists live in the TOML files next to this module; the code only loads, validates
and queries them. Display text lives in the gettext catalogs under the keys from ``catalog_keys()``.
"""

from __future__ import annotations

from .dates import add_months
from .keys import ERROR_KEYS, catalog_keys
from .requirements import (
    ATTEMPTS,
    REQUIREMENT_KINDS,
    ApplicabilityRule,
    Attempt,
    Requirement,
    RequirementKind,
    RequirementSpec,
    requirement_specs,
    requirements_for,
)
from .rulesets import (
    Calendar,
    CalendarRound,
    Level,
    LevelCode,
    MonthDay,
    Ruleset,
    StarBand,
    all_rulesets,
    get_ruleset,
    governing_ruleset,
    ruleset_for_date,
    transition_end,
)
from .taxonomy import CriteriaSet, Group, LegacySector, Ministry, Sector, Taxonomy, taxonomy

__all__ = [
    "ATTEMPTS",
    "ERROR_KEYS",
    "REQUIREMENT_KINDS",
    "ApplicabilityRule",
    "Attempt",
    "Calendar",
    "CalendarRound",
    "CriteriaSet",
    "Group",
    "LegacySector",
    "Level",
    "LevelCode",
    "Ministry",
    "MonthDay",
    "Requirement",
    "RequirementKind",
    "RequirementSpec",
    "Ruleset",
    "Sector",
    "StarBand",
    "Taxonomy",
    "add_months",
    "all_rulesets",
    "catalog_keys",
    "get_ruleset",
    "governing_ruleset",
    "requirement_specs",
    "requirements_for",
    "ruleset_for_date",
    "taxonomy",
    "transition_end",
]
