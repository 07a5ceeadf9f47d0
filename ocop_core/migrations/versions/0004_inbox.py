"""inbox, single-use markers and served files

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString
_utc = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", _str(length=16), nullable=False),
        sa.Column("update_key", _str(length=128), nullable=False),
        sa.Column("chat_key", _str(length=64), nullable=False),
        sa.Column("group_key", _str(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", _str(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("lease_until", _utc(), nullable=True),
        sa.Column("worker", _str(length=64), nullable=False),
        sa.Column("replies", sa.JSON(), nullable=True),
        sa.Column("done_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "update_key"),
    )
    op.create_index("ix_inbox_open", "inbox", ["status", "channel", "chat_key", "id"])
    op.create_table(
        "oncemarker",
        sa.Column("key", _str(length=200), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "servedfile",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("path", _str(length=400), nullable=False),
        sa.Column("filename", _str(length=200), nullable=False),
        sa.Column("mime", _str(length=100), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_servedfile_account_id", "servedfile", ["account_id"])
    op.create_table(
        "failedattempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", _str(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_failedattempt_kind_at", "failedattempt", ["kind", "at"])
    op.create_index("ix_failedattempt_account_id", "failedattempt", ["account_id"])
    op.create_table(
        "dataaccess",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("what", _str(length=64), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["officer_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossier.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dataaccess_dossier_at", "dataaccess", ["dossier_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_dataaccess_dossier_at", table_name="dataaccess")
    op.drop_table("dataaccess")
    op.drop_index("ix_failedattempt_account_id", table_name="failedattempt")
    op.drop_index("ix_failedattempt_kind_at", table_name="failedattempt")
    op.drop_table("failedattempt")
    op.drop_index("ix_servedfile_account_id", table_name="servedfile")
    op.drop_table("servedfile")
    op.drop_table("oncemarker")
    op.drop_index("ix_inbox_open", table_name="inbox")
    op.drop_table("inbox")
