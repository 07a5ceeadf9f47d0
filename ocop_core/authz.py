"""Who may see and do what. Every use case takes an ``Actor``; handlers never decide access."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, false, true
from sqlmodel import col, select

from ocop_core.models import Dossier, Producer, Role


@dataclass(frozen=True)
class Actor:
    """The acting person, as resolved from the database (never from what a message claims)."""

    account_id: int | None
    role: str = Role.PRODUCER
    communes: frozenset[str] = field(default_factory=frozenset)
    province_code: str | None = None
    locale: str = "vi"

    @property
    def is_officer(self) -> bool:
        return self.role in (Role.COMMUNE, Role.PROVINCE, Role.ADMIN)

    @classmethod
    def system(cls) -> Actor:
        """The clock and the CLI acting as operator: admin rights, no account."""
        return cls(account_id=None, role=Role.ADMIN)


def can_view(actor: Actor, dossier: Dossier, owner_account_id: int | None) -> bool:
    if actor.role == Role.ADMIN:
        return True
    if actor.role == Role.PROVINCE:
        return actor.province_code is not None and dossier.province_code == actor.province_code
    if actor.role == Role.COMMUNE:
        return dossier.commune_code in actor.communes
    return actor.account_id is not None and owner_account_id == actor.account_id


def dossier_scope(actor: Actor) -> ColumnElement[bool]:
    """A SQL condition selecting exactly the dossiers ``actor`` may see (for list queries)."""
    if actor.role == Role.ADMIN:
        return true()
    if actor.role == Role.PROVINCE:
        if actor.province_code is None:
            return false()
        return col(Dossier.province_code) == actor.province_code
    if actor.role == Role.COMMUNE:
        if not actor.communes:
            return false()
        return col(Dossier.commune_code).in_(sorted(actor.communes))
    if actor.account_id is None:
        return false()
    owned = select(Producer.id).where(Producer.account_id == actor.account_id)
    return col(Dossier.producer_id).in_(owned)
