"""Replies as JSON, stored with an inbox row between the commit of a step and its sending, so a
crash in between resends them instead of running the step again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.flows.types import Choice, FileOut, Reply, UploadSlot


def encode(reply: Reply) -> dict[str, Any]:
    return {
        "text": reply.text,
        "choices": [[c.id, c.label] for c in reply.choices],
        "token": reply.token,
        "files": [[str(f.path), f.filename, f.mime, f.caption] for f in reply.files],
        "contact": reply.request_contact,
        "columns": reply.columns,
        "upload": (
            [reply.upload.dossier_id, reply.upload.requirement, reply.upload.label]
            if reply.upload is not None
            else None
        ),
    }


def decode(data: dict[str, Any]) -> Reply:
    upload = data.get("upload")
    return Reply(
        text=str(data.get("text") or ""),
        choices=tuple(Choice(str(i), str(label)) for i, label in data.get("choices") or []),
        token=str(data.get("token") or ""),
        files=tuple(
            FileOut(Path(p), str(name), str(mime), str(caption))
            for p, name, mime, caption in data.get("files") or []
        ),
        request_contact=bool(data.get("contact")),
        columns=int(data.get("columns") or 1),
        upload=UploadSlot(int(upload[0]), str(upload[1]), str(upload[2])) if upload else None,
    )


def entries(chat: str, replies: list[Reply], *, locale: str, account: int | None) -> list[Any]:
    """What an inbox row keeps to send later: one entry per reply."""
    return [
        {"chat": chat, "reply": encode(r), "locale": locale, "account": account} for r in replies
    ]
