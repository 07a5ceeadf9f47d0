"""Domain errors that carry a catalog key, so every refusal reaches a person in their language."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal fit for a person.

    ``key`` is a msgid of the gettext catalogs (marked with ``N_`` at the raise site);
    ``params`` fill its ``{placeholders}``.
    """

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __str__(self) -> str:
        return f"{self.key} {self.params}" if self.params else self.key


class NotFound(DomainError):
    """The thing does not exist *or* the actor may not see it: the two are never told apart."""


class Forbidden(DomainError):
    """The actor may see the thing but not do this to it."""


class InvalidTransition(DomainError):
    """The dossier is not at a stage where this action is allowed."""


class ValidationError(DomainError):
    """An input value is out of range or malformed."""


class Conflict(DomainError):
    """Someone else changed the record first (optimistic locking)."""
