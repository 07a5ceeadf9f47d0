"""What a person may ask at any step, in their own words: "hồ sơ của tôi đến đâu rồi?",
"han chot", "còn thiếu giấy tờ gì", "gửi pdf", "my data"…

The words live in the catalogs (``intent.words.<name>``: phrases separated by "|"), in every
language at once: people mix Vietnamese and English, and type with or without accents. Matching
is accent-free and tolerates small typos (RapidFuzz).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from rapidfuzz import fuzz

from ocop_core.i18n import LOCALES, N_, translate
from ocop_core.text import fold

# Every global intent and the catalog entry holding its phrases.
INTENT_WORDS: dict[str, str] = {
    "status": N_("intent.words.status"),
    "deadlines": N_("intent.words.deadlines"),
    "missing": N_("intent.words.missing"),
    "help": N_("intent.words.help"),
    "menu": N_("intent.words.menu"),
    "back": N_("intent.words.back"),
    "cancel": N_("intent.words.cancel"),
    "language": N_("intent.words.language"),
    "upload_link": N_("intent.words.upload_link"),
    "my_data": N_("intent.words.my_data"),
}
# Intents that move the person (they do not come back to the step they were at).
NAVIGATION = frozenset({"menu", "back", "cancel", "language"})
# Phrases this short must be the whole message or one of its words ("huy", "menu", "help").
SHORT = 5
WHOLE_SCORE = 88  # the whole message against a phrase, in percent
PART_SCORE = 92  # a phrase found inside a longer message
MAX_WORDS = 12  # longer messages are answers (a description), not questions to the bot


@dataclass(frozen=True, slots=True)
class Phrase:
    intent: str
    words: str  # folded


@cache
def phrases() -> tuple[Phrase, ...]:
    """All phrases of all intents in all languages, longest first (the most specific wins)."""
    found: dict[tuple[str, str], Phrase] = {}
    for intent, key in INTENT_WORDS.items():
        for locale in LOCALES:
            for raw in translate(key, locale).split("|"):
                words = fold(raw)
                if words:
                    found[(intent, words)] = Phrase(intent, words)
    return tuple(sorted(found.values(), key=lambda p: -len(p.words)))


def recognise(text: str, *, free_text_step: bool = False) -> str | None:
    """The intent of ``text``, or None.

    At a step that takes free text (a name, a description) only a message that *is* an intent
    phrase counts, or a question ending in "?"; elsewhere a phrase inside a short message does.
    """
    folded = fold(text)
    if not folded or not any(ch.isalpha() for ch in folded):
        return None
    if len(folded.split()) > MAX_WORDS:
        return None
    for phrase in phrases():
        if _whole(folded, phrase.words):
            return phrase.intent
    if free_text_step and not text.strip().endswith("?"):
        return None
    for phrase in phrases():
        if _inside(folded, phrase.words):
            return phrase.intent
    return None


def _whole(folded: str, phrase: str) -> bool:
    if len(phrase) < SHORT or len(folded) < SHORT:
        return folded == phrase
    return fuzz.ratio(folded, phrase) >= WHOLE_SCORE


def _inside(folded: str, phrase: str) -> bool:
    words = folded.split()
    if len(phrase) < SHORT:
        return phrase in words
    if len(phrase) > len(folded):
        return False
    return fuzz.partial_ratio(phrase, folded) >= PART_SCORE and _aligned(folded, phrase)


def _aligned(folded: str, phrase: str) -> bool:
    """The match starts and ends on word boundaries ("lich" must not match "lịch sử")."""
    alignment = fuzz.partial_ratio_alignment(phrase, folded)
    if alignment is None:
        return False
    start, end = alignment.dest_start, alignment.dest_end
    before_ok = start == 0 or folded[start - 1] == " " or folded[start] == " "
    after_ok = end >= len(folded) or folded[end] == " " or folded[end - 1] == " "
    return before_ok and after_ok
