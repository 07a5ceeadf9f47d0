"""Text shaping shared by the channels: splitting at a platform's length limit."""

from __future__ import annotations


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
