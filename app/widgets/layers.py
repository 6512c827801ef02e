"""A small layer list for the 2-D view (as in napari): visibility and opacity per layer, heatmap scaling.

Emits ``sigLayerChanged(name, visible, opacity)`` and ``sigHeatmapScaleChanged(scale)``; it holds
no other state and never touches the view (the controller routes the signals).
"""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QLabel, QSlider, QWidget

LAYER_TITLES = {"pca": "PCA features", "heatmap": "Similarity heatmap", "lines": "Match lines",
                "points": "Points and matches"}
SCALE_TITLES = {"absolute": "absolute cosine (−1 … 1)", "normalised": "normalised to this click (min … max)"}


class LayerList(QWidget):
    sigLayerChanged = pyqtSignal(str, bool, float)
    sigHeatmapScaleChanged = pyqtSignal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.setVerticalSpacing(4)
        self.visible: dict[str, QCheckBox] = {}
        self.opacity: dict[str, QSlider] = {}
        self._values: dict[str, QLabel] = {}
        for row, (name, title) in enumerate(LAYER_TITLES.items()):
            box = QCheckBox(title)
            box.setChecked(True)
            box.setObjectName(f"layer_{name}")
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 100)
            slider.setValue(100)
            slider.setToolTip(f"Opacity of the {title.lower()} layer")
            value = QLabel("100 %")
            value.setMinimumWidth(40)
            box.toggled.connect(lambda _on, n=name: self._emit(n))
            slider.valueChanged.connect(lambda _v, n=name: self._emit(n))
            grid.addWidget(box, row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(value, row, 2)
            self.visible[name], self.opacity[name], self._values[name] = box, slider, value
        row = len(LAYER_TITLES)
        grid.addWidget(QLabel("Heatmap colours"), row, 0)
        self.scale = QComboBox()
        for key, title in SCALE_TITLES.items():
            self.scale.addItem(title, key)
        self.scale.setToolTip("Absolute: a colour means the same cosine similarity on every click. "
                              "Normalised: the colour map spans this click's lowest to highest similarity; "
                              "the colour bar shows the cosine values either way.")
        self.scale.currentIndexChanged.connect(lambda _i: self.sigHeatmapScaleChanged.emit(self.heatmap_scale()))
        grid.addWidget(self.scale, row, 1, 1, 2)
        grid.setColumnStretch(1, 1)

    def _emit(self, name: str) -> None:
        visible, opacity = self.layer(name)
        self._values[name].setText(f"{round(opacity * 100)} %")
        self.sigLayerChanged.emit(name, visible, opacity)

    def layer(self, name: str) -> tuple[bool, float]:
        return self.visible[name].isChecked(), self.opacity[name].value() / 100.0

    def set_layer(self, name: str, visible: bool | None = None, opacity: float | None = None) -> None:
        """Show a layer's state without emitting."""
        box, slider = self.visible[name], self.opacity[name]
        for w in (box, slider):
            w.blockSignals(True)
        if visible is not None:
            box.setChecked(bool(visible))
        if opacity is not None:
            slider.setValue(round(float(opacity) * 100))
        for w in (box, slider):
            w.blockSignals(False)
        self._values[name].setText(f"{slider.value()} %")

    def heatmap_scale(self) -> str:
        return str(self.scale.currentData())

    def set_heatmap_scale(self, scale: str) -> None:
        self.scale.blockSignals(True)
        self.scale.setCurrentIndex(max(self.scale.findData(scale), 0))
        self.scale.blockSignals(False)
