"""Command names in Vietnamese (without accents, as Telegram requires) and English."""

from __future__ import annotations

# Telegram command → canonical name (flows are named by the canonical name).
COMMAND_ALIASES: dict[str, str] = {
    "start": "start",
    "batdau": "start",
    "huy": "cancel",
    "cancel": "cancel",
    "trogiup": "help",
    "help": "help",
    "quaylai": "back",
    "back": "back",
    "ngonngu": "language",
    "language": "language",
    "dangky": "register",
    "register": "register",
    "giayto": "documents",
    "documents": "documents",
    "hoso": "dossiers",
    "dossiers": "dossiers",
    "trangthai": "status",
    "status": "status",
    "lich": "deadlines",
    "deadlines": "deadlines",
    "menu": "cancel",
    "canbo": "officer_join",
    "xa": "officer_inbox",
    "tinh": "officer_inbox",
    "dulieu": "data_rights",
}

# The same intents typed as words ("huy", "quay lai", "menu"…) are global intents: their words
# live in the catalogs (see ``bot.flows.intents``).

# The command menu shown by the platforms (setMyCommands): name → catalog key.
MENU_COMMANDS: list[tuple[str, str]] = [
    ("start", "cmd.start"),
    ("dangky", "cmd.dangky"),
    ("giayto", "cmd.giayto"),
    ("hoso", "cmd.hoso"),
    ("trangthai", "cmd.trangthai"),
    ("lich", "cmd.lich"),
    ("ngonngu", "cmd.ngonngu"),
    ("huy", "cmd.huy"),
    ("trogiup", "cmd.trogiup"),
]
