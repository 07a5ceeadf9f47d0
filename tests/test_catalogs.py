"""Every message the code can show exists, translated, in both catalogs (vi and en)."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.flows.commands import MENU_COMMANDS
from bot.flows.producer import registration
from ocop_core import media, plans, rules
from ocop_core.i18n import locales_dir
from ocop_core.lifecycle import Action, Stage
from ocop_core.models import Attempt, ProducerKind
from ocop_core.services import review
from ocop_core.services.dossiers import COMMUNE_CRITERIA

ROOT = Path(__file__).resolve().parent.parent
KEY = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$")


def _catalog(locale: str) -> dict[str, tuple[str, bool]]:
    with (locales_dir() / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        po = read_po(fh, locale=locale)
    return {m.id: (m.string, m.fuzzy) for m in po if m.id}


def _marked_in_code() -> set[str]:
    keys: set[str] = set()
    for package in ("ocop_core", "bot"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            ROOT / package, keywords={"N_": None}, comment_tags=()
        ):
            if isinstance(message, str):
                keys.add(message)
    return keys


def _dynamic() -> set[str]:
    """Keys the code builds from data (f"stage.{x}"): every value the data can take."""
    keys = {f"stage.{s.value}" for s in Stage}
    keys |= {f"action.{a.value}" for a in Action}
    keys |= {f"who.{w}" for w in ("producer", "commune", "district", "province", "central")}
    keys |= {f"producer_kind.{k.value}" for k in ProducerKind}
    keys |= {f"attempt.{a.value}" for a in Attempt}
    keys |= {f"share.{x}" for x in registration.SHARES}
    keys |= {f"origin.{x}" for x in registration.ORIGINS}
    keys |= {f"market.{x}" for x in registration.MARKETS}
    keys |= {f"support.{x}" for x in registration.SUPPORT}
    keys |= {key for _name, key in MENU_COMMANDS}
    keys |= {"deadline.commune_check_period"}
    keys |= {f"check.{c}" for c in COMMUNE_CRITERIA} | {f"check.{c}.hint" for c in COMMUNE_CRITERIA}
    keys |= {f"officer.view.{v}" for v in review.VIEWS if v != review.VIEW_STAGE}
    return keys | rules.catalog_keys() | plans.catalog_keys() | media.catalog_keys()


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


REQUIRED = sorted(_marked_in_code() | _dynamic())


def test_keys_look_like_keys() -> None:
    odd = [k for k in REQUIRED if not KEY.match(k)]
    assert not odd, odd


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_every_key_translated(locale: str) -> None:
    catalog = _catalog(locale)
    missing = [k for k in REQUIRED if k not in catalog]
    empty = [k for k in REQUIRED if k in catalog and (not catalog[k][0] or catalog[k][1])]
    assert not missing, f"missing in {locale}: {missing}"
    assert not empty, f"untranslated or fuzzy in {locale}: {empty}"


def test_placeholders_agree_between_languages() -> None:
    vi, en = _catalog("vi"), _catalog("en")
    differing = [k for k in vi if k in en and _fields(vi[k][0]) != _fields(en[k][0])]
    assert not differing, differing


def test_vietnamese_is_vietnamese() -> None:
    """A cheap guard against English pasted into the vi catalog: most long texts carry
    Vietnamese diacritics."""
    vi = _catalog("vi")
    long_texts = [t for t, _ in vi.values() if len(t) > 40]
    with_marks = [
        t
        for t in long_texts
        if re.search(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", t)
    ]
    assert len(with_marks) >= 0.95 * len(long_texts)


@pytest.mark.parametrize(
    ("key", "params", "vi", "en"),
    [
        ("error.points_range", {"points": "120"}, "120", "120"),
        ("error.unknown_commune", {"code": "99999"}, "Không tìm thấy xã", "No commune"),
        (
            "error.wrong_stage",
            {"action": "action.submit", "stage": "stage.certified"},
            "Không thể nộp hồ sơ khi hồ sơ đang ở bước «Đã được công nhận»",
            "Cannot submit while the dossier is at “Certified”",
        ),
    ],
)
def test_domain_errors_read_well_in_both_languages(
    key: str, params: dict[str, str], vi: str, en: str
) -> None:
    from ocop_core.i18n import translate

    assert vi in translate(key, "vi", **params)
    assert en in translate(key, "en", **params)
