"""Signed, expiring links to our own web server, and single-use markers.

A link carries its facts (who, which dossier and document, until when) in the URL itself,
signed with HMAC-SHA256, so no table is needed to hand one out; any edit breaks the signature.
"Used once" is a row in the ``oncemarker`` table, claimed in the transaction of the upload it
guards (bot/inbox.py ``claim_once``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.settings import Settings

log = logging.getLogger("ocop.links")

UPLOAD_TTL = 2 * 3600  # seconds an upload link stays valid
DOWNLOAD_TTL = 24 * 3600
UPLOAD_PATH = "/link/u/"
DOWNLOAD_PATH = "/link/f/"


class LinkError(Exception):
    """A link that cannot be honoured; ``reason`` is "invalid" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def link_secret(settings: Settings) -> bytes:
    """OCOP_LINK_SECRET, else a key derived from the bot credentials (the same in every process
    with the same settings), else a random one (links then die with the process)."""
    if settings.link_secret is not None:
        return settings.link_secret.get_secret_value().encode()
    material = [
        v.get_secret_value()
        for v in (settings.zalo_bot_token, settings.telegram_token, settings.zalo_webhook_secret)
        if v is not None
    ]
    if not material:
        log.warning("no OCOP_LINK_SECRET and no bot token: links will not survive a restart")
        return secrets.token_bytes(32)
    return hmac.new(b"ocop-links-v1", "\n".join(material).encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class UploadGrant:
    account_id: int
    dossier_id: int
    requirement: str
    locale: str
    nonce: str  # makes each link single-use on its own
    expires: int


@dataclass(frozen=True)
class DownloadGrant:
    path: str  # relative to the data directory
    filename: str
    mime: str
    expires: int


class LinkSigner:
    def __init__(
        self, secret: bytes, base_url: str = "", clock: Callable[[], float] = time.time
    ) -> None:
        self._key = hmac.new(secret, b"links", hashlib.sha256).digest()
        self.base_url = base_url.rstrip("/")
        self.clock = clock

    def set_base(self, url: str) -> None:
        self.base_url = url.rstrip("/")

    # -- making links ----------------------------------------------------------------------

    def sign(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
        return f"{body}.{mac}"

    def upload_token(
        self,
        account_id: int,
        dossier_id: int,
        requirement: str,
        locale: str,
        *,
        ttl: int = UPLOAD_TTL,
    ) -> str:
        return self.sign(
            {
                "k": "u",
                "a": account_id,
                "d": dossier_id,
                "r": requirement,
                "l": locale,
                "n": secrets.token_urlsafe(9),
                "e": int(self.clock()) + ttl,
            }
        )

    def upload_url(self, *args: Any, **kwargs: Any) -> str:
        return f"{self.base_url}{UPLOAD_PATH}{self.upload_token(*args, **kwargs)}"

    def download_url(self, path: str, filename: str, mime: str, *, ttl: int = DOWNLOAD_TTL) -> str:
        token = self.sign(
            {"k": "f", "p": path, "f": filename, "m": mime, "e": int(self.clock()) + ttl}
        )
        return f"{self.base_url}{DOWNLOAD_PATH}{token}/{quote(filename)}"

    # -- checking links --------------------------------------------------------------------

    def verify(self, token: str, kind: str) -> dict[str, Any]:
        body, dot, mac = token.partition(".")
        if not dot or not body or not mac or len(token) > 2048:
            raise LinkError("invalid")
        expected = _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            raise LinkError("invalid")
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            raise LinkError("invalid") from None
        if not isinstance(payload, dict) or payload.get("k") != kind:
            raise LinkError("invalid")
        if not isinstance(payload.get("e"), int) or payload["e"] < self.clock():
            raise LinkError("expired")
        return payload

    def upload_grant(self, token: str) -> UploadGrant:
        p = self.verify(token, "u")
        try:
            return UploadGrant(
                int(p["a"]), int(p["d"]), str(p["r"]), str(p["l"]), str(p["n"]), int(p["e"])
            )
        except (KeyError, TypeError, ValueError):
            raise LinkError("invalid") from None

    def download_grant(self, token: str) -> DownloadGrant:
        p = self.verify(token, "f")
        try:
            return DownloadGrant(str(p["p"]), str(p["f"]), str(p["m"]), int(p["e"]))
        except (KeyError, TypeError, ValueError):
            raise LinkError("invalid") from None
