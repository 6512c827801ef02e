"""The "Export figure" options: resolution, background and (for the 2-D view) which layers to draw."""

from __future__ import annotations

from PyQt6.QtWidgets import QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QSpinBox, QWidget

from .layers import LAYER_TITLES


class FigureExportDialog(QDialog):
    def __init__(self, parent: QWidget | None, dpi: int = 150, background: str = "white",
                 layers: dict[str, bool] | None = None, raster: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export figure")
        form = QFormLayout(self)
        self.dpi = QSpinBox()
        self.dpi.setRange(10, 1200)
        self.dpi.setValue(int(dpi))
        self.dpi.setSuffix(" DPI")
        self.dpi.setEnabled(raster)
        self.dpi.setToolTip("Pixel density of a PNG; SVG and PDF are vector and keep the on-screen size")
        form.addRow("Resolution", self.dpi)
        self.background = QComboBox()
        self.background.addItem("white", "white")
        self.background.addItem("transparent", "transparent")
        self.background.setCurrentIndex(max(self.background.findData(background), 0))
        form.addRow("Background", self.background)
        self.layers: dict[str, QCheckBox] = {}
        for name, on in (layers or {}).items():
            box = QCheckBox(LAYER_TITLES.get(name, name))
            box.setChecked(on)
            form.addRow("Layer" if not self.layers else "", box)
            self.layers[name] = box
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> tuple[int, str, dict[str, bool]]:
        return (self.dpi.value(), str(self.background.currentData()),
                {n: b.isChecked() for n, b in self.layers.items()})
