"""The one rasteriser: strokes or sketch images -> the model's input image.

Every query (the CLI's and the GUI canvas's, through the engine) goes through
`rasterise_strokes` / `normalise_image` with a `RasterSpec`, and the spec is stored with the
weights, so the picture the model sees is the same wherever the sketch came from. Training
reads the benchmark's own sketch images; the spec's framing and line weight were measured on
them (docs/EXPERIMENTS.md, "How drawings are framed", "How heavy drawn lines are").
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass
from typing import BinaryIO, Final, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps, UnidentifiedImageError

# A stroke is an (n, 2) or (n, 3) array-like of x, y[, pressure] in any coordinate frame.
Stroke = Sequence[Sequence[float]]

_SUPERSAMPLE = 4  # draw at 4x and average down: anti-aliased lines like the benchmark's
MAX_PICTURE_PIXELS: Final = 40_000_000  # a bigger sketch picture is refused: decoding it would take GBs
# an opened picture is kept at most this many px a side: the model reads 256 px, and a 12-megapixel
# photo would make reading it (paper flattening) slow
MAX_PICTURE_SIDE: Final = 2048


class SketchError(ValueError):
    """A sketch that cannot become model input (empty, no ink, unreadable)."""


@dataclass(frozen=True)
class RasterSpec:
    """How a sketch becomes a picture; stored in every checkpoint."""

    size: int = 256  # output frame, square, pixels
    # blank border around the longer side of the scaled drawing: the median of the benchmark's
    # training sketches (shoes 15.5, chairs 14.5 px). At 28 px, re-framed validation sketches lost
    # 7-15 points acc@1 against the benchmark's own framing (scripts/query_framing.py).
    margin: int = 15
    # stroke width in output pixels at pressure 1: lines as heavy as the training sketches' (ink
    # weight 0.99 px; 1.6 drew 3.1 px, and heavier validation sketches lose 5-11 points acc@1:
    # scripts/line_weight.py)
    line_width: float = 0.5
    pressure_width: bool = False  # scale width by pen pressure (0.5x .. 1.5x)
    background: int = 255  # white paper
    ink: int = 0  # black strokes
    ink_threshold: int = 200  # pixels darker than this count as ink when reading images
    # sketch pictures whose lines carry more ink than this (px, `ink_weight`) are lightened to it: a
    # thick marker line reads as a heavy pen line would (9 in 10 training sketches are lighter;
    # scripts/line_weight.py). 0 = off.
    ink_weight: float = 1.4

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, strict: bool = False) -> "RasterSpec":
        """The spec from a checkpoint. strict: refuse keys this version does not know (a newer
        rasteriser would draw a different picture) and values it cannot draw (SketchError)."""
        if not isinstance(values, dict):
            raise SketchError("The rasteriser settings are not a mapping.")
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if strict and unknown:
            raise SketchError(f"Unknown rasteriser settings {', '.join(map(str, unknown))} (made by a newer version?).")
        known = {k: values[k] for k in cls.__dataclass_fields__ if k in values}
        try:
            spec = cls(**known)
        except TypeError as exc:
            raise SketchError(f"Bad rasteriser settings: {exc}") from exc
        if strict:
            problems = spec.problems()
            if problems:
                raise SketchError("Bad rasteriser settings: " + "; ".join(problems))
        return spec

    def problems(self) -> list[str]:
        """What makes this spec undrawable (empty when it is fine)."""
        found = []

        def number(name, kinds=(int, float)):
            value = getattr(self, name)
            return isinstance(value, kinds) and not isinstance(value, bool) and np.isfinite(value)

        if not number("size", int) or not 16 <= self.size <= 4096:
            found.append(f"size {self.size!r} is not an integer in 16..4096")
        elif not number("margin", int) or not 0 <= self.margin < self.size // 2 - 4:
            found.append(f"margin {self.margin!r} leaves no room to draw in a {self.size} px frame")
        if not number("line_width") or not 0 < self.line_width <= 64:
            found.append(f"line_width {self.line_width!r} is not in (0, 64]")
        if not number("ink_weight") or not 0 <= self.ink_weight <= 64:
            found.append(f"ink_weight {self.ink_weight!r} is not in [0, 64]")
        for name in ("background", "ink", "ink_threshold"):
            if not number(name, int) or not 0 <= getattr(self, name) <= 255:
                found.append(f"{name} {getattr(self, name)!r} is not an integer in 0..255")
        if not found and self.background == self.ink:
            found.append("ink and background are the same grey")
        if not isinstance(self.pressure_width, bool):
            found.append(f"pressure_width {self.pressure_width!r} is not true/false")
        return found


def strokes_bbox(strokes: Sequence[np.ndarray]) -> tuple[float, float, float, float]:
    points = np.concatenate([s[:, :2] for s in strokes])
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    return float(x0), float(y0), float(x1), float(y1)


def _as_arrays(strokes: Sequence[Stroke]) -> list[np.ndarray]:
    arrays = []
    for stroke in strokes:
        arr = np.asarray(stroke, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] not in (2, 3):
            raise SketchError("Each stroke must be a list of (x, y) or (x, y, pressure) points.")
        if not np.isfinite(arr).all():
            raise SketchError("A stroke has a non-finite coordinate.")
        arrays.append(arr)
    if not arrays:
        raise SketchError("The sketch is empty: draw at least one stroke.")
    return arrays


def rasterise_strokes(strokes: Sequence[Stroke], spec: RasterSpec = RasterSpec()) -> np.ndarray:
    """Strokes -> (size, size) uint8 image, the drawing scaled to fit inside the margin and centred."""
    arrays = _as_arrays(strokes)
    x0, y0, x1, y1 = strokes_bbox(arrays)
    extent = max(x1 - x0, y1 - y0, 1e-6)
    inner = spec.size - 2 * spec.margin
    scale = inner / extent if extent > 1e-3 else 1.0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    big = spec.size * _SUPERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    for arr in arrays:
        xs = ((arr[:, 0] - cx) * scale + spec.size / 2) * _SUPERSAMPLE
        ys = ((arr[:, 1] - cy) * scale + spec.size / 2) * _SUPERSAMPLE
        pressure = arr[:, 2] if arr.shape[1] == 3 and spec.pressure_width else np.ones(len(arr))
        widths = spec.line_width * _SUPERSAMPLE * np.clip(0.5 + pressure, 0.5, 1.5)
        for i in range(len(arr)):
            r = widths[i] / 2
            draw.ellipse([xs[i] - r, ys[i] - r, xs[i] + r, ys[i] + r], fill=255)
            if i:
                w = max(1, int(round((widths[i] + widths[i - 1]) / 2)))
                draw.line([(xs[i - 1], ys[i - 1]), (xs[i], ys[i])], fill=255, width=w)
    coverage = np.asarray(canvas.resize((spec.size, spec.size), Image.BOX), dtype=np.float32) / 255.0
    return _paint(coverage, spec)


def _paint(coverage: np.ndarray, spec: RasterSpec) -> np.ndarray:
    image = spec.background + (spec.ink - spec.background) * coverage
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


MIN_INK_EXTENT: Final = 4  # px: ink spanning less, in a picture, is a dot or a speck, not a sketch


def normalise_image(image: np.ndarray | Image.Image, spec: RasterSpec = RasterSpec()) -> np.ndarray:
    """A sketch picture (dark strokes on light paper, any size/mode) -> model input image.

    The picture is first put `on_white_paper`. The ink is cropped to its bounding box, scaled to
    fit inside the margin and centred, exactly as `rasterise_strokes` frames strokes; lines heavier
    than `spec.ink_weight` are lightened to it.
    """
    if isinstance(image, Image.Image):
        image = to_grey(image)
    grey = grey_of_array(image)
    if grey.ndim != 2 or min(grey.shape) < 2:
        raise SketchError("A sketch image must be a 2-D picture of at least 2 x 2 pixels.")
    grey = on_white_paper(grey)
    coverage = np.clip((255.0 - grey) / 255.0, 0, 1)
    ys, xs = np.nonzero(grey < spec.ink_threshold)
    if len(xs) == 0:
        raise SketchError("The picture is blank: it has no strokes to search with.")
    crop = coverage[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = crop.shape
    if max(h, w) < MIN_INK_EXTENT:  # scaled up to the frame, a dot would be a black square
        raise SketchError("The sketch is too small to read: draw lines, not a dot.")
    inner = spec.size - 2 * spec.margin
    scale = inner / max(h, w)
    new_w, new_h = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    resample = Image.BOX if scale < 1 else Image.BILINEAR
    resized = np.asarray(Image.fromarray(crop).resize((new_w, new_h), resample), dtype=np.float32)
    out = np.zeros((spec.size, spec.size), dtype=np.float32)
    top, left = (spec.size - new_h) // 2, (spec.size - new_w) // 2
    out[top: top + new_h, left: left + new_w] = resized
    weight = ink_weight(out) if spec.ink_weight > 0 else None
    if weight is not None and weight > spec.ink_weight:
        out *= spec.ink_weight / weight
    return _paint(out, spec)


def on_white_paper(grey: np.ndarray) -> np.ndarray:
    """Dark lines on white paper, from a picture with light lines on dark paper (a blackboard, a
    dark-mode screenshot: inverted) or on grey, unevenly lit paper (a photo: `flatten_paper`)."""
    grey = np.asarray(grey, dtype=np.float32)
    step = max(1, max(grey.shape) // 256)  # the median of a sample of ~256 x 256 pixels is plenty
    return flatten_paper(255.0 - grey if np.median(grey[::step, ::step]) < 128 else grey)


def flatten_paper(grey: np.ndarray, white: float = 245.0) -> np.ndarray:
    """A photo of a paper sketch (grey, unevenly lit paper) -> the same ink on white paper.

    The paper's brightness is read from a coarse copy (at most 64 px a side) with a 5 x 5 max
    filter, so within about a twelfth of the picture the brightest pixel counts as paper (lines are
    thin), then smoothed, and every pixel is divided by it. Where the paper is already white
    everywhere (`white` or brighter: drawings, scans, the benchmark) the picture is returned as it is.
    """
    h, w = grey.shape
    scale = min(1.0, 64 / max(h, w))
    coarse = Image.fromarray(np.ascontiguousarray(grey, dtype=np.float32), mode="F")
    coarse = coarse.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BOX)
    coarse = Image.fromarray(np.clip(np.asarray(coarse), 0, 255).astype(np.uint8))  # small: 8 bits are plenty
    paper = coarse.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.GaussianBlur(1.5))
    if np.asarray(paper).min() >= white:
        return grey
    gain = Image.fromarray(255.0 / np.maximum(np.asarray(paper, dtype=np.float32), 1.0), mode="F")
    flat = grey * np.asarray(gain.resize((w, h), Image.BILINEAR), dtype=np.float32)  # a new array: the caller's is kept
    return np.minimum(flat, 255.0, out=flat)


def ink_run_weights(coverage: np.ndarray) -> np.ndarray:
    """For each clearly inked pixel (coverage > 0.5), how much ink its line carries across its
    width, in px: the smaller of the ink summed along its run of inked pixels in its row and in its
    column (a line's width for an axis-parallel line, up to 1.41x that for a diagonal one)."""
    def run_sums(c: np.ndarray) -> np.ndarray:
        ink = c > 0.1
        starts = ink & ~np.pad(ink, ((0, 0), (1, 0)))[:, :-1]
        label = np.cumsum(starts.ravel()).reshape(c.shape) * ink  # one id per run, 0 off the ink
        sums = np.bincount(label.ravel(), weights=c.ravel().astype(np.float64))
        return np.where(ink, sums[label], np.inf)

    coverage = np.asarray(coverage, dtype=np.float32)
    weight = np.minimum(run_sums(coverage), run_sums(coverage.T).T)
    return weight[coverage > 0.5]


def ink_weight(coverage: np.ndarray) -> float | None:
    """The median of `ink_run_weights` (training sketches: 0.99 px), or None with no clear ink."""
    weights = ink_run_weights(coverage)
    return float(np.median(weights)) if weights.size else None


def to_rgb_on_white(image: Image.Image) -> Image.Image:
    """Any PIL image (RGBA, P, CMYK, 16-bit, float, ...) -> RGB, transparency composited on white
    paper. The one conversion for sketch pictures and catalogue photos alike."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.nan_to_num(np.asarray(image, dtype=np.float64))
        image = Image.fromarray(_to_byte_range(arr, floats=image.mode == "F"), "L")
    if _has_transparency(image):
        image = _composite(image, (255, 255, 255, 255))
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_byte_range(arr: np.ndarray, floats: bool) -> np.ndarray:
    """Wide-range pixel values -> uint8 by the range the data uses: a float picture in [0, 1],
    8-bit values, or n-bit values in a wider type (12-bit scans in 16 bits: white is 4095)."""
    return np.clip(arr * (255.0 / _full_scale(arr, floats)), 0, 255).astype(np.uint8)


def _full_scale(arr: np.ndarray, floats: bool) -> float:
    top = float(arr.max()) if arr.size else 0.0
    if floats and top <= 1.0:
        return 1.0
    return 255.0 if top <= 255 else 2.0 ** math.ceil(math.log2(top + 1)) - 1


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "RGB", "L") and "transparency" in image.info)


def _composite(image: Image.Image, paper: tuple) -> Image.Image:
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, paper), rgba)


def to_grey(image: Image.Image) -> np.ndarray:
    """Any PIL image -> uint8 grey on white (transparency = paper). Light lines on a transparent
    sheet (nothing dark once on white) are put on black instead, and read as light on dark."""
    if image.mode == "L" and "transparency" not in image.info:
        return np.asarray(image, dtype=np.uint8)
    grey = np.asarray(to_rgb_on_white(image).convert("L"), dtype=np.uint8)
    if _has_transparency(image) and grey.size and grey.min() >= 200:
        on_black = np.asarray(_composite(image, (0, 0, 0, 255)).convert("L"), dtype=np.uint8)
        if on_black.max() >= 128:
            return on_black
    return grey


def grey_of_array(array) -> np.ndarray:
    """A sketch picture given as an array -> float32 grey (H, W), 0 = black, 255 = white: grey or
    colour (H, W, 3 or 4), uint8 or 16-bit, floats in [0, 1] or [0, 255], or a boolean mask
    (either way round: `on_white_paper` turns light-on-dark pictures over)."""
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = np.where(arr, 0.0, 255.0)
    elif arr.size and arr.dtype.kind in "fiu":
        arr = np.nan_to_num(arr.astype(np.float32))
        full = _full_scale(arr, floats=np.asarray(array).dtype.kind == "f")
        if full != 255.0:
            arr = np.clip(arr * (255.0 / full), 0, 255)
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and min(arr.shape[:2]) >= 2:
        picture = Image.fromarray(np.rint(arr).astype(np.uint8), "RGB" if arr.shape[2] == 3 else "RGBA")
        arr = to_grey(picture)
    return np.asarray(arr, dtype=np.float32)


def read_sketch_picture(source: str | os.PathLike | BinaryIO, name: str | None = None) -> np.ndarray:
    """A picture of a sketch (a path or a binary file object; any format PIL reads) -> uint8 grey
    (`to_grey`), upright as its EXIF orientation says, at most MAX_PICTURE_SIDE px a side. Of a
    multi-frame picture (GIF, TIFF) the first frame with anything on it is read. The app's canvas
    and `Engine.encode_image` both read pictures here."""
    if name is None:
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "the picture"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is said below, in one line
            with Image.open(source) as picture:
                if picture.format == "JPEG":  # decoded at 1/2, 1/4 or 1/8 where that still leaves enough
                    picture.draft(picture.mode, (MAX_PICTURE_SIDE, MAX_PICTURE_SIDE))
                if picture.width * picture.height > MAX_PICTURE_PIXELS:
                    raise SketchError(f"{name} is {picture.width} x {picture.height} pixels: too large for a sketch "
                                      f"(at most {MAX_PICTURE_PIXELS // 1_000_000} megapixels).")
                grey = _first_drawn_frame(picture)
    except Image.DecompressionBombError as exc:
        raise SketchError(f"{name} is too large for a sketch ({exc})") from exc
    except SketchError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError) as exc:
        raise SketchError(f"Cannot read image {name}: {exc}") from exc
    if max(grey.shape) > MAX_PICTURE_SIDE:
        scale = MAX_PICTURE_SIDE / max(grey.shape)
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        grey = np.asarray(Image.fromarray(grey).resize(size, Image.BOX))
    return grey


def _first_drawn_frame(picture: Image.Image) -> np.ndarray:
    turn = picture.getexif().get(0x0112, 1) not in (0, 1)  # EXIF orientation: a phone photo of a drawing
    frames = min(getattr(picture, "n_frames", 1), 100)
    for frame in range(frames):
        picture.seek(frame)
        grey = to_grey(ImageOps.exif_transpose(picture) if turn else picture)
        if int(grey.max()) - int(grey.min()) > 32:  # something drawn on it
            break
    return grey
