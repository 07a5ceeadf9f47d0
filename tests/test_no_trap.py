"""No step traps a person: generated over every step of every flow, on both channel renderers.

For each (flow, step) the person is put at that step (a real state row, with the data a real
conversation leaves there), then types each global intent — with accents and without. The answer
must be the intent's own (never "choose one of the options"), and, for questions, the person
must be back at the same step afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from bot.flows import build_flows
from bot.flows.engine import Flow
from bot.flows.intents import INTENT_WORDS, NAVIGATION
from bot.flows.officer.council import COUNCIL_STEPS
from bot.flows.router import Conversations
from bot.flows.types import Capabilities, Incoming, Kind
from bot.handlers import telegram as tg_handler
from bot.handlers import zalo as zalo_handler
from bot.handlers.rendering import screen
from ocop_core.clock import FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.i18n import translate
from ocop_core.models import Account, ConversationState, Dossier, Role, utc_now
from ocop_core.plans import PlanRegistry
from ocop_core.rules import requirements_for
from ocop_core.services import accounts
from ocop_core.services.context import CoreContext
from ocop_core.text import fold
from tests.conftest import _truncate, vn_time
from tests.factories import BINH_LU
from tests.officer_helpers import Seeded, move_to_province, producer_account, submitted_dossier

CHANNELS: dict[str, Capabilities] = {"telegram": tg_handler.CAPS, "zalo": zalo_handler.CAPS}
# "my data" dispatches exactly like /dulieu (the data-rights flow, merged from branch i12): it
# moves the person into that flow, like the navigation intents.
CHECKED = list(INTENT_WORDS)
MOVES = NAVIGATION | {"my_data"}
TRAP = fold(translate("flow.reask.pick_one", "vi"))
NOT_UNDERSTOOD = fold(translate("flow.not_understood", "vi"))


def typed_forms(intent: str) -> list[str]:
    """The intent's first Vietnamese phrase as typed with accents, and without."""
    phrase = translate(INTENT_WORDS[intent], "vi").split("|")[0]
    return list(dict.fromkeys([phrase, fold(phrase)]))


@dataclass
class World:
    conv: Conversations
    sessions: Any
    flows: dict[str, Flow]
    producer: Seeded  # with an open dossier
    submitted: Seeded  # in the officer's commune, waiting for the officer
    at_province: Seeded  # checked and forwarded: waiting for the council's score


@pytest.fixture
async def world(sqlite_url: str, tmp_path: Path) -> AsyncIterator[World]:
    engine = make_engine(sqlite_url)
    await _truncate(engine)
    ctx = CoreContext(
        clock=FixedClock(vn_time(2026, 9, 1, 9, 0)), plans=PlanRegistry(), data_dir=tmp_path / "d"
    )
    sessions = session_factory(engine)
    flows = build_flows()
    producer = await submitted_dossier(sessions, ctx, user="prod", product="Chè", submit=False)
    submitted = await submitted_dossier(sessions, ctx, user="other", product="Mật ong")
    scored = await submitted_dossier(sessions, ctx, user="third", product="Rượu ngô")
    await move_to_province(sessions, ctx, scored, BINH_LU)
    conv = Conversations(sessions, ctx, flows)
    yield World(conv, sessions, flows, producer, submitted, scored)
    await engine.dispose()


async def _account(w: World, user: str, channel: str, kind: str) -> Account:
    """A person of the right kind for the flow: new (no consent yet), producer or officer
    (provincial: every officer step applies to them)."""
    async with transaction(w.sessions) as s:
        ctx = w.conv.core
        if kind == "new":
            return await accounts.get_or_create_account(
                s, ctx, channel=channel, platform_user_id=user, chat_id=user, display_name=user
            )
        if kind == "producer":
            account = await s.get(Account, w.producer.producer_account_id)
            assert account is not None
            return account
        account = await producer_account(s, ctx, user, channel=channel)
        await accounts.grant_role(
            s, accounts.Actor.system(), account, Role.PROVINCE, commune_code=BINH_LU
        )
        return account


async def _data_for(w: World, flow: str, first: str, step: str) -> tuple[str, dict[str, Any]]:
    """The person kind and the state data a real conversation leaves at ``step`` of ``flow``."""
    council = step in {s.name for s in COUNCIL_STEPS}
    async with transaction(w.sessions) as s:
        mine = await s.get(Dossier, w.producer.dossier_id)
        theirs = await s.get(Dossier, (w.at_province if council else w.submitted).dossier_id)
        assert mine is not None and theirs is not None
    req = requirements_for(mine.criteria_set, mine.attempt)[0].code
    common: dict[str, Any] = {"_history": [first]}
    if flow in {"onboarding"}:
        return "new", common
    if flow == "officer_inbox":
        return "officer", {
            **common,
            "dossier_id": theirs.id,
            "version": theirs.version,
            "view": "mine",
            "page": 0,
            "req_ticked": [req],
            "check": {},
            "reason": "Thiếu ảnh",
            "cert_number": "12/QĐ",
            "score_typed": "76,5",  # what the officer typed, waiting for confirmation
        }
    reg = {
        "kind": "cooperative",
        "producer_name": "HTX A",
        "representative": "Lò Văn A",
        "province": "12",
        "commune": BINH_LU,
        "commune_name": "Xã Bình Lư",
        "product_name": "Chè",
        "criteria_set": 4,
        "description": "Chè cổ thụ",
    }
    return "producer", {
        **common,
        "reg": reg,
        "sector": "I",
        "commune_hits": [[BINH_LU, "Xã Bình Lư"]],
        "dossier_id": mine.id,
        "req": req,
        "replace": False,
        "candidates": [[mine.id, mine.receipt_code]],
    }


_STATES = ConversationState.__table__  # type: ignore[attr-defined]


async def _put_at(w: World, account: Account, flow: str, step: str, data: dict[str, Any]) -> None:
    async with transaction(w.sessions) as s:
        conn = await s.connection()
        values = {"flow": flow, "step": step, "data": dict(data)}
        moved = await conn.execute(
            update(_STATES).where(_STATES.c.account_id == account.id).values(**values)
        )
        if moved.rowcount == 0:
            await conn.execute(
                insert(_STATES).values(
                    account_id=account.id, version=0, updated_at=utc_now(), **values
                )
            )


async def _where(w: World, account: Account) -> tuple[str, str]:
    async with transaction(w.sessions) as s:
        conn = await s.connection()
        found = await conn.execute(
            select(_STATES.c.flow, _STATES.c.step).where(_STATES.c.account_id == account.id)
        )
        flow, step = found.one()
        return flow, step


EXPECT: dict[str, tuple[str, ...]] = {  # words of each intent's own answer (folded)
    "status": ("ho so", "chua co ho so"),
    "deadlines": ("han", "lich"),
    "missing": ("thieu",),
    "help": ("/dangky",),
    "menu": ("da huy",),
    "cancel": ("da huy",),
    "back": ("",),  # the previous question: checked by where the person is afterwards
    "language": ("ngon ngu",),
    "upload_link": ("lien ket", "gui anh hoac tep pdf", "gui giay to"),
    "my_data": ("du lieu ca nhan cua ban",),
}


def _expected(intent: str, kind: str, text: str) -> bool:
    if kind == "new" and intent not in NAVIGATION and intent != "help":  # my data too
        return "hoan tat buoc dang ky" in text
    return any(word in text for word in EXPECT[intent])


# The flows in three groups of about 20 steps: tests of a size the parallel run spreads well.
GROUPS = {"register": {"register"}, "officer_inbox": {"officer_inbox"}}


def _in_group(flow: str, group: str) -> bool:
    return flow in GROUPS[group] if group in GROUPS else not any(flow in g for g in GROUPS.values())


@pytest.mark.parametrize("group", [*GROUPS, "the others"])
@pytest.mark.parametrize("channel", list(CHANNELS))
async def test_every_global_intent_at_every_step(world: World, channel: str, group: str) -> None:
    w = world
    caps = CHANNELS[channel]
    checked = 0
    people: dict[str, Account] = {}  # one person of each kind: only who they are is used
    flows = {name: flow for name, flow in w.flows.items() if _in_group(name, group)}
    for flow_name, flow in flows.items():
        for step in flow.steps:
            kind, data = await _data_for(w, flow_name, flow.first, step)
            if kind not in people:
                user = f"{kind}-{channel}" if kind != "producer" else w.producer.producer_user
                people[kind] = await _account(
                    w, user, "telegram" if kind == "producer" else channel, kind
                )
            account = people[kind]
            for intent in CHECKED:
                for typed in typed_forms(intent):
                    await _put_at(w, account, flow_name, step, data)
                    result = await w.conv.handle(
                        Incoming(
                            channel=account.channel,
                            user_id=account.platform_user_id,
                            chat_id=account.chat_id,
                            kind=Kind.TEXT,
                            text=typed,
                        ),
                        caps,
                    )
                    shown = fold(
                        "\n".join(
                            screen(r, result.locale, buttons=caps.buttons) for r in result.replies
                        )
                    )
                    where = (flow_name, step, intent, typed)
                    assert TRAP not in shown, where
                    assert NOT_UNDERSTOOD not in shown, where
                    assert _expected(intent, kind, shown), (where, shown)
                    if intent not in MOVES or (kind == "new" and intent == "my_data"):
                        assert await _where(w, account) == (flow_name, step), where
                    if intent == "back":
                        assert await _where(w, account) == (flow_name, flow.first), where
                    checked += 1
    steps = sum(len(f.steps) for f in flows.values())
    assert steps and checked == steps * sum(len(typed_forms(i)) for i in CHECKED)
    print(f"\n{channel}: {checked} intent messages over {steps} steps of {len(flows)} flows")
