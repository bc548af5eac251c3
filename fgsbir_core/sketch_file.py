"""Sketch files: strokes as JSON (the app's save format), read by the app and the CLI alike."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

import numpy as np

from .checkpoint import atomic_write_bytes
from .raster import SketchError

SKETCH_FORMAT: Final = "sketchfind.strokes"
SKETCH_VERSION: Final = 1
MAX_SKETCH_BYTES: Final = 64 * 1024 * 1024  # a bigger "sketch" is not a sketch
DEFAULT_PRESSURE: Final = 1.0  # mouse and touch strokes


def write_sketch(path: str | os.PathLike, strokes: list[tuple[np.ndarray, float]], canvas: tuple[int, int]) -> None:
    """strokes: (points (n, 4) x, y, pressure, t; screen width). Written atomically."""
    data = {
        "format": SKETCH_FORMAT,
        "version": SKETCH_VERSION,
        "canvas": list(canvas),
        "strokes": [{"width": float(width), "points": np.round(points, 4).tolist()} for points, width in strokes],
    }
    atomic_write_bytes(path, (json.dumps(data) + "\n").encode("utf-8"))


def read_sketch(path: str | os.PathLike) -> list[tuple[np.ndarray, float | None]]:
    """A sketch file -> [(points (n, 4) x, y, pressure, t, width or None)]; clear errors."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SKETCH_BYTES:
            raise SketchError(f"{path} is too large to be a sketch ({path.stat().st_size >> 20} MiB).")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SketchError(f"Cannot read sketch {path}: {exc}") from exc
    raw = data.get("strokes") if isinstance(data, dict) else data
    if not isinstance(raw, list):
        raise SketchError(f"{path} is not a SketchFind sketch (no stroke list).")
    strokes = []
    for item in raw:
        points = item.get("points") if isinstance(item, dict) else item
        width = item.get("width") if isinstance(item, dict) else None
        try:
            arr = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise SketchError(f"{path}: a stroke is not a list of [x, y, pressure, t] points.") from exc
        if arr.ndim != 2 or arr.shape[0] == 0 or not 2 <= arr.shape[1] <= 4 or not np.isfinite(arr).all():
            raise SketchError(f"{path}: a stroke is not a list of [x, y, pressure, t] points.")
        full = np.zeros((len(arr), 4))
        full[:, 2] = DEFAULT_PRESSURE
        full[:, : arr.shape[1]] = arr
        strokes.append((full, float(width) if isinstance(width, (int, float)) else None))
    return strokes


def read_strokes(path: str | os.PathLike) -> list[np.ndarray]:
    """A sketch file -> rasteriser input: [(n, 3) x, y, pressure]."""
    return [points[:, :3] for points, _ in read_sketch(path)]
