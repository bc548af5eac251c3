"""Attribute side panel: the sketch's predicted attributes and the ranking controls.

Nothing here runs the network: changing the fusion slider or an attribute's mode emits
``paramsChanged`` and the window asks the worker to re-rank the cached sketch code.
"""
from __future__ import annotations

import html
from typing import Final

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from fgsbir_core.engine import FACINGS

from .results import attribute_label, to_qimage
from .worker import RankParams

SLIDER_MAX: Final = 100
SLIDER_DEFAULT: Final = 50  # the model's tuned fusion weight
ATTRIBUTES_ONLY_WEIGHT: Final = 1e3  # "attributes only": large enough that shape only breaks ties
DECADES_PER_HALF: Final = 2.0  # slider 1..99 spans default / 100 .. default * 100 (log scale)
MODES: Final = ("Ignore", "Use", "Must have")
FUSION_MIN_WIDTH: Final = 320  # px; room for the slider's three labels (the panel is as wide as its widest part)
BAR_MIN_WIDTH: Final = 64  # px; room for the probability's text
PREVIEW: Final = 128  # px, the model input's picture where there is room
PREVIEW_MIN: Final = 56  # px, on a short screen: the attribute list keeps at least ATTRIBUTE_ROWS_MIN rows
ATTRIBUTE_ROWS_MIN: Final = 4
WEAK_LABELS: Final = 0.4  # reliability (annotators' kappa) below which an attribute is shown as weakly read


def slider_to_weight(position: int, default: float) -> float:
    """Slider position -> fusion weight w: 0 shape only, 50 the tuned default, 100 attributes only."""
    if position <= 0:
        return 0.0
    if position >= SLIDER_MAX:
        return ATTRIBUTES_ONLY_WEIGHT
    if default <= 0:  # tuned to shape only: the left half is shape only, the right half spans 0.01 .. 100
        if position <= SLIDER_DEFAULT:
            return 0.0
        return 10.0 ** (-DECADES_PER_HALF + (position - SLIDER_DEFAULT) / SLIDER_DEFAULT * 2 * DECADES_PER_HALF)
    exponent = (position - SLIDER_DEFAULT) / SLIDER_DEFAULT * DECADES_PER_HALF
    return min(default * 10.0**exponent, ATTRIBUTES_ONLY_WEIGHT)


def weight_label(position: int, default: float | None) -> str:
    """The slider's middle label: the weight itself (the ends are named by the labels beside it)."""
    if position <= 0:
        return "w = 0"
    if position >= SLIDER_MAX:
        return "w = ∞"
    if default is None:  # no model yet: its tuned weight is not known
        return "tuned weight" if position == SLIDER_DEFAULT else ("more shape" if position < SLIDER_DEFAULT else "more attributes")
    suffix = " (tuned)" if position == SLIDER_DEFAULT else ""
    return f"w = {slider_to_weight(position, default):.3g}{suffix}"


class _Picture(QLabel):
    """A picture scaled to the label's size: 128 px where there is room, smaller on a short
    screen, so that the attribute list keeps its rows."""

    def __init__(self, text: str):
        super().__init__(text)
        self._pixmap = QPixmap()
        self.setMinimumSize(PREVIEW_MIN, PREVIEW_MIN)

    def sizeHint(self) -> QSize:
        return QSize(PREVIEW, PREVIEW)

    def set_picture(self, pixmap: QPixmap) -> None:
        self._pixmap = pixmap
        self._show()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._show()

    def _show(self) -> None:
        if self._pixmap.isNull():
            if not self.pixmap().isNull():  # (setPixmap also wipes the text: a resize must keep the hint)
                self.setPixmap(QPixmap())
            return
        side = min(self.width(), self.height(), PREVIEW)
        self.setPixmap(self._pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))


class _WheelNeedsFocus(QObject):
    """The wheel moves a box or slider only once it has the focus: rolling over the window must
    not switch the category, the facing or the weight."""

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Wheel and not watched.hasFocus():
            event.ignore()
            return True
        return False


def wheel_needs_focus(*widgets: QWidget) -> None:
    for widget in widgets:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel does not give it the focus either
        widget.installEventFilter(_WHEEL_GUARD)


_WHEEL_GUARD: Final = _WheelNeedsFocus()


class _ModeBox(QComboBox):
    """An attribute's Ignore / Use / Must have. The wheel scrolls the list it sits in unless the
    box has the focus: rolling over the list must not set modes (they are remembered)."""

    def __init__(self):
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # not focused by the wheel either

    def wheelEvent(self, event) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
            return
        area = self.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        if area is None:
            event.ignore()
            return
        QApplication.sendEvent(area.verticalScrollBar(), event)  # handed on, not left to propagate
        event.accept()


class _Rows(QScrollArea):
    """The attribute list: it asks for no more than its minimum height (a few rows), so that a
    short screen takes room from the list's spare rows before it shrinks the model input."""

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.minimumHeight())


def _set_bold(widget: QWidget, bold: bool) -> None:
    font = widget.font()
    font.setBold(bold)
    widget.setFont(font)


class ScrollsWhenShort(QScrollArea):
    """A panel that scrolls as a whole where the screen is too short for it (a large font on a
    768 px screen), so the window still fits with its status bar; as wide as the panel needs."""

    def __init__(self, panel: QWidget):
        super().__init__()
        self.setWidget(panel)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # no Tab stop of its own: Tab goes to the panel's controls
        panel.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:  # the panel's width changed (another category's names)
            self.updateGeometry()
        return False

    def _with_bar(self, size: QSize, height: int) -> QSize:
        return QSize(size.width() + self.verticalScrollBar().sizeHint().width(), height)

    def minimumSizeHint(self) -> QSize:
        return self._with_bar(self.widget().minimumSizeHint(), min(self.widget().minimumSizeHint().height(), 160))

    def sizeHint(self) -> QSize:
        return self._with_bar(self.widget().sizeHint(), self.widget().sizeHint().height())


class AttributesPanel(QWidget):
    paramsChanged = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("attributesPanel")
        self.default_weight: float | None = None  # the model's tuned w, once a model is loaded
        self.names: list[str] = []
        self._bars: dict[str, QProgressBar] = {}
        self._values: dict[str, QLabel] = {}
        self._labels: dict[str, QLabel] = {}
        self._lit: list[str] = []
        self._modes: dict[str, QComboBox] = {}

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("attributeWeight")
        self.slider.setRange(0, SLIDER_MAX)
        self.slider.setValue(SLIDER_DEFAULT)
        self.slider.setToolTip("How much the attributes read in the sketch count against its shape")
        self.slider.setAccessibleName("Attributes against shape")
        self.weight_text = QLabel()
        self.slider.valueChanged.connect(self._slider_moved)
        ends = QHBoxLayout()
        ends.addWidget(QLabel("Shape only"))
        ends.addStretch(1)
        ends.addWidget(self.weight_text)
        ends.addStretch(1)
        ends.addWidget(QLabel("Attributes only"))
        fusion = QGroupBox("Ranking")
        fusion.setMinimumWidth(FUSION_MIN_WIDTH)
        fusion_layout = QVBoxLayout(fusion)
        fusion_layout.addWidget(self.slider)
        fusion_layout.addLayout(ends)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setObjectName("resetRanking")
        self.reset_button.setAccessibleName("Reset ranking")
        self.reset_button.setToolTip("Back to the tuned weight, with every attribute used")
        self.reset_button.clicked.connect(self.reset)
        reset_row = QHBoxLayout()
        reset_row.addStretch(1)
        reset_row.addWidget(self.reset_button)
        fusion_layout.addLayout(reset_row)
        self.paramsChanged.connect(self._show_reset)

        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setColumnStretch(1, 1)
        self._scroll = _Rows()
        self._scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes to the boxes in it, not to the list itself
        self._scroll.setWidgetResizable(True)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._scroll.setWidget(self._grid_host)
        # The lit attributes in one line, so they are seen without scrolling the list.
        self.summary = QLabel()
        self.summary.setObjectName("attributeSummary")
        self.summary.setWordWrap(True)
        attributes = QGroupBox("Attributes predicted from the sketch")
        attributes_layout = QVBoxLayout(attributes)
        attributes_layout.addWidget(self.summary)
        attributes_layout.addWidget(self._scroll)

        self.model_input = _Picture("Draw to see what the model sees")
        self.model_input.setObjectName("modelInput")
        self.model_input.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.model_input.setToolTip("The exact picture the search reads: your sketch as the model sees it")
        self.facing = QComboBox()
        self.facing.setObjectName("facing")
        self.facing.setAccessibleName("Facing")
        self.facing.addItems([f.capitalize() for f in FACINGS])
        self.facing.setToolTip("<p>Which way the sketch is matched. The model knows shoes and chairs facing left (toe "
                               "on the left). Auto: mirrored when the sketch faces right; or force it.</p>")  # <p>: wrapped
        self.facing.currentIndexChanged.connect(lambda _=0: self.paramsChanged.emit())
        wheel_needs_focus(self.slider, self.facing)
        facing_column = QVBoxLayout()  # beside the picture: the panel's height goes to the attribute list
        facing_column.addStretch(1)
        facing_label = QLabel("Facing")
        facing_label.setBuddy(self.facing)  # the name a screen reader gives the box on Linux
        facing_column.addWidget(facing_label)
        facing_column.addWidget(self.facing)
        facing_column.addStretch(1)
        preview = QGroupBox("Model input")
        preview_layout = QHBoxLayout(preview)
        preview_layout.addWidget(self.model_input, 1)
        preview_layout.addLayout(facing_column)

        layout = QVBoxLayout(self)
        layout.addWidget(fusion)
        layout.addWidget(attributes, 1)
        layout.addWidget(preview)
        self._slider_moved(self.slider.value(), emit=False)
        self._show_reset()

    def set_attributes(self, names: list[str], definitions: dict[str, str], default_weight: float,
                       reliability=None) -> None:
        """A new model: one row per attribute (name, probability bar and value, ignore/use/must-have).
        reliability: per attribute, the weight its labels carry (the annotators' kappa), said in
        its tooltip; an attribute whose labels are weak is greyed, since the model reads it poorly
        and it counts little in the ranking."""
        self.default_weight = default_weight
        while self._grid.count():
            widget = self._grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.names = list(names)
        self._lit = []
        self._bars.clear()
        self._values.clear()
        self._labels.clear()
        self._modes.clear()
        for row, name in enumerate(self.names):
            label = QLabel(attribute_label(name))
            tip = definitions.get(name, "")
            if reliability is not None and len(reliability) == len(self.names):
                weight = float(reliability[row])
                tip += (f"\n\nCounts ×{weight:.2f} in the ranking (how far two annotators agreed on its labels,"
                        " Cohen's κ, kept between 0.1 and 1).")
                if weight < WEAK_LABELS:
                    label.setEnabled(False)  # greyed, still readable
                    tip += (" Its labels are weak, so the model reads it poorly and the slider barely moves "
                            "results by it; Must have still filters on it.")
            label.setToolTip("".join(f"<p>{html.escape(part)}</p>" for part in tip.strip().split("\n\n") if part))  # wrapped
            bar = QProgressBar()
            bar.setRange(0, 100)
            bar.setValue(0)
            bar.setTextVisible(False)  # the value sits beside the bar, readable whatever its fill
            bar.setMaximumHeight(16)
            bar.setMinimumWidth(BAR_MIN_WIDTH)
            value = QLabel("0.00")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for widget in (label, value):  # room for the lit (bold) text, so rows never jump
                _set_bold(widget, True)
                widget.setMinimumWidth(widget.sizeHint().width())
                _set_bold(widget, False)
            value.setText("–")
            mode = _ModeBox()
            mode.setObjectName(f"attr:{name}")
            mode.setAccessibleName(f"{label.text()}: how it counts")
            label.setBuddy(mode)  # on Linux a screen reader names a combo box by its buddy label, not the above
            bar.setAccessibleName(f"{label.text()}: probability")
            mode.setAccessibleDescription(label.toolTip())  # what the label's tooltip says, weak labels included
            mode.setToolTip(f"<p>{html.escape(label.text())} — Ignore: left out of the ranking; Use: counts in the "
                            "ranking; Must have: only photos read to show it</p>")  # <p>: a rich text tip is wrapped
            mode.addItems(MODES)
            mode.setCurrentIndex(1)
            mode.currentIndexChanged.connect(lambda _=0: self.paramsChanged.emit())
            self._grid.addWidget(label, row, 0)
            self._grid.addWidget(bar, row, 1)
            self._grid.addWidget(value, row, 2)
            self._grid.addWidget(mode, row, 3)
            self._bars[name], self._values[name], self._modes[name] = bar, value, mode
            self._labels[name] = label
        # Tab goes down the panel as it is laid out (rows made now would otherwise come last)
        chain = [self.slider, self.reset_button, *self._modes.values(), self.facing]
        for before, after in zip(chain, chain[1:]):
            QWidget.setTabOrder(before, after)
        self._fit_width_to_rows()
        self._show_summary(False)
        self._slider_moved(self.slider.value(), emit=False)
        self._show_reset()

    def _fit_width_to_rows(self) -> None:
        """No horizontal scrolling, so the panel must be as wide as its longest row (chairs'
        names are long); otherwise the mode menus are cut off at the right edge. Computed from
        the rows' size hints: the layout ignores new rows until they are shown."""
        if not self.names:
            return
        rows = [[self._grid.itemAtPosition(row, col).widget() for col in range(4)] for row in range(len(self.names))]
        widest = [max(max(w.sizeHint().width(), w.minimumWidth()) for w in column) for column in zip(*rows)]
        widest[1] = BAR_MIN_WIDTH  # the bar takes what is left
        margins = self._grid.contentsMargins()
        row_width = (sum(widest) + (len(widest) - 1) * self._grid.horizontalSpacing()
                     + margins.left() + margins.right())
        needed = row_width + self._scroll.verticalScrollBar().sizeHint().width() + 2 * self._scroll.frameWidth()
        # never narrower than for a category shown before: switching back and forth keeps the
        # window's layout (and the canvas's size) still; the bars take the room
        self._scroll.setMinimumWidth(max(needed, self._scroll.minimumWidth()))
        # and a few rows tall, however short the screen (the model input gives way first)
        row_height = max(w.sizeHint().height() for row in rows for w in row) + self._grid.verticalSpacing()
        shown = min(ATTRIBUTE_ROWS_MIN, len(rows))
        self._scroll.setMinimumHeight(shown * row_height + margins.top() + 2 * self._scroll.frameWidth())

    def set_probabilities(self, probs, present=()) -> None:
        """The sketch's predicted probabilities (None: nothing drawn), and the attributes it is
        read to show (the engine's `present_attributes`: lit, and what *must have* goes by)."""
        for i, name in enumerate(self.names):
            value = None if probs is None else float(probs[i])
            self._bars[name].setValue(0 if value is None else int(round(value * 100)))
            self._values[name].setText("–" if value is None else f"{value:.2f}")
        self._lit = [] if probs is None else [name for name in self.names if name in present]
        for name in self.names:
            _set_bold(self._labels[name], name in self._lit)
            _set_bold(self._values[name], name in self._lit)
        self._show_summary(probs is not None)

    def _show_summary(self, read: bool) -> None:
        if not read:
            self.summary.setText("Draw to see which attributes the sketch shows.")
        else:
            names = [attribute_label(name) for name in self.lit()]
            self.summary.setText("Sketch shows: <b>" + (", ".join(names) if names else "none of these") + "</b>")

    def lit(self) -> list[str]:
        """The attributes shown as present in the sketch."""
        return list(self._lit)

    def set_model_input(self, raster: np.ndarray | None) -> None:
        if raster is None:
            self.model_input.set_picture(QPixmap())
            self.model_input.setText("Draw to see what the model sees")
            return
        self.model_input.set_picture(QPixmap.fromImage(to_qimage(raster)))

    def is_default(self) -> bool:
        return self.slider.value() == SLIDER_DEFAULT and all(self.mode(n) == "Use" for n in self.names)

    def _show_reset(self) -> None:
        self.reset_button.setEnabled(not self.is_default())

    def reset(self) -> None:
        """The tuned weight and every attribute used: one re-rank, not one per control."""
        for widget in [self.slider, *self._modes.values()]:
            widget.blockSignals(True)
        self.slider.setValue(SLIDER_DEFAULT)
        for box in self._modes.values():
            box.setCurrentIndex(MODES.index("Use"))
        for widget in [self.slider, *self._modes.values()]:
            widget.blockSignals(False)
        self._slider_moved(self.slider.value())

    def mode(self, name: str) -> str:
        return MODES[self._modes[name].currentIndex()]

    def set_mode(self, name: str, mode: str) -> None:
        self._modes[name].setCurrentIndex(MODES.index(mode))

    def attribute_weight(self) -> float:
        return slider_to_weight(self.slider.value(), 1.0 if self.default_weight is None else self.default_weight)

    def rank_params(self, top_k: int) -> RankParams:
        modes = [self.mode(name) for name in self.names]
        weights = np.array([0.0 if m == "Ignore" else 1.0 for m in modes])
        return RankParams(
            attribute_weight=self.attribute_weight(),
            attribute_weights=None if weights.all() else weights,
            must_have=tuple(n for n, m in zip(self.names, modes) if m == "Must have"),
            top_k=top_k,
            facing=FACINGS[self.facing.currentIndex()],
        )

    def _slider_moved(self, position: int, emit: bool = True) -> None:
        self.weight_text.setText(weight_label(position, self.default_weight))
        if emit:
            self.paramsChanged.emit()
