"""Sketch files: strokes as JSON (the app's save format), read by the app and the CLI alike."""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from pathlib import Path
from typing import Final

import numpy as np

from .files import atomic_write_bytes
from .raster import SketchError

SKETCH_FORMAT: Final = "sketchfind.strokes"
SKETCH_VERSION: Final = 1
MAX_SKETCH_BYTES: Final = 128 * 1024 * 1024  # a bigger "sketch" is not a sketch (2M points as written: ~90 MiB)
MAX_SKETCH_POINTS: Final = 2_000_000  # all strokes together
MAX_STROKE_WIDTH: Final = 200.0  # logical px; a wider or odd "width" is ignored
DEFAULT_PRESSURE: Final = 1.0  # mouse and touch strokes
PNG_STROKES_KEY: Final = "sketchfind.strokes"  # the PNG text chunks with a drawing's strokes: KEY, KEY.1, ...
PNG_STROKES_PART: Final = 500_000  # characters per chunk: PIL reads back none over 1 MB (ImageFile.SAFEBLOCK)
MAX_PNG_STROKES: Final = 60_000_000  # characters in all: PIL keeps at most 64 MB of text (MAX_TEXT_MEMORY)
_SNIFF_BYTES: Final = 512
_IMAGE_MAGIC: Final = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"GIF8", b"RIFF", b"II*\x00", b"MM\x00*",
                       b"P4", b"P5", b"P6")  # PNG, JPEG, BMP, GIF, WebP, TIFF, binary PNM


def write_sketch(path: str | os.PathLike, strokes: list[tuple[np.ndarray, float]], canvas: tuple[int, int]) -> None:
    """strokes: (points (n, 4) x, y, pressure, t; screen width). Written atomically."""
    atomic_write_bytes(path, (json.dumps(_sketch_dict(strokes, canvas)) + "\n").encode("utf-8"))


def _sketch_dict(strokes: list[tuple[np.ndarray, float]], canvas: tuple[int, int]) -> dict:
    return {
        "format": SKETCH_FORMAT,
        "version": SKETCH_VERSION,
        "canvas": list(canvas),  # for the record: readers fit the strokes to their own canvas
        "strokes": [{"width": float(width), "points": np.round(points, 4).tolist()} for points, width in strokes],
    }


def read_sketch(path: str | os.PathLike) -> list[tuple[np.ndarray, float | None]]:
    """A sketch file -> [(points (n, 4) x, y, pressure, t, width or None)]; clear errors."""
    path = Path(path)
    return _parse_sketch(_load_json(path), path)


def _regular_file_size(path: Path) -> int:
    """The file's size; OSError for a pipe or device, whose reading could wait for ever."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{path.name} is not a regular file (a pipe or a device)")
    return info.st_size


def _load_json(path: Path):
    try:
        size = _regular_file_size(path)
        if size > MAX_SKETCH_BYTES:
            raise OSError(f"it is too large to be a sketch ({size >> 20} MiB, at most {MAX_SKETCH_BYTES >> 20} MiB)")
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM, as some editors write, is fine
    except OSError as exc:
        raise SketchError(f"Cannot read sketch {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # bad JSON and bad UTF-8
        raise SketchError(f"Cannot read sketch {path}: it is not a SketchFind stroke file (JSON): {exc}") from exc
    except (RecursionError, MemoryError) as exc:
        raise SketchError(f"Cannot read sketch {path}: the JSON is nested too deeply or too large.") from exc
    return data


def _parse_sketch(data, path) -> list[tuple[np.ndarray, float | None]]:
    if isinstance(data, dict):
        kind, version = data.get("format", SKETCH_FORMAT), data.get("version", SKETCH_VERSION)
        if not str(kind).startswith("sketchfind."):  # the app's own files with strokes (sketches, autosaves)
            raise SketchError(f"{path} is not a SketchFind sketch (its format is {str(kind)[:60]!r}).")
        if kind == SKETCH_FORMAT and (not isinstance(version, int) or isinstance(version, bool) or version > SKETCH_VERSION):
            raise SketchError(f"{path} was written by a newer SketchFind (sketch format version {str(version)[:20]}; "
                              f"this one reads version {SKETCH_VERSION}).")
    raw = data.get("strokes") if isinstance(data, dict) else data
    if not isinstance(raw, list):
        raise SketchError(f"{path} is not a SketchFind sketch (no stroke list).")
    strokes = []
    total = 0
    for item in raw:
        points = item.get("points") if isinstance(item, dict) else item
        width = item.get("width") if isinstance(item, dict) else None
        try:
            arr = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:  # (a 400-digit number overflows a float)
            raise SketchError(f"{path}: a stroke is not a list of [x, y, pressure, t] points.") from exc
        if arr.ndim != 2 or arr.shape[0] == 0 or not 2 <= arr.shape[1] <= 4 or not np.isfinite(arr).all():
            raise SketchError(f"{path}: a stroke is not a list of [x, y, pressure, t] points.")
        total += len(arr)
        if total > MAX_SKETCH_POINTS:
            raise SketchError(f"{path} has more than {MAX_SKETCH_POINTS:,} points: too large to be a sketch.")
        full = np.zeros((len(arr), 4))
        full[:, 2] = DEFAULT_PRESSURE
        full[:, : arr.shape[1]] = arr
        strokes.append((full, _width(width)))
    return strokes


def png_with_strokes(grey: np.ndarray, strokes: list[tuple[np.ndarray, float]],
                     canvas: tuple[int, int]) -> tuple[bytes, bool]:
    """A drawing as PNG bytes (grey uint8 (H, W), as seen) that also carries the strokes it was drawn
    from, with a digest of its pixels: opened again, by the app or `fgsbir query`, it is those
    strokes (editable, and the same query), not a redrawn picture of them. Returns (bytes, whether
    the strokes went in: not beyond MAX_PNG_STROKES characters, which PIL would not read back)."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    info = PngInfo()
    text = json.dumps({**_sketch_dict(strokes, canvas), "pixels": _pixel_digest(grey)})
    carried = bool(strokes) and len(text) <= MAX_PNG_STROKES
    if carried:
        for part, start in enumerate(range(0, len(text), PNG_STROKES_PART)):
            info.add_itxt(PNG_STROKES_KEY + (f".{part}" if part else ""), text[start: start + PNG_STROKES_PART], zip=True)
    buffer = io.BytesIO()
    Image.fromarray(grey, "L").save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue(), carried


def embedded_strokes(path: str | os.PathLike) -> list[tuple[np.ndarray, float | None]] | None:
    """The strokes a PNG written by `png_with_strokes` was drawn from; None for any other picture,
    and for one whose pixels were changed since (edited elsewhere: the picture is what counts).
    Only such a PNG is decoded here (its text chunk comes before the pixels)."""
    import warnings

    from PIL import Image

    from .raster import MAX_PICTURE_PIXELS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the picture reader says the size
            with Image.open(path) as picture:
                info = picture.info if picture.format == "PNG" else {}
                parts = [info.get(PNG_STROKES_KEY)]
                while isinstance(info.get(f"{PNG_STROKES_KEY}.{len(parts)}"), str):
                    parts.append(info[f"{PNG_STROKES_KEY}.{len(parts)}"])
                if not isinstance(parts[0], str) or picture.width * picture.height > MAX_PICTURE_PIXELS:
                    return None
                text = "".join(parts)
                data = json.loads(text)
                grey = np.asarray(picture.convert("L"))
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, RecursionError, Image.DecompressionBombError):
        return None  # read as a picture, which says what is wrong with it
    if not isinstance(data, dict) or data.get("pixels") != _pixel_digest(grey):
        return None
    try:
        return _parse_sketch(data, Path(path))
    except SketchError:
        return None


def _pixel_digest(grey: np.ndarray) -> str:
    return hashlib.sha256(f"{grey.shape}".encode() + np.ascontiguousarray(grey, dtype=np.uint8).tobytes()).hexdigest()


def _width(value) -> float | None:
    """A stroke's saved screen width, or None (the reader's default) when absent or nonsense."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, int) and abs(value) > 1e9):
        return None  # (an integer too large for a float raises)
    value = float(value)
    return value if np.isfinite(value) and 0 < value <= MAX_STROKE_WIDTH else None


def read_strokes(path: str | os.PathLike) -> list[np.ndarray]:
    """A sketch file -> rasteriser input: [(n, 3) x, y, pressure]."""
    return [points[:, :3] for points, _ in read_sketch(path)]


def sniff_sketch(path: str | Path) -> str:
    """What a sketch file really holds, by its first bytes: "json", "svg" or "image".

    The name's suffix is only a hint: a PNG saved as .json opens as a picture. Anything else
    (a PDF, a zip, an empty or huge file, a folder) is a SketchError naming the problem.
    """
    path = Path(path)
    try:
        size = _regular_file_size(path)
        if path.is_dir():
            raise SketchError(f"{path.name} is a folder, not a sketch.")
        if size > MAX_SKETCH_BYTES:
            raise SketchError(f"{path.name} is too large to be a sketch ({size >> 20} MiB, at most {MAX_SKETCH_BYTES >> 20} MiB).")
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise SketchError(f"Cannot read {path.name}: {exc.strerror or exc}") from exc
    if not head.strip():
        raise SketchError(f"{path.name} is empty.")
    if head.startswith(_IMAGE_MAGIC):
        return "image"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "json"
    lowered = text[:_SNIFF_BYTES].lower()
    if lowered.startswith(b"<?xml") or lowered.startswith(b"<svg") or b"<svg" in lowered:
        return "svg"
    raise SketchError(f"{path.name} is not a sketch SketchFind can open (a stroke file, or a PNG, JPEG, BMP, GIF, "
                      "WebP, TIFF or PNM picture; SVG in the window).")
