"""/canbo CODE: an officer joins with the invite code the provincial office gave them."""

from __future__ import annotations

from typing import Any

from bot.flows.engine import END, Answer, Flow, FlowContext, Step
from bot.flows.types import Reply
from ocop_core.i18n import N_
from ocop_core.models import Commune, Province, Role
from ocop_core.services import accounts, invites


async def start(fc: FlowContext, args: dict[str, Any]) -> str:
    code = str(args.get("args") or "").strip()
    if not code:
        return "code"
    await _redeem(fc, code)
    return END


async def ask_code(fc: FlowContext) -> Reply:
    return Reply(fc.t(N_("officer.join.ask_code")))


async def got_code(fc: FlowContext, answer: Answer) -> str:
    await _redeem(fc, answer.require_text(40))
    return END


async def _redeem(fc: FlowContext, code: str) -> None:
    """Refusals (mistyped, expired, used, revoked) are DomainErrors: the router says them and
    asks for the code again, or shows the menu when the code came with the command."""
    account, invite = await invites.redeem_invite(fc.s, fc.core, fc.account, code)
    fc.actor = await accounts.actor_for(fc.s, account)  # the menu must show the officer's items
    commune = await fc.s.get(Commune, invite.commune_code)
    province = await fc.s.get(Province, invite.province_code)
    where = commune.name if commune else invite.commune_code
    if invite.role == Role.PROVINCE:
        where = province.name if province else invite.province_code
    key = {
        Role.COMMUNE: N_("officer.join.done_commune"),
        Role.PROVINCE: N_("officer.join.done_province"),
    }.get(invite.role, N_("officer.join.done_admin"))
    fc.say(key, where=where)


OFFICER_JOIN = Flow(
    name="officer_join",
    first="code",
    steps={"code": Step("code", ask_code, got_code)},
    on_start=start,
)
