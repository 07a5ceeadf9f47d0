"""Neutral messages between the channels and the flows. No channel library is imported here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Kind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    FILES = "files"
    CONTACT = "contact"
    COMMAND = "command"
    UNSUPPORTED = "unsupported"  # a sticker, a voice note, a location…


@dataclass(frozen=True)
class FileIn:
    """A file a person sent, already downloaded by the channel."""

    data: bytes
    filename: str | None = None
    mime: str | None = None


@dataclass(frozen=True)
class Incoming:
    channel: str
    user_id: str
    chat_id: str
    kind: Kind
    text: str = ""
    choice: str | None = None  # a choice id from a button
    token: str | None = None  # which prompt the button belonged to (stale buttons are caught)
    files: tuple[FileIn, ...] = ()
    phone: str | None = None  # a shared contact
    command: str | None = None  # without the slash, lower case
    args: str = ""
    display_name: str = ""
    locale_hint: str | None = None
    file_error: str | None = None  # a catalog key when the channel could not fetch a file
    # For UNSUPPORTED: "sticker", "voice"… when the channel knows; "" when it may be a file.
    media: str = ""


@dataclass(frozen=True)
class Choice:
    id: str
    label: str


@dataclass(frozen=True)
class FileOut:
    path: Path
    filename: str
    mime: str
    caption: str = ""


@dataclass(frozen=True)
class UploadSlot:
    """Where a file that the channel cannot carry should go: the channel offers a web upload
    (e.g. a signed link) for this document of this dossier."""

    dossier_id: int
    requirement: str
    label: str = ""  # the document's name, already in the person's language


@dataclass(frozen=True)
class Reply:
    text: str
    choices: tuple[Choice, ...] = ()
    token: str = ""  # echoed back with a choice; set by the engine
    files: tuple[FileOut, ...] = ()
    request_contact: bool = False  # offer the platform's "share my phone number" button
    columns: int = 1
    upload: UploadSlot | None = None  # offer a way to upload a file the chat cannot carry


@dataclass(frozen=True)
class Capabilities:
    """What a channel can do; flows ask for capabilities, never for channel names."""

    buttons: bool = True
    max_text: int = 4096
    receive_pdf: bool = True
    send_files: bool = True
    contact_button: bool = False
    upload_links: bool = False  # files the chat cannot carry may be uploaded through a link


@dataclass
class Outgoing:
    """A message for someone other than the sender; it goes through the outbox, rendered in
    the recipient's language. ``key`` makes it idempotent (e.g. "notice:<event id>")."""

    account_id: int
    text_key: str
    key: str
    params: dict[str, object] = field(default_factory=dict)
    priority: int = 3
