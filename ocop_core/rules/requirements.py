"""Which documents a dossier needs, per criteria set and attempt type (26/2026 Art. 6-7)."""

from __future__ import annotations

from functools import cache
from typing import Literal, cast, get_args

from pydantic import Field

from ocop_core.errors import ValidationError
from ocop_core.i18n import N_

from ._data import Frozen, read_toml
from .taxonomy import CriteriaSet, taxonomy

Attempt = Literal["new", "upgrade", "reevaluation"]
ATTEMPTS: tuple[Attempt, ...] = get_args(Attempt)
RequirementKind = Literal["mandatory", "knockout", "evidence"]
REQUIREMENT_KINDS: tuple[RequirementKind, ...] = get_args(RequirementKind)


class Requirement(Frozen):
    """One document as it applies to a given set and attempt."""

    code: str
    kind: RequirementKind
    order: int
    # The lowest star rating this document is a minimum for in the set (Appendix II "***"): a
    # product without it cannot reach that rating whatever its total.
    min_stars: int | None = None

    @property
    def star_minimum(self) -> bool:
        return self.min_stars is not None

    @property
    def blocking(self) -> bool:
        """The dossier cannot go forward without it (a knock-out is mandatory too)."""
        return self.kind in ("mandatory", "knockout")

    @property
    def label_key(self) -> str:
        return f"doc.{self.code}"

    @property
    def hint_key(self) -> str:
        return f"doc.{self.code}.hint"


class ApplicabilityRule(Frozen):
    """A filter plus the kind the document has where the filter holds; absent filter = any."""

    kind: RequirementKind
    min_stars: int | None = Field(default=None, ge=3, le=5)
    sectors: tuple[str, ...] | None = None
    sets: tuple[int, ...] | None = None
    except_sets: tuple[int, ...] = ()
    attempts: tuple[Attempt, ...] | None = None

    def matches(self, cs: CriteriaSet, attempt: Attempt) -> bool:
        return (
            (self.sectors is None or cs.sector in self.sectors)
            and (self.sets is None or cs.code in self.sets)
            and cs.code not in self.except_sets
            and (self.attempts is None or attempt in self.attempts)
        )


class RequirementSpec(Frozen):
    """A document as written in requirements.toml; the first matching rule decides."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    order: int
    rules: tuple[ApplicabilityRule, ...] = Field(min_length=1)

    def resolve(self, cs: CriteriaSet, attempt: Attempt) -> Requirement | None:
        for rule in self.rules:
            if rule.matches(cs, attempt):
                return Requirement(
                    code=self.code, kind=rule.kind, order=self.order, min_stars=rule.min_stars
                )
        return None


class _RequirementsFile(Frozen):
    requirements: tuple[RequirementSpec, ...] = Field(min_length=1)


@cache
def requirement_specs() -> tuple[RequirementSpec, ...]:
    """All document specs in checklist order, checked against the taxonomy once."""
    specs = _RequirementsFile.model_validate(read_toml("requirements.toml")).requirements
    for attr in ("code", "order"):
        values = [getattr(s, attr) for s in specs]
        if len(set(values)) != len(values):
            raise ValueError(f"requirements.toml: duplicate {attr}")
    tax = taxonomy()
    sectors = {s.code for s in tax.sectors}
    sets = {s.code for s in tax.sets}
    for spec in specs:
        for rule in spec.rules:
            # A typo here would silently drop a document from every checklist.
            if not set(rule.sectors or ()) <= sectors:
                raise ValueError(f"{spec.code}: unknown sector in {rule.sectors}")
            if not set(rule.sets or ()) | set(rule.except_sets) <= sets:
                raise ValueError(f"{spec.code}: unknown set in its rules")
    return tuple(sorted(specs, key=lambda s: s.order))


def requirements_for(set_code: int, attempt: str) -> list[Requirement]:
    """The documents for a product of ``set_code`` filing as ``attempt``, in checklist order."""
    if attempt not in ATTEMPTS:
        raise ValidationError(N_("error.unknown_attempt"), attempt=attempt)
    checked = cast(Attempt, attempt)
    cs = taxonomy().criteria_set(set_code)
    found = (spec.resolve(cs, checked) for spec in requirement_specs())
    return [r for r in found if r is not None]
