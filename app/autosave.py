"""Autosave: the current sketch survives a crash or a kill.

After every change (a stroke, undo, clear, a ranking setting) the window schedules a save of
the sketch (strokes, an opened picture, category, attribute-panel settings) to
``autosave-N.json`` in the user data directory, written atomically (temp file + rename), so
a kill at any moment leaves either the previous or the new save, never half of one. A clean
exit deletes it.

Several windows or instances can run at once: each holds a slot ``N`` through a
``QLockFile`` (``autosave-N.lock``). Qt treats the lock of a dead process as stale, so at the
next start an ``autosave-*.json`` whose lock can be taken is a crashed session's sketch, and
the window offers to restore it. Nothing here raises: a data directory that cannot be
written turns autosave off and ``error`` says why.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from fgsbir_core.files import atomic_write_bytes

AUTOSAVE_FORMAT: Final = "sketchfind.autosave"
AUTOSAVE_VERSION: Final = 2  # 2: strokes over a picture are in its pixels (they were in the canvas's)
SLOTS: Final = 8
MAX_AUTOSAVE_BYTES: Final = 256 * 1024 * 1024


@dataclass
class Snapshot:
    """What a restore puts back."""

    strokes: list = field(default_factory=list)  # the canvas's Stroke objects, or (points (n, 4), width) read back
    image: np.ndarray | None = None  # an opened sketch picture, grey uint8
    category: str = ""
    attribute_slider: int | None = None
    attribute_modes: dict[str, str] = field(default_factory=dict)
    saved_at: float = 0.0
    note: str = ""  # what the restore cannot promise (an autosave of another version)
    file: str = ""  # the sketch's file ("" untitled), and whether it is a picture opened as the sketch
    file_is_source: bool = False
    facing: int = 0  # the Facing box's entry (0: auto)

    def is_empty(self) -> bool:
        return not self.strokes and self.image is None


@dataclass
class Leftover:
    """A crashed session's autosave, held (locked) while the user decides."""

    path: Path
    snapshot: Snapshot
    _lock: object = None

    def discard(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        self.release()

    def release(self) -> None:
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None


def _lock(path: Path):
    from PySide6.QtCore import QLockFile

    lock = QLockFile(str(path))
    lock.setStaleLockTime(0)  # stale only when its process is gone, never because it is old
    return lock


class Autosave:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.path: Path | None = None
        self.error = ""  # why autosave is off or the last save failed ("" = fine)
        self.saves = 0
        self._lock = None
        self._stroke_text: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._image_text: tuple[bytes, str] | None = None  # (digest, PNG base64) of the last picture saved
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.error = f"cannot create {self.directory}: {exc.strerror or exc}"
            return
        for slot in range(SLOTS):
            lock = _lock(self.directory / f"autosave-{slot}.lock")
            if lock.tryLock(0):
                self._lock, self.path = lock, self.directory / f"autosave-{slot}.json"
                return
            if lock.error() == lock.LockError.PermissionError:
                self.error = f"no permission to write in {self.directory}"
                return
        self.error = f"{SLOTS} SketchFind windows are open already"

    @property
    def enabled(self) -> bool:
        return self.path is not None

    # ------------------------------------------------------------------ recovery
    def leftover(self) -> Leftover | None:
        """The newest autosave of a session that ended without a clean exit (None if none)."""
        found: list[Leftover] = []
        for candidate in sorted(self.directory.glob("autosave-*.json")):
            if candidate == self.path:  # our slot, left by a crashed session with the same slot
                lock = None
            else:
                lock = _lock(candidate.with_suffix(".lock"))
                if not lock.tryLock(0):
                    continue  # a running window's autosave
            try:
                snapshot = read_snapshot(candidate)
            except OSError:
                snapshot = None  # unreadable: nothing to offer
            except Exception:  # damaged (ValueError, or what a hand edit may provoke): kept aside, not deleted
                self._set_aside(candidate)
                if lock is not None:
                    lock.unlock()
                continue
            if snapshot is None or snapshot.is_empty():
                Leftover(candidate, Snapshot(), lock).discard()
                continue
            found.append(Leftover(candidate, snapshot, lock))
        if not found:
            return None
        found.sort(key=lambda item: item.snapshot.saved_at)
        for older in found[:-1]:
            self.keep(older)  # offered at a later start (moved aside first if in this window's slot)
        return found[-1]

    def _set_aside(self, path: Path) -> None:
        """A damaged autosave is renamed ``autosave-damaged-*.bad`` (never offered, never deleted)."""
        try:
            path.replace(self.directory / f"autosave-damaged-{time.time_ns()}.bad")
        except OSError:
            pass

    def keep(self, leftover: Leftover) -> None:
        """Leave a crashed session's autosave for a later start. One in this window's own slot is
        moved aside first: the window's next autosave would overwrite (or, empty, remove) it."""
        if leftover.path == self.path:
            kept = self.directory / f"autosave-kept-{time.time_ns()}.json"
            try:
                leftover.path.replace(kept)
            except OSError:
                pass  # then it stays where it is, as before
            else:
                leftover.path = kept
        leftover.release()

    # ------------------------------------------------------------------ saving
    def save(self, snapshot: Snapshot) -> bool:
        """Write the snapshot (an empty sketch removes the file). False when it failed."""
        if self.path is None:
            return False
        try:
            if snapshot.is_empty():
                self.path.unlink(missing_ok=True)
            else:
                atomic_write_bytes(self.path, self._encode(snapshot))
        except OSError as exc:
            self.error = f"cannot write {self.path}: {exc.strerror or exc}"
            return False
        self.error = ""
        self.saves += 1
        return True

    def remove(self) -> None:
        """A clean exit: delete the autosave and give the slot back."""
        if self.path is not None:
            try:
                self.path.unlink(missing_ok=True)
            except OSError:
                pass
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
        self.path = None

    def _image_png(self, image: np.ndarray) -> str:
        """The picture as base64 PNG, encoded again only when it changed: a noisy 2048 px photo of
        paper takes ~0.7 s to compress, on the GUI thread, at every stroke drawn over it."""
        digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes() + repr(image.shape).encode(), digest_size=16).digest()
        if self._image_text is None or self._image_text[0] != digest:
            self._image_text = digest, _png_base64(image)
        return self._image_text[1]

    def _encode(self, snapshot: Snapshot) -> bytes:
        head = {
            "format": AUTOSAVE_FORMAT,
            "version": AUTOSAVE_VERSION,
            "saved_at": snapshot.saved_at or time.time(),
            "category": snapshot.category,
            "attribute_slider": snapshot.attribute_slider,
            "attribute_modes": snapshot.attribute_modes,
            "image_png": None if snapshot.image is None else self._image_png(snapshot.image),
            "file": snapshot.file,
            "file_is_source": snapshot.file_is_source,
            "facing": snapshot.facing,
        }
        # Strokes never change once drawn: their JSON is cached, so a long sketch costs a join.
        parts = []
        for stroke in snapshot.strokes:
            key = stroke if not isinstance(stroke, tuple) else None
            text = self._stroke_text.get(key) if key is not None else None
            if text is None:
                points, width = (stroke.points, stroke.width) if key is not None else stroke
                text = json.dumps({"width": float(width), "points": np.round(points, 4).tolist()})
                if key is not None:
                    self._stroke_text[key] = text
            parts.append(text)
        body = json.dumps(head)[:-1] + ', "strokes": [' + ", ".join(parts) + "]}\n"
        return body.encode("utf-8")


def read_snapshot(path: Path) -> Snapshot:
    """An autosave file -> Snapshot; ValueError when it is not one."""
    from fgsbir_core.sketch_file import read_sketch

    if path.stat().st_size > MAX_AUTOSAVE_BYTES:
        raise ValueError("autosave too large")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError as exc:
        raise ValueError("autosave nested too deeply") from exc
    if not isinstance(data, dict) or data.get("format") != AUTOSAVE_FORMAT:
        raise ValueError("not a SketchFind autosave")
    strokes = [(points, width or 3.0) for points, width in read_sketch(path)] if data.get("strokes") else []
    image = _png_array(data["image_png"]) if data.get("image_png") else None
    modes = data.get("attribute_modes") or {}
    slider = data.get("attribute_slider")
    saved_at = data.get("saved_at") or 0.0
    if not _is_number(saved_at) or not 0 <= saved_at < 3.2e10:  # a Unix time before the year 3000 (Windows' localtime limit)
        raise ValueError("autosave time is not a time")
    version = data.get("version")
    note = ""
    if image is not None and strokes and version != AUTOSAVE_VERSION:  # where strokes over a picture are kept changed
        note = ("The strokes drawn over the picture were autosaved by "
                f"{'an older' if isinstance(version, int) and version < AUTOSAVE_VERSION else 'another'} "
                "SketchFind and may not line up with it: check them, or undo the restore.")
    return Snapshot(
        strokes=strokes,
        image=image,
        category=str(data.get("category") or ""),
        attribute_slider=int(slider) if _is_number(slider) and abs(slider) < 1e9 else None,
        attribute_modes={str(k): str(v) for k, v in modes.items()} if isinstance(modes, dict) else {},
        saved_at=float(saved_at),
        note=note,
        file=data["file"] if isinstance(data.get("file"), str) else "",
        file_is_source=data.get("file_is_source") is True,
        facing=data["facing"] if data.get("facing") in (0, 1, 2) and not isinstance(data.get("facing"), bool) else 0,
    )


def _is_number(value) -> bool:
    """A finite JSON number (JSON's 1e400 reads as infinity; true and false are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)  # (math.isfinite of a 400-digit int overflows)


def _png_base64(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _png_array(text: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(base64.b64decode(text, validate=True))) as picture:
            return np.asarray(picture.convert("L"), dtype=np.uint8).copy()
    except Exception as exc:  # binascii.Error, PIL errors
        raise ValueError(f"autosaved picture unreadable: {exc}") from exc
