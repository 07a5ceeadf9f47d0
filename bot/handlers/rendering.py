"""Text shaping shared by the channels: the channel's verbs, numbered options where there are
no buttons, splitting at a platform's length limit."""

from __future__ import annotations

from bot.flows.types import Reply
from ocop_core.i18n import N_, translate


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at line breaks, else at spaces, else hard."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            parts.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        current = line
    if current:
        parts.append(current)
    return [p for p in parts if p.strip()] or [text[:limit]]


def numbered(text: str, labels: list[str]) -> str:
    """Choices as numbered lines, for channels without buttons."""
    if not labels:
        return text
    lines = [f"{n}. {label}" for n, label in enumerate(labels, start=1)]
    return "\n".join([text, "", *lines])


# Verbs depend on the channel, so catalog texts name them with a token the renderer fills in:
# "[[tap]] «Bỏ qua»" reads "bấm «Bỏ qua»" under buttons and "gõ số của «Bỏ qua»" under a list.
VERBS: dict[str, tuple[str, str]] = {
    "[[tap]]": (N_("render.tap.buttons"), N_("render.tap.numbers")),
    "[[Tap]]": (N_("render.Tap.buttons"), N_("render.Tap.numbers")),
}


def channel_text(text: str, locale: str, *, buttons: bool) -> str:
    """The text with the channel's own verbs."""
    if "[[" not in text:
        return text
    for token, (with_buttons, with_numbers) in VERBS.items():
        if token in text:
            text = text.replace(token, translate(with_buttons if buttons else with_numbers, locale))
    return text


def screen(reply: Reply, locale: str, *, buttons: bool) -> str:
    """What the person reads for one reply: the channel's verbs and, where there are no
    buttons, the options as one numbered list."""
    text = channel_text(reply.text, locale, buttons=buttons)
    if buttons or not reply.choices:
        return text
    return numbered(text, [c.label for c in reply.choices])
