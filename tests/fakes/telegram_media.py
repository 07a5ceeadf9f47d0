"""Image helpers for the fake Telegram server: dimensions, thumbnails, sample pictures.

Pillow is used when it is installed (the project depends on it); without it dimensions are still
read from the PNG/JPEG/GIF/WebP headers and thumbnails fall back to the original bytes.
"""

from __future__ import annotations

import io
import struct
import zlib

try:  # Pillow is optional so the fake also runs in a bare environment.
    from PIL import Image
except ImportError:  # pragma: no cover - exercised only without Pillow
    Image = None  # type: ignore[assignment]

__all__ = ["image_size", "sample_jpeg", "sample_png", "thumbnail"]

# Telegram's photo size ladder (longest side): s, m, x, y.
PHOTO_SIDES = (90, 320, 800, 1280)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF or WebP image, or None if it is not one of those."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > n:
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def thumbnail(data: bytes, side: int) -> tuple[bytes, int, int] | None:
    """A JPEG whose longest side is ``side``, or None when Pillow is missing or cannot decode."""
    if Image is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img = img.convert("RGB")
            img.thumbnail((side, side))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=80)
            return buf.getvalue(), img.width, img.height
    except Exception:
        return None


def sample_png(
    width: int = 64, height: int = 48, rgb: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    """A valid solid-colour PNG built without Pillow."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def sample_jpeg(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A small JPEG whose bytes differ per ``seed`` (PNG if Pillow is not installed)."""
    rgb = ((seed * 67) % 256, (seed * 131 + 40) % 256, (seed * 29 + 90) % 256)
    if Image is None:
        return sample_png(width, height, rgb)
    img = Image.new("RGB", (width, height), rgb)
    # A few pixels that depend on the seed, so two samples never compare equal by accident.
    for k in range(min(width, 16)):
        img.putpixel((k, (seed + k) % height), (255 - rgb[0], 255 - rgb[1], 255 - rgb[2]))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()
