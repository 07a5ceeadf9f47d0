"""One message end to end: account → state → flow step → replies, in one transaction."""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.flows import intents
from bot.flows.commands import COMMAND_ALIASES
from bot.flows.engine import (
    END,
    Answer,
    Flow,
    FlowContext,
    Reask,
    domain_message,
    load_state,
    offered_choices,
    save_state,
    token_for,
)
from bot.flows.matching import ChoiceMatch, match_choice
from bot.flows.menu import menu_reply
from bot.flows.producer import status as status_flow
from bot.flows.types import Capabilities, Choice, Incoming, Kind, Outgoing, Reply, UploadSlot
from ocop_core.db import is_sqlite, transaction
from ocop_core.errors import DomainError
from ocop_core.i18n import N_, translate
from ocop_core.models import Account
from ocop_core.services import accounts, outbox
from ocop_core.services.context import CoreContext

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


BeforeCommit = Callable[[AsyncSession, Result], Awaitable[None]]


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

    async def handle(
        self, inc: Incoming, caps: Capabilities, *, before_commit: BeforeCommit | None = None
    ) -> Result:
        """``before_commit`` runs inside the step's transaction (the channel marks the stored
        update done there, so the update and its effects are committed together)."""
        for _ in range(3):
            try:
                return await self._handle_once(inc, caps, before_commit)
            except StateConflict:
                log.info("state conflict for %s/%s; retrying", inc.channel, inc.user_id)
        raise RuntimeError("conversation state kept changing under us")

    async def _handle_once(
        self, inc: Incoming, caps: Capabilities, before_commit: BeforeCommit | None = None
    ) -> Result:
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
            replies = fc.replies if caps.buttons else _one_list(fc.replies)
            replies = [_tokened(r, token) for r in replies]
            if replies and replies[-1].choices:
                fc.data["_choices"] = offered_choices(replies[-1])
                fc.data["_token"] = token
            else:
                fc.data.pop("_choices", None)
                fc.data.pop("_token", None)
            await self._queue_outgoing(fc)
            if not await save_state(s, state, flow, step, fc.data, self.core.clock.now()):
                raise StateConflict
            result = Result(replies, fc.outbox, account.id, fc.locale)
            if before_commit is not None:
                await before_commit(s, result)
            return result

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
            slot = None if inc.media else self._upload_slot(fc, flow, step)
            if inc.media == "sticker":
                fc.say(N_("flow.sticker"))
            elif slot is not None:  # maybe a file the channel cannot carry: offer a web upload
                fc.replies.append(Reply(fc.t(N_("flow.unsupported_upload")), upload=slot))
            else:
                fc.say(N_("flow.unsupported"))
            return await self._reprompt(fc, flow, step)
        if inc.file_error:
            fc.say(inc.file_error)
            return await self._reprompt(fc, flow, step)
        offered = fc.data.get("_choices") or []
        inc = _resolve_index(inc, offered, fc.data.get("_token"))
        typed = match_choice(inc.text, offered) if inc.kind == Kind.TEXT else ChoiceMatch()
        answer = _answer(inc, typed)
        if inc.kind == Kind.CHOICE and not _is_current(inc, offered, fc):
            if inc.choice and inc.choice.startswith(("menu:", "open:")):
                answer = Answer(choice=inc.choice, kind=Kind.CHOICE)
                return await self._idle(fc, answer, inc)
            fc.say(N_("flow.stale_button"))
            return await self._reprompt(fc, flow, step)
        if inc.kind == Kind.TEXT and answer.choice is None:
            free = flow in self.flows and _takes_text(offered)
            intent = intents.recognise(inc.text, free_text_step=free)
            if intent is not None:
                return await self._intent(fc, flow, step, intent)
        if typed.ambiguous:
            fc.say(N_("flow.reask.which"), a=typed.ambiguous[0], b=typed.ambiguous[1])
            return await self._reprompt(fc, flow, step)
        if (answer.choice or "").startswith(("menu:", "open:")):  # a status message's action
            return await self._idle(fc, answer, inc)
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
            self._resume_line(fc, flow, step)
            return await self._reprompt(fc, flow, step)
        if command == "back":
            return await self._back(fc, flow, step)
        if command == "language":
            fc.data["_resume"] = [flow, step]
            return await self.start(fc, "language", {}, keep=True)
        if not onboarded:
            if command == "officer_join" and args.strip():  # "/canbo CODE" as the first message
                fc.data = {"_after": ["officer_join", args.strip()]}
                return await self.start(fc, "onboarding", {}, keep=True)
            if flow == "onboarding" and step in self.flows[flow].steps:
                fc.say(N_("intent.after_onboarding"))  # "/hoso" mid-sign-up: finish it first
                return await self._reprompt(fc, flow, step)
            return await self.start(fc, "onboarding", {})
        if command in {"status", "dossiers", "deadlines"}:
            await status_flow.answer(fc, command, args)
            return await self._reprompt(fc, flow, step, quiet=True)
        if command in self.flows and command not in {"onboarding", "language"}:
            fc.data = {}
            return await self.start(fc, command, {"args": args})
        fc.say(N_("flow.unknown_command"))
        return await self._reprompt(fc, flow, step)

    async def _intent(self, fc: FlowContext, flow: str, step: str, intent: str) -> tuple[str, str]:
        """A question asked in the middle of something: answer it, then back to the step."""
        if intent == "my_data":  # exactly as if the person typed /dulieu
            return await self._command(fc, flow, step, COMMAND_ALIASES.get("dulieu", "dulieu"), "")
        if intent in intents.NAVIGATION:
            command = "cancel" if intent == "menu" else intent
            return await self._command(fc, flow, step, command, "")
        if intent == "help":
            return await self._command(fc, flow, step, "help", "")
        if fc.account.consent_at is None:
            fc.say(N_("intent.after_onboarding"))
        elif intent == "upload_link":
            self._upload_answer(fc, flow, step)
        else:
            await status_flow.answer(fc, intent, "")
        self._resume_line(fc, flow, step)
        return await self._reprompt(fc, flow, step, quiet=True)

    def _resume_line(self, fc: FlowContext, flow: str, step: str) -> None:
        if flow in self.flows and step in self.flows[flow].steps:
            fc.say(N_("intent.resume"))

    def _upload_answer(self, fc: FlowContext, flow: str, step: str) -> None:
        """ "gửi pdf": a link where the chat cannot carry files, else how to send one here."""
        if not fc.caps.upload_links:
            fc.say(N_("intent.upload.in_chat"))
            return
        slot = self._upload_slot(fc, flow, step)
        if slot is None:
            fc.say(N_("intent.upload.choose_document"))
            return
        fc.replies.append(Reply(fc.t(N_("intent.upload.link")), upload=slot))

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
        if inc.kind == Kind.FILES:  # kept; the documents flow asks which document it is
            return await self.start(fc, "documents", {"files": inc.files})
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
        try:
            async with fc.s.begin_nested():
                prompt = await self._prompt(fc, flow, step)
        except DomainError as exc:  # the step no longer applies (a dossier moved on, a role…)
            fc.replies.append(Reply(domain_message(fc, exc)))
            return self._menu(fc)
        _append_prompt(fc, prompt)
        return flow, step

    async def _finish(self, fc: FlowContext) -> tuple[str, str]:
        resume = fc.data.get("_resume")
        after = fc.data.pop("_after", None)  # kept through language and consent
        if after and after[0] in self.flows and fc.account.consent_at is not None:
            return await self.start(fc, after[0], {"args": after[1]})
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
            _count_miss(fc)
            return await self._enter(fc, flow, step)
        except DomainError as exc:
            fc.data = before
            fc.replies.append(Reply(domain_message(fc, exc)))
            _count_miss(fc)
            return await self._enter(fc, flow, step)
        fc.data.pop("_misses", None)
        if nxt == END:
            return await self._finish(fc)
        if nxt != step:
            fc.data.setdefault("_history", []).append(step)
        return await self._enter(fc, flow, nxt)


def _count_miss(fc: FlowContext) -> None:
    """From the second answer in a row that the step cannot use, say how to leave and get help."""
    misses = int(fc.data.get("_misses") or 0) + 1
    fc.data["_misses"] = misses
    if misses >= 2 and fc.replies:
        last = fc.replies[-1]
        fc.replies[-1] = replace(last, text=f"{last.text}\n{fc.t(N_('intent.stuck_hint'))}")


def _takes_text(offered: list[list[str]]) -> bool:
    """The current question wants typed words: it offers no options besides skip and back."""
    return all(choice_id in {SKIP, BACK} for choice_id, _label in offered)


def _resolve_index(inc: Incoming, offered: list[list[str]], token: str | None) -> Incoming:
    """Buttons may carry only "#n" (the n-th option of the prompt they came with): opaque and
    short. It means something only with the token of the current prompt."""
    if inc.kind != Kind.CHOICE or not (inc.choice or "").startswith("#"):
        return inc
    raw = (inc.choice or "")[1:]
    if inc.token == token and raw.isdecimal() and 0 <= int(raw) < len(offered):
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


def _answer(inc: Incoming, typed: ChoiceMatch) -> Answer:
    if inc.kind == Kind.CHOICE:
        return Answer(choice=inc.choice, kind=Kind.CHOICE)
    if inc.kind == Kind.FILES:
        return Answer(files=inc.files, text=inc.text, kind=Kind.FILES)
    if inc.kind == Kind.CONTACT:
        return Answer(phone=inc.phone, kind=Kind.CONTACT)
    choice = typed.choice
    return Answer(text=inc.text, choice=choice, kind=Kind.CHOICE if choice else Kind.TEXT)


def _one_list(replies: list[Reply]) -> list[Reply]:
    """Without buttons a screen holds one numbered list, so a number means one thing: the
    options of earlier replies join the last list (first), and their own lists go."""
    listed = [n for n, r in enumerate(replies) if r.choices]
    if len(listed) < 2:
        return replies
    merged: list[Choice] = []
    for n in listed:
        for choice in replies[n].choices:
            if not any(c.id == choice.id or c.id.startswith(f"{choice.id}:") for c in merged):
                merged.append(choice)
    out = [replace(r, choices=()) if n in listed[:-1] else r for n, r in enumerate(replies)]
    out[listed[-1]] = replace(replies[listed[-1]], choices=tuple(merged))
    return out


def _command_of(inc: Incoming) -> str | None:
    if inc.kind == Kind.COMMAND and inc.command:
        return COMMAND_ALIASES.get(inc.command.lower(), inc.command.lower())
    return None
