"""Signed, expiring links to our own web server, and the files they may name.

Tokens are made and checked with itsdangerous (URL-safe, timestamped, HMAC) under a key of their
own: OCOP_LINK_SECRET, or one generated once into the data directory (never derived from a bot
token). An upload link names an account, a dossier and a document; "used once" is a row in the
``oncemarker`` table, claimed in the transaction of the upload it guards. A download link names
a ``servedfile`` row by id and the account it was given to: only files the bot registered there
(stored media, document exports and reports) can ever be served — never a path from the link.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.settings import Settings
from ocop_core.models import ServedFile

log = logging.getLogger("ocop.links")

UPLOAD_TTL = 2 * 3600  # seconds an upload link stays valid
DOWNLOAD_TTL = 24 * 3600
UPLOAD_PATH = "/link/u/"
DOWNLOAD_PATH = "/link/f/"
SECRET_FILE = "link-secret"
# The only folders of the data directory a download may come from.
SERVABLE = ("media", "exports", "reports")


class LinkError(Exception):
    """A link that cannot be honoured; ``reason`` is "invalid" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def link_secret(settings: Settings) -> bytes:
    """OCOP_LINK_SECRET, else the key in ``<data dir>/link-secret``, created on first use
    (atomically, so processes sharing the directory agree). Several hosts with separate data
    directories must set OCOP_LINK_SECRET."""
    if settings.link_secret is not None:
        return settings.link_secret.get_secret_value().encode()
    path = settings.data_dir / SECRET_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    log.info("generated a link signing key in the data directory")
    return key


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
    file_id: int  # a ServedFile row
    account_id: int  # the person the link was given to
    expires: int


class LinkSigner:
    def __init__(
        self, secret: bytes, base_url: str = "", clock: Callable[[], float] = time.time
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        signer = type(
            "ClockSigner", (TimestampSigner,), {"get_timestamp": lambda _self: int(clock())}
        )
        self._upload = URLSafeTimedSerializer(secret, salt="ocop-upload", signer=signer)
        self._download = URLSafeTimedSerializer(secret, salt="ocop-download", signer=signer)

    def set_base(self, url: str) -> None:
        self.base_url = url.rstrip("/")

    # -- making links ----------------------------------------------------------------------

    def upload_token(
        self,
        account_id: int,
        dossier_id: int,
        requirement: str,
        locale: str,
        *,
        ttl: int = UPLOAD_TTL,
    ) -> str:
        payload = [account_id, dossier_id, requirement, locale, secrets.token_urlsafe(9), ttl]
        return str(self._upload.dumps(payload))

    def upload_url(self, *args: Any, **kwargs: Any) -> str:
        return f"{self.base_url}{UPLOAD_PATH}{self.upload_token(*args, **kwargs)}"

    def download_token(self, file_id: int, account_id: int, *, ttl: int = DOWNLOAD_TTL) -> str:
        return str(self._download.dumps([file_id, account_id, ttl]))

    def download_url(
        self, file_id: int, account_id: int, filename: str, *, ttl: int = DOWNLOAD_TTL
    ) -> str:
        token = self.download_token(file_id, account_id, ttl=ttl)
        return f"{self.base_url}{DOWNLOAD_PATH}{token}/{quote(filename)}"

    # -- checking links --------------------------------------------------------------------

    def _load(self, serializer: URLSafeTimedSerializer, token: str) -> tuple[list[Any], int]:
        """The payload (ttl last) and its expiry; LinkError when forged or expired."""
        if len(token) > 2048:
            raise LinkError("invalid")
        try:
            payload, signed_at = serializer.loads(token, return_timestamp=True)
        except BadSignature:
            raise LinkError("invalid") from None
        if not isinstance(payload, list) or not payload or not isinstance(payload[-1], int):
            raise LinkError("invalid")
        expires = int(signed_at.timestamp()) + payload[-1]
        if expires < self.clock():
            raise LinkError("expired")
        return payload, expires

    def upload_grant(self, token: str) -> UploadGrant:
        p, expires = self._load(self._upload, token)
        try:
            return UploadGrant(int(p[0]), int(p[1]), str(p[2]), str(p[3]), str(p[4]), expires)
        except (IndexError, TypeError, ValueError):
            raise LinkError("invalid") from None

    def download_grant(self, token: str) -> DownloadGrant:
        p, expires = self._load(self._download, token)
        try:
            return DownloadGrant(int(p[0]), int(p[1]), expires)
        except (IndexError, TypeError, ValueError):
            raise LinkError("invalid") from None


def servable_path(data_dir: Path, relative: str) -> Path | None:
    """The file a ServedFile row names, if it is a regular file inside one of the servable
    folders (no symlink or ``..`` leads elsewhere); None otherwise."""
    root = data_dir.resolve()
    path = (root / relative).resolve()
    allowed = [(root / name).resolve() for name in SERVABLE]
    if not any(path.is_relative_to(folder) for folder in allowed):
        return None
    return path if path.is_file() else None


def servable_relative(data_dir: Path, path: Path) -> str | None:
    """``path`` relative to the data directory when it may be served, else None."""
    root = data_dir.resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        return None
    relative = str(resolved.relative_to(root))
    return relative if servable_path(data_dir, relative) is not None else None


async def register_file(
    s: AsyncSession, data_dir: Path, account_id: int, path: Path, filename: str, mime: str
) -> int | None:
    """Record a file the bot shows this person; its id goes into the link. None when the file
    is not inside a servable folder (it is never offered)."""
    relative = servable_relative(data_dir, path)
    if relative is None:
        log.warning("refused to offer a file outside the servable folders")
        return None
    row = ServedFile(account_id=account_id, path=relative, filename=filename[:200], mime=mime)
    s.add(row)
    await s.flush()
    return row.id
