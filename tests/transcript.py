"""Dialogs as transcripts: a simulated person talks to the real flows over a real database."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFilter

from bot.flows.router import Conversations
from bot.flows.types import Capabilities, FileIn, Incoming, Kind, Reply
from ocop_core.admin_units import fold

TELEGRAM_LIKE = Capabilities(
    buttons=True, max_text=4096, receive_pdf=True, send_files=True, contact_button=True
)
ZALO_LIKE = Capabilities(buttons=False, max_text=2000, receive_pdf=False, send_files=False)


@dataclass
class Person:
    conversations: Conversations
    user_id: str
    caps: Capabilities = TELEGRAM_LIKE
    channel: str = "telegram"
    sent: int = 0  # messages this person sent
    history: list[list[Reply]] = field(default_factory=list)

    @property
    def last(self) -> list[Reply]:
        return self.history[-1] if self.history else []

    @property
    def text(self) -> str:
        """Everything the bot answered to the last message, as one string."""
        return "\n".join(r.text for r in self.last)

    @property
    def choices(self) -> list[str]:
        for reply in reversed(self.last):
            if reply.choices:
                return [c.label for c in reply.choices]
        return []

    async def send(self, incoming: Incoming) -> list[Reply]:
        self.sent += 1
        result = await self.conversations.handle(incoming, self.caps)
        self.history.append(result.replies)
        return result.replies

    def _base(self) -> dict[str, str]:
        return {
            "channel": self.channel,
            "user_id": self.user_id,
            "chat_id": self.user_id,
            "display_name": self.user_id,
        }

    async def say(self, text: str) -> list[Reply]:
        if text.startswith("/") and len(text) > 1:
            command, _, args = text[1:].partition(" ")
            return await self.send(
                Incoming(kind=Kind.COMMAND, command=command, args=args, **self._base())
            )
        return await self.send(Incoming(kind=Kind.TEXT, text=text, **self._base()))

    async def tap(self, label: str) -> list[Reply]:
        """Press the button whose label contains ``label`` (accents and case ignored)."""
        wanted = fold(label)
        for reply in reversed(self.last):
            for choice in reply.choices:
                if wanted in fold(choice.label):
                    return await self.send(
                        Incoming(
                            kind=Kind.CHOICE, choice=choice.id, token=reply.token, **self._base()
                        )
                    )
        raise AssertionError(f"no button {label!r} among {self.choices}")

    async def press(self, choice_id: str, token: str | None) -> list[Reply]:
        return await self.send(
            Incoming(kind=Kind.CHOICE, choice=choice_id, token=token, **self._base())
        )

    async def send_files(self, *blobs: bytes, names: list[str] | None = None) -> list[Reply]:
        files = tuple(
            FileIn(data=b, filename=(names[i] if names else f"p{i}.jpg"))
            for i, b in enumerate(blobs)
        )
        return await self.send(Incoming(kind=Kind.FILES, files=files, **self._base()))

    async def share_contact(self, phone: str) -> list[Reply]:
        return await self.send(Incoming(kind=Kind.CONTACT, phone=phone, **self._base()))

    async def sticker(self) -> list[Reply]:
        return await self.send(Incoming(kind=Kind.UNSUPPORTED, **self._base()))


def document_photo(
    seed: int = 0, *, blur: float = 0.0, size: tuple[int, int] = (1600, 2200), quality: int = 85
) -> bytes:
    """A sharp photo of a printed page (black text lines on white), optionally blurred."""
    image = Image.new("RGB", size, (250, 250, 245))
    draw = ImageDraw.Draw(image)
    y = 120
    line = 0
    while y < size[1] - 120:
        width = 600 + ((seed * 97 + line * 53) % 700)
        for x in range(120, 120 + width, 28):
            draw.rectangle([x, y, x + 18 + (x * seed) % 7, y + 22], fill=(20, 20, 20))
        y += 56
        line += 1
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def pdf_file(pages: int = 2) -> bytes:
    images = [Image.open(io.BytesIO(document_photo(i, size=(1240, 1754)))) for i in range(pages)]
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:])
    return out.getvalue()
