"""Media pipeline: sniffing, refusals, image normalisation, quality flags, PDFs, storage.

Every fixture is generated here (ImageDraw text pages, hand-built PNG headers, fpdf2/pypdf
PDFs): no binary files in the repository, and the calibration cases are reproducible.
"""

from __future__ import annotations

import io
import random
import struct
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageCms, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from ocop_core import i18n
from ocop_core.errors import ValidationError
from ocop_core.media import (
    BLOCKING_FLAGS,
    FLAG_TOO_BLURRY,
    FLAG_TOO_DARK,
    FLAG_TOO_SMALL,
    MediaStore,
    ProcessedFile,
    assemble_pdf,
    catalog_keys,
    check_upload,
    error_text,
    process_upload,
    sha256_hex,
    sniff,
)

pypdf = pytest.importorskip("pypdf")

WORDS = (
    "giay chung nhan dang ky ho kinh doanh san pham mat ong rung tram ocop xa huyen "
    "tinh so ngay thang nam 2024 chu co so"
).split()


# --------------------------------------------------------------------------- fixtures


def text_page(
    size: tuple[int, int] = (3000, 4000),
    font_px: int = 48,
    *,
    mode: str = "RGB",
    marker: bool = False,
    seed: int = 1,
) -> Image.Image:
    """Black text lines on white paper, like a scanned or photographed form."""
    rnd = random.Random(seed)
    w, h = size
    page = Image.new(mode, size, "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=font_px)
    y = int(h * 0.06)
    margin = int(w * 0.08)
    while y < h * 0.92:
        x = float(margin)
        while True:
            word = rnd.choice(WORDS)
            advance = draw.textlength(word + " ", font=font)
            if x + advance > w - margin:
                break
            draw.text((x, y), word, fill="black", font=font)
            x += advance
        y += int(font_px * 1.6)
    if marker:  # a solid block in the top-left corner, to check rotation
        draw.rectangle((0, 0, w // 10, h // 10), fill="black")
    return page


def encode(image: Image.Image, fmt: str = "JPEG", **params: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def phone_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestPhone"  # Make
    exif[0x0110] = "Model X"  # Model
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (21.0, 1.0, 30.0), 3: "E", 4: (105.0, 51.0, 0.0)})
    return exif


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring a huge 1-bit image, in ~100 KB of zlib'd zeros."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def make_pdf(pages: int = 2) -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.set_font("helvetica", size=14)
    for n in range(pages):
        doc.add_page()
        doc.cell(text=f"OCOP test page {n + 1}")
    return bytes(doc.output())


def encrypted_pdf(user_password: str) -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def luminance(pixel: float | tuple[int, ...] | None) -> float:
    assert pixel is not None
    return float(pixel) if isinstance(pixel, (int, float)) else sum(pixel[:3]) / 3


def assert_upright_with_marker(data: bytes, size: tuple[int, int]) -> None:
    """The black marker drawn top-left on the upright page is top-left in the output."""
    with Image.open(io.BytesIO(data)) as result:
        assert result.size == size
        assert luminance(result.getpixel((20, 20))) < 40
        assert luminance(result.getpixel((result.width - 20, 20))) > 200
        assert luminance(result.getpixel((20, result.height - 20))) > 200


def refusal(data: bytes, **kwargs: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        process_upload(data, **kwargs)
    assert caught.value.key in catalog_keys()
    return caught.value


@pytest.fixture(scope="module")
def page_12mp() -> Image.Image:
    return text_page((4000, 3000), font_px=56)


@pytest.fixture(scope="module")
def photo_12mp(page_12mp: Image.Image) -> bytes:
    """A 12 MP phone-style JPEG: text, light gradient, a little noise, quality 92."""
    w, h = page_12mp.size
    light = Image.linear_gradient("L").resize((w, h)).point(lambda v: 255 - v * 50 // 255)
    paper = Image.merge("RGB", [light, light, light.point(lambda v: v * 94 // 100)])
    from PIL import ImageChops

    photo = ImageChops.multiply(page_12mp, paper).filter(ImageFilter.GaussianBlur(0.8))
    noise = Image.effect_noise((w, h), 4)
    photo = Image.merge("RGB", [ImageChops.add(b, noise, 1, -128) for b in photo.split()])
    return encode(photo, quality=92, exif=phone_exif(1))


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("fmt", "params", "expected"),
    [
        ("JPEG", {"quality": 85}, "jpeg"),
        ("PNG", {}, "png"),
        ("WEBP", {"quality": 80}, "webp"),
    ],
)
def test_sniff_accepts_real_image_types(fmt: str, params: dict[str, Any], expected: str) -> None:
    data = encode(text_page((300, 200), 12), fmt, **params)
    assert sniff(data).fmt == expected
    assert sniff(data).accepted


def test_sniff_pdf_even_after_leading_junk() -> None:
    assert sniff(make_pdf(1)).fmt == "pdf"
    assert sniff(b"\r\n" + make_pdf(1)).kind == "pdf"


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "hello")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("Giấy chứng nhận OCOP\nxin chào\n".encode(), "text"),
        ("\ufeffDanh sách sản phẩm\r\n".encode("utf-16-le"), "text"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "html"),
        (b"GIF89a" + b"\x00" * 40, "gif"),
        (_zip(), "zip"),
        (_docx(), "word"),
        (b"OggS" + b"\x00" * 40, "audio"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 16, "video"),
        (bytes(range(256)) * 4, "unknown"),
    ],
)
def test_refuses_other_types_with_a_description(data: bytes, code: str) -> None:
    err = refusal(data, filename="anh_giay_to.jpg", declared_mime="image/jpeg")
    assert err.key == "error.file_type"
    assert err.params["kind_code"] == code
    assert err.params["kind"] == f"media.kind.{code}"
    assert err.params["kind"] in catalog_keys()


def test_text_file_named_jpg_is_refused() -> None:
    err = refusal(b"this is not a photo", filename="giay_phep.jpg", declared_mime="image/jpeg")
    assert err.key == "error.file_type"
    assert err.params["kind"] == "media.kind.text"


def test_empty_file() -> None:
    assert refusal(b"").key == "error.file_empty"


def test_file_too_large_30mb() -> None:
    data = b"\xff\xd8\xff" + bytes(30 * 1024 * 1024 - 3)
    start = time.perf_counter()
    err = refusal(data)
    assert time.perf_counter() - start < 0.5  # refused on length, before any parsing
    assert err.key == "error.file_too_large"
    assert err.params == {"size_mb": 30, "limit_mb": 20}


def test_size_limit_is_configurable() -> None:
    data = encode(text_page((600, 400), 14))
    with pytest.raises(ValidationError) as caught:
        check_upload(data, max_bytes=1024)
    assert caught.value.key == "error.file_too_large"
    assert caught.value.params["limit_mb"] == 0


# --------------------------------------------------------------------------- bombs, corrupt


def test_decompression_bomb_refused_before_decoding() -> None:
    data = png_bomb(30000, 30000)  # 900 MP declared, ~110 KB on the wire
    assert len(data) < 1_000_000
    start = time.perf_counter()
    err = refusal(data)
    assert time.perf_counter() - start < 1.0  # a decode of 900 MP would take far longer
    assert err.key == "error.image_bomb"
    assert err.params["limit_megapixels"] == 60
    assert err.params["megapixels"] >= 100


def test_image_over_our_pixel_limit_but_under_pillows() -> None:
    err = refusal(png_bomb(9000, 8000))  # 72 MP: Pillow alone would not even warn
    assert err.key == "error.image_bomb"
    assert err.params == {"megapixels": 72, "limit_megapixels": 60}


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(text_page((1600, 1200), 30), quality=90)
    assert refusal(data[: len(data) // 2]).key == "error.image_corrupt"


def test_garbage_after_jpeg_magic_is_corrupt() -> None:
    assert refusal(b"\xff\xd8\xff\xe0" + b"garbage" * 100).key == "error.image_corrupt"


# --------------------------------------------------------------------------- images


def test_orientation_applied_and_metadata_stripped() -> None:
    upright = text_page((1500, 2000), 40, marker=True)  # portrait page, marker top-left
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # sensor is landscape
    data = encode(stored, quality=90, exif=phone_exif(6))
    assert Image.open(io.BytesIO(data)).size == (2000, 1500)

    out = process_upload(data, filename="IMG_0001.JPG")

    assert (out.width, out.height) == (1500, 2000)
    assert (out.original_width, out.original_height) == (1500, 2000)
    with Image.open(io.BytesIO(out.data)) as result:
        assert result.format == "JPEG"
        assert result.size == (1500, 2000)
        assert len(result.getexif()) == 0
        assert "exif" not in result.info
        assert "icc_profile" not in result.info
    assert_upright_with_marker(out.data, (1500, 2000))
    assert b"Exif" not in out.data
    assert b"TestPhone" not in out.data


def test_icc_and_comments_are_not_carried_over() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(text_page((1400, 1000), 30), quality=90, icc_profile=srgb, comment=b"secret")
    out = process_upload(data)
    with Image.open(io.BytesIO(out.data)) as result:
        assert "icc_profile" not in result.info
        assert "comment" not in result.info
    assert b"secret" not in out.data


def test_long_side_capped_at_2000_and_12mp_output_small(photo_12mp: bytes) -> None:
    assert len(photo_12mp) > 1_500_000
    out = process_upload(photo_12mp)
    assert (out.width, out.height) == (2000, 1500)
    assert len(out.data) <= 400 * 1024
    assert out.flags == []
    assert out.acceptable
    assert out.kind == "image"
    assert out.mime == "image/jpeg"
    assert out.ext == "jpg"
    assert out.original_sha256 == sha256_hex(photo_12mp)
    assert out.sha256 == sha256_hex(out.data)


def test_never_upscales() -> None:
    out = process_upload(encode(text_page((1200, 900), 24), quality=90))
    assert (out.width, out.height) == (1200, 900)


def test_pipeline_is_deterministic(photo_12mp: bytes) -> None:
    assert process_upload(photo_12mp).data == process_upload(photo_12mp).data


def test_grey_scan_stays_grey() -> None:
    out = process_upload(encode(text_page((1600, 1200), 30, mode="L"), quality=90))
    assert Image.open(io.BytesIO(out.data)).mode == "L"


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (1200, 900), (0, 80, 200, 0))
    ImageDraw.Draw(cmyk).text((100, 100), "OCOP", fill=(0, 0, 0, 255))
    out = process_upload(encode(cmyk, quality=90))
    assert Image.open(io.BytesIO(out.data)).mode == "RGB"


def test_wide_gamut_profile_is_converted_then_dropped() -> None:
    from ocop_core.media.images import _to_srgb_transform

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    # Same colour data under another name: the pipeline must treat it as "not sRGB".
    wide = srgb.replace("sRGB".encode("utf-16-be"), "Wide".encode("utf-16-be"))
    assert _to_srgb_transform(srgb, "RGB") is None
    assert _to_srgb_transform(wide, "RGB") is not None
    page = Image.new("RGB", (1200, 900), (200, 60, 40))
    out = process_upload(encode(page, quality=95, icc_profile=wide))
    with Image.open(io.BytesIO(out.data)) as result:
        assert "icc_profile" not in result.info
        r, g, b = result.getpixel((600, 450))  # type: ignore[misc]
        assert abs(r - 200) < 8 and abs(g - 60) < 8 and abs(b - 40) < 8


def test_sixteen_bit_grey_png_keeps_its_tones() -> None:
    ramp = Image.linear_gradient("L").resize((1200, 1000))
    sixteen = ramp.convert("I").point(lambda v: v * 257).convert("I;16")
    out = process_upload(encode(sixteen, "PNG"))
    with Image.open(io.BytesIO(out.data)) as result:
        assert result.mode == "L"
        assert abs(luminance(result.getpixel((600, 500))) - ramp.getpixel((600, 500))) < 4


def test_progressive_and_mpo_jpegs_take_the_fast_path() -> None:
    page = text_page((4000, 3000), 56)
    progressive = encode(page, quality=90, progressive=True)
    buf = io.BytesIO()
    page.save(buf, "MPO", save_all=True, append_images=[page.resize((400, 300))], quality=90)
    for data in (progressive, buf.getvalue()):
        out = process_upload(data)
        assert (out.width, out.height) == (2000, 1500)
        assert out.acceptable


def test_png_with_transparency_is_flattened_on_white() -> None:
    page = text_page((1400, 1000), 30).convert("RGBA")
    page.putalpha(Image.new("L", page.size, 0))  # fully transparent
    out = process_upload(encode(page, "PNG"))
    with Image.open(io.BytesIO(out.data)) as result:
        assert luminance(result.getpixel((700, 500))) > 240


def test_webp_is_converted_to_jpeg() -> None:
    out = process_upload(encode(text_page((1600, 1200), 30), "WEBP", quality=85))
    assert out.source_format == "webp"
    assert out.mime == "image/jpeg"
    assert out.acceptable


def test_heic_is_accepted_and_upright() -> None:
    import pillow_heif

    if not pillow_heif.libheif_info().get("encoders"):
        pytest.skip("this libheif build has no HEVC encoder, so no HEIC fixture can be made")
    upright = text_page((1500, 2000), 40, marker=True)
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    buf = io.BytesIO()
    try:
        stored.save(buf, "HEIF", quality=85, exif=phone_exif(6).tobytes())
    except (RuntimeError, ValueError, OSError) as exc:
        pytest.skip(f"pillow-heif cannot encode HEIC here: {exc}")
    data = buf.getvalue()
    assert sniff(data).fmt == "heif"
    out = process_upload(data, filename="IMG_0002.HEIC", declared_mime="image/heic")
    assert out.source_format == "heif"
    assert out.mime == "image/jpeg"
    assert_upright_with_marker(out.data, (1500, 2000))
    assert b"TestPhone" not in out.data


# --------------------------------------------------------------------------- quality


def test_sharp_document_passes(page_12mp: Image.Image) -> None:
    out = process_upload(encode(page_12mp, quality=92))
    assert out.flags == []
    assert out.hints == []
    assert out.acceptable


def test_blurred_document_is_flagged(page_12mp: Image.Image) -> None:
    blurred = page_12mp.filter(ImageFilter.GaussianBlur(6))
    out = process_upload(encode(blurred, quality=92))
    assert out.flags == [FLAG_TOO_BLURRY]
    assert out.hints == ["media.hint.too_blurry"]
    assert not out.acceptable


def test_dark_document_is_flagged(page_12mp: Image.Image) -> None:
    dark = ImageEnhance.Brightness(page_12mp).enhance(0.3)
    out = process_upload(encode(dark, quality=92))
    assert FLAG_TOO_DARK in out.flags
    assert "media.hint.too_dark" in out.hints
    assert FLAG_TOO_BLURRY not in out.flags  # dim but sharp: the hint says what to fix
    assert not out.acceptable


def test_sparse_and_faint_pages_are_not_called_blurry(page_12mp: Image.Image) -> None:
    # The metric looks at the busiest tiles and their own contrast, so a page with one
    # paragraph, or grey print on grey paper, is judged on its text, not on its margins.
    sparse = Image.new("RGB", page_12mp.size, "white")
    sparse.paste(page_12mp.crop((0, 150, 4000, 600)), (0, 150))
    faint = page_12mp.point(lambda v: 150 + v * 80 // 255)
    for page in (sparse, faint):
        out = process_upload(encode(page, quality=92))
        assert out.flags == [], out.metrics


def test_small_photo_is_flagged() -> None:
    out = process_upload(encode(text_page((800, 600), 14), quality=90))
    assert FLAG_TOO_SMALL in out.flags
    assert "media.hint.too_small" in out.hints
    assert not out.acceptable


def test_flags_are_blocking_and_hints_are_catalog_keys() -> None:
    assert {FLAG_TOO_SMALL, FLAG_TOO_DARK, FLAG_TOO_BLURRY} <= BLOCKING_FLAGS
    for key in ("media.hint.too_small", "media.hint.too_dark", "media.hint.too_blurry"):
        assert key in catalog_keys()


# --------------------------------------------------------------------------- PDFs


def test_pdf_kept_byte_for_byte() -> None:
    data = make_pdf(3)
    out = process_upload(data, filename="scan.jpg")  # the name lies; the bytes do not
    assert out.kind == "pdf"
    assert out.mime == "application/pdf"
    assert out.pages == 3
    assert out.data == data
    assert out.acceptable


def test_pdf_needing_a_password_is_refused() -> None:
    assert refusal(encrypted_pdf("secret")).key == "error.pdf_encrypted"


def test_pdf_with_owner_restrictions_only_is_accepted() -> None:
    out = process_upload(encrypted_pdf(""))  # opens in any viewer without a password
    assert out.kind == "pdf"
    assert out.pages == 1


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n" + b"\x00garbage" * 200 + b"\n%%EOF\n",
        make_pdf(2)[:-300],  # truncated upload
    ],
    ids=["garbage", "truncated"],
)
def test_corrupt_pdf_is_refused(data: bytes) -> None:
    assert refusal(data).key == "error.pdf_corrupt"


# --------------------------------------------------------------------------- store


def test_store_is_content_addressed_atomic_and_detects_duplicates(
    tmp_path: Path, photo_12mp: bytes
) -> None:
    store = MediaStore(tmp_path)
    first = store.store_processed(process_upload(photo_12mp))
    again = store.store_processed(process_upload(photo_12mp))  # the same photo re-sent

    digest = first.sha256
    assert str(first.path) == f"{digest[:2]}/{digest[2:4]}/{digest}.jpg"
    assert (tmp_path / first.path).read_bytes() == store.read(first.path)
    assert first.duplicate is False
    assert again.duplicate is True
    assert again.path == first.path
    assert first.original_sha256 == sha256_hex(photo_12mp)
    assert (first.width, first.height, first.pages) == (2000, 1500, 1)
    assert first.mime == "image/jpeg"
    assert first.size == (tmp_path / first.path).stat().st_size
    assert not list(tmp_path.rglob(".tmp-*"))  # no temporary files left behind


def test_store_raw_bytes_infers_type_and_pages(tmp_path: Path) -> None:
    stored = MediaStore(tmp_path).store(make_pdf(2))
    assert stored.ext == "pdf"
    assert stored.mime == "application/pdf"
    assert stored.pages == 2
    assert stored.width is None


def test_store_refuses_paths_outside_the_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        MediaStore(tmp_path).resolve("../../etc/passwd")


# --------------------------------------------------------------------------- assembly


def test_assemble_pdf_keeps_order_pages_and_jpeg_bytes(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    portrait = process_upload(encode(text_page((1500, 2000), 36), quality=90))
    landscape = process_upload(encode(text_page((2000, 1500), 36, seed=2), quality=90))
    attached = make_pdf(2)
    paths = [
        tmp_path / store.store_processed(portrait).path,
        tmp_path / store.store(attached).path,
        tmp_path / store.store_processed(landscape).path,
    ]

    pdf = assemble_pdf(paths)

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 4
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]
    assert sizes[0][0] < sizes[0][1]  # portrait photo on a portrait A4
    assert sizes[3][0] > sizes[3][1]  # landscape photo on a landscape A4
    assert round(sizes[0][0]) == 595 and round(sizes[0][1]) == 842
    assert "OCOP test page 1" in reader.pages[1].extract_text()
    # The JPEGs are embedded as they are (DCTDecode), not decoded and re-compressed.
    assert portrait.data in pdf
    assert landscape.data in pdf


def test_assemble_pdf_needs_pages() -> None:
    with pytest.raises(ValueError):
        assemble_pdf([])


# --------------------------------------------------------------------------- catalog


def test_catalog_keys_cover_errors_hints_and_kinds() -> None:
    keys = catalog_keys()
    for key in (
        "error.file_empty",
        "error.file_too_large",
        "error.file_type",
        "error.image_corrupt",
        "error.image_bomb",
        "error.pdf_corrupt",
        "error.pdf_encrypted",
        "media.hint.too_small",
        "media.hint.too_dark",
        "media.hint.too_blurry",
        "media.kind.text",
        "media.kind.unknown",
    ):
        assert key in keys


def test_error_text_translates_the_nested_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = {
        "vi": {
            "error.file_type": "Tệp bạn gửi là {kind}.",
            "media.kind.word": "một tệp Word",
        },
        "en": {"error.file_type": "You sent {kind}.", "media.kind.word": "a Word file"},
    }
    monkeypatch.setattr(i18n, "catalog", lambda locale: fake[locale])
    err = refusal(_docx())
    assert error_text(err, "vi") == "Tệp bạn gửi là một tệp Word."
    assert error_text(err, "en") == "You sent a Word file."


def test_processed_file_is_a_plain_dataclass(photo_12mp: bytes) -> None:
    out = process_upload(photo_12mp)
    assert isinstance(out, ProcessedFile)
    assert set(out.metrics) >= {"sharpness", "brightness_p90", "jpeg_quality"}
