"""Photo -> edge map, in the style of the QMUL V1 benchmark's photo edge maps.

The network was trained on the benchmark's edge maps, never on photos, so a user's product
photo must first be turned into the same kind of picture:

* 256 x 256 uint8, white paper (255), thin dark anti-aliased lines (core ~75, a grey halo);
* the object cropped to its bounding box, scaled so its longer side spans ``size - 2 * margin``
  and centred.  Measured on the benchmark (median longer side of the ink bounding box):
  shoes 220-222 px, chairs 227-228 px, so the default margin is 16 px (224 px object);
* both the outline and the inner structure lines (seams, straps, panels) drawn.

How: the photo is decoded (any mode: RGBA with transparency = white, greyscale, palette,
CMYK, 16-bit, EXIF orientation applied), reduced to a small working size, the background
colour is estimated from the border and the object is cropped to the pixels that differ from
it (product photos are mostly shot on a plain background; on a busy background the whole
frame is used).  The crop is scaled into the 256 x 256 frame and a colour Canny detector
(Gaussian blur, gradients summed over R, G and B, non-maximum suppression to 1-px lines,
hysteresis with thresholds adapted to the image's gradient distribution) draws the lines,
which are then rendered with the benchmark's soft anti-aliased profile.  numpy/PIL only;
a few milliseconds per photo.

`scripts/edge_roundtrip.py` measures how close the output is to the benchmark's own maps.
Unreadable, truncated, too small or too large files raise `ImageError`.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import io
import math
import os
import platform
import sys
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Final

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .imageops import binary_opening, gaussian_filter, label
from .raster import to_rgb_on_white

PHOTO_SUFFIXES: Final = (".jpg", ".jpeg", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# Photos of kinds this program does not decode: listed as skipped, with a way out, not ignored.
UNREAD_PHOTO_SUFFIXES: Final = {".heic": "HEIC", ".heif": "HEIF", ".avif": "AVIF"}
# Larger pictures are refused from their header, before decoding (decompression bombs). This is
# checked here rather than through the process-wide Image.MAX_IMAGE_PIXELS so that it holds
# whatever other code sets there; PIL's own DecompressionBombError/Warning are caught as well.
MAX_PIXELS: Final = 60_000_000  # ~7700 x 7700
MIN_SIDE: Final = 8  # px; anything smaller has no object to draw


class ImageError(ValueError):
    """A photo that cannot become an edge map: unreadable, truncated, too big, too small, blank."""


@dataclass(frozen=True)
class EdgeSpec:
    """How a photo becomes an edge map (defaults measured on the benchmark)."""

    size: int = 256  # output frame, square
    margin: int = 16  # blank border around the object's longer side
    work_size: int = 160  # the photo is reduced to at most this many px per side to find the object
    sigma: float = 1.0  # Gaussian blur before the gradients, output px
    tensor_sigma: float = 1.0  # smoothing of the structure tensor (merges the two sides of a thin line)
    strong_share: float = 0.03  # share of frame pixels (of NMS candidates) kept as strong edges
    low_ratio: float = 0.4  # hysteresis low threshold / high threshold
    dark_offset: float = 16.0  # intensities are compared on log(1 + I / dark_offset)
    min_contrast: float = 3.0  # gradient magnitude (log scale, 0..255) below which nothing is an edge
    min_segment: int = 6  # px; shorter isolated edge fragments are dropped
    background_tolerance: float = 18.0  # colour distance (0..255) still counted as background
    pale_above: float = 96.0  # a photo whose darkest 1 % is lighter than this is stretched to full contrast


DEFAULT_SPEC: Final = EdgeSpec()


# --------------------------------------------------------------------------------- decoding
def open_photo(source: str | os.PathLike | bytes | BinaryIO | Image.Image, max_pixels: int = MAX_PIXELS,
               draft: int | None = 640, name: str | os.PathLike | None = None) -> Image.Image:
    """Decode a photo to an RGB PIL image on white (transparency = white), EXIF-rotated.

    `draft`: for JPEGs, let the decoder scale down by DCT while decoding to at least this many
    px on the shorter side (much faster for big photos); None decodes at full size. `name`
    starts the error messages (default: the path, or "image").
    """
    name = name or (source if isinstance(source, (str, os.PathLike)) else "image")
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        if isinstance(source, (str, os.PathLike)) and os.path.getsize(source) == 0:
            raise ImageError(f"{name}: the file is empty (0 bytes).")
        with warnings.catch_warnings():  # PIL's warning, at 89 MP, would refuse a JPEG decoded far smaller:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # _decode checks what it decodes
            if isinstance(source, Image.Image):
                return _decode(source, name, max_pixels, None)
            with Image.open(source) as image:  # closes the file even when decoding fails
                return _decode(image, name, max_pixels, draft)
    except ImageError:
        raise
    except FileNotFoundError:  # not damage: moved or deleted since the folder was listed
        raise ImageError(f"{name}: the file is gone (moved or deleted while the folder was read).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: refused as a possible decompression bomb ({exc}).") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{name}: not a picture this program can read (JPEG, PNG, WebP, BMP, GIF or TIFF).") from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise ImageError(f"{name}: the file is damaged or truncated ({exc.__class__.__name__}: {exc}).") from exc


def _decode(image: Image.Image, name, max_pixels: int, draft: int | None) -> Image.Image:
    width, height = image.size  # from the header: checked before any pixel is decoded
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"{name}: {width} x {height} pixels is too small to show an object.")
    if draft and image.format in ("JPEG", "MPO") and image.mode in ("RGB", "L", "CMYK", "YCbCr"):
        image.draft(image.mode, (draft, draft))  # decoded at 1/2 to 1/8: a 61 MP camera JPEG costs ~1 MP
    if image.size[0] * image.size[1] > max_pixels:  # what would be decoded
        raise ImageError(f"{name}: {width} x {height} pixels is more than the {max_pixels:,} allowed "
                         "(too large, or a decompression bomb).")
    image.load()
    if image.getexif().get(0x0112, 1) != 1:  # EXIF orientation: turn the pixels upright
        image = ImageOps.exif_transpose(image)
    return to_rgb_on_white(image)


def _reduce(image: Image.Image, longest: int, exact: bool = True) -> Image.Image:
    """Shrink so the longer side is at most `longest` (integer reduce first: fast and clean).
    exact=False stops after the integer reduce (by the next whole factor), a little smaller
    than `longest` but one resampling cheaper."""
    w, h = image.size
    factor = max(w, h) / longest
    if factor <= 1:
        return image
    if factor >= 2:
        image = image.reduce(int(factor) if exact else math.ceil(factor))
        w, h = image.size
        factor = max(w, h) / longest
        if factor <= 1:
            return image
    return image.resize((max(1, round(w / factor)), max(1, round(h / factor))), Image.BILINEAR)


# --------------------------------------------------------------------------------- geometry
def _object_box(rgb: np.ndarray, tolerance: float) -> tuple[tuple[int, int, int, int], np.ndarray, bool]:
    """Bounding box (y0, y1, x0, x1) of what differs from the border colour, that colour, and
    whether the background looked plain enough to trust the box."""
    h, w, _ = rgb.shape
    border = np.concatenate([rgb[:2].reshape(-1, 3), rgb[-2:].reshape(-1, 3), rgb[:, :2].reshape(-1, 3),
                             rgb[:, -2:].reshape(-1, 3)])
    background = np.median(border, axis=0)
    plain = np.mean(np.abs(border - background).max(1) <= tolerance) >= 0.6
    full = (0, h, 0, w)
    if not plain:
        return full, background, False
    distance = np.abs(rgb - background)  # (H, W, 3); the channel max below avoids numpy's slow
    differs = np.maximum(np.maximum(distance[..., 0], distance[..., 1]), distance[..., 2]) > tolerance  # 3-long axis reduce
    differs = binary_opening(differs)
    if not differs.any():
        return full, background, True
    labels, n = label(differs, eight=False)
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.zeros(n + 1, bool)
    keep[1:] = sizes >= max(3, 0.01 * sizes.max())
    mask = keep[labels]
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    return (int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1), background, True


def _pale_stretch(small: np.ndarray, spec: EdgeSpec) -> np.ndarray | None:
    """A pale product on white (a cream shoe, a white sneaker on light grey) has too little
    contrast for the thresholds the benchmark's maps were matched with: its lines were lost and
    the photo skipped as blank. For such a photo (the darkest 1 % of its small copy lighter than
    `spec.pale_above`) the look-up table that makes its darkest 1 % black; None for any other
    photo, which is left exactly as it is."""
    darkest = float(np.percentile(small.min(axis=2), 1))
    if darkest <= spec.pale_above or darkest > 235:  # not pale; or nearly blank, where a stretch would draw JPEG noise
        return None
    return np.clip((np.arange(256) - darkest) * 255.0 / (255.0 - darkest), 0, 255).round().astype(np.uint8)


def _frame(image: Image.Image, spec: EdgeSpec) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """(framed photo, where the photo's pixels lie in it as (y0, y1, x0, x1), or None when they
    fill the frame). Outside that box the frame is one flat colour, so no edge can lie there."""
    w, h = image.size
    small = np.asarray(_reduce(image, spec.work_size, exact=False), np.uint8)
    stretch = _pale_stretch(small, spec)
    small = (small if stretch is None else stretch[small]).astype(np.float32)
    (y0, y1, x0, x1), background, plain = _object_box(small, spec.background_tolerance)
    sy, sx = h / small.shape[0], w / small.shape[1]
    pad = 1  # one small-image pixel of slack around the box
    box = (max(0.0, (x0 - pad) * sx), max(0.0, (y0 - pad) * sy), min(float(w), (x1 + pad) * sx), min(float(h), (y1 + pad) * sy))
    bw, bh = box[2] - box[0], box[3] - box[1]
    inner = (spec.size - 2 * spec.margin) * max(bw, bh) / max(bw - 2 * pad * sx, bh - 2 * pad * sy, 1.0)
    scale = min(inner, spec.size) / max(bw, bh)
    new_w, new_h = max(1, round(bw * scale)), max(1, round(bh * scale))
    crop = image.resize((new_w, new_h), Image.BILINEAR, box=box, reducing_gap=2.0)
    if stretch is not None:
        crop = crop.point(stretch.tolist() * 3)  # at the frame's size: cheap
    top, left = (spec.size - new_h) // 2, (spec.size - new_w) // 2
    if plain:
        canvas = Image.new("RGB", (spec.size, spec.size), tuple(round(float(v)) for v in background))
        canvas.paste(crop, (left, top))
        return np.asarray(canvas, np.uint8), (top, top + new_h, left, left + new_w)
    # busy background: repeat the crop's border outward so the frame edge draws no line
    arr = np.asarray(crop, np.uint8)
    return np.pad(arr, ((top, spec.size - new_h - top), (left, spec.size - new_w - left), (0, 0)), mode="edge"), None


# --------------------------------------------------------------------------------- edges
def _gauss(a: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_filter(a, sigma, truncate=2.5)


def _filter_reach(spec: EdgeSpec) -> int:
    """How far (px) the Canny filters see: blur + gradient + tensor blur + suppression, plus
    slack. Flat colour farther than this from the photo's pixels gives exactly zero response."""
    return int(2.5 * spec.sigma + 0.5) + int(2.5 * spec.tensor_sigma + 0.5) + 2 + 4


@functools.lru_cache(maxsize=4)
def _log_table(dark_offset: float) -> np.ndarray:
    levels = np.arange(256, dtype=np.float64)
    return (np.log1p(levels / dark_offset) * (255.0 / np.log1p(255.0 / dark_offset))).astype(np.float32)


def _canny(rgb: np.ndarray, spec: EdgeSpec, content: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Colour Canny on the structure tensor: boolean 1-px lines.

    The tensor (summed over R, G, B, then smoothed) gives one response for a step edge and also
    one, centred, for a thin dark or light line (plain Canny draws such a seam twice).
    `content` (y0, y1, x0, x1): where the frame is not one flat colour; the filters then run on
    that part plus a margin wider than their reach only (same result, a wide shoe costs about
    half), while the thresholds still count the whole frame.
    """
    if content is not None:
        reach = _filter_reach(spec)
        y0, x0 = max(0, content[0] - reach), max(0, content[2] - reach)
        y1, x1 = min(rgb.shape[0], content[1] + reach), min(rgb.shape[1], content[3] + reach)
        lines = np.zeros(rgb.shape[:2], bool)
        lines[y0:y1, x0:x1] = _canny_full(rgb[y0:y1, x0:x1], spec, rgb.shape[0] * rgb.shape[1])
        return lines
    return _canny_full(rgb, spec, rgb.shape[0] * rgb.shape[1])


def _canny_full(rgb: np.ndarray, spec: EdgeSpec, frame_pixels: int) -> np.ndarray:
    # a Weber-like (log) intensity scale: a seam on a dark shoe counts about as much as one
    # on a light shoe, instead of vanishing next to the dark shoe's silhouette on white
    perceived = np.take(_log_table(spec.dark_offset), rgb.transpose(2, 0, 1))  # (3, H, W) planes
    smooth = gaussian_filter(perceived, spec.sigma, truncate=2.5)
    # central differences (the outermost ring is flat: zero gradient there), summed over R, G, B
    gx = np.empty_like(smooth)
    gy = np.empty_like(smooth)
    np.subtract(smooth[:, :, 2:], smooth[:, :, :-2], out=gx[:, :, 1:-1])
    np.subtract(smooth[:, 2:, :], smooth[:, :-2, :], out=gy[:, 1:-1, :])
    gx[:, :, [0, -1]] = 0.0
    gy[:, [0, -1], :] = 0.0
    gx *= 0.5
    gy *= 0.5
    jxx = _gauss(np.einsum("cij,cij->ij", gx, gx), spec.tensor_sigma)
    jyy = _gauss(np.einsum("cij,cij->ij", gy, gy), spec.tensor_sigma)
    jxy = _gauss(np.einsum("cij,cij->ij", gx, gy), spec.tensor_sigma)
    c2 = jxx - jyy  # ~ cos(2 theta), theta = gradient direction
    s2 = 2.0 * jxy  # ~ sin(2 theta)
    mag = np.sqrt(np.maximum(0.5 * (jxx + jyy + np.sqrt(c2 * c2 + s2 * s2)), 0.0))

    # non-maximum suppression across the line (4 sectors of the gradient direction)
    p = np.zeros((mag.shape[0] + 2, mag.shape[1] + 2), np.float32)
    p[1:-1, 1:-1] = mag
    c = p[1:-1, 1:-1]
    ac, as_ = np.abs(c2), np.abs(s2)
    sectors = (
        (c2 >= as_, p[1:-1, :-2], p[1:-1, 2:]),  # gradient ~horizontal: compare left/right
        (s2 > ac, p[:-2, :-2], p[2:, 2:]),  # ~45 deg (down-right in image rows)
        (-c2 > as_, p[:-2, 1:-1], p[2:, 1:-1]),  # ~vertical: compare up/down
        (-s2 >= ac, p[:-2, 2:], p[2:, :-2]),  # ~135 deg
    )
    keep = np.zeros(mag.shape, bool)
    for where, a, b in sectors:
        keep |= where & (c >= a) & (c > b)
    keep &= mag > spec.min_contrast
    candidates = mag[keep]
    if candidates.size == 0:
        return keep
    n_strong = max(1, int(spec.strong_share * frame_pixels))
    if candidates.size > n_strong:
        high = float(np.partition(candidates, candidates.size - n_strong)[candidates.size - n_strong])
    else:
        high = float(candidates.min())
    high = max(high, 2.0 * spec.min_contrast)
    weak = keep & (mag >= spec.low_ratio * high)
    labels, count = label(weak)
    if count == 0:
        return weak
    has_strong = np.zeros(count + 1, bool)
    has_strong[labels[weak & (mag >= high)]] = True
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    has_strong &= sizes >= spec.min_segment
    has_strong[0] = False
    return has_strong[labels]


def render_lines(lines: np.ndarray) -> np.ndarray:
    """1-px boolean lines -> uint8 picture with the benchmark's soft line profile (core ~75)."""
    coverage = gaussian_filter(lines, 0.7, truncate=2.0)
    ink = np.clip(coverage * 1.3, 0.0, 0.75)
    return np.clip(np.rint(255.0 * (1.0 - ink)), 0, 255).astype(np.uint8)


def photo_to_edges(source, spec: EdgeSpec = DEFAULT_SPEC) -> np.ndarray:
    """A photo (path, bytes, file, PIL image, or RGB/grey uint8 array) -> (size, size) uint8 edge map."""
    if isinstance(source, np.ndarray):
        arr = source
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, 2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4) or min(arr.shape[:2]) < MIN_SIDE:
            raise ImageError("A photo array must be (H, W), (H, W, 3) or (H, W, 4), at least 8 x 8.")
        image = to_rgb_on_white(Image.fromarray(np.asarray(arr, np.uint8)))
    else:
        image = open_photo(source)
    return edges_from_rgb(image, spec)


def edges_from_rgb(image: Image.Image, spec: EdgeSpec = DEFAULT_SPEC) -> np.ndarray:
    """An RGB PIL image (as `open_photo` returns) -> edge map."""
    framed, content = _frame(image, spec)
    lines = _canny(framed, spec, content)
    if not lines.any():
        raise ImageError("The photo shows no object (no edges found): it is blank or a single flat colour.")
    return render_lines(lines)


EMPTY_FILE_SHA256: Final = hashlib.sha256(b"").hexdigest()


def open_hashed(path: str) -> tuple[BinaryIO, str]:
    """(the file opened, at its start; SHA-256 hex of its content). The indexer decodes from this
    same open file, just read through (so from the page cache): a photo is read from its drive
    once, and its digest is of the file decoded even if it is replaced meanwhile."""
    handle = open(path, "rb")
    try:
        digest = hashlib.sha256()
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return handle, digest.hexdigest()


def edge_maps_of_files(paths: list[str], spec: EdgeSpec = DEFAULT_SPEC) -> list[tuple[np.ndarray | None, str | None, str | None]]:
    """(edge map, None, digest) or (None, why it was skipped, digest) for each photo file, digest
    being the SHA-256 of the content read, or None where another try may go otherwise (the file
    could not be read: gone, no permission, a drive's error; or memory ran out). Never raises for
    a bad file. Runs in the indexing's worker processes (this module imports no torch: they start
    fast)."""
    results = []
    for path in paths:
        digest = None
        try:
            handle, digest = open_hashed(path)
            with handle:
                if digest == EMPTY_FILE_SHA256:
                    raise ImageError(f"{path}: the file is empty (0 bytes).")
                results.append((edges_from_rgb(open_photo(handle, name=path), spec), None, digest))
        except FileNotFoundError:
            results.append((None, "the file is gone (moved or deleted while the folder was read).", None))
        except OSError as exc:  # opening or reading the file failed, not decoding it
            results.append((None, f"cannot read: {exc.strerror or exc}", None))
        except ImageError as exc:
            out_of_memory = isinstance(exc.__cause__, MemoryError)  # not the photo's fault: tried again next time
            why = "too large to decode (out of memory)" if out_of_memory else str(exc).replace(path, "").lstrip(": ") or "unreadable"
            results.append((None, why, None if out_of_memory else digest))
        except MemoryError:
            results.append((None, "too large to decode (out of memory)", None))
        except Exception as exc:  # noqa: BLE001 -- one bad file never stops the indexing
            results.append((None, f"cannot read ({exc.__class__.__name__}: {exc})", digest))
    return results


def keep_freed_memory() -> None:
    """For a decoding process (glibc only): keep freed memory for reuse instead of handing each
    array back to the system. The extractor makes and frees dozens of ~0.2 MB arrays a photo,
    and by default each is a fresh mmap whose pages fault in again: measured here, edge maps
    cost 6.7-8.7 ms a photo with 75-860 page faults, 5.5-5.8 ms with 1-17 after this."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
        mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD: blocks below 64 MB come from the heap
        mallopt(-1, 128 << 20)  # M_TRIM_THRESHOLD: keep up to 128 MB of free heap
    except (OSError, AttributeError):
        pass


def thumbnail_rgb(image: Image.Image, size: int = 96) -> np.ndarray:
    """A small RGB uint8 preview of an (RGB) photo, longer side `size`."""
    return np.asarray(_reduce(image, size).convert("RGB"), np.uint8)
