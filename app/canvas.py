"""The sketch canvas: mouse, pen and touch input kept as vector strokes.

Strokes are (n, 4) float arrays of x, y, pressure, t in the widget's logical pixels (t in
seconds since the sketch's first point). The model never sees the on-screen picture: the
query is built from the vectors by ``fgsbir_core.raster.rasterise_strokes`` (see
``query_input``), the one documented rasteriser. A sketch that holds a picture (opened,
pasted, dropped or an SVG) is the exception: then the picture itself (with any strokes drawn
over it) is the query, and goes through ``normalise_image``. A PNG saved from strokes opens as
those strokes.

Painting follows Qt's tablet example: strokes are drawn into a backing QImage at the
screen's device pixel ratio and only the dirty rectangle is repainted. Every change that
lands (a whole stroke, an erase gesture, clear, open) is one QUndoStack command.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Final

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QInputDevice,
    QPainter,
    QPen,
    QPointingDevice,
    QTransform,
    QUndoCommand,
    QUndoStack,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from fgsbir_core.raster import MAX_PICTURE_SIDE, SketchError, on_white_paper, read_sketch_picture
from fgsbir_core.sketch_file import embedded_strokes, png_with_strokes, read_sketch, sniff_sketch, write_sketch

MOUSE_PRESSURE: Final = 1.0  # mouse and touch have no pressure: full pressure
MIN_WIDTH_FACTOR: Final = 0.3  # on-screen width = pen_width * (0.3 + 0.7 * pressure)
ERASER_RADIUS: Final = 8.0  # logical pixels
# a mouse event this soon after a pen or touch event, while one is down, is that device's echo
# (some systems send both); later, the mouse is the mouse again, even if a release was lost
ECHO_WINDOW_S: Final = 0.5
UNDO_LIMIT: Final = 500  # commands kept; older ones are dropped so a long session stays bounded
MIN_RENDER_SIDE: Final = 256  # px: a smaller picture with strokes is drawn up to this (the model's input size)
SVG_SIDE: Final = 1024  # an SVG sketch is drawn at this size (longer side) before it is used
# Drawing an SVG runs on the GUI thread: 1,000 paths take about 1.2 s here, so more are refused
# (counted as drawn: each <use> draws what it refers to again).
MAX_SVG_ELEMENTS: Final = 2000
# a picture or <use> linked from outside the file, for SVGs expat cannot parse (any prefix, any href)
_SVG_OUTSIDE_LINK: Final = re.compile(rb"""<(?:[\w.-]+:)?(?:image|feImage|use)\b[^>]*?href\s*=\s*["']\s*(?!data:|#)""",
                                      re.IGNORECASE)
INK: Final = QColor(20, 20, 20)
PAPER: Final = QColor(255, 255, 255)


@dataclass(eq=False)
class Stroke:
    """One stroke; compared by identity so that undo commands can find it again."""

    points: np.ndarray  # (n, 4): x, y, pressure, t
    width: float = 3.0  # pen width (logical px at pressure 1) when it was drawn

    @property
    def xyp(self) -> np.ndarray:
        return self.points[:, :3]


@dataclass
class _Live:
    """The stroke or erase gesture in progress."""

    points: list[tuple[float, float, float, float]] = field(default_factory=list)
    erasing: bool = False
    source: str = "mouse"  # mouse | pen | touch
    touch_id: int = -1
    hits: list[Stroke] = field(default_factory=list)


class _AddStroke(QUndoCommand):
    def __init__(self, canvas: "SketchCanvas", stroke: Stroke):
        super().__init__("Draw stroke")
        self._canvas, self._stroke, self._painted = canvas, stroke, True

    def redo(self) -> None:
        self._canvas._strokes.append(self._stroke)
        if self._painted:  # the live stroke is already on the backing image
            self._painted = False
            self._canvas.sketchChanged.emit()
        else:
            self._canvas._changed()

    def undo(self) -> None:
        self._canvas._strokes.remove(self._stroke)
        self._canvas._changed()


class _RemoveStrokes(QUndoCommand):
    def __init__(self, canvas: "SketchCanvas", strokes: list[Stroke]):
        super().__init__("Erase")
        self._canvas = canvas
        present = {id(s): i for i, s in enumerate(canvas._strokes)}
        self._removed = [(present[id(s)], s) for s in strokes if id(s) in present]
        self._removed.sort(key=lambda pair: pair[0])

    def redo(self) -> None:
        for _, stroke in self._removed:
            self._canvas._strokes.remove(stroke)
        self._canvas._changed()

    def undo(self) -> None:
        for index, stroke in self._removed:
            self._canvas._strokes.insert(index, stroke)
        self._canvas._changed()


class _ReplaceSketch(QUndoCommand):
    """Clear, open sketch and open image: the whole sketch swapped for another."""

    def __init__(self, canvas: "SketchCanvas", strokes: list[Stroke], image: QImage | None, text: str):
        super().__init__(text)
        self._canvas = canvas
        self._new = (list(strokes), image)
        self._old = (list(canvas._strokes), canvas._image)
        self._also: list[QUndoCommand] = []  # the window's settings that went with the old sketch

    def also(self, command: QUndoCommand) -> None:
        """Do `command` now, and undo and redo it with this step."""
        self._also.append(command)
        command.redo()

    def redo(self) -> None:
        self._canvas._strokes, self._canvas._image = list(self._new[0]), self._new[1]
        self._canvas._changed()
        for command in self._also:
            command.redo()

    def undo(self) -> None:
        for command in reversed(self._also):
            command.undo()
        self._canvas._strokes, self._canvas._image = list(self._old[0]), self._old[1]
        self._canvas._changed()


class SketchCanvas(QWidget):
    sketchChanged = Signal()  # a stroke landed, or undo / redo / erase / clear / open
    strokeMoved = Signal()  # the live stroke grew (for throttled live queries)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAccessibleName("Sketch canvas")
        self.setAccessibleDescription("Draw with a mouse, pen or finger; or open, paste or drop a sketch picture.")
        self.setObjectName("sketchCanvas")
        self.setAttribute(Qt.WidgetAttribute.WA_AcceptTouchEvents, True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents, True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 240)  # with both docks the window still fits 853 px (1280 px at 150 %)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)
        self.pen_width = 3.0
        self.tool = "pen"  # pen | eraser (a pen's eraser end erases whatever the tool)
        self.placeholder = ""  # hint shown on the empty canvas (never part of the sketch)
        self._strokes: list[Stroke] = []
        self._image: QImage | None = None  # an opened sketch picture (grey)
        self._live: _Live | None = None
        self._pen_down = False
        self._touch_down = False
        self._other_device_seen = -1e9  # time.monotonic() of the last pen or touch event
        self._clock_origin: float | None = None
        # sketch coordinates -> widget: the identity, unless the canvas became smaller than the
        # drawing (a smaller window), when the drawing is shrunk and centred so all of it shows
        self._view = QTransform()
        self._backing = QImage()
        self._redraw()

    # ----------------------------------------------------------------- public API
    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.update()

    @property
    def strokes(self) -> list[Stroke]:
        return list(self._strokes)

    @property
    def has_image(self) -> bool:
        return self._image is not None

    @property
    def drawing(self) -> bool:
        return self._live is not None and not self._live.erasing

    def is_empty(self, include_live: bool = False) -> bool:
        live = include_live and self.drawing and len(self._live.points) > 0
        return not self._strokes and self._image is None and not live

    def stroke_arrays(self, include_live: bool = False) -> list[np.ndarray]:
        """The strokes as (n, 3) x, y, pressure arrays: what ``Engine.encode_strokes`` takes."""
        arrays = [s.xyp.copy() for s in self._strokes]
        if include_live and self.drawing and self._live.points:
            arrays.append(np.asarray(self._live.points, dtype=np.float64)[:, :3])
        return arrays

    def query_input(self, include_live: bool = False) -> tuple[str, object] | None:
        """("strokes", arrays) or ("image", grey uint8 array), or None for an empty sketch."""
        if self.is_empty(include_live):
            return None
        if self._image is not None:
            return "image", self._picture_grey(include_live)
        return "strokes", self.stroke_arrays(include_live)

    def set_tool(self, tool: str) -> None:
        self.tool = tool
        self.setCursor(Qt.CursorShape.PointingHandCursor if tool == "eraser" else Qt.CursorShape.CrossCursor)

    def clear(self) -> None:
        if not self.is_empty():
            self.undo_stack.push(_ReplaceSketch(self, [], None, "Clear"))

    def replacement(self, replace: Callable[[], object]) -> _ReplaceSketch | None:
        """Call `replace` (clear, load_file, ...); the undo step that swapped the sketch, or None
        where nothing was swapped, for the window to tie its own settings to."""
        before = self._top_command()
        replace()
        top = self._top_command()
        return top if top is not before and isinstance(top, _ReplaceSketch) else None

    def _top_command(self) -> QUndoCommand | None:
        index = self.undo_stack.index()
        return self.undo_stack.command(index - 1) if index else None

    def set_strokes(self, strokes: list, text: str = "Open sketch") -> None:
        """Replace the sketch by these strokes (each (n, 2..4) array-like), undoably."""
        self.undo_stack.push(_ReplaceSketch(self, [self._make_stroke(s) for s in strokes], None, text))

    # ----------------------------------------------------------------- files
    def save_json(self, path: str | Path) -> None:
        write_sketch(path, [(s.points, s.width) for s in self._strokes], (self.width(), self.height()))

    def load_json(self, path: str | Path) -> None:
        self._open_strokes(read_sketch(path))

    def _open_strokes(self, strokes: list) -> None:
        """Replace the sketch by (points, width) strokes read from a file, undoably."""
        self.undo_stack.push(_ReplaceSketch(self, [self._make_stroke(p, w) for p, w in strokes], None, "Open sketch"))

    def load_file(self, path: str | Path) -> str:
        """Open a stroke file, SVG or picture (by content, not by name); returns the kind."""
        kind = sniff_sketch(path)
        strokes = embedded_strokes(path) if kind == "image" else None  # a PNG saved from strokes: them again
        if kind == "json":
            self.load_json(path)
        elif strokes is not None:
            self._open_strokes(strokes)
        elif kind == "svg":
            self.set_image(_render_svg(path), "Open SVG")
        else:
            self.load_image(path)
        return kind

    def load_image(self, source, name: str | None = None, text: str = "Open image") -> None:
        """A sketch picture from a path or a binary file object (a pasted picture)."""
        grey = read_sketch_picture(source, name or Path(source).name)
        # a photo of a paper drawing, light lines on dark: shown (and queried) as dark on white,
        # so the picture's edge does not turn into ink against the white canvas around it
        grey = np.rint(on_white_paper(grey)).astype(np.uint8)
        self.set_image(grey, text)

    def set_image(self, grey: np.ndarray | None, text: str = "Open image", strokes: list | None = None) -> None:
        """Replace the sketch by a grey picture (uint8 (H, W), or None for none) and strokes
        ((points, width) pairs) drawn over it, undoably."""
        image = None
        if grey is not None:
            grey = np.ascontiguousarray(grey, dtype=np.uint8)
            if grey.ndim != 2 or min(grey.shape) < 2:
                raise SketchError("A sketch picture must be 2-D and at least 2 x 2 pixels.")
            image = QImage(grey.data, grey.shape[1], grey.shape[0], grey.strides[0], QImage.Format.Format_Grayscale8).copy()
        made = [self._make_stroke(points, width) for points, width in (strokes or [])]
        self.undo_stack.push(_ReplaceSketch(self, made, image, text))

    def image_array(self) -> np.ndarray | None:
        """The opened sketch picture as grey uint8, or None."""
        if self._image is None:
            return None
        image = self._image.convertToFormat(QImage.Format.Format_Grayscale8)
        view = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
        return view[:, : image.width()].copy()

    def png_bytes(self) -> tuple[bytes, bool]:
        """The drawing as seen (white paper, dark ink) as a PNG: at the canvas's logical size,
        carrying its strokes (`png_with_strokes`), or an opened picture at its own size with the
        strokes drawn into it (what the model is given). The flag is False for a drawing whose
        strokes were too many to go in (it would reopen as a picture)."""
        from PIL import Image
        import io

        if self._image is None:  # strokes only: they go in too, so the file opens as them again
            data, carried = png_with_strokes(self.render_grey(), [(s.points, s.width) for s in self._strokes],
                                             (self.width(), self.height()))
            return data, carried or not self._strokes
        buffer = io.BytesIO()
        Image.fromarray(self._picture_grey(False)).save(buffer, format="PNG")
        return buffer.getvalue(), True

    def render_grey(self, include_live: bool = False) -> np.ndarray:
        image = QImage(self.width(), self.height(), QImage.Format.Format_Grayscale8)
        image.fill(PAPER)
        painter = QPainter(image)
        self._paint_all(painter, include_live)
        painter.end()
        view = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
        return view[:, : image.width()].copy()

    def _picture_grey(self, include_live: bool) -> np.ndarray:
        """The opened picture at its own resolution, with any strokes drawn over it where they
        lie on it: the same model input as `fgsbir query` on that file, whatever the window's size
        (the canvas shows the picture scaled to fit)."""
        live = include_live and self.drawing and bool(self._live.points)
        if not self._strokes and not live:
            return self.image_array()
        # strokes over a picture are in its pixels (`_fit_view`); ink beside it still counts:
        # the sheet grows to hold it
        sheet = self._sheet_rect(include_live)
        left, top = math.floor(sheet.left()), math.floor(sheet.top())
        width, height = math.ceil(sheet.right()) - left, math.ceil(sheet.bottom()) - top
        # a tiny picture is drawn larger, so that strokes keep the weight they have on screen; and
        # never beyond MAX_PICTURE_SIDE, so that a saved sketch reopens as the very same picture
        zoom = min(max(1.0, MIN_RENDER_SIDE / max(width, height)), MAX_PICTURE_SIDE / max(width, height))
        if zoom != 1.0:
            width, height = max(1, round(width * zoom)), max(1, round(height * zoom))
        image = QImage(width, height, QImage.Format.Format_Grayscale8)
        image.fill(PAPER)
        painter = QPainter(image)
        to_sheet = QTransform.fromTranslate(-left, -top) * QTransform.fromScale(zoom, zoom)
        painter.setTransform(self._view.inverted()[0] * to_sheet)  # the canvas's view undone: the picture's pixels
        self._paint_all(painter, include_live)
        painter.end()
        view = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
        return view[:, : image.width()].copy()

    # ----------------------------------------------------------------- painting
    def _make_stroke(self, points, width: float | None = None) -> Stroke:
        arr = np.asarray(points, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] == 0 or not 2 <= arr.shape[1] <= 4 or not np.isfinite(arr).all():
            raise ValueError("bad stroke")
        full = np.zeros((len(arr), 4))
        full[:, 2] = MOUSE_PRESSURE
        full[:, : arr.shape[1]] = arr
        return Stroke(full, float(width) if width else self.pen_width)

    def _changed(self) -> None:
        self._fit_view(keep=True)
        self._redraw()
        self.sketchChanged.emit()

    def _fit_view(self, keep: bool) -> None:
        """The view for the strokes: over an opened picture, the picture's own pixels as it is
        shown (the strokes stay on it whatever the window's size); else the identity when they
        fit the canvas as drawn; else the current view if it shows them all (`keep`: no jump
        after each stroke); else shrunk to fit (never enlarged), centred."""
        if self._image is not None:  # the picture and every stroke, scaled to fit together
            box = self._sheet_rect()
            scale = min(self.width() / max(box.width(), 1e-6), self.height() / max(box.height(), 1e-6))
            self._view = QTransform(scale, 0, 0, scale, (self.width() - box.width() * scale) / 2 - box.x() * scale,
                                    (self.height() - box.height() * scale) / 2 - box.y() * scale)
            return
        if not self._strokes:
            self._view = QTransform()
            return
        points = np.concatenate([stroke.points[:, :2] for stroke in self._strokes])
        (x0, y0), (x1, y1) = points.min(0), points.max(0)

        def shows_all(view: QTransform) -> bool:
            box = view.mapRect(QRectF(QPointF(x0, y0), QPointF(x1, y1)))
            return box.left() >= 0 and box.top() >= 0 and box.right() <= self.width() and box.bottom() <= self.height()

        if shows_all(QTransform()):
            self._view = QTransform()
        elif not (keep and shows_all(self._view)):
            pad = 8.0
            scale = min(1.0, (self.width() - 2 * pad) / max(x1 - x0, 1e-6), (self.height() - 2 * pad) / max(y1 - y0, 1e-6))
            scale = max(scale, 1e-3)
            self._view = QTransform(scale, 0, 0, scale, self.width() / 2 - scale * (x0 + x1) / 2,
                                    self.height() / 2 - scale * (y0 + y1) / 2)

    def _view_scale(self) -> float:
        return self._view.m11()

    def _new_stroke_width(self) -> float:
        """A new stroke's width in its own coordinates: over a picture, the pen's width on screen
        now, in the picture's pixels (it then grows and shrinks with the picture)."""
        return self.pen_width / self._view_scale() if self._image is not None else self.pen_width

    def _screen_width(self, base: float, pressure: float) -> float:
        return base * (MIN_WIDTH_FACTOR + (1 - MIN_WIDTH_FACTOR) * min(max(pressure, 0.0), 1.0))

    def _redraw(self) -> None:
        ratio = self.devicePixelRatioF()
        size = self.size() * ratio
        if self._backing.size() != size or self._backing.devicePixelRatioF() != ratio:
            self._backing = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
            self._backing.setDevicePixelRatio(ratio)
        self._backing.fill(PAPER)
        painter = QPainter(self._backing)
        self._paint_all(painter, include_live=True)
        painter.end()
        self.update()

    def _paint_all(self, painter: QPainter, include_live: bool) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        if self._image is not None:
            target = self._image_rect()
            painter.drawImage(target, self._image)
        hidden = set(map(id, self._live.hits)) if self._live and self._live.erasing else set()
        painter.save()
        painter.setTransform(self._view, True)
        for stroke in self._strokes:
            if id(stroke) not in hidden:
                self._paint_points(painter, stroke.points, stroke.width)
        if include_live and self.drawing and self._live.points:
            self._paint_points(painter, np.asarray(self._live.points), self._new_stroke_width())
        painter.restore()

    def _image_rect(self) -> QRectF:
        """Where the canvas shows the picture (its pixels through the view, `_fit_view`)."""
        return self._view.mapRect(QRectF(0, 0, self._image.width(), self._image.height()))

    def _sheet_rect(self, include_live: bool = False) -> QRectF:
        """In the picture's pixels: the picture, grown to hold any ink drawn beside it."""
        sheet = QRectF(0, 0, self._image.width(), self._image.height())
        strokes = [(stroke.points, stroke.width) for stroke in self._strokes]
        if include_live and self.drawing and self._live.points:
            strokes.append((np.asarray(self._live.points), self._new_stroke_width()))
        for points, width in strokes:
            (x0, y0), (x1, y1) = points[:, :2].min(0), points[:, :2].max(0)
            half = width / 2 + 1  # the line's half width, and its anti-aliased edge
            sheet = sheet.united(QRectF(QPointF(x0 - half, y0 - half), QPointF(x1 + half, y1 + half)))
        return sheet

    def _paint_points(self, painter: QPainter, points: np.ndarray, base: float) -> None:
        pen = QPen(INK)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        if len(points) == 1:
            pen.setWidthF(self._screen_width(base, points[0, 2]))
            painter.setPen(pen)
            painter.drawPoint(QPointF(points[0, 0], points[0, 1]))
            return
        for a, b in zip(points[:-1], points[1:]):
            pen.setWidthF(self._screen_width(base, (a[2] + b[2]) / 2))
            painter.setPen(pen)
            painter.drawLine(QPointF(a[0], a[1]), QPointF(b[0], b[1]))

    def _paint_segment(self, a, b) -> None:
        """Draw the newest live segment into the backing image and repaint just around it."""
        base = self._new_stroke_width()
        width = self._screen_width(base, (a[2] + b[2]) / 2)  # in sketch coordinates, as the dirty box
        painter = QPainter(self._backing)
        painter.setTransform(self._view)
        self._paint_points(painter, np.asarray([a, b]), base)
        painter.end()
        pad = width / 2 + 2
        dirty = QRectF(QPointF(min(a[0], b[0]), min(a[1], b[1])), QPointF(max(a[0], b[0]), max(a[1], b[1])))
        self.update(self._view.mapRect(dirty.adjusted(-pad, -pad, pad, pad)).toAlignedRect())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        rect = event.rect()
        ratio = self._backing.devicePixelRatioF()
        source = QRectF(rect.x() * ratio, rect.y() * ratio, rect.width() * ratio, rect.height() * ratio)
        painter.drawImage(QRectF(rect), self._backing, source)
        if self.placeholder and self.is_empty(include_live=True):
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
        if self._live is not None and self._live.erasing and self._live.points:
            x, y = self._live.points[-1][:2]
            painter.setPen(QPen(QColor(200, 60, 60), 1))
            painter.drawEllipse(self._view.map(QPointF(x, y)), ERASER_RADIUS, ERASER_RADIUS)

    def resizeEvent(self, event) -> None:
        if self._live is None:  # a stroke on its way keeps the view it started in
            self._fit_view(keep=False)
        self._redraw()
        super().resizeEvent(event)

    # ----------------------------------------------------------------- gestures
    def _now(self) -> float:
        return time.monotonic() - (self._clock_origin or 0.0)

    def _begin(self, pos: QPointF, pressure: float, erasing: bool, source: str, touch_id: int = -1) -> None:
        if self._live is not None:
            self._end()
        if self._clock_origin is None or self.is_empty():
            self._clock_origin = time.monotonic()  # t counts from the sketch's first point
        if self.placeholder and self.is_empty():
            self.update()  # the hint goes at once, not only where the stroke repaints
        self._live = _Live(erasing=erasing or self.tool == "eraser", source=source, touch_id=touch_id)
        self._extend(pos, pressure)

    def _extend(self, pos: QPointF, pressure: float) -> None:
        """`pos` in widget coordinates; the stroke keeps sketch coordinates (`_view`)."""
        live = self._live
        if live is None:
            return
        pos = self._view.inverted()[0].map(QPointF(pos))
        point = (pos.x(), pos.y(), float(pressure), self._now())
        if live.points and live.points[-1][:2] == point[:2]:
            return
        live.points.append(point)
        if live.erasing:
            self._erase_along(live.points[-2] if len(live.points) > 1 else point, point)
            return
        if len(live.points) == 1:
            self._paint_segment(point, point)
        else:
            self._paint_segment(live.points[-2], point)
        self.strokeMoved.emit()

    def _end(self) -> None:
        live, self._live = self._live, None
        if live is None:
            return
        if live.erasing:
            # Strokes marked during the gesture may have gone meanwhile (undo, clear, open
            # triggered by a shortcut while the button was down): erase only those still here.
            present = set(map(id, self._strokes))
            hits = [s for s in live.hits if id(s) in present]
            if hits:
                self.undo_stack.push(_RemoveStrokes(self, hits))
            elif live.hits:
                self._redraw()
            else:
                self.update()
        elif live.points:
            stroke = Stroke(np.asarray(live.points, dtype=np.float64), self._new_stroke_width())
            self.undo_stack.push(_AddStroke(self, stroke))

    def _erase_along(self, a, b) -> None:
        """Mark every stroke within the eraser's radius of the segment a-b for removal."""
        radius = ERASER_RADIUS / self._view_scale()  # on screen, in sketch coordinates
        steps = max(1, int(math.ceil(math.hypot(b[0] - a[0], b[1] - a[1]) / (radius / 2))))
        probes = [(a[0] + (b[0] - a[0]) * k / steps, a[1] + (b[1] - a[1]) * k / steps) for k in range(steps + 1)]
        hit = False
        for stroke in self._strokes:
            if stroke in self._live.hits:
                continue
            reach = radius + stroke.width / 2
            if any(_distance_to_polyline(stroke.points[:, :2], px, py) <= reach for px, py in probes):
                self._live.hits.append(stroke)
                hit = True
        if hit:
            self._redraw()
        else:
            x, y = self._view.map(QPointF(b[0], b[1])).toTuple()
            pad = ERASER_RADIUS + 2
            self.update(QRectF(x - pad - 40, y - pad - 40, 2 * pad + 80, 2 * pad + 80).toAlignedRect())

    # mouse ------------------------------------------------------------------
    def _synthetic(self, event) -> bool:
        if (self._pen_down or self._touch_down) and time.monotonic() - self._other_device_seen < ECHO_WINDOW_S:
            return True
        kind = event.device().type() if event.device() is not None else None
        return kind in (
            QInputDevice.DeviceType.Stylus,
            QInputDevice.DeviceType.Airbrush,
            QInputDevice.DeviceType.Puck,
            QInputDevice.DeviceType.TouchScreen,
        )

    def mousePressEvent(self, event) -> None:
        if self._synthetic(event):
            event.ignore()
            return
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._begin(event.position(), MOUSE_PRESSURE, event.button() == Qt.MouseButton.RightButton, "mouse")
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if self._synthetic(event):
            event.ignore()
            return
        if self._live is not None and self._live.source == "mouse":
            self._extend(event.position(), MOUSE_PRESSURE)
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if self._synthetic(event):
            event.ignore()
            return
        if self._live is not None and self._live.source == "mouse":
            self._extend(event.position(), MOUSE_PRESSURE)
            self._end()
        event.accept()

    # pen --------------------------------------------------------------------
    def tabletEvent(self, event) -> None:
        kind = event.type()
        eraser = event.pointerType() == QPointingDevice.PointerType.Eraser
        if kind == QEvent.Type.TabletPress:
            self._pen_down = True
            self._begin(event.position(), event.pressure(), eraser, "pen")
        elif kind == QEvent.Type.TabletMove:
            if self._pen_down and self._live is not None:
                self._extend(event.position(), event.pressure())
        elif kind == QEvent.Type.TabletRelease:
            if self._pen_down and self._live is not None:
                self._extend(event.position(), max(event.pressure(), 0.0) or self._live.points[-1][2])
                self._end()
            self._pen_down = False
        self._other_device_seen = time.monotonic()
        event.accept()

    # touch ------------------------------------------------------------------
    def event(self, event) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.TouchBegin, QEvent.Type.TouchUpdate, QEvent.Type.TouchEnd, QEvent.Type.TouchCancel):
            self._touch(event)
            return True
        if kind == QEvent.Type.DevicePixelRatioChange:
            self._redraw()
        return super().event(event)

    def _touch(self, event) -> None:
        kind = event.type()
        points = event.points()
        if kind == QEvent.Type.TouchCancel:
            if self._live is not None and self._live.source == "touch":
                self._live = None
                self._redraw()
                self.sketchChanged.emit()  # live queries answered the stroke now gone: ask again without it
            self._touch_down = False
            event.accept()
            return
        if kind == QEvent.Type.TouchBegin:
            self._touch_down = True
            if len(points) == 1:  # one finger draws; more are a gesture we do not handle
                self._begin(self._touch_position(points[0]), MOUSE_PRESSURE, False, "touch", points[0].id())
        live = self._live
        if live is not None and live.source == "touch":
            for point in points:
                if point.id() != live.touch_id:
                    continue
                if kind != QEvent.Type.TouchBegin:
                    self._extend(self._touch_position(point), MOUSE_PRESSURE)
                if point.state() == point.State.Released:
                    self._end()
        if kind == QEvent.Type.TouchEnd:
            if self._live is not None and self._live.source == "touch":
                self._end()
            self._touch_down = False
        self._other_device_seen = time.monotonic()
        event.accept()

    def _touch_position(self, point) -> QPointF:
        pos = point.position()
        if pos.isNull() and not point.globalPosition().isNull():
            pos = self.mapFromGlobal(point.globalPosition())
        return pos


def _render_svg(path: str | Path) -> np.ndarray:
    """An SVG sketch -> grey uint8 picture (dark lines on white), SVG_SIDE px on its longer side."""
    from PySide6.QtSvg import QSvgRenderer

    from PySide6.QtCore import QByteArray

    data = Path(path).read_bytes()  # (a regular file of bounded size: sniff_sketch checked)
    _check_svg(data, Path(path).name)
    renderer = QSvgRenderer(QByteArray(data))
    size = renderer.defaultSize()
    if not renderer.isValid() or size.width() <= 0 or size.height() <= 0:
        raise SketchError(f"{Path(path).name} is not a valid SVG drawing.")
    scale = SVG_SIDE / max(size.width(), size.height())
    w, h = max(2, int(round(size.width() * scale))), max(2, int(round(size.height() * scale)))
    image = QImage(w, h, QImage.Format.Format_Grayscale8)
    image.fill(PAPER)
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, w, h))
    painter.end()
    view = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
    return view[:, :w].copy()


def _check_svg(data: bytes, name: str) -> None:
    """SketchError for an SVG that would take long to draw (over MAX_SVG_ELEMENTS elements drawn,
    <use> copies included) or that links pictures outside it (a linked file could be a pipe, or
    anything on the disk). Parsed, so that namespace prefixes and nesting are seen as Qt sees them;
    one that expat cannot parse but Qt may draw (an undeclared prefix, an HTML entity) is checked
    by its text instead."""
    import xml.etree.ElementTree as ElementTree

    too_complex = SketchError(f"{name} is too complex to open (more than {MAX_SVG_ELEMENTS:,} SVG elements drawn): "
                              "export it as a PNG instead.")
    linked = SketchError(f"{name} links to pictures outside it, which are not read: export it as a PNG instead.")
    if data.count(b"<") - data.count(b"</") > 2 * MAX_SVG_ELEMENTS:  # plainly too many: not even parsed
        raise too_complex
    try:
        root = ElementTree.fromstring(data)  # (expat refuses entity expansion bombs)
    except (ElementTree.ParseError, ValueError):
        if _SVG_OUTSIDE_LINK.search(data) or data.count(b"<") - data.count(b"</") > MAX_SVG_ELEMENTS:
            raise linked if _SVG_OUTSIDE_LINK.search(data) else too_complex from None
        return  # Qt judges it (and says "not a valid SVG drawing" where it cannot draw it)
    local = lambda element: str(element.tag).rpartition("}")[2]  # noqa: E731 -- the tag without its namespace
    hrefs = lambda element: [v.strip() for k, v in element.attrib.items() if k.rpartition("}")[2] == "href"]  # noqa: E731
    by_id = {element.get("id"): element for element in root.iter() if element.get("id")}
    for element in root.iter():  # every href: Qt takes xlink:href, or href where that is empty
        if local(element) in ("image", "feImage", "use") and any(link and not link.startswith(("data:", "#"))
                                                                  for link in hrefs(element)):
            raise linked
    sizes: dict[tuple, int] = {}

    def drawn(element, used: bool = False, depth: int = 0) -> int:  # elements drawn for this one, <use> copies included
        key = (id(element), used)
        if key in sizes:
            return sizes[key]
        if depth > 64:  # a <use> that refers to itself, or nesting no drawing needs
            return MAX_SVG_ELEMENTS + 1
        if local(element) in ("defs", "symbol") and not used:
            return 1  # drawn only where a <use> refers to it
        total = 1 + sum(drawn(child, used, depth + 1) for child in element)
        if local(element) == "use":
            total += max([drawn(by_id[link[1:]], True, depth + 1) for link in hrefs(element)
                          if link.startswith("#") and link[1:] in by_id] or [0])
        sizes[key] = min(total, MAX_SVG_ELEMENTS + 1)
        return sizes[key]

    if drawn(root) > MAX_SVG_ELEMENTS:
        raise too_complex


def _distance_to_polyline(points: np.ndarray, x: float, y: float) -> float:
    p = np.array([x, y])
    if len(points) == 1:
        return float(np.hypot(*(points[0] - p)))
    a, b = points[:-1], points[1:]
    ab = b - a
    length2 = np.maximum((ab**2).sum(1), 1e-12)
    t = np.clip(((p - a) * ab).sum(1) / length2, 0, 1)
    nearest = a + t[:, None] * ab
    return float(np.sqrt(((nearest - p) ** 2).sum(1)).min()) if len(a) else math.inf
