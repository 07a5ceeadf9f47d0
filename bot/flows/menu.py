"""The main menu: what a person can do from anywhere."""

from __future__ import annotations

from bot.flows.engine import FlowContext
from bot.flows.types import Choice, Reply
from ocop_core.i18n import N_
from ocop_core.models import Role


def menu_reply(fc: FlowContext, *, quiet: bool = False) -> Reply:
    key = N_("menu.prompt_short") if quiet else N_("menu.prompt")
    choices = [
        Choice("menu:dossiers", fc.t(N_("menu.dossiers"))),
        Choice("menu:deadlines", fc.t(N_("menu.deadlines"))),
    ]
    if fc.actor.role in (Role.COMMUNE, Role.PROVINCE, Role.ADMIN):
        # Officers are not producers: no "register a product" or "send documents" for them.
        choices.insert(0, Choice("menu:officer_inbox", fc.t(N_("menu.officer_inbox"))))
    else:
        choices[:0] = [
            Choice("menu:register", fc.t(N_("menu.register"))),
            Choice("menu:documents", fc.t(N_("menu.documents"))),
        ]
    choices.append(Choice("menu:language", fc.t(N_("menu.language"))))
    return Reply(fc.t(key), tuple(choices), columns=2)
