"""Database tables (SQLModel). The same schema runs on SQLite and PostgreSQL.

Instants are aware UTC datetimes (SQLModel's UTCDateTime); dates that people read (deadlines,
certificate dates) are plain ``date`` values in Vietnam's calendar. Enumerations are stored as
plain strings so both databases hold the same readable values.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utc_now() -> datetime:
    return datetime.now(UTC)


class Role(StrEnum):
    PRODUCER = "producer"
    COMMUNE = "commune"
    PROVINCE = "province"
    ADMIN = "admin"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"  # blocked the bot or left: nothing more is sent


class ProducerKind(StrEnum):
    HOUSEHOLD = "household"
    COOPERATIVE = "cooperative"
    COOP_GROUP = "coop_group"
    ENTERPRISE = "enterprise"
    FARM = "farm"
    OTHER = "other"


class Attempt(StrEnum):
    NEW = "new"
    UPGRADE = "upgrade"
    REEVALUATION = "reevaluation"


class Province(SQLModel, table=True):
    """A province; current codes come from vietnam-provinces, pre-2025 ones are ``L``-prefixed."""

    code: str = Field(primary_key=True, max_length=8)
    name: str = Field(max_length=120)
    legacy: bool = False
    successor_code: str | None = Field(default=None, max_length=8)


class Commune(SQLModel, table=True):
    """A commune-level unit (xã, phường, đặc khu); legacy rows keep names of merged communes."""

    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=120)
    name_ascii: str = Field(max_length=120, index=True)  # lower-case, no accents: for search
    province_code: str = Field(foreign_key="province.code", max_length=8, index=True)
    legacy: bool = False
    successor_code: str | None = Field(default=None, max_length=12)


class Account(SQLModel, table=True):
    """A person on one channel."""

    __table_args__ = (UniqueConstraint("channel", "platform_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)  # telegram | zalo | terminal
    platform_user_id: str = Field(max_length=64)
    chat_id: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)
    phone: str | None = Field(default=None, max_length=20)
    phone_verified: bool = False
    locale: str = Field(default="vi", max_length=8)
    role: str = Field(default=Role.PRODUCER, max_length=16)
    province_code: str | None = Field(default=None, max_length=8)  # scope of provincial staff
    status: str = Field(default=AccountStatus.ACTIVE, max_length=16)
    consent_at: datetime | None = None  # personal-data notice accepted (Decree 13/2023)
    last_interaction_at: datetime | None = None
    created_at: datetime = Field(default_factory=utc_now)


class AccountCommune(SQLModel, table=True):
    """Communes in a commune officer's scope."""

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    commune_code: str = Field(foreign_key="commune.code", primary_key=True, max_length=12)


class Producer(SQLModel, table=True):
    """Chủ thể OCOP: the household, co-op or enterprise that files dossiers."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=200)
    representative: str = Field(default="", max_length=200)
    registration_number: str | None = Field(default=None, max_length=40)
    address: str = Field(default="", max_length=300)
    commune_code: str = Field(foreign_key="commune.code", max_length=12)
    phone: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utc_now)


class EvaluationRound(SQLModel, table=True):
    """One evaluation round a dossier can be in: a plan's round, kept so dossiers can point to it.

    The dates live in the plan (``plan_id``); the row records which round it was, so a dossier's
    history of rounds survives an edited or replaced plan file.
    """

    __tablename__ = "evaluation_round"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, unique=True)  # "<plan id>#<number>"
    plan_id: str = Field(max_length=64)
    jurisdiction: str = Field(max_length=8)  # the plan's province code ("12", "L35")
    ruleset: str = Field(max_length=16)
    year: int
    number: int
    intake_due: date | None = None  # the producer's last day to file in this round
    commune_due: date | None = None  # the commune's deadline in this round
    created_at: datetime = Field(default_factory=utc_now)


class Dossier(SQLModel, table=True):
    """One product's evaluation dossier (hồ sơ) through one attempt."""

    __table_args__ = (
        Index("ix_dossier_commune_due", "commune_code", "next_due"),
        Index("ix_dossier_province_stage", "province_code", "stage"),
        # The desk's dossier table, sorted by due date: the first page straight off the index,
        # and the overdue count index-only (the stage rides along).
        Index("ix_dossier_province_due", "province_code", "next_due", "id", "stage"),
        # The desk overview: one index-only pass groups a province's year by stage and commune.
        Index(
            "ix_dossier_desk_year",
            "province_code",
            "year",
            "stage",
            "commune_code",
            "documents_complete",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    receipt_code: str = Field(max_length=16, unique=True)
    producer_id: int = Field(foreign_key="producer.id", index=True)
    province_code: str = Field(foreign_key="province.code", max_length=8)
    commune_code: str = Field(foreign_key="commune.code", max_length=12)
    product_name: str = Field(max_length=200)
    # Folded product and producer names for the desk's accent-free search (ocop_core.search_text).
    search_text: str = Field(default="", max_length=420)
    criteria_set: int
    attempt: str = Field(default=Attempt.NEW, max_length=16)
    ruleset: str = Field(max_length=16)
    plan_id: str = Field(max_length=64)
    year: int
    stage: str = Field(max_length=24)
    points: float | None = None
    stars: int | None = None
    certificate_number: str | None = Field(default=None, max_length=64)
    certificate_date: date | None = None
    certificate_expiry: date | None = None
    previous_certificate_number: str | None = Field(default=None, max_length=64)
    previous_certificate_date: date | None = None
    previous_dossier_id: int | None = Field(default=None, foreign_key="dossier.id")
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    commune_check: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    submitted_at: datetime | None = None
    next_due: date | None = None  # the next plan deadline for this stage: sorts the inbox
    # The round the dossier is in now (None: its dates are set by a provincial plan not loaded).
    round_id: int | None = Field(default=None, foreign_key="evaluation_round.id", index=True)
    round_number: int | None = None  # that round's number in the plan ``plan_id`` (read often)
    filed_on: date | None = None  # the day the producer filed: decides the rules it starts under
    # Every blocking document of its checklist is in (ocop_core.documents_complete keeps it).
    documents_complete: bool = False
    version: int = 1  # optimistic lock: two officers acting at once, one wins
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)


class Document(SQLModel, table=True):
    """One file (page) of one required document of a dossier."""

    __table_args__ = (Index("ix_document_dossier_req", "dossier_id", "requirement"),)

    id: int | None = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossier.id")
    requirement: str = Field(max_length=48)
    page: int = 1
    path: str = Field(max_length=300)  # relative to the data directory
    sha256: str = Field(max_length=64, index=True)
    mime: str = Field(max_length=64)
    pages: int = 1
    size_bytes: int
    quality_flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    uploaded_by: int | None = Field(default=None, foreign_key="account.id")
    replaced: bool = False  # superseded by a newer upload; kept for the audit trail
    created_at: datetime = Field(default_factory=utc_now)


class DossierEvent(SQLModel, table=True):
    """Audit trail: who did what to a dossier, from which stage to which."""

    __table_args__ = (Index("ix_event_dossier_at", "dossier_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossier.id")
    actor_id: int | None = Field(default=None, foreign_key="account.id")
    action: str = Field(max_length=32)
    from_stage: str | None = Field(default=None, max_length=24)
    to_stage: str | None = Field(default=None, max_length=24)
    note: str = Field(default="", max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(default_factory=utc_now)


class ConversationState(SQLModel, table=True):
    """Where a person is in a chat flow: in SQL, so restarts and other processes continue it."""

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    flow: str = Field(default="", max_length=32)
    step: str = Field(default="", max_length=48)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    version: int = 0
    updated_at: datetime = Field(default_factory=utc_now)


class FireStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"  # handed to the outbox
    CANCELLED = "cancelled"  # what it waited for happened
    DROPPED = "dropped"  # its moment and its deadline passed while we were down


class Fire(SQLModel, table=True):
    """A reminder due at a moment: computed from plans and dossiers, never a timer in memory.

    Unique over (subject, kind, scope), so recomputing can never schedule the same one twice.
    """

    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", "kind", "scope"),
        Index("ix_fire_due", "status", "fire_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject_type: str = Field(max_length=16)  # dossier | account
    subject_id: int
    kind: str = Field(max_length=24)  # milestone | expiry | missing_documents | commune_check
    scope: str = Field(max_length=160)  # which milestone, offset and recipient
    recipient_id: int = Field(foreign_key="account.id", index=True)
    fire_at: datetime
    deadline: date | None = None
    status: str = Field(default=FireStatus.PENDING, max_length=16)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # gave up after retries
    STOPPED = "stopped"  # the person blocked the bot or the chat is gone


class Outbox(SQLModel, table=True):
    """A message that is not a direct reply (reminders, officers' requests, stage notices).

    Delivery resumes from this table after any crash; the idempotency key stops doubles.
    """

    __table_args__ = (Index("ix_outbox_due", "status", "priority", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    priority: int = 5  # lower goes first: notices 3, reminders 5, bulk 7
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utc_now)
    status: str = Field(default=OutboxStatus.QUEUED, max_length=16)
    idempotency_key: str = Field(max_length=200, unique=True)
    last_error: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utc_now)
    sent_at: datetime | None = None


class Invite(SQLModel, table=True):
    """A single-use, expiring code that makes a chat account an officer (stored hashed)."""

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)
    commune_code: str = Field(foreign_key="commune.code", max_length=12)
    province_code: str = Field(max_length=8)
    created_at: datetime = Field(default_factory=utc_now)
    expires_at: datetime
    used_at: datetime | None = None
    used_by: int | None = Field(default=None, foreign_key="account.id")
    revoked_at: datetime | None = None


class InboxStatus(StrEnum):
    PENDING = "pending"  # stored and acknowledged, not processed yet
    ANSWERING = "answering"  # processed (effects committed); its replies are being sent
    DONE = "done"
    SKIPPED = "skipped"  # part of a flood: not processed, the person is told once
    FAILED = "failed"  # processing kept failing; the person was told


class InboxItem(SQLModel, table=True):
    """One platform update, written before it is acknowledged (durable ingress).

    Unique on (channel, update key), so a replay or a platform's redelivery is a no-op. Rows of
    one chat are processed in id order; a lease lets several processes share the table.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "update_key"),
        Index("ix_inbox_open", "status", "channel", "chat_key", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    update_key: str = Field(max_length=128)  # Telegram update_id, Zalo message_id
    chat_key: str = Field(max_length=64)
    group_key: str | None = Field(default=None, max_length=64)  # an album's media_group_id
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=InboxStatus.PENDING, max_length=16)
    attempts: int = 0
    received_at: datetime = Field(default_factory=utc_now)
    lease_until: datetime | None = None
    worker: str = Field(default="", max_length=64)
    replies: list[Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    done_at: datetime | None = None


class OnceMarker(SQLModel, table=True):
    """A key that may be claimed once (a single-use link): inserted in the transaction of the
    change it guards, so a rollback frees it again."""

    key: str = Field(primary_key=True, max_length=200)
    created_at: datetime = Field(default_factory=utc_now)


class ServedFile(SQLModel, table=True):
    """A file the bot offered to one person through a download link (the link names this id,
    never a path). Only stored media, document exports and reports are ever registered."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    path: str = Field(max_length=400)  # relative to the data directory
    filename: str = Field(max_length=200)
    mime: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utc_now)


class FailedAttempt(SQLModel, table=True):
    """A wrong invite or receipt code (the code itself is never kept): attempt limits count
    these inside a window."""

    __table_args__ = (Index("ix_failedattempt_kind_at", "kind", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    account_id: int = Field(foreign_key="account.id", index=True)
    at: datetime = Field(default_factory=utc_now)


class DataAccess(SQLModel, table=True):
    """An officer saw a producer's personal data (the dossier card, a document): Decree
    13/2023 asks that such access be traceable. Kept apart from the dossier's own events."""

    __table_args__ = (Index("ix_dataaccess_dossier_at", "dossier_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    officer_id: int | None = Field(default=None, foreign_key="account.id")
    dossier_id: int = Field(foreign_key="dossier.id")
    what: str = Field(max_length=64)  # "card", "document:<requirement>"
    at: datetime = Field(default_factory=utc_now)
