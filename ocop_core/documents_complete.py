"""The dossier's stored "documents complete" flag: every blocking document (mandatory and
knockout) of its own checklist is in. Recomputed by the core after each flush that adds,
replaces or removes a document or changes the checklist, so the desk's funnel is a count over
an index instead of a per-dossier document count."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import event, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ocop_core.models import Document, Dossier
from ocop_core.rules import requirements_for

BLOCKING = frozenset({"mandatory", "knockout"})


@cache
def blocking_codes(criteria_set: int, attempt: str) -> frozenset[str]:
    return frozenset(r.code for r in requirements_for(criteria_set, attempt) if r.kind in BLOCKING)


def is_complete(criteria_set: int, attempt: str, have: Iterable[str]) -> bool:
    """All blocking codes present (a checklist without any never counts as complete)."""
    codes = blocking_codes(criteria_set, attempt)
    return bool(codes) and codes <= set(have)


def recompute(conn: Connection, dossier_ids: Iterable[int]) -> None:
    """Store the flag for these dossiers from their current documents."""
    ids = sorted(set(dossier_ids))
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        have: dict[int, set[str]] = defaultdict(set)
        docs = select(Document.dossier_id, Document.requirement).where(  # type: ignore[call-overload]
            Document.dossier_id.in_(chunk),  # type: ignore[attr-defined]
            Document.replaced.is_(False),  # type: ignore[attr-defined]
        )
        for dossier_id, requirement in conn.execute(docs):
            have[dossier_id].add(requirement)
        rows = select(Dossier.id, Dossier.criteria_set, Dossier.attempt).where(  # type: ignore[call-overload]
            Dossier.id.in_(chunk)  # type: ignore[union-attr]
        )
        flags = {d: is_complete(cs, att, have[d]) for d, cs, att in conn.execute(rows)}
        for value in (True, False):
            changed = [d for d, flag in flags.items() if flag is value]
            if changed:
                conn.execute(
                    update(Dossier)
                    .where(Dossier.id.in_(changed))  # type: ignore[union-attr]
                    .values(documents_complete=value)
                )


def _touched(session: Session) -> set[int]:
    ids: set[int] = set()
    for obj in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(obj, Document) and obj.dossier_id:
            ids.add(obj.dossier_id)
        elif isinstance(obj, Dossier) and obj.id is not None:
            state: Any = inspect(obj)
            if obj in session.new or any(
                state.attrs[a].history.has_changes() for a in ("criteria_set", "attempt")
            ):
                ids.add(obj.id)
    return ids


def _after_flush(session: Session, _ctx: Any) -> None:
    ids = _touched(session)
    if ids:
        recompute(session.connection(), ids)


event.listen(Session, "after_flush", _after_flush)
