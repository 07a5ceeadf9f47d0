"""Decode a page photo cheaply, normalise it and re-encode a small, metadata-free JPEG.

Speed comes from not decoding what we will throw away: for JPEG, ``Image.draft`` asks
libjpeg to scale by 1/2, 1/4 or 1/8 inside the inverse DCT, so a 12 MP photo is decoded
straight to ~3 MP. Everything after that works on the small image.

Colour: an embedded ICC profile that is not sRGB (iPhone Display P3, Adobe RGB scans) is
converted to sRGB, then dropped; outputs carry no ICC, EXIF (GPS!), XMP or comments at all.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
from dataclasses import dataclass
from functools import lru_cache

import pillow_heif
from PIL import Image, ImageChops, ImageCms, ImageOps, UnidentifiedImageError

from ocop_core.errors import ValidationError
from ocop_core.media import keys
from ocop_core.media.quality import QualityReport, assess, percentile, shrink_for_analysis

log = logging.getLogger(__name__)

# Registering is idempotent; thumbnails are never needed and cost decode time.
pillow_heif.register_heif_opener(thumbnails=False)

DEFAULT_MAX_PIXELS = 60_000_000  # 60 MP: above any phone camera except 108/200 MP modes
LONG_SIDE = 2000  # A4 at ~170 dpi: body text stays legible
DRAFT_FLOOR = 1600  # accept a DCT-scaled decode down to this long side instead of resizing
TARGET_BYTES = 400_000
# The first is the normal quality; the others are used only for pages over the budget.
_QUALITY_LADDER = (80, 74, 68, 62, 56, 50)
# Final size at quality q over the baseline probe at q80, on the calibration pages (dense
# print, noise, grey and colour): a little above the median, so most guesses are right
# first time and a wrong one costs one more encode, not a visibly lower quality.
_PROBE_SCALE = 3.0  # full-size JPEG bytes ≈ this × half-size JPEG bytes (kept a little high)
_SIZE_RATIO = {
    True: {80: 0.91, 74: 0.81, 68: 0.73, 62: 0.68, 56: 0.63, 50: 0.60},  # progressive
    False: {80: 1.0, 74: 0.89, 68: 0.81, 62: 0.75, 56: 0.70, 50: 0.66},  # baseline, plain
}
_PIL_FORMATS = {"jpeg": ("JPEG",), "png": ("PNG",), "webp": ("WEBP",), "heif": ("HEIF",)}
_GREY_CHROMA_P99 = 10  # channel spread under which a colour photo is really grey


@dataclass(frozen=True, slots=True)
class EncodedImage:
    data: bytes
    width: int
    height: int
    mode: str  # "RGB" or "L"
    original_width: int  # after EXIF rotation
    original_height: int
    quality: QualityReport
    jpeg_quality: int


def _open(data: bytes, fmt: str, max_pixels: int) -> Image.Image:
    """Open lazily (header only) and refuse bombs before a single pixel is decoded."""
    try:
        image = Image.open(io.BytesIO(data), formats=_PIL_FORMATS[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses on its own above 2x MAX_IMAGE_PIXELS (and warns above 1x; a
        # warning turned into an error by the host's filters lands here as well).
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else 2 * (Image.MAX_IMAGE_PIXELS or max_pixels)
        raise ValidationError(
            keys.IMAGE_BOMB, megapixels=_mp(pixels), limit_megapixels=_mp(max_pixels)
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ValidationError(keys.IMAGE_CORRUPT) from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ValidationError(keys.IMAGE_CORRUPT)
    if width * height > max_pixels:
        raise ValidationError(
            keys.IMAGE_BOMB, megapixels=_mp(width * height), limit_megapixels=_mp(max_pixels)
        )
    return image


def _mp(pixels: int) -> int:
    return round(pixels / 1_000_000)


def _orientation(image: Image.Image) -> int:
    """EXIF orientation 1..8; broken EXIF is ignored rather than failing the page."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # any parser error in untrusted EXIF means "unknown"
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _draft_request(size: tuple[int, int], long_side: int) -> tuple[int, int] | None:
    """The size to ask ``draft`` for: the smallest DCT scale still >= DRAFT_FLOOR long."""
    longest = max(size)
    if longest <= long_side:
        return None
    floor = min(DRAFT_FLOOR, long_side)
    for scale in (8, 4, 2):
        if math.ceil(longest / scale) >= floor:
            # draft() picks the largest scale with size // request >= scale.
            return (max(1, size[0] // scale), max(1, size[1] // scale))
    return None


def _decode(image: Image.Image, fmt: str, long_side: int) -> Image.Image:
    if fmt == "jpeg":
        request = _draft_request(image.size, long_side)
        if request is not None:
            # Also lets libjpeg convert YCbCr->RGB itself; a no-op for grey/CMYK.
            image.draft("RGB", request)
    elif getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animated WebP / HEIF burst: the first frame is the photo
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise ValidationError(keys.IMAGE_CORRUPT) from exc
    return image


@lru_cache(maxsize=16)
def _to_srgb_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """A cached profile->sRGB transform, or None if the profile is sRGB or unusable."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(source) or ""
        if "srgb" in description.lower().replace(" ", ""):
            return None
        target = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        # NOCACHE: lcms's one-pixel cache is mutated on use; without it a cached transform
        # can be shared by the worker threads that run uploads concurrently.
        return ImageCms.buildTransform(source, target, mode, mode, flags=ImageCms.Flags.NOCACHE)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _normalise_colour(image: Image.Image) -> Image.Image:
    """RGB or L, sRGB, alpha flattened on white (a transparent PNG scan is a white page)."""
    icc = image.info.get("icc_profile")
    if image.mode.startswith("I"):
        # 16-bit grey PNGs (scanner apps): convert("L") would clip everything above 255
        # to white, so scale 0..65535 down first.
        image = image.convert("I")
        _, high = image.getextrema()
        if isinstance(high, int | float) and high > 255:
            image = image.point(lambda v: v * (255 / 65535))
        image = image.convert("L")
    if image.mode in ("1", "F"):
        image = image.convert("L")
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        base = Image.new("RGBA", image.size, (255, 255, 255, 255))
        base.alpha_composite(image.convert("RGBA"))
        image = base.convert("RGB")
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB...
    if icc and image.mode == "RGB":
        transform = _to_srgb_transform(bytes(icc), "RGB")
        if transform is not None:
            image = ImageCms.applyTransform(image, transform) or image
    return image


def _looks_grey(image: Image.Image) -> bool:
    """A colour photo of black-on-white paper whose channels barely differ."""
    small = image.reduce(max(1, max(image.size) // 256))
    r, g, b = small.split()
    spread = ImageChops.lighter(ImageChops.difference(r, g), ImageChops.difference(g, b))
    return percentile(spread.histogram(), 0.99) <= _GREY_CHROMA_P99


def _save(image: Image.Image, quality: int, *, optimize: bool, progressive: bool) -> bytes:
    buf = io.BytesIO()
    # No exif/icc_profile/comment arguments and an empty .info: nothing is carried over.
    image.save(
        buf,
        "JPEG",
        quality=quality,
        optimize=optimize,
        progressive=progressive,
        subsampling="4:2:0",
    )
    return buf.getvalue()


def _encode(
    image: Image.Image, target_bytes: int, progressive: bool
) -> tuple[Image.Image, bytes, int]:
    """JPEG at quality 80, lower only when a busy page would exceed the budget.

    Progressive (default) is ~7 % smaller than baseline and shows a preview early on a
    slow link, but costs ~2x an optimised baseline encode and ~5x a plain one. So the
    quality is picked from one plain probe and a measured size ratio, then encoded once
    (verified, stepped down if the guess was short). A page too busy even at the lowest
    quality is shrunk.
    """
    for _ in range(4):
        # Probe a half-size copy: a quarter of the pixels to encode; JPEG size grows a bit
        # slower than the pixel count (measured ~2.9x on document photos), and the result is
        # verified below, so an optimistic guess only costs one more step down.
        half = image.reduce(2) if min(image.size) >= 800 else image
        factor = _PROBE_SCALE if half is not image else 1.0
        probe = factor * len(_save(half, _QUALITY_LADDER[0], optimize=False, progressive=False))
        ratios = _SIZE_RATIO[progressive]
        fits = [q for q in _QUALITY_LADDER if probe * ratios[q] <= target_bytes]
        start = _QUALITY_LADDER.index(fits[0]) if fits else len(_QUALITY_LADDER) - 1
        data = b""
        for quality in _QUALITY_LADDER[start:]:
            # Huffman optimisation saves ~3 % but costs a second pass; only progressive needs it.
            data = _save(image, quality, optimize=progressive, progressive=progressive)
            if len(data) <= target_bytes:
                return image, data, quality
        if image.width < 400 or image.height < 400:
            break
        # Too busy even at the lowest quality (sensor noise, tiny dense print): shrink.
        ratio = min(0.9, math.sqrt(target_bytes / len(data)) * 0.95)
        size = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    data = _save(image, _QUALITY_LADDER[-1], optimize=True, progressive=progressive)
    return image, data, _QUALITY_LADDER[-1]


def process_image(
    data: bytes,
    fmt: str,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    long_side: int = LONG_SIDE,
    target_bytes: int = TARGET_BYTES,
    progressive: bool = False,
) -> EncodedImage:
    """Decode, rotate upright, shrink, judge and re-encode one page photo."""
    image = _open(data, fmt, max_pixels)
    orientation = _orientation(image)
    stored_w, stored_h = image.size
    # Orientations 5-8 swap width and height.
    original = (stored_h, stored_w) if orientation >= 5 else (stored_w, stored_h)
    image = _decode(image, fmt, long_side)
    if orientation != 1:
        try:
            ImageOps.exif_transpose(image, in_place=True)
        except Exception:  # a broken EXIF block must not lose the page
            log.debug("exif_transpose failed; keeping stored orientation", exc_info=True)
    image = _normalise_colour(image)
    if max(image.size) > long_side:
        scale = long_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        # reducing_gap: a cheap box reduction first, LANCZOS only for the last factor <3.
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    # One box-reduced copy (~1000 px) serves both the grey test and the quality checks.
    small = shrink_for_analysis(image)
    if image.mode == "RGB" and _looks_grey(small):
        image = image.convert("L")  # grey scans/photos: no chroma planes to store
    image.info = {}  # drop exif, icc_profile, xmp, comment, dpi...: nothing leaks out
    report = assess(small, original)
    image, encoded, jpeg_quality = _encode(image, target_bytes, progressive)
    return EncodedImage(
        data=encoded,
        width=image.width,
        height=image.height,
        mode=image.mode,
        original_width=original[0],
        original_height=original[1],
        quality=report,
        jpeg_quality=jpeg_quality,
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
