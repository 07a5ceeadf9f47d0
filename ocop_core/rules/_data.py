"""Shared plumbing for the rules data: an immutable model base and the TOML reader."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Rules are read once and shared by every caller, so nobody may change them in place.

    ``extra="forbid"`` turns a typo in a TOML key into a load error instead of a silent default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


def read_toml(name: str) -> dict[str, Any]:
    """A data file shipped inside this package (works from a wheel as well as a checkout)."""
    text = (resources.files("ocop_core.rules") / name).read_text(encoding="utf-8")
    return tomllib.loads(text)
