"""Every catalog key the rules data and its refusals need, for the catalog-completeness check."""

from __future__ import annotations

from ocop_core.i18n import N_

from .requirements import ATTEMPTS, REQUIREMENT_KINDS, requirement_specs
from .rulesets import all_rulesets
from .taxonomy import taxonomy

# Keys raised by this package (each raise site marks its own key with N_ as well).
ERROR_KEYS: tuple[str, ...] = (
    N_("error.unknown_sector"),
    N_("error.unknown_group"),
    N_("error.unknown_criteria_set"),
    N_("error.unknown_ruleset"),
    N_("error.unknown_level"),
    N_("error.unknown_attempt"),
    N_("error.points_range"),
    N_("error.stars_range"),
    N_("error.stars_not_certified"),
    N_("error.level_not_scoring"),
    N_("error.no_reevaluation_window"),
)


def catalog_keys() -> set[str]:
    """Display keys derived from the data (labels, hints) plus the error keys raised here."""
    tax = taxonomy()
    keys = set(ERROR_KEYS)
    keys |= {s.label_key for s in tax.sectors}
    keys |= {g.label_key for g in tax.groups}
    keys |= {s.label_key for s in tax.sets}
    keys |= {s.label_key for s in tax.legacy_sectors}
    keys |= {f"ministry.{m}" for s in tax.sets for m in s.ministries}
    for spec in requirement_specs():
        keys |= {f"doc.{spec.code}", f"doc.{spec.code}.hint"}
    keys |= {f"doc_kind.{k}" for k in REQUIREMENT_KINDS}
    keys |= {f"attempt.{a}" for a in ATTEMPTS}
    for rs in all_rulesets():
        keys.add(rs.label_key)
        keys |= {lv.label_key for lv in rs.levels}
    return keys
