"""Benchmark of the media pipeline against a naive Pillow resize (run: python bench/media.py).

Input: a synthetic 12 MP phone photo of an A4 page (4000x3000 stored, EXIF orientation 6
as a phone held upright writes it, GPS tags, wooden-table background, uneven light, lens
softness and sensor noise, JPEG quality 92, ~3 MB).

(a)  pipeline: ``ocop_core.media.process_upload`` with its defaults (DCT-domain downscale
     via draft, rotate, quality checks, metadata strip, optimised baseline JPEG q<=80 in
     400 KB);
(a') the same with ``progressive=True`` (progressive JPEG), to show that trade-off;
(b)  naive: Image.open -> load() -> exif_transpose -> resize(LANCZOS, long side 2000)
     -> save JPEG q80.

Runs are interleaved (a, a', b, a, a', b, ...) so that load from other processes on the
machine hits all three alike; medians of wall-clock time are compared.
"""

from __future__ import annotations

import io
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a plain checkout too

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps  # noqa: E402

from ocop_core.media import BLUR_THRESHOLD, TARGET_BYTES, process_upload  # noqa: E402
from ocop_core.media.quality import analysis_copy, sharpness  # noqa: E402

RUNS = 15
TARGET_RATIO = 3.0
OUT = ROOT / "bench" / "out" / "media_sample.jpg"
WORDS = (
    "giay chung nhan dang ky ho kinh doanh san pham mat ong rung tram ocop xa huyen tinh "
    "so ngay thang nam 2024 chu co so dia chi thon ban nong san che bien dong goi"
).split()


def phone_photo(seed: int = 7) -> bytes:
    """A portrait A4 page photographed on a table, stored landscape with orientation 6."""
    rnd = random.Random(seed)
    w, h = 3000, 4000  # upright
    page_w, page_h = int(w * 0.86), int(h * 0.9)
    page = Image.new("RGB", (page_w, page_h), (242, 240, 232))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=48)  # ~11 pt on an A4 page 2580 px wide
    title = ImageFont.load_default(size=84)
    heading = "PHIEU DANG KY SAN PHAM OCOP"
    draw.text((page_w // 2, 180), heading, font=title, fill=(20, 20, 30), anchor="mm")
    y, margin = 330, 190
    while y < page_h - 260:
        x = float(margin)
        while True:
            word = rnd.choice(WORDS)
            advance = draw.textlength(word + " ", font=font)
            if x + advance > page_w - margin:
                break
            draw.text((x, y), word, font=font, fill=(28, 28, 40))
            x += advance
        y += 72
    table = Image.new("RGB", (w, h), (128, 92, 58))
    grain = Image.effect_noise((w // 16, h // 16), 50).resize((w, h), Image.Resampling.BICUBIC)
    table = Image.composite(table, Image.new("RGB", (w, h), (96, 66, 40)), grain)
    tilt = 1.5
    tilted = page.rotate(tilt, expand=True, resample=Image.Resampling.BICUBIC)
    mask = Image.new("L", page.size, 255).rotate(tilt, expand=True)
    table.paste(tilted, ((w - tilted.width) // 2, (h - tilted.height) // 2), mask)
    # Uneven light: brighter towards the window, ~25 % darker in the far corner.
    ramp = Image.linear_gradient("L").resize((2 * w, 2 * h)).rotate(30)
    ramp = ramp.crop((w // 2, h // 2, w // 2 + w, h // 2 + h))
    light = ramp.point(lambda v: 255 - v * 64 // 255)
    photo = ImageChops.multiply(table, Image.merge("RGB", [light] * 3))
    photo = photo.filter(ImageFilter.GaussianBlur(0.8))  # lens + demosaicing softness
    noise = Image.effect_noise((w, h), 5).filter(ImageFilter.GaussianBlur(0.6))
    photo = Image.merge("RGB", [ImageChops.add(b, noise, 1, -128) for b in photo.split()])
    stored = photo.transpose(Image.Transpose.ROTATE_90)  # sensor is landscape: 4000x3000
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to view
    exif[0x010F] = "Phone"
    exif[0x0110] = "Budget 12MP"
    exif.get_ifd(0x8825).update({1: "N", 2: (21.0, 1.0, 30.0), 3: "E", 4: (105.0, 51.0, 0.0)})
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


def naive(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data))
    image.load()
    image = ImageOps.exif_transpose(image)
    scale = 2000 / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    image = image.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def interleaved(cases: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    for fn in cases.values():
        fn()  # warm-up: imports, plugin registration, caches
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def describe(data: bytes) -> tuple[str, float, float, str]:
    """Pixel size, KB, sharpness score (the pipeline's blur metric) and mode of a JPEG."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return (
            f"{image.width}x{image.height}",
            len(data) / 1024,
            sharpness(analysis_copy(image)),
            image.mode,
        )


def main() -> int:
    data = phone_photo()
    with Image.open(io.BytesIO(data)) as probe:
        stored_w, stored_h = probe.size
    times = interleaved(
        {
            "a": lambda: process_upload(data),
            "a2": lambda: process_upload(data, progressive=True),
            "b": lambda: naive(data),
        },
        RUNS,
    )
    result = process_upload(data)
    baseline = process_upload(data, progressive=True)
    outputs = {"a": result.data, "a2": baseline.data, "b": naive(data)}
    names = {
        "a": "(a)  process_upload",
        "a2": "(a') progressive=True",
        "b": "(b)  naive LANCZOS",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(result.data)

    print(
        f"input: {stored_w}x{stored_h} JPEG q92 ({len(data) / 1024:.0f} KB), EXIF orientation 6"
        f" + GPS; {RUNS} interleaved runs each"
    )
    print()
    head = f"{'':24}{'median ms':>10}{'min ms':>8}{'max ms':>8}{'output':>11}{'KB':>6}"
    print(head + f"{'q':>4}{'sharp':>7}{'x faster':>10}")
    median_b = statistics.median(times["b"])
    for key, name in names.items():
        ms = times[key]
        px, kb, sharp, _ = describe(outputs[key])
        quality = {"a": result, "a2": baseline}.get(key)
        q = f"{quality.metrics['jpeg_quality']:.0f}" if quality else "80"
        speed = median_b / statistics.median(ms)
        print(
            f"{name:24}{statistics.median(ms):10.1f}{min(ms):8.1f}{max(ms):8.1f}"
            f"{px:>11}{kb:6.0f}{q:>4}{sharp:7.1f}{speed:9.2f}x"
        )
    print()
    ratio = median_b / statistics.median(times["a"])
    _, size_kb, out_sharp, mode = describe(result.data)
    with Image.open(io.BytesIO(result.data)) as out:
        exif_left = len(out.getexif())
    legible = out_sharp >= BLUR_THRESHOLD and result.acceptable
    verdict = {True: "OK", False: "MISSED"}
    print(
        f"speed-up naive/pipeline : {ratio:.2f}x (target >= {TARGET_RATIO:.0f}x) "
        f"{verdict[ratio >= TARGET_RATIO]}"
    )
    print(
        f"pipeline output size    : {size_kb:.0f} KB (target <= {TARGET_BYTES / 1000:.0f} KB) "
        f"{verdict[len(result.data) <= TARGET_BYTES]}"
    )
    print(
        f"legibility              : sharpness {out_sharp:.1f} vs blur threshold "
        f"{BLUR_THRESHOLD:.1f} (naive output {describe(outputs['b'])[2]:.1f}); "
        f"flags: {', '.join(result.flags) or 'none'} {verdict[legible]}"
    )
    print(f"metadata in output      : {exif_left} EXIF tags, mode {mode}, no ICC/XMP/comment")
    print(f"sample written to       : {OUT.relative_to(ROOT)}")
    # Speed depends on the machine; only the size budget and legibility fail the run.
    return 0 if len(result.data) <= TARGET_BYTES and legible else 1


if __name__ == "__main__":
    sys.exit(main())
