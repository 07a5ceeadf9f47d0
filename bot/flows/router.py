"""One message end to end: account → state → flow step → replies, in one transaction."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.flows.commands import COMMAND_ALIASES, WORD_COMMANDS
from bot.flows.engine import (
    END,
    Answer,
    Flow,
    FlowContext,
    Reask,
    domain_message,
    load_state,
    match_choice,
    offered_choices,
    save_state,
    token_for,
)
from bot.flows.menu import menu_reply
from bot.flows.producer import status as status_flow
from bot.flows.types import Capabilities, Choice, Incoming, Kind, Outgoing, Reply, UploadSlot
from ocop_core.db import is_sqlite, transaction
from ocop_core.errors import DomainError
from ocop_core.i18n import N_, translate
from ocop_core.models import Account
from ocop_core.services import accounts, outbox
from ocop_core.services.context import CoreContext
from ocop_core.text import fold

log = logging.getLogger("ocop.router")

SKIP = "skip"
BACK = "back"


class StateConflict(Exception):
    """Another process saved this person's state first; handle the message again."""


@dataclass
class Result:
    replies: list[Reply]
    outgoing: list[Outgoing] = field(default_factory=list)
    account_id: int | None = None
    locale: str = "vi"


class Conversations:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        core: CoreContext,
        flows: dict[str, Flow],
    ) -> None:
        self.sessions = sessions
        self.core = core
        self.flows = flows
        url = str(sessions.kw["bind"].url) if "bind" in sessions.kw else ""
        self._lock_rows = bool(url) and not is_sqlite(url)

    async def handle(self, inc: Incoming, caps: Capabilities) -> Result:
        for _ in range(3):
            try:
                return await self._handle_once(inc, caps)
            except StateConflict:
                log.info("state conflict for %s/%s; retrying", inc.channel, inc.user_id)
        raise RuntimeError("conversation state kept changing under us")

    async def _handle_once(self, inc: Incoming, caps: Capabilities) -> Result:
        async with transaction(self.sessions) as s:
            account = await accounts.get_or_create_account(
                s,
                self.core,
                channel=inc.channel,
                platform_user_id=inc.user_id,
                chat_id=inc.chat_id,
                display_name=inc.display_name,
                locale=inc.locale_hint,
            )
            actor = await accounts.actor_for(s, account)
            state = await load_state(s, account, lock=self._lock_rows)
            fc = FlowContext(
                s=s,
                core=self.core,
                account=account,
                actor=actor,
                caps=caps,
                data=copy.deepcopy(state.data),
            )
            flow, step = state.flow, state.step
            flow, step = await self._dispatch(fc, flow, step, inc)
            token = token_for(state.version + 1)
            replies = [_tokened(r, token) for r in fc.replies]
            if replies and replies[-1].choices:
                fc.data["_choices"] = offered_choices(replies[-1])
                fc.data["_token"] = token
            else:
                fc.data.pop("_choices", None)
                fc.data.pop("_token", None)
            await self._queue_outgoing(fc)
            if not await save_state(s, state, flow, step, fc.data, self.core.clock.now()):
                raise StateConflict
            return Result(replies, fc.outbox, account.id, fc.locale)

    async def _queue_outgoing(self, fc: FlowContext) -> None:
        """Messages for other people go into the outbox in the same transaction as the change
        that caused them: both happen or neither does."""
        for out in fc.outbox:
            recipient = await fc.s.get(Account, out.account_id)
            if recipient is None:
                continue
            text = translate(out.text_key, recipient.locale, **out.params)
            await outbox.enqueue(
                fc.s,
                recipient,
                {"text": text},
                key=out.key,
                now=self.core.clock.now(),
                priority=out.priority,
            )

    # -- dispatch -----------------------------------------------------------------------------

    async def _dispatch(
        self, fc: FlowContext, flow: str, step: str, inc: Incoming
    ) -> tuple[str, str]:
        command = _command_of(inc)
        if command is not None:
            return await self._command(fc, flow, step, command, inc.args)
        if fc.account.consent_at is None and flow not in {"onboarding", "language"}:
            return await self.start(fc, "onboarding", {})
        if inc.kind == Kind.UNSUPPORTED:
            slot = self._upload_slot(fc, flow, step)
            if slot is not None:  # maybe a file the channel cannot carry: offer a web upload
                fc.replies.append(Reply(fc.t(N_("flow.unsupported_upload")), upload=slot))
            else:
                fc.say(N_("flow.unsupported"))
            return await self._reprompt(fc, flow, step)
        if inc.file_error:
            fc.say(inc.file_error)
            return await self._reprompt(fc, flow, step)
        offered = fc.data.get("_choices") or []
        inc = _resolve_index(inc, offered, fc.data.get("_token"))
        answer = _answer(inc, offered)
        if inc.kind == Kind.CHOICE and not _is_current(inc, offered, fc):
            if inc.choice and inc.choice.startswith(("menu:", "open:")):
                answer = Answer(choice=inc.choice, kind=Kind.CHOICE)
                return await self._idle(fc, answer, inc)
            fc.say(N_("flow.stale_button"))
            return await self._reprompt(fc, flow, step)
        if not flow or flow not in self.flows:
            return await self._idle(fc, answer, inc)
        if answer.choice == BACK:
            return await self._back(fc, flow, step)
        return await self._run_step(fc, flow, step, answer)

    def _upload_slot(self, fc: FlowContext, flow: str, step: str) -> UploadSlot | None:
        if not fc.caps.upload_links or flow not in self.flows:
            return None
        current = self.flows[flow].steps.get(step)
        if current is None or current.upload_slot is None:
            return None
        return current.upload_slot(fc)

    async def _command(
        self, fc: FlowContext, flow: str, step: str, command: str, args: str
    ) -> tuple[str, str]:
        onboarded = fc.account.consent_at is not None
        if command == "start":
            if onboarded:
                fc.say(N_("flow.welcome_back"), name=fc.account.display_name or "")
                return self._menu(fc)
            fc.data = {}
            return await self.start(fc, "onboarding", {})
        if command == "cancel":
            fc.data = {}
            fc.say(N_("flow.cancelled"))
            return self._menu(fc)
        if command == "help":
            fc.say(N_("flow.help"))
            return await self._reprompt(fc, flow, step)
        if command == "back":
            return await self._back(fc, flow, step)
        if command == "language":
            fc.data["_resume"] = [flow, step]
            return await self.start(fc, "language", {}, keep=True)
        if not onboarded:
            return await self.start(fc, "onboarding", {})
        if command in {"status", "dossiers", "deadlines"}:
            await status_flow.answer(fc, command, args)
            return await self._reprompt(fc, flow, step, quiet=True)
        if command in self.flows and command not in {"onboarding", "language"}:
            fc.data = {}
            return await self.start(fc, command, {"args": args})
        fc.say(N_("flow.unknown_command"))
        return await self._reprompt(fc, flow, step)

    async def _idle(self, fc: FlowContext, answer: Answer, inc: Incoming) -> tuple[str, str]:
        """No flow running: the main menu, a receipt code, or a question about status."""
        choice = answer.choice or ""
        if choice.startswith("menu:"):
            target, _, arg = choice.removeprefix("menu:").partition(":")
            if target in {"status", "dossiers", "deadlines"}:
                await status_flow.answer(fc, target, "")
                return self._menu(fc, quiet=True)
            if target in self.flows:
                fc.data = {}
                return await self.start(fc, target, {"dossier_id": arg} if arg else {})
        if choice.startswith("open:"):
            await status_flow.open_choice(fc, choice)
            return self._menu(fc, quiet=True)
        if inc.kind == Kind.TEXT and await status_flow.answer_free_text(fc, inc.text):
            return self._menu(fc, quiet=True)
        if inc.kind == Kind.FILES:
            fc.say(N_("flow.files_without_document"))
            return self._menu(fc)
        fc.say(N_("flow.not_understood"))
        return self._menu(fc)

    def _menu(self, fc: FlowContext, *, quiet: bool = False) -> tuple[str, str]:
        _append_prompt(fc, menu_reply(fc, quiet=quiet))
        fc.data = {}
        return "", ""

    async def start(
        self, fc: FlowContext, name: str, args: dict[str, Any], *, keep: bool = False
    ) -> tuple[str, str]:
        flow = self.flows[name]
        if not keep:
            fc.data = {}
        fc.data["_history"] = []
        first = flow.first
        if flow.on_start is not None:
            try:
                async with fc.s.begin_nested():
                    first = await flow.on_start(fc, args)
            except Reask as exc:
                fc.say(exc.key, **exc.params)
                return self._menu(fc)
            except DomainError as exc:
                fc.replies.append(Reply(domain_message(fc, exc)))
                return self._menu(fc)
        return await self._enter(fc, name, first)

    async def _enter(self, fc: FlowContext, flow: str, step: str) -> tuple[str, str]:
        if step == END:
            return await self._finish(fc)
        _append_prompt(fc, await self._prompt(fc, flow, step))
        return flow, step

    async def _finish(self, fc: FlowContext) -> tuple[str, str]:
        resume = fc.data.get("_resume")
        if fc.next_flow is not None:
            name, args = fc.next_flow
            fc.next_flow = None
            return await self.start(fc, name, args)
        if resume and resume[0] in self.flows:
            fc.data.pop("_resume", None)
            return await self._reprompt(fc, resume[0], resume[1])
        return self._menu(fc, quiet=True)

    async def _prompt(self, fc: FlowContext, flow: str, step: str) -> Reply:
        st = self.flows[flow].step(step)
        reply = await st.prompt(fc)
        extra: list[Choice] = []
        if st.skippable:
            extra.append(Choice(SKIP, fc.t(N_("flow.choice.skip"))))
        if fc.data.get("_history"):
            extra.append(Choice(BACK, fc.t(N_("flow.choice.back"))))
        if extra:
            reply = replace(reply, choices=(*reply.choices, *extra))
        return reply

    async def _reprompt(
        self, fc: FlowContext, flow: str, step: str, *, quiet: bool = False
    ) -> tuple[str, str]:
        if flow in self.flows and step in self.flows[flow].steps:
            return await self._enter(fc, flow, step)
        if quiet:
            return self._menu(fc, quiet=True)
        return self._menu(fc)

    async def _back(self, fc: FlowContext, flow: str, step: str) -> tuple[str, str]:
        history: list[str] = fc.data.get("_history") or []
        if not history or flow not in self.flows:
            fc.say(N_("flow.nothing_to_go_back_to"))
            return await self._reprompt(fc, flow, step)
        previous = history.pop()
        return await self._enter(fc, flow, previous)

    async def _run_step(
        self, fc: FlowContext, flow: str, step: str, answer: Answer
    ) -> tuple[str, str]:
        current = self.flows[flow].steps.get(step)
        if current is None:
            return self._menu(fc)
        if answer.choice == SKIP and not current.skippable:
            answer = Answer(text=SKIP, kind=Kind.TEXT)
        before = copy.deepcopy(fc.data)
        try:
            async with fc.s.begin_nested():  # a refused step leaves nothing half-written
                nxt = await current.handle(fc, answer)
        except Reask as exc:
            fc.data = before
            fc.say(exc.key, **exc.params)
            return await self._enter(fc, flow, step)
        except DomainError as exc:
            fc.data = before
            fc.replies.append(Reply(domain_message(fc, exc)))
            return await self._enter(fc, flow, step)
        if nxt == END:
            return await self._finish(fc)
        if nxt != step:
            fc.data.setdefault("_history", []).append(step)
        return await self._enter(fc, flow, nxt)


def _resolve_index(inc: Incoming, offered: list[list[str]], token: str | None) -> Incoming:
    """Buttons may carry only "#n" (the n-th option of the prompt they came with): opaque and
    short. It means something only with the token of the current prompt."""
    if inc.kind != Kind.CHOICE or not (inc.choice or "").startswith("#"):
        return inc
    raw = (inc.choice or "")[1:]
    if inc.token == token and raw.isdigit() and 0 <= int(raw) < len(offered):
        return replace(inc, choice=offered[int(raw)][0])
    return replace(inc, choice="#stale")


def _append_prompt(fc: FlowContext, prompt: Reply) -> None:
    """Send what was just said and the next question as one message (weak signal: fewer
    messages), unless the previous reply carries buttons or files of its own."""
    if fc.replies:
        last = fc.replies[-1]
        if not (last.choices or last.files or last.request_contact or last.upload):
            fc.replies.pop()
            prompt = replace(prompt, text=f"{last.text}\n\n{prompt.text}")
    fc.replies.append(prompt)


def _tokened(reply: Reply, token: str) -> Reply:
    if not reply.choices:
        return reply
    return replace(reply, token=token)


def _is_current(inc: Incoming, offered: list[list[str]], fc: FlowContext) -> bool:
    """A button counts only if it belongs to the latest prompt of this person."""
    ids = {c[0] for c in offered}
    return inc.choice in ids and (inc.token is None or inc.token == fc.data.get("_token"))


def _answer(inc: Incoming, offered: list[list[str]]) -> Answer:
    if inc.kind == Kind.CHOICE:
        return Answer(choice=inc.choice, kind=Kind.CHOICE)
    if inc.kind == Kind.FILES:
        return Answer(files=inc.files, text=inc.text, kind=Kind.FILES)
    if inc.kind == Kind.CONTACT:
        return Answer(phone=inc.phone, kind=Kind.CONTACT)
    choice = match_choice(inc.text, offered) if offered else None
    return Answer(text=inc.text, choice=choice, kind=Kind.CHOICE if choice else Kind.TEXT)


def _command_of(inc: Incoming) -> str | None:
    if inc.kind == Kind.COMMAND and inc.command:
        return COMMAND_ALIASES.get(inc.command.lower(), inc.command.lower())
    if inc.kind == Kind.TEXT:
        words = fold(inc.text)
        return WORD_COMMANDS.get(words)
    return None
