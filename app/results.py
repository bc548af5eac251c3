"""Ranked results grid and the detail dialog of one photo."""
from __future__ import annotations

import csv
import io
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePath
from typing import Callable, Final

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import (QColor, QIcon, QImage, QKeySequence, QPainter, QPalette, QPixmap, QShortcut, QStandardItem,
                           QStandardItemModel)
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QScrollBar,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .dialogs import not_opened

THUMB: Final = 112  # px, the grid's default photo size
THUMB_SIZES: Final = range(80, 193, 16)  # what zooming the grid steps through
ROW_ROLE: Final = Qt.ItemDataRole.UserRole + 1  # catalogue row
RESULT_ROLE: Final = Qt.ItemDataRole.UserRole + 2  # the RankedResult
ICON_CACHE: Final = 512  # thumbnails' icons kept (as the worker keeps their pictures)
DETAIL_MIN: Final = 384  # px, the side the large view shows the photo and the sketch at, where the screen has room
DETAIL_SMALLEST: Final = 200  # px, the least they may shrink to on a small screen
# The large view's photos are read here, one at a time, off the GUI thread: a folder's large PNG
# takes a second to decode, and holding an arrow key asks for many (the stale ones are skipped).
_PHOTO_READER: Final = ThreadPoolExecutor(max_workers=1, thread_name_prefix="large-view")


def is_dark(palette: QPalette) -> bool:
    """Whether the desktop's theme is dark (light text on a dark window)."""
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def to_qimage(array: np.ndarray) -> QImage:
    """uint8 (H, W) grey or (H, W, 3) RGB -> an owning QImage."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    h, w = array.shape[:2]
    if array.ndim == 2:
        fmt = QImage.Format.Format_Grayscale8
    elif array.shape[2] == 3:
        fmt = QImage.Format.Format_RGB888
    else:
        raise ValueError(f"Unsupported image shape {array.shape}")
    return QImage(array.data, w, h, array.strides[0], fmt).copy()


class FittedPicture(QLabel):
    """A picture shown whole: scaled down to fit the label (a 512 px photo in a 384 px space used
    to lose its sides), never beyond its own size."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.source: QPixmap | None = None

    def set_picture(self, pixmap: QPixmap | None, text: str = "") -> None:
        self.source = pixmap
        if pixmap is None:
            self.clear()
            self.setText(text)
        self._fit()

    def sizeHint(self) -> QSize:
        return self.source.size() if self.source is not None else super().sizeHint()

    def minimumSizeHint(self) -> QSize:
        return self.minimumSize()  # not the pixmap's size: the label may be smaller than the picture

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self.source is not None:
            box = self.contentsRect().size().boundedTo(self.source.size())
            self.setPixmap(self.source.scaled(box, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation))


def square_pixmap(thumb: np.ndarray) -> QPixmap:
    """A photo centred on a transparent square the largest zoom a side (QIcon scales it down to
    the zoom, never up). Every icon alike, so every cell lays out alike: the grid sizes all cells
    from the first one, and a photo taller than that one's pushed its name and distance out of sight."""
    pixmap = QPixmap.fromImage(to_qimage(thumb))
    side = THUMB_SIZES[-1]
    if pixmap.width() == pixmap.height() >= side:  # square and large enough (the benchmark's): as it is, fast
        return pixmap
    pixmap = pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    square = QPixmap(side, side)
    square.fill(Qt.GlobalColor.transparent)
    painter = QPainter(square)
    painter.drawPixmap((side - pixmap.width()) // 2, (side - pixmap.height()) // 2, pixmap)
    painter.end()
    return square


class ResultsView(QListView):
    """Top-K photos as a grid; UserRole of each item is the photo id string."""

    photoActivated = Signal(object)  # the RankedResult clicked
    moreWanted = Signal()  # scrolled to the end of the grid: show more photos
    thumbSizeChanged = Signal(int)  # zoomed (Ctrl + wheel, View menu): the new photo size in px

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("resultsView")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSpacing(4)
        self.thumb_size = 0
        self._names: dict[str, str] = {}  # photo id -> the name shown (`_name_photos`)
        self._shared_start = ""
        self._icons: OrderedDict[int, tuple[np.ndarray, QIcon]] = OrderedDict()  # `_icon`
        self.set_thumb_size(THUMB)
        self.setWordWrap(True)
        self.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.setMinimumWidth(THUMB + 16 + 24)  # one column: the window still fits a small (or 150 %-scaled) screen
        self.model_ = QStandardItemModel(self)
        self.setModel(self.model_)
        self.setAccessibleName("Results")
        self.clicked.connect(self._clicked)
        self.activated.connect(lambda index: self.photoActivated.emit(index.data(RESULT_ROLE)))
        self.placeholder = ""  # says why the grid is empty
        self._restoring = False
        self.verticalScrollBar().valueChanged.connect(self._scrolled)

    def _clicked(self, index) -> None:
        """A click opens the photo; where the desktop makes a click activate (KDE's single-click
        setting), `activated` has opened it already."""
        if not self.style().styleHint(QStyle.StyleHint.SH_ItemView_ActivateItemOnSingleClick, None, self):
            self.photoActivated.emit(index.data(RESULT_ROLE))

    def keyPressEvent(self, event) -> None:
        self._by_key = True
        try:
            super().keyPressEvent(event)
        finally:
            self._by_key = False

    def currentChanged(self, current, previous) -> None:
        super().currentChanged(current, previous)
        if (getattr(self, "_by_key", False) and current.isValid() and current.row() == self.model_.rowCount() - 1
                and not self._restoring):
            self.moreWanted.emit()  # the keyboard reached the last photo: as scrolling to the end does (a click does not)

    def sizeHint(self) -> QSize:
        return QSize(2 * (THUMB + 16) + 24, 480)  # two columns where there is room (the minimum is one)

    def set_thumb_size(self, size: int) -> None:
        """Photos `size` px a side (clamped to THUMB_SIZES); the icons hold larger pixmaps, so no re-read."""
        size = min(max(int(size), THUMB_SIZES[0]), THUMB_SIZES[-1])
        if size == self.thumb_size:
            return
        self.thumb_size = size
        self.setIconSize(QSize(size, size))
        # room for two lines of text (name; rank and distance) in the font in use: a large font is not cut off
        self.setGridSize(QSize(size + 16, size + max(44, 2 * self.fontMetrics().lineSpacing() + 12)))
        for row in range(self.model_.rowCount() if hasattr(self, "model_") else 0):  # names elided to the new width
            item = self.model_.item(row)
            item.setText(self._label(item.data(RESULT_ROLE)))
        self.thumbSizeChanged.emit(size)

    def _label(self, result) -> str:
        """The photo's name on a line of its own, shortened to the cell's width only if it must be;
        the rank and the distance below, always seen. The name is the file's (with its folder where
        two shown share it: brand1/front.jpg); a start that every shown name shares is the part left
        out ("product_0…" of product_016.jpg), else the end."""
        name = self._names.get(str(result.id)) or PurePath(str(result.id)).name
        # the photo's width, not the cell's: the delegate keeps margins, and a line wider than its
        # text area wraps at the spaces and pushes the distance out of the cell
        metrics, width = self.fontMetrics(), self.thumb_size
        if metrics.horizontalAdvance(name) > width and len(self._shared_start) >= 3 and name.startswith(self._shared_start):
            name = metrics.elidedText("…" + name[len(self._shared_start):], Qt.TextElideMode.ElideRight, width)
        else:
            name = metrics.elidedText(name, Qt.TextElideMode.ElideRight, width)
        return f"{name}\n#{result.rank} · {result.score:.3f}"

    def _name_photos(self, results: list) -> None:
        """The names the grid shows for these results, and the start they all share."""
        paths = [PurePath(str(r.id)) for r in results]
        clashing = {p.name for p in paths if sum(q.name == p.name for q in paths) > 1}
        self._names = {str(r.id): (str(PurePath(p.parent.name, p.name)) if p.name in clashing else p.name)
                       for r, p in zip(results, paths)}
        self._shared_start = os.path.commonprefix(list(self._names.values())) if len(self._names) > 1 else ""

    def zoom(self, steps: int) -> None:
        self.set_thumb_size(self.thumb_size + steps * THUMB_SIZES.step)

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:  # Ctrl + wheel zooms, as in file managers
            if event.angleDelta().y():
                self.zoom(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
            return
        bar = self.verticalScrollBar()
        if event.angleDelta().y() < 0 and bar.value() == bar.maximum() and self.model_.rowCount():
            self.moreWanted.emit()  # rolled on at the end, or a grid with room for every photo (no scroll bar)
        super().wheelEvent(event)

    def _scrolled(self, value: int) -> None:
        if value > 0 and value == self.verticalScrollBar().maximum() and not self._restoring:
            self.moreWanted.emit()

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.setAccessibleDescription(text)  # painted, so a screen reader would never get it otherwise
        self.viewport().update()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.placeholder and self.model_.rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(QColor(120, 120, 120))
            painter.drawText(self.viewport().rect().adjusted(12, 12, -12, -12),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)

    def set_results(self, results: list, thumbnails: dict[int, np.ndarray], keep_scroll: bool = False) -> None:
        """Show `results`; `keep_scroll` (more of the same ranking) stays where the user was.
        Nothing done here asks for more: only the user's scrolling or keyboard does."""
        self._restoring = True
        try:
            self._fill(results, thumbnails, keep_scroll)
        finally:
            self._restoring = False

    def _fill(self, results: list, thumbnails: dict[int, np.ndarray], keep_scroll: bool) -> None:
        scroll = self.verticalScrollBar().value()
        current = self.currentIndex().row() if keep_scroll else -1  # the keyboard's place, kept with the scroll
        if not keep_scroll:
            # Back to the top first: left at the old end, the position would be clamped to the new
            # end when the rows are laid out, which reads as a request for more.
            self.verticalScrollBar().setValue(0)
        self.model_.clear()
        self._name_photos(results)
        items = []
        for result in results:
            item = QStandardItem(self._label(result))
            item.setData(str(result.id), Qt.ItemDataRole.UserRole)
            item.setData(int(result.index), ROW_ROLE)
            item.setData(result, RESULT_ROLE)
            item.setToolTip(f"Photo {result.id}, rank {result.rank}, distance {result.score:.4f}")  # the whole path
            item.setData(f"{self._names.get(str(result.id), result.id)}, rank {result.rank}, distance {result.score:.3f}",
                         Qt.ItemDataRole.AccessibleTextRole)  # read aloud instead of the two painted lines
            thumb = thumbnails.get(result.index)
            # a photo still being read (or unreadable) holds its place with a blank square: every
            # cell is laid out alike from the start (uniform sizes: the grid measures one cell)
            item.setIcon(self._icon(thumb) if thumb is not None else self._blank_icon())
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            items.append(item)
        for item in items:  # one by one: appendRows(list) leaks its items in PySide6 (+300 MiB over a
            self.model_.appendRow(item)  # 10,000-stroke session, scripts/bench_long_session.py)
        if keep_scroll:
            self.doItemsLayout()  # lay the new rows out now, so that the old position exists
            if 0 <= current < self.model_.rowCount():
                self.setCurrentIndex(self.model_.index(current, 0))
            self.verticalScrollBar().setValue(scroll)

    def set_icons(self, thumbnails: dict[int, np.ndarray]) -> None:
        """Pictures for photos already shown (catalogue row -> picture), as they are read."""
        for row in range(self.model_.rowCount()):
            item = self.model_.item(row)
            thumb = thumbnails.get(item.data(ROW_ROLE))
            if thumb is not None:
                item.setIcon(self._icon(thumb))

    def _blank_icon(self) -> QIcon:
        if getattr(self, "_blank", None) is None:
            blank = QPixmap(THUMB_SIZES[-1], THUMB_SIZES[-1])
            blank.fill(Qt.GlobalColor.transparent)
            self._blank = QIcon(blank)
        return self._blank

    def _icon(self, thumb: np.ndarray) -> QIcon:
        """The icon of a thumbnail, made once: the worker hands the same array for the same photo
        again, and a re-rank shows mostly the same photos (making them cost ~5 ms a query)."""
        cached = self._icons.get(id(thumb))
        if cached is None or cached[0] is not thumb:  # the array is kept with it: its id is not reused
            cached = self._icons[id(thumb)] = (thumb, QIcon(square_pixmap(thumb)))
            if len(self._icons) > ICON_CACHE:
                self._icons.popitem(last=False)
        self._icons.move_to_end(id(thumb))
        return cached[1]

    def ids(self) -> list[str]:
        return [self.model_.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.model_.rowCount())]


def results_csv(results: list, photo_files: list) -> str:
    """The ranked photos as CSV: rank, id, distance, the photo's file (empty for the benchmark),
    then the photo's predicted probability of each attribute."""
    names = list(results[0].attributes) if results else []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "id", "distance", "photo_file"] + names)
    for result, photo_file in zip(results, photo_files):
        writer.writerow([result.rank, result.id, f"{result.score:.6g}", "" if photo_file is None else str(photo_file)]
                        + [f"{result.attributes.get(name, float('nan')):.4f}" for name in names])
    return out.getvalue()


# How the labels' attribute names read to a shopper (the taxonomy's names are written for
# annotators: shaft_knee is a knee-high boot). Files, the CSV export and the CLI keep the names.
ATTRIBUTE_LABELS: Final = {
    "shaft_ankle": "ankle-high", "shaft_mid_calf": "mid-calf", "shaft_knee": "knee-high",
    "heel_flat": "flat heel", "heel_low": "low heel", "heel_high": "high heel", "heel_stiletto": "stiletto heel",
    "heel_wedge": "wedge heel", "toe_open": "open toe", "toe_pointed": "pointed toe", "back_open": "open back",
    "straps_sandal": "sandal straps", "hook_and_loop": "hook and loop",
    "base_four_legs": "four legs", "base_star_casters": "star base", "base_sled_or_cantilever": "sled or cantilever base",
    "base_pedestal": "pedestal base", "back_open_frame": "open-frame back", "back_mesh_or_pattern": "mesh or patterned back",
}


def attribute_label(name: str) -> str:
    """An attribute as the window shows it: "knee-high" for shaft_knee; others with spaces."""
    return ATTRIBUTE_LABELS.get(name, name.replace("_", " "))


def attribute_agreement(names, photo_present, sketch_present) -> dict[str, bool]:
    """Per attribute: is it read as shown in both the photo and the sketch, or in neither?"""
    return {name: (name in photo_present) == (name in sketch_present) for name in names}


class _PictureRead(QObject):
    done = Signal(int, object)  # position, the photo (or None); emitted from the reading thread


class ResultDialog(QDialog):
    """One result large, beside the sketch as the model saw it, with the photo's attributes marked
    where they agree with the sketch. Previous / Next (or the arrow keys) step through the
    ranking without closing.

    `picture(result)` gives the photo to show (or None; called off the GUI thread when
    `quick_picture` is given, which gives what to show meanwhile, such as the grid's thumbnail),
    `photo_file(result)` the file of a photo from the user's own folder (None for the benchmark),
    `open_file(path)` opens it (False if it cannot)."""

    def __init__(self, results: list, position: int, picture: Callable, sketch_probs: dict[str, float],
                 sketch_present, definitions: dict[str, str], parent=None, photo_file: Callable | None = None,
                 open_file: Callable | None = None, sketch_image: np.ndarray | None = None,
                 quick_picture: Callable | None = None):
        super().__init__(parent)
        self.setObjectName("resultDialog")
        self.results, self._picture, self._photo_file, self._open_file = results, picture, photo_file, open_file
        self._quick_picture = quick_picture
        self._read = _PictureRead()  # no parent: the reading thread may emit after the dialog is gone
        self._read.done.connect(self._picture_read)
        self._showing_quick = False  # the picture shown is the grid's (or the "reading" note), not the photo
        self.sketch_probs, self.sketch_present, self.definitions = sketch_probs, tuple(sketch_present), definitions
        # both pictures as large as DETAIL_MIN where the screen has room, smaller where it has not
        self.sketch = FittedPicture()
        self.sketch.setObjectName("resultSketch")
        self.sketch.setMinimumSize(DETAIL_SMALLEST, DETAIL_SMALLEST)
        if sketch_image is not None:
            self.sketch.set_picture(QPixmap.fromImage(to_qimage(sketch_image)).scaled(
                DETAIL_MIN, DETAIL_MIN, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
            self.sketch.setToolTip("Your sketch as the model reads it")
        self.picture = FittedPicture()
        self.picture.setMinimumSize(DETAIL_SMALLEST, DETAIL_SMALLEST)
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("attributeTable")
        self.table.setHorizontalHeaderLabels(["Attribute", "Photo", "Sketch", "Agrees"])
        self.table.verticalHeader().setVisible(False)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the arrow keys step through the results
        self.summary = QLabel()
        self.summary.setObjectName("resultSummary")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.previous_button = buttons.addButton("◀ Previous", QDialogButtonBox.ButtonRole.ActionRole)
        self.next_button = buttons.addButton("Next ▶", QDialogButtonBox.ButtonRole.ActionRole)
        self.previous_button.clicked.connect(lambda: self.show_result(self.position - 1))
        self.next_button.clicked.connect(lambda: self.show_result(self.position + 1))
        for key, step in ((Qt.Key.Key_Left, -1), (Qt.Key.Key_Right, 1), (Qt.Key.Key_PageUp, -1), (Qt.Key.Key_PageDown, 1)):
            QShortcut(QKeySequence(key), self, lambda step=step: self.show_result(self.position + step))
        for key, action in ((Qt.Key.Key_Up, QScrollBar.SliderAction.SliderSingleStepSub),
                            (Qt.Key.Key_Down, QScrollBar.SliderAction.SliderSingleStepAdd)):  # the table takes no focus
            QShortcut(QKeySequence(key), self, lambda action=action: self.table.verticalScrollBar().triggerAction(action))
        self.open_button = buttons.addButton("Open photo file", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self._open_photo)
        self.caption = QLabel()
        self.caption.setWordWrap(True)  # a long file name wraps, it does not widen the dialog off a small screen
        body = QHBoxLayout()
        for widget, caption, stretch in ((self.sketch, QLabel("Your sketch, as the model reads it"), 0),
                                         (self.picture, self.caption, 1)):
            column = QVBoxLayout()
            column.addWidget(widget, 1)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            column.addWidget(caption)
            body.addLayout(column, stretch)
        body.addWidget(self.table)  # as wide as its columns; the photo takes the rest
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(self.summary)
        layout.addWidget(buttons)
        self.position = -1
        self.show_result(position)
        room = self.screen().availableGeometry().size() * 0.95  # the Close button stays on a small screen
        self.resize(self.sizeHint().boundedTo(room).expandedTo(self.minimumSizeHint()))

    def show_result(self, position: int) -> None:
        if not 0 <= position < len(self.results) or position == self.position:
            return
        self.position = position
        result = self.result = self.results[position]
        self.setWindowTitle(f"Photo {result.id} — rank {result.rank}")
        self.caption.setText(f"Photo {result.id}, rank {result.rank}")
        if self._quick_picture is None:
            self._show_picture(self._read_picture(self._picture, result))
        else:
            self._show_picture(self._read_picture(self._quick_picture, result), "(reading the photo…)")
            self._showing_quick = True
            _PHOTO_READER.submit(self._read_in_background, position)
        agree = attribute_agreement([n for n in result.attributes if n in self.sketch_probs], result.present,
                                    self.sketch_present)
        self.table.setRowCount(len(result.attributes))
        for row, (name, prob) in enumerate(result.attributes.items()):
            cells = [attribute_label(name), f"{prob:.2f}",
                     f"{self.sketch_probs[name]:.2f}" if name in self.sketch_probs else "–"]
            cells.append(("✓" if agree[name] else "✗") if name in agree else "")
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setFlags(Qt.ItemFlag.ItemIsEnabled)
                if column == 0 and name in self.definitions:
                    cell.setToolTip(self.definitions[name])
                if column == 3 and name in agree:
                    dark = is_dark(self.palette())  # colours readable on a dark theme's table too
                    cell.setForeground(QColor(*((110, 210, 110) if dark else (30, 130, 30))) if agree[name]
                                       else QColor(*((255, 120, 120) if dark else (190, 40, 40))))
                self.table.setItem(row, column, cell)
        self.table.resizeColumnsToContents()
        # Exactly as wide as its columns: no horizontal scrolling to read a row.
        self.table.setFixedWidth(self.table.horizontalHeader().length() + self.table.verticalScrollBar().sizeHint().width()
                                 + 2 * self.table.frameWidth())
        self.agreement = agree
        self.summary.setText(f"Distance {result.score:.4f}. {sum(agree.values())} of {len(agree)} attributes agree "
                             f"with the sketch. ({position + 1} of {len(self.results)}: ← → for the others)")
        self.previous_button.setEnabled(position > 0)
        self.next_button.setEnabled(position + 1 < len(self.results))
        try:
            self.photo_file = self._photo_file(result) if self._photo_file is not None else None
        except Exception:
            self.photo_file = None
        # Only a photo of the user's own folder has a file to open.
        self.open_button.setVisible(self.photo_file is not None and self._open_file is not None)
        self.open_button.setToolTip(str(self.photo_file or ""))

    @staticmethod
    def _read_picture(read: Callable, result):
        try:
            return read(result)
        except Exception:  # an unreadable photo costs its picture, not the dialog
            return None

    def _read_in_background(self, position: int) -> None:
        if position != self.position:
            return  # stepped on meanwhile: not read at all
        image = self._read_picture(self._picture, self.results[position])
        try:
            self._read.done.emit(position, image)
        except RuntimeError:
            pass  # the dialog was closed and deleted meanwhile

    def _picture_read(self, position: int, image) -> None:
        if position != self.position or not self._showing_quick:
            return  # stale
        self._showing_quick = False
        if image is not None:
            self._show_picture(image)
        elif self.picture.source is None:
            self._show_picture(None)  # no photo and no thumbnail: said, not "reading" for ever

    def _show_picture(self, image, missing: str = "(no picture)") -> None:
        if image is None:
            self.picture.set_picture(None, missing)
            return
        pixmap = QPixmap.fromImage(to_qimage(image))
        if max(pixmap.width(), pixmap.height()) < DETAIL_MIN:
            pixmap = pixmap.scaled(DETAIL_MIN, DETAIL_MIN, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        self.picture.set_picture(pixmap)

    def _open_photo(self) -> None:
        if not self._open_file(self.photo_file):
            self.summary.setText(not_opened(self.photo_file))
