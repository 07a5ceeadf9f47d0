"""Receipt codes as people type them."""

from __future__ import annotations

import pytest

from ocop_core import receipts


def test_new_code_shape() -> None:
    code = receipts.new_code("12", 2026)
    assert code[:5] == "1226-" and len(code) == 10
    assert all(ch in receipts.ALPHABET for ch in code[5:])
    assert receipts.new_code("L35", 2024).startswith("L3524-")


@pytest.mark.parametrize(
    "typed", ["1226-7KM3P", "12267km3p", "1226 7km3p", " 12-26-7KM3P ", "1226.7kM3p"]
)
def test_any_case_and_separators(typed: str) -> None:
    assert receipts.normalise(typed) == "1226-7KM3P"


def test_confusable_letters() -> None:
    assert receipts.normalise("1226-0IL00") == "1226-01100"
    assert receipts.normalise("1226-o1100") == "1226-01100"


@pytest.mark.parametrize("typed", ["", "hello", "1226-7KM3", "1226-7KM3PP", "12A6-7KM3P", "😀"])
def test_not_a_code(typed: str) -> None:
    assert receipts.normalise(typed) is None


def test_legacy_province_code() -> None:
    assert receipts.normalise("l3524-abcde") == "L3524-ABCDE"
