"""The one error a plan file can raise: it names the file, the field and what is wrong."""

from __future__ import annotations

from ocop_core.errors import ValidationError
from ocop_core.i18n import N_

__all__ = ["PlanValidationError"]

# Used while a plan is validated before the loader knows (or re-attaches) the file name.
IN_MEMORY = "<in-memory>"


class PlanValidationError(ValidationError):
    """A plan file (or a generated plan) is malformed or inconsistent.

    ``field`` is a path into the file such as ``milestones[2].due``; ``reason`` is a short English
    explanation for the person who edits the file.
    """

    def __init__(self, file: str, field: str, reason: str) -> None:
        super().__init__(N_("error.plan_invalid"), file=file, field=field, reason=reason)
        self.file = file
        self.field = field
        self.reason = reason

    def with_file(self, file: str) -> PlanValidationError:
        return PlanValidationError(file=file, field=self.field, reason=self.reason)

    def __str__(self) -> str:
        # Plan files are edited by people at a terminal: give them a sentence, not a dict.
        return f"invalid plan file {self.file}: {self.field}: {self.reason}"
