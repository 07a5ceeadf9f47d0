"""``--now``: the instant a command acts as if it were (``remind``, ``dossier add``)."""

from __future__ import annotations

import argparse
from datetime import datetime


def parse_instant(value: str) -> datetime:
    """``--now``: an ISO 8601 instant with its time zone (argparse type)."""
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date and time; write e.g. 2024-10-23T08:00:00+07:00"
        ) from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} has no time zone; write e.g. 2024-10-23T08:00:00+07:00"
        )
    return at
