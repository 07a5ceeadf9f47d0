"""desk search: stored accent-folded search text and documents-complete flag; desk indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2_000


def upgrade() -> None:
    # Plain ADD COLUMN (constant default) and CREATE INDEX: no batch table copy, which SQLite
    # cannot do to a dossier table that documents and events reference.
    op.add_column(
        "dossier",
        sa.Column(
            "search_text",
            sqlmodel.sql.sqltypes.AutoString(length=420),
            nullable=False,
            server_default="",
        ),
    )
    op.add_column(
        "dossier",
        sa.Column("documents_complete", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(
        "ix_dossier_desk_year",
        "dossier",
        ["province_code", "year", "stage", "commune_code", "documents_complete"],
    )
    op.create_index(
        "ix_dossier_province_due", "dossier", ["province_code", "next_due", "id", "stage"]
    )
    _backfill()
    from ocop_core.documents_complete import recompute

    ids = [row[0] for row in op.get_bind().execute(sa.text("SELECT id FROM dossier")).all()]
    recompute(op.get_bind(), ids)


def _backfill() -> None:
    """Existing dossiers get their folded names (the same function the core uses on writes)."""
    from ocop_core.search_text import search_text

    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT d.id, d.product_name, p.name FROM dossier d "
            "JOIN producer p ON p.id = d.producer_id"
        )
    ).all()
    update = sa.text("UPDATE dossier SET search_text = :t WHERE id = :id")
    for i in range(0, len(rows), BATCH):
        conn.execute(
            update, [{"id": r[0], "t": search_text(r[1], r[2])} for r in rows[i : i + BATCH]]
        )


def downgrade() -> None:
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.drop_index("ix_dossier_province_due")
        batch_op.drop_index("ix_dossier_desk_year")
        batch_op.drop_column("documents_complete")
        batch_op.drop_column("search_text")
