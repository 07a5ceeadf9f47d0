"""Is a page photo good enough to read? Cheap, numpy-free checks on a 1000-px grey copy.

Sharpness is the energy of a 3x3 Laplacian, measured per tile and normalised by the local
contrast of the busiest tiles. Why not the textbook "variance of the Laplacian" over the
whole frame: it depends on how much text is on the page (a page with one line looks
"blurry") and on contrast (grey paper looks "blurry"). Taking the busiest tiles removes the
first dependence, dividing by their contrast removes the second.

Calibration (synthetic pages drawn with ImageDraw at 12 MP, saved as JPEG, run through
the whole pipeline): sharp pages score 17-32, and 11 for a single short line on an
otherwise empty page; the same pages blurred with a Gaussian of radius 6 at full size
score 1-7.5 (7.5 with heavy sensor noise added after the blur). Radius 4 scores 6.7-9.1
and radius 3 scores 8.4-14: the threshold (10) flags radius >= 4 and lets most radius 3
through, where text is soft but still readable.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

from PIL import Image, ImageFilter, ImageMath, ImageStat

from ocop_core.media import keys

ANALYSIS_LONG_SIDE = 1000
MIN_LONG_SIDE = 1000  # below this, body text of a full A4 page is a few pixels high
BLUR_THRESHOLD = 10.0
DARK_P90 = 90  # the brightest tenth of a page photo is paper; under 90/255 it is too dim
_GRID = 8  # tiles along the long side
_MIN_CONTRAST = 16

# Laplacian, divided by 4 so that a black/white step (8 * 255) saturates less in 8 bits.
_LAPLACIAN = ImageFilter.Kernel((3, 3), [-1, -1, -1, -1, 8, -1, -1, -1, -1], scale=4, offset=0)

BLOCKING_FLAGS: frozenset[str] = frozenset(
    {keys.FLAG_TOO_SMALL, keys.FLAG_TOO_DARK, keys.FLAG_TOO_BLURRY}
)


@dataclass(frozen=True, slots=True)
class QualityReport:
    flags: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def hints(self) -> tuple[str, ...]:
        return tuple(keys.HINT_KEYS[f] for f in self.flags)

    @property
    def acceptable(self) -> bool:
        return not any(f in BLOCKING_FLAGS for f in self.flags)


def percentile(hist: list[int], q: float) -> int:
    """The value under which a fraction ``q`` of the pixels lie, from a 256-bin histogram."""
    total = sum(hist)
    if total == 0:
        return 0
    goal = q * total
    running = 0
    for value, count in enumerate(hist):
        running += count
        if running >= goal:
            return value
    return len(hist) - 1


def shrink_for_analysis(image: Image.Image) -> Image.Image:
    """A box-averaged copy no smaller than the analysis size (any mode); cheap."""
    long_side = max(image.size)
    if long_side >= 2 * ANALYSIS_LONG_SIDE:
        # reduce() is a plain box average, cheaper than resize(); shrink before converting.
        return image.reduce(long_side // ANALYSIS_LONG_SIDE)
    return image


def analysis_copy(image: Image.Image) -> Image.Image:
    """A grey copy with a fixed long side, so thresholds mean the same for every input size."""
    image = shrink_for_analysis(image)
    grey = image if image.mode == "L" else image.convert("L")
    long_side = max(grey.size)
    if long_side > ANALYSIS_LONG_SIDE:
        scale = ANALYSIS_LONG_SIDE / long_side
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        # BOX averages the dropped pixels: fast, and it damps sensor noise that would
        # otherwise pass for sharp detail.
        grey = grey.resize(size, Image.Resampling.BOX)
    return grey


def sharpness(grey: Image.Image) -> float:
    """Laplacian RMS of the busiest tiles over their contrast, in percent."""
    w, h = grey.size
    if w < 16 or h < 16:
        return 0.0
    # The kernel output is clipped at 0: only the positive half of the Laplacian is kept.
    # Over any area the Laplacian sums to ~0, so that half is a fair measure of the whole.
    # Crop one pixel: Pillow copies border pixels through unfiltered.
    edges = grey.filter(_LAPLACIAN).crop((1, 1, w - 1, h - 1))
    ew, eh = edges.size
    tile = max(ew, eh) / _GRID
    cols, rows = max(1, round(ew / tile)), max(1, round(eh / tile))
    # Squared in float, then a BOX resize to the tile grid: per-tile mean square, all in C.
    squares = ImageMath.lambda_eval(lambda args: args["e"] * args["e"], e=edges.convert("F"))
    assert isinstance(squares, Image.Image)
    means = array("f", squares.resize((cols, rows), Image.Resampling.BOX).tobytes())
    order = sorted(range(len(means)), key=lambda i: means[i], reverse=True)
    top = order[: max(3, len(order) // 10)]
    hist = [0] * 256
    for index in top:
        row, col = divmod(index, cols)
        box = (
            1 + col * ew // cols,
            1 + row * eh // rows,
            1 + (col + 1) * ew // cols,
            1 + (row + 1) * eh // rows,
        )
        for value, count in enumerate(grey.crop(box).histogram()):
            hist[value] += count
    contrast = max(percentile(hist, 0.99) - percentile(hist, 0.01), _MIN_CONTRAST)
    energy = sum(math.sqrt(means[i]) for i in top) / len(top)  # RMS per tile
    return energy / contrast * 100.0


def assess(image: Image.Image, original_size: tuple[int, int]) -> QualityReport:
    """Flag a page photo that a person could not read; ``original_size`` is after rotation.

    ``image`` is the page at any size >= the analysis size (or smaller, for small photos).
    """
    grey = analysis_copy(image)
    hist = grey.histogram()
    p90 = percentile(hist, 0.90)
    score = sharpness(grey)
    flags: list[str] = []
    if max(original_size) < MIN_LONG_SIDE:
        flags.append(keys.FLAG_TOO_SMALL)
    if p90 < DARK_P90:
        flags.append(keys.FLAG_TOO_DARK)
    if score < BLUR_THRESHOLD:
        flags.append(keys.FLAG_TOO_BLURRY)
    metrics = {
        "sharpness": round(score, 2),
        "brightness_p90": float(p90),
        "brightness_mean": round(ImageStat.Stat(grey).mean[0], 1),
    }
    return QualityReport(tuple(flags), metrics)
