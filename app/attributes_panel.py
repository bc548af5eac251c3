"""Attribute side panel: the sketch's predicted attributes and the ranking controls.

Nothing here runs the network: changing the fusion slider or an attribute's mode emits
``paramsChanged`` and the window asks the worker to re-rank the cached sketch code.
"""
from __future__ import annotations

from typing import Final

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from .results import to_qimage
from .worker import RankParams

SLIDER_MAX: Final = 100
SLIDER_DEFAULT: Final = 50  # the model's tuned fusion weight
ATTRIBUTES_ONLY_WEIGHT: Final = 1e3  # the engine contract's "attributes only" weight
DECADES_PER_HALF: Final = 2.0  # slider 1..99 spans default / 100 .. default * 100 (log scale)
MODES: Final = ("Ignore", "Use", "Must have")


def slider_to_weight(position: int, default: float) -> float:
    """Slider position -> fusion weight w: 0 shape only, 50 the tuned default, 100 attributes only."""
    if position <= 0:
        return 0.0
    if position >= SLIDER_MAX:
        return ATTRIBUTES_ONLY_WEIGHT
    base = default if default > 0 else 1.0
    exponent = (position - SLIDER_DEFAULT) / SLIDER_DEFAULT * DECADES_PER_HALF
    return min(base * 10.0**exponent, ATTRIBUTES_ONLY_WEIGHT)


def weight_label(position: int, default: float) -> str:
    if position <= 0:
        return "Shape only"
    if position >= SLIDER_MAX:
        return "Attributes only"
    suffix = " (tuned)" if position == SLIDER_DEFAULT else ""
    return f"w = {slider_to_weight(position, default):.3g}{suffix}"


class AttributesPanel(QWidget):
    paramsChanged = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("attributesPanel")
        self.default_weight = 1.0
        self.names: list[str] = []
        self._bars: dict[str, QProgressBar] = {}
        self._modes: dict[str, QComboBox] = {}

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("attributeWeight")
        self.slider.setRange(0, SLIDER_MAX)
        self.slider.setValue(SLIDER_DEFAULT)
        self.slider.setToolTip("Fusion weight: how much predicted attributes count against shape")
        self.weight_text = QLabel()
        self.slider.valueChanged.connect(self._slider_moved)
        ends = QHBoxLayout()
        ends.addWidget(QLabel("Shape only"))
        ends.addStretch(1)
        ends.addWidget(self.weight_text)
        ends.addStretch(1)
        ends.addWidget(QLabel("Attributes only"))
        fusion = QGroupBox("Ranking")
        fusion_layout = QVBoxLayout(fusion)
        fusion_layout.addWidget(self.slider)
        fusion_layout.addLayout(ends)

        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setColumnStretch(1, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self._grid_host)
        attributes = QGroupBox("Attributes predicted from the sketch")
        QVBoxLayout(attributes).addWidget(scroll)

        self.model_input = QLabel("Draw to see what the model sees")
        self.model_input.setObjectName("modelInput")
        self.model_input.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.model_input.setMinimumHeight(132)
        self.model_input.setToolTip("The exact picture given to the model (made by fgsbir_core.raster)")
        preview = QGroupBox("Model input")
        QVBoxLayout(preview).addWidget(self.model_input)

        self.setMinimumWidth(340)
        layout = QVBoxLayout(self)
        layout.addWidget(fusion)
        layout.addWidget(attributes, 1)
        layout.addWidget(preview)
        self._slider_moved(self.slider.value(), emit=False)

    def set_attributes(self, names: list[str], definitions: dict[str, str], default_weight: float) -> None:
        """A new model: one row per attribute (name, probability bar, ignore/use/must-have)."""
        self.default_weight = default_weight
        while self._grid.count():
            widget = self._grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.names = list(names)
        self._bars.clear()
        self._modes.clear()
        for row, name in enumerate(self.names):
            label = QLabel(name.replace("_", " "))
            label.setToolTip(definitions.get(name, ""))
            bar = QProgressBar()
            bar.setRange(0, 100)
            bar.setValue(0)
            bar.setFormat("–")
            bar.setMaximumHeight(16)
            mode = QComboBox()
            mode.setObjectName(f"attr:{name}")
            mode.addItems(MODES)
            mode.setCurrentIndex(1)
            mode.currentIndexChanged.connect(lambda _=0: self.paramsChanged.emit())
            self._grid.addWidget(label, row, 0)
            self._grid.addWidget(bar, row, 1)
            self._grid.addWidget(mode, row, 2)
            self._bars[name], self._modes[name] = bar, mode
        self._slider_moved(self.slider.value(), emit=False)

    def set_probabilities(self, probs) -> None:
        for i, name in enumerate(self.names):
            bar = self._bars[name]
            if probs is None:
                bar.setValue(0)
                bar.setFormat("–")
            else:
                value = float(probs[i])
                bar.setValue(int(round(value * 100)))
                bar.setFormat(f"{value:.2f}")

    def set_model_input(self, raster: np.ndarray | None) -> None:
        if raster is None:
            self.model_input.setPixmap(QPixmap())
            self.model_input.setText("Draw to see what the model sees")
            return
        pixmap = QPixmap.fromImage(to_qimage(raster))
        self.model_input.setPixmap(pixmap.scaled(128, 128, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))

    def mode(self, name: str) -> str:
        return MODES[self._modes[name].currentIndex()]

    def set_mode(self, name: str, mode: str) -> None:
        self._modes[name].setCurrentIndex(MODES.index(mode))

    def attribute_weight(self) -> float:
        return slider_to_weight(self.slider.value(), self.default_weight)

    def rank_params(self, top_k: int) -> RankParams:
        modes = [self.mode(name) for name in self.names]
        weights = np.array([0.0 if m == "Ignore" else 1.0 for m in modes])
        return RankParams(
            attribute_weight=self.attribute_weight(),
            attribute_weights=None if weights.all() else weights,
            must_have=tuple(n for n, m in zip(self.names, modes) if m == "Must have"),
            top_k=top_k,
        )

    def _slider_moved(self, position: int, emit: bool = True) -> None:
        self.weight_text.setText(weight_label(position, self.default_weight))
        if emit:
            self.paramsChanged.emit()
