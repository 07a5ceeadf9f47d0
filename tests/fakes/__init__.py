"""Fake platform servers for adapter tests (real HTTP, real client libraries); names are
imported lazily."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_TOKEN": "tests.fakes.telegram_api",
    "ApiError": "tests.fakes.telegram_api",
    "CallbackAnswer": "tests.fakes.telegram_api",
    "Chat": "tests.fakes.telegram_api",
    "FakeTelegramServer": "tests.fakes.telegram_api",
    "Fault": "tests.fakes.telegram_api",
    "Person": "tests.fakes.telegram_api",
    "RateLimits": "tests.fakes.telegram_flood",
    "Window": "tests.fakes.telegram_flood",
    "Rejection": "tests.fakes.telegram_api",
    "RequestRecord": "tests.fakes.telegram_api",
    "SentMessage": "tests.fakes.telegram_api",
    "StoredFile": "tests.fakes.telegram_api",
    "WebhookDelivery": "tests.fakes.telegram_api",
    "sample_jpeg": "tests.fakes.telegram_media",
    "sample_png": "tests.fakes.telegram_media",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
