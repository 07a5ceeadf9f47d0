"""Entity parsing for the fake Telegram server: HTML, the only parse mode the bot uses.

The HTML parser follows the algorithm of TDLib's ``parse_html`` (the code the real Bot API server
runs), so tag handling and error messages match what Telegram answers, e.g.
``Unsupported start tag "div" at byte offset 0``. One deliberate difference, on by default
(``strict_ampersand``): a bare ``&`` that does not start ``&lt;``, ``&gt;``, ``&amp;``,
``&quot;`` or a numeric reference is rejected. Telegram tolerates it, but its documentation
requires escaping, and a bot that forgets to escape user text will sooner or later send a ``<``
that Telegram does reject.

Offsets and lengths of the returned entities are in UTF-16 code units, like the Bot API's.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "EntityParseError",
    "parse_formatted",
    "parse_html",
    "utf16_len",
]


class EntityParseError(ValueError):
    """The text cannot be parsed; ``str(exc)`` is the reason in Telegram's words."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Bot API entity offsets."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(text: str, index: int) -> int:
    # Telegram reports positions as UTF-8 byte offsets into the original text.
    return len(text[:index].encode("utf-8"))


def parse_formatted(
    text: str, parse_mode: str | None, *, strict_ampersand: bool = True
) -> tuple[str, list[dict[str, Any]]]:
    """Parse ``text`` for ``parse_mode`` (None/"" means plain text) into (visible text, entities).

    Raises EntityParseError for malformed markup and ValueError for another mode: Telegram has
    MarkdownV2 and Markdown too, but the bot never sends them, so the fake does not model them.
    """
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text, strict_ampersand=strict_ampersand)
    raise ValueError(f"parse_mode {parse_mode!r} is not modelled by the fake")


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
# TDLib's is_space() also treats NUL as a space; we use NUL as the end-of-text sentinel.
_SPACES = frozenset(" \t\r\n\f\v\0")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_NUMERIC_ENTITY = re.compile(r"&#(?:([0-9]{1,7})|[xX]([0-9a-fA-F]{1,6}));")
_NAMED_ENTITY = re.compile(r"&([a-zA-Z]{2,4});")


def _decode_html_entity(text: str, i: int) -> tuple[str, int] | None:
    """Decode an entity starting at text[i] == '&'; returns (character, length) or None."""
    m = _NUMERIC_ENTITY.match(text, i)
    if m:
        code = int(m.group(1)) if m.group(1) else int(m.group(2), 16)
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), m.end() - i
        return None
    m = _NAMED_ENTITY.match(text, i)
    if m and m.group(1) in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[m.group(1)], m.end() - i
    return None


class _OpenTag:
    __slots__ = ("argument", "begin", "offset", "tag")

    def __init__(self, tag: str, argument: str, offset: int, begin: int) -> None:
        self.tag = tag
        self.argument = argument
        self.offset = offset  # UTF-16 offset in the output where the entity starts
        self.begin = begin  # index of the output piece list where the entity's text starts


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram's HTML subset into (visible text, entities); raise EntityParseError."""
    n = len(text)

    def ch(k: int) -> str:
        return text[k] if k < n else "\0"

    def err(reason: str) -> EntityParseError:
        return EntityParseError(reason)

    out: list[str] = []
    u16 = 0
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                out.append(decoded[0])
                u16 += utf16_len(decoded[0])
                i += decoded[1]
                continue
            if strict_ampersand:
                raise err(
                    f'Unescaped "&" at byte offset {_byte_offset(text, i)}; '
                    "it must be written as &amp;"
                )
        if c != "<":
            out.append(c)
            u16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue

        begin_pos = i
        i += 1
        if ch(i) != "/":
            # A start tag: name, then attributes, then '>'.
            while ch(i) not in _SPACES and ch(i) != ">":
                i += 1
            if ch(i) == "\0":
                raise err(f"Unclosed start tag at byte offset {_byte_offset(text, begin_pos)}")
            tag_name = text[begin_pos + 1 : i].lower()
            if tag_name not in _HTML_TAGS:
                raise err(
                    f'Unsupported start tag "{tag_name}" at byte offset '
                    f"{_byte_offset(text, begin_pos)}"
                )
            argument = ""
            while ch(i) != ">":
                while ch(i) != "\0" and ch(i) in _SPACES:
                    i += 1
                if ch(i) == ">":
                    break
                attr_begin = i
                while ch(i) not in _SPACES and ch(i) not in "=>":
                    i += 1
                attr_name = text[attr_begin:i]
                if not attr_name:
                    raise err(
                        f'Empty attribute name in the tag "{tag_name}" at byte offset '
                        f"{_byte_offset(text, begin_pos)}"
                    )
                while ch(i) != "\0" and ch(i) in _SPACES:
                    i += 1
                if ch(i) != "=":
                    if tag_name == "blockquote" and attr_name.lower() == "expandable":
                        argument = "1"  # documented value-less attribute: <blockquote expandable>
                        continue
                    raise err(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag_name}" at byte offset {_byte_offset(text, begin_pos)}'
                    )
                i += 1
                while ch(i) != "\0" and ch(i) in _SPACES:
                    i += 1
                if ch(i) == "\0":
                    raise err(
                        f'Unclosed start tag "{tag_name}" at byte offset '
                        f"{_byte_offset(text, begin_pos)}"
                    )
                if ch(i) not in "'\"":
                    # An unquoted name token: letters, digits, periods and hyphens only.
                    token_begin = i
                    while ch(i).isascii() and (ch(i).isalnum() or ch(i) in ".-"):
                        i += 1
                    value = text[token_begin:i].lower()
                    if ch(i) not in _SPACES and ch(i) != ">":
                        raise err(
                            "Unexpected end of name token at byte offset "
                            f"{_byte_offset(text, token_begin)}"
                        )
                else:
                    quote = text[i]
                    i += 1
                    parts: list[str] = []
                    while ch(i) != quote and ch(i) != "\0":
                        if text[i] == "&":
                            decoded = _decode_html_entity(text, i)
                            if decoded is not None:
                                parts.append(decoded[0])
                                i += decoded[1]
                                continue
                        parts.append(text[i])
                        i += 1
                    if ch(i) == quote:
                        i += 1
                    value = "".join(parts)
                if ch(i) == "\0":
                    raise err(f"Unclosed start tag at byte offset {_byte_offset(text, begin_pos)}")
                if tag_name == "a" and attr_name == "href":
                    argument = value
                elif tag_name == "code" and attr_name == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag_name == "span" and attr_name == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag_name == "tg-emoji" and attr_name == "emoji-id":
                    argument = value
                elif tag_name == "blockquote" and attr_name == "expandable":
                    argument = "1"
            if tag_name == "span" and argument != "spoiler":
                raise err(
                    'Tag "span" must have class "tg-spoiler" at byte offset '
                    f"{_byte_offset(text, begin_pos)}"
                )
            stack.append(_OpenTag(tag_name, argument, u16, len(out)))
            i += 1  # skip '>'
            continue

        # An end tag.
        if not stack:
            raise err(f"Unexpected end tag at byte offset {_byte_offset(text, begin_pos)}")
        while ch(i) not in _SPACES and ch(i) != ">":
            i += 1
        end_tag_name = text[begin_pos + 2 : i].lower()
        while ch(i) != "\0" and ch(i) in _SPACES:
            i += 1
        if ch(i) != ">":
            raise err(f"Unclosed end tag at byte offset {_byte_offset(text, begin_pos)}")
        i += 1
        opened = stack.pop()
        if end_tag_name and end_tag_name != opened.tag:
            raise err(
                f"Unmatched end tag at byte offset {_byte_offset(text, begin_pos)}, "
                f'expected "</{opened.tag}>", found "</{end_tag_name}>"'
            )
        length = u16 - opened.offset
        if length <= 0:
            continue
        entity = _html_entity(opened, length, "".join(out[opened.begin :]), entities)
        if entity is not None:
            entities.append(entity)
    if stack:
        raise err(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_entity(
    opened: _OpenTag, length: int, inner: str, done: list[dict[str, Any]]
) -> dict[str, Any] | None:
    base = {"offset": opened.offset, "length": length}
    tag = opened.tag
    if tag in _SIMPLE_TAG_TYPES:
        return {"type": _SIMPLE_TAG_TYPES[tag], **base}
    if tag == "a":
        url = opened.argument or inner
        if url.startswith("tg://user?id="):
            return {"type": "text_mention", **base, "user": {"id": int(url.split("=", 1)[1] or 0)}}
        if not (re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", url) or "." in url):
            return None  # TDLib silently drops links it cannot parse
        return {"type": "text_link", **base, "url": url}
    if tag == "tg-emoji":
        if not opened.argument.isdigit():
            return None
        return {"type": "custom_emoji", **base, "custom_emoji_id": opened.argument}
    if tag == "blockquote":
        kind = "expandable_blockquote" if opened.argument else "blockquote"
        return {"type": kind, **base}
    if tag == "code":
        return {
            "type": "code",
            **base,
            **({"language": opened.argument} if opened.argument else {}),
        }
    if tag == "pre":
        # <pre><code class="language-x">…</code></pre> becomes one pre entity with a language.
        if done and done[-1]["type"] == "code" and done[-1]["offset"] == opened.offset:
            inner_code = done.pop()
            if inner_code["length"] == length and "language" in inner_code:
                return {"type": "pre", **base, "language": inner_code["language"]}
            done.append(inner_code)
        return {"type": "pre", **base}
    return None
