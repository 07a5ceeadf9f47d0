"""The dossier's stored search text: product and producer names, accent-folded, kept current
by the core whenever either name is written, so the desk's accent-free search is a plain
``LIKE`` on one column (no per-row folding in Python on SQLite, no regex on PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session
from sqlmodel import col, select

from ocop_core.models import Dossier, Producer
from ocop_core.text import fold

SEPARATOR = " | "  # never inside a folded search, so a match cannot span the two names


def search_text(product_name: str, producer_name: str) -> str:
    """What the desk search matches: "Chè Shan tuyết", "Hộ Đặng" → "che shan tuyet | ho dang"."""
    return f"{fold(product_name)}{SEPARATOR}{fold(producer_name)}"[:420]


def _changed(obj: Any, attr: str) -> bool:
    return bool(inspect(obj).attrs[attr].history.has_changes())


def _refresh(session: Session, _ctx: Any, _instances: Any) -> None:
    """Before each flush: new or renamed dossiers, and every dossier of a renamed (or erased)
    producer, get their search text recomputed."""
    renamed = {
        p.id: p.name
        for p in session.dirty
        if isinstance(p, Producer) and p.id is not None and _changed(p, "name")
    }
    with session.no_autoflush:
        for obj in [*session.new, *session.dirty]:
            if isinstance(obj, Dossier) and (obj in session.new or _changed(obj, "product_name")):
                name = renamed.get(obj.producer_id)
                if name is None:
                    producer = session.get(Producer, obj.producer_id)
                    name = producer.name if producer else ""
                obj.search_text = search_text(obj.product_name, name)
        if renamed:
            stmt = select(Dossier).where(col(Dossier.producer_id).in_(list(renamed)))
            for d in session.execute(stmt).scalars():
                d.search_text = search_text(d.product_name, renamed[d.producer_id])


event.listen(Session, "before_flush", _refresh)
