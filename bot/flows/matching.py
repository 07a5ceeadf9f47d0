"""A typed answer as one of the offered options: its number, or any of its words.

Accent-free and typo-tolerant ("dong y" → "Tôi đồng ý", "truyen thon" → "Sản phẩm truyền
thống…"), using RapidFuzz rather than hand-written distances. When two options fit about equally
the person is asked which one they meant.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz

from ocop_core.text import fold

WORD_SCORE = 80  # a typed word against a label word, in percent (one typo in a 5-letter word)
CLEAR_LEAD = 10  # how far ahead the best option must be to be taken without asking


@dataclass(frozen=True, slots=True)
class ChoiceMatch:
    choice: str | None = None
    ambiguous: tuple[str, ...] = ()  # labels of the options that fit equally well
    number_out_of_range: bool = False


def match_choice(text: str, offered: list[list[str]]) -> ChoiceMatch:
    """``offered`` is the [id, label] list of the latest prompt (a number refers to it only)."""
    raw = text.strip().rstrip(".)")
    if raw.isdecimal():
        index = int(raw) - 1
        if 0 <= index < len(offered):
            return ChoiceMatch(offered[index][0])
        return ChoiceMatch(number_out_of_range=True)
    folded = fold(strip_marks(text))
    if not folded:
        return ChoiceMatch()
    for choice_id, label in offered:
        if fold(strip_marks(label)) == folded:
            return ChoiceMatch(choice_id)
    return _by_words(folded, offered)


def _by_words(folded: str, offered: list[list[str]]) -> ChoiceMatch:
    words = folded.split()
    scored: list[tuple[float, str, str]] = []
    for choice_id, label in offered:
        label_folded = fold(strip_marks(label))
        label_words = label_folded.split()
        if all(_word_hit(w, label_words) for w in words):
            scored.append((fuzz.token_sort_ratio(folded, label_folded), choice_id, label))
    if not scored:
        return ChoiceMatch()
    scored.sort(key=lambda item: -item[0])
    if len(scored) == 1 or scored[0][0] - scored[1][0] >= CLEAR_LEAD:
        return ChoiceMatch(scored[0][1])
    return ChoiceMatch(ambiguous=(scored[0][2], scored[1][2]))


def _word_hit(word: str, label_words: list[str]) -> bool:
    """Short words must be exact ("y", "ho"); longer ones may carry a typo or be cut short."""
    if len(word) < 4:
        return word in label_words
    return any(lw.startswith(word) or fuzz.ratio(word, lw) >= WORD_SCORE for lw in label_words)


def strip_marks(label: str) -> str:
    """Labels may carry status marks ("✅ Giấy ĐKKD"); people type the words only."""
    return "".join(ch for ch in label if ch.isalnum() or ch.isspace())
