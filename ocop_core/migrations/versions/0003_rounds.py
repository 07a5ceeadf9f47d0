"""evaluation rounds: the round a dossier is in and the day it was filed

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluation_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("plan_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("jurisdiction", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("ruleset", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("intake_due", sa.Date(), nullable=True),
        sa.Column("commune_due", sa.Date(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("round_number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("filed_on", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_dossier_round_id"), ["round_id"], unique=False)
        batch_op.create_foreign_key("fk_dossier_round_id", "evaluation_round", ["round_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.drop_constraint("fk_dossier_round_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_dossier_round_id"))
        batch_op.drop_column("filed_on")
        batch_op.drop_column("round_number")
        batch_op.drop_column("round_id")
    op.drop_table("evaluation_round")
