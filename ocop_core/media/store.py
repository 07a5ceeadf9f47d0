"""Content-addressed file store: ``root/ab/cd/<sha256>.<ext>``, written atomically.

The address is the sha256 of the *processed* bytes. The pipeline is deterministic, so a
photo sent twice yields the same bytes, the same address and ``duplicate=True``.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from ocop_core.media.images import sha256_hex
from ocop_core.media.pipeline import ProcessedFile
from ocop_core.media.sniff import sniff

_EXT = {"jpeg": "jpg", "png": "png", "webp": "webp", "heif": "heic", "pdf": "pdf"}
_NAME = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]{1,5}$")


@dataclass(frozen=True, slots=True)
class StoredFile:
    path: PurePosixPath  # relative to the store root, '/'-separated on every OS
    sha256: str  # of the stored (processed) bytes
    original_sha256: str | None  # of the upload as received, when known
    mime: str
    ext: str
    size: int
    pages: int
    width: int | None
    height: int | None
    duplicate: bool  # these exact bytes were already stored


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def relative_path(self, sha256: str, ext: str) -> PurePosixPath:
        return PurePosixPath(sha256[:2], sha256[2:4], f"{sha256}.{ext}")

    def resolve(self, relative: str | PurePosixPath) -> Path:
        """Absolute path of a stored file; refuses anything that is not a store address."""
        text = str(relative)
        if not _NAME.match(text):
            raise ValueError(f"not a media store path: {text!r}")
        return self.root.joinpath(*PurePosixPath(text).parts)

    def read(self, relative: str | PurePosixPath) -> bytes:
        return self.resolve(relative).read_bytes()

    def exists(self, sha256: str, ext: str) -> bool:
        return self.resolve(self.relative_path(sha256, ext)).is_file()

    def store(
        self,
        data: bytes,
        *,
        ext: str | None = None,
        mime: str | None = None,
        pages: int | None = None,
        width: int | None = None,
        height: int | None = None,
        original_sha256: str | None = None,
    ) -> StoredFile:
        """Write ``data`` unless already present. Missing facts are read from the bytes."""
        found = sniff(data)
        if ext is None or mime is None:
            if not found.accepted:
                raise ValueError("store() needs ext and mime for bytes it cannot identify")
            ext = ext or _EXT[found.fmt]
            mime = mime or found.mime
        assert mime is not None
        if pages is None:
            if found.fmt == "pdf":
                from ocop_core.media.pdf import inspect_pdf

                pages = inspect_pdf(data).pages
            else:
                pages = 1
        if width is None and height is None and found.kind == "image":
            try:
                with Image.open(io.BytesIO(data)) as probe:  # header only
                    width, height = probe.size
            except OSError:
                pass
        digest = sha256_hex(data)
        relative = self.relative_path(digest, ext)
        target = self.resolve(relative)
        duplicate = target.is_file()
        if not duplicate:
            self._write_atomic(target, data)
        return StoredFile(
            path=relative,
            sha256=digest,
            original_sha256=original_sha256,
            mime=mime,
            ext=ext,
            size=len(data),
            pages=pages,
            width=width,
            height=height,
            duplicate=duplicate,
        )

    def store_processed(self, processed: ProcessedFile) -> StoredFile:
        return self.store(
            processed.data,
            ext=processed.ext,
            mime=processed.mime,
            pages=processed.pages,
            width=processed.width,
            height=processed.height,
            original_sha256=processed.original_sha256,
        )

    @staticmethod
    def _write_atomic(target: Path, data: bytes) -> None:
        """Temp file in the same directory, fsync, then rename: readers never see half a file.

        Two processes storing the same bytes at once both write and both rename; the
        content is identical, so the race is harmless (both report ``duplicate=False``).
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
