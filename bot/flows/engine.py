"""The flow engine: one message in, replies out, state kept in SQL in the same transaction.

A flow is a set of named steps. Each step asks (``prompt``) and checks the answer (``handle``);
a wrong answer raises ``Reask`` with the specific problem and the same question is asked again.
Choices offered by the last prompt are remembered in the state, so a typed "2", a label, or
any of its words without accents all count as a tap, on every channel (see ``matching``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal
from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.flows.types import Capabilities, Choice, FileIn, Kind, Outgoing, Reply, UploadSlot
from ocop_core.authz import Actor
from ocop_core.errors import DomainError
from ocop_core.i18n import N_, normalise_locale, translate
from ocop_core.models import Account, ConversationState
from ocop_core.services.context import CoreContext

log = logging.getLogger("ocop.flows")

END = "__end__"
MAX_TEXT = 1000  # longest free-text answer we keep; longer ones are refused with a reason


class Reask(Exception):
    """The answer does not fit the question: say why, then ask the same question again."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass
class Answer:
    """What the person gave at a step, after mapping typed numbers and labels to choices."""

    text: str = ""
    choice: str | None = None
    files: tuple[FileIn, ...] = ()
    phone: str | None = None
    kind: Kind = Kind.TEXT

    def require_text(self, limit: int = MAX_TEXT) -> str:
        value = " ".join(self.text.split())
        if self.kind != Kind.TEXT or not value:
            raise Reask(N_("flow.reask.need_text"))
        if len(value) > limit:
            raise Reask(N_("flow.reask.too_long"), limit=limit)
        if not any(ch.isalnum() for ch in value):
            raise Reask(N_("flow.reask.need_words"))
        return value

    def require_choice(self) -> str:
        if self.choice is None:
            raise Reask(N_("flow.reask.pick_one"))
        return self.choice


@dataclass
class FlowContext:
    """Everything a step may use. Steps never see the channel, only its capabilities."""

    s: AsyncSession
    core: CoreContext
    account: Account
    actor: Actor
    caps: Capabilities
    data: dict[str, Any]
    replies: list[Reply] = field(default_factory=list)
    outbox: list[Outgoing] = field(default_factory=list)
    next_flow: tuple[str, dict[str, Any]] | None = None  # hand over to another flow

    @property
    def locale(self) -> str:
        return normalise_locale(self.account.locale)

    def t(self, key: str, **params: Any) -> str:
        return translate(key, self.locale, **params)

    def say(self, key: str, **params: Any) -> None:
        self.replies.append(Reply(self.t(key, **params)))

    def date(self, value: date) -> str:
        pattern = "dd/MM/yyyy" if self.locale == "vi" else "d MMM yyyy"
        return format_date(value, pattern, locale=self.locale)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)

    def switch_to(self, flow: str, **args: Any) -> str:
        """End this flow and start ``flow`` right away (e.g. registration → documents)."""
        self.next_flow = (flow, args)
        return END


PromptFn = Callable[[FlowContext], Awaitable[Reply]]
HandleFn = Callable[[FlowContext, Answer], Awaitable[str]]


@dataclass(frozen=True)
class Step:
    name: str
    prompt: PromptFn
    handle: HandleFn
    skippable: bool = False  # only optional steps may be skipped
    # Steps that take files say where a file the channel cannot carry should go (a web upload).
    upload_slot: Callable[[FlowContext], UploadSlot | None] | None = None


@dataclass
class Flow:
    name: str
    first: str
    steps: dict[str, Step]
    on_start: Callable[[FlowContext, dict[str, Any]], Awaitable[str]] | None = None

    def step(self, name: str) -> Step:
        return self.steps[name]


def token_for(version: int) -> str:
    """A 2-character tag of the prompt a button belongs to; old buttons no longer match."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return alphabet[(version // 36) % 36] + alphabet[version % 36]


# Built once (every message loads and saves its person's state); the save is a Core UPDATE on
# the table, without the ORM's bulk-update bookkeeping.
_STATE = select(ConversationState).where(
    col(ConversationState.account_id) == bindparam("account_id")
)
_STATE_LOCKED = _STATE.with_for_update()
_STATES = ConversationState.__table__  # type: ignore[attr-defined]
_SAVE_STATE = (
    update(_STATES)
    .where(
        _STATES.c.account_id == bindparam("of_account"),
        _STATES.c.version == bindparam("of_version"),
    )
    .values(
        flow=bindparam("new_flow"),
        step=bindparam("new_step"),
        data=bindparam("new_data", type_=_STATES.c.data.type),
        version=bindparam("new_version"),
        updated_at=bindparam("new_updated_at", type_=_STATES.c.updated_at.type),
    )
)


async def load_state(s: AsyncSession, account: Account, *, lock: bool) -> ConversationState:
    """The person's state row, locked on PostgreSQL so two quick messages run one at a time."""
    stmt = _STATE_LOCKED if lock else _STATE
    params = {"account_id": account.id}
    state = (await s.exec(stmt, params=params)).first()
    if state is None:
        state = ConversationState(account_id=account.id or 0, data={}, version=0)
        try:
            async with s.begin_nested():
                s.add(state)
                await s.flush()
        except IntegrityError:
            state = (await s.exec(stmt, params=params)).one()
    return state


async def save_state(
    s: AsyncSession, state: ConversationState, flow: str, step: str, data: dict[str, Any], now: Any
) -> bool:
    """Compare-and-set on ``version``: a concurrent writer makes this return False."""
    result = await s.exec(  # type: ignore[call-overload]
        _SAVE_STATE,
        params={
            "of_account": state.account_id,
            "of_version": state.version,
            "new_flow": flow,
            "new_step": step,
            "new_data": data,
            "new_version": state.version + 1,
            "new_updated_at": now,
        },
    )
    if result.rowcount != 1:
        return False
    # The loaded object follows the row, without the ORM writing it again.
    for name, value in (
        ("flow", flow),
        ("step", step),
        ("data", data),
        ("version", state.version + 1),
        ("updated_at", now),
    ):
        set_committed_value(state, name, value)
    return True


def offered_choices(reply: Reply) -> list[list[str]]:
    return [[c.id, c.label] for c in reply.choices]


def with_choices(reply: Reply, choices: list[Choice], columns: int = 1) -> Reply:
    return replace(reply, choices=tuple(choices), columns=columns)


def domain_message(fc: FlowContext, exc: DomainError) -> str:
    return fc.t(exc.key, **exc.params)
