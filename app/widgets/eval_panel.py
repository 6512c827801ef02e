"""The evaluation tab: pick a benchmark and its data, run it, watch the metric, read the table, save.

The panel shows what it is given and emits what the user asked for (``sigRun``, ``sigCancel``,
``sigSave``, ``sigBrowse``); the controller runs :func:`corrviz.core.evaluate.evaluate` in a
worker and feeds the plots (pyqtgraph) and the final table back.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..eval_state import EvalRequestValues
from ..widgets.options_panel import METHOD_LABELS


class EvalPanel(QWidget):
    sigRun = pyqtSignal(object)  # EvalRequestValues
    sigCancel = pyqtSignal()
    sigSave = pyqtSignal()
    sigBrowse = pyqtSignal()
    sigOpenItem = pyqtSignal(int)  # row of the evaluated-pairs list (worst first)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        left = QVBoxLayout()
        box = QGroupBox("Benchmark run")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.benchmark = QComboBox()
        self.benchmark_info = QLabel("")
        self.benchmark_info.setWordWrap(True)
        self.benchmark_info.setStyleSheet("color: #777;")
        self.data_root = QLineEdit()
        self.data_root.setPlaceholderText("data folder (multiview: also 'default')")
        self.browse = QPushButton("Browse…")
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_root, 1)
        data_row.addWidget(self.browse)
        self.method = QComboBox()
        for key, label in METHOD_LABELS.items():
            self.method.addItem(label, key)
        self.limit = QSpinBox()
        self.limit.setRange(0, 1_000_000)
        self.limit.setSpecialValueText("all")
        self.limit.setToolTip("Evaluate only the first N pairs / clips / objects (0 = all)")
        self.features = QLabel("")
        self.features.setWordWrap(True)
        form.addRow("Benchmark", self.benchmark)
        form.addRow(self.benchmark_info)
        form.addRow("Data", data_row)
        form.addRow("Matcher", self.method)
        form.addRow("Limit", self.limit)
        form.addRow("Features", self.features)
        left.addWidget(box)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run evaluation")
        self.cancel_button = QPushButton("Cancel")
        self.save_button = QPushButton("Save results…")
        for b in (self.run_button, self.cancel_button, self.save_button):
            buttons.addWidget(b)
        left.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        left.addWidget(self.progress)
        self.status = QLabel("Pick a benchmark and its data folder, then run.")
        self.status.setWordWrap(True)
        left.addWidget(self.status)
        self.headline = QLabel("")
        self.headline.setStyleSheet("font-size: 15px; font-weight: bold; padding: 4px 0;")
        self.headline.setWordWrap(True)
        left.addWidget(self.headline)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        left.addWidget(self.table, 1)
        self.items_label = QLabel("Evaluated pairs, worst first (double-click: open in the 2-D view)")
        self.items = QListWidget()
        self.items.setToolTip("PCK@0.1 of each pair; opening one shows its ground-truth keypoints (white) and the "
                              "predictions (green within the threshold, red not)")
        left.addWidget(self.items_label)
        left.addWidget(self.items, 1)
        self.set_items([])
        left_w = QWidget()
        left_w.setLayout(left)
        left_w.setMinimumWidth(380)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.running_plot: pg.PlotItem = self.plots.addPlot(row=0, col=0)
        self.item_plot: pg.PlotItem = self.plots.addPlot(row=1, col=0)
        for plot, ylabel in ((self.running_plot, "running value"), (self.item_plot, "per item")):
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setLabel("bottom", "items evaluated")
            plot.setLabel("left", ylabel)
            plot.setMouseEnabled(x=False, y=False)
        self.running_curve = self.running_plot.plot([], [], pen=pg.mkPen((20, 110, 190), width=2.5),
                                                    symbol="o", symbolSize=5, symbolBrush=(20, 110, 190))
        self.item_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=(240, 150, 60))
        self.item_plot.addItem(self.item_bars)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left_w)
        split.addWidget(self.plots)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        outer.addWidget(split)

        self.run_button.clicked.connect(lambda: self.sigRun.emit(self.values()))
        self.cancel_button.clicked.connect(self.sigCancel)
        self.save_button.clicked.connect(self.sigSave)
        self.browse.clicked.connect(self.sigBrowse)
        self.items.itemActivated.connect(lambda it: self.sigOpenItem.emit(self.items.row(it)))
        self.benchmark.currentIndexChanged.connect(self._show_description)
        self.set_running(False)
        self.save_button.setEnabled(False)

    # -- filling ------------------------------------------------------------------------------------
    def set_benchmarks(self, entries: list[tuple[str, str]]) -> None:
        """(name, description) of every benchmark."""
        self.benchmark.clear()
        for name, description in entries:
            self.benchmark.addItem(name, name)
            self.benchmark.setItemData(self.benchmark.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        self._show_description()

    def _show_description(self, *_args) -> None:
        self.benchmark_info.setText(str(self.benchmark.currentData(Qt.ItemDataRole.ToolTipRole) or ""))

    def set_features_text(self, text: str) -> None:
        self.features.setText(text)

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def set_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(min(done, total) if total else 0)
        self.progress.setFormat(f"{message}: %v / %m" if total else message)

    def set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c03030; font-weight: bold;" if error else "")

    def set_series(self, title: str, x: np.ndarray, item: np.ndarray, running: np.ndarray, percent: bool) -> None:
        scale = 100.0 if percent else 1.0
        unit = " (%)" if percent else ""
        self.running_plot.setTitle(f"running {title}")
        self.running_plot.setLabel("left", f"running{unit}")
        self.item_plot.setTitle(f"per item: {title}")
        self.item_plot.setLabel("left", f"value{unit}")
        self.running_curve.setData(x, running * scale)
        ok = np.isfinite(item)
        self.item_bars.setOpts(x=x[ok], height=item[ok] * scale, width=0.8)
        for plot in (self.running_plot, self.item_plot):
            if percent:
                plot.setYRange(0, 100, padding=0.02)
            else:
                plot.enableAutoRange(axis="y")
            plot.setXRange(0.5, max(len(x), 1) + 0.5, padding=0.02)

    def set_result(self, headline: str, header: list[str], rows: list[list[str]]) -> None:
        self.headline.setText(headline)
        self.table.clear()
        self.table.setColumnCount(len(header))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels(header)
        for r, values in enumerate(rows):
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                if c >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.save_button.setEnabled(bool(rows))

    def set_items(self, labels: list[str]) -> None:
        """The evaluated pairs that can be opened (keypoint benchmarks), worst first; hidden when none."""
        self.items.clear()
        self.items.addItems(labels)
        self.items.setVisible(bool(labels))
        self.items_label.setVisible(bool(labels))

    def set_data_root(self, path: str) -> None:
        self.data_root.setText(path)

    # -- reading ------------------------------------------------------------------------------------
    def values(self) -> EvalRequestValues:
        return EvalRequestValues(str(self.benchmark.currentData() or ""), self.data_root.text().strip(),
                                 str(self.method.currentData()), self.limit.value() or None)

    def set_values(self, benchmark: str, data_root: str, method: str, limit: int | None) -> None:
        self.benchmark.setCurrentIndex(max(0, self.benchmark.findData(benchmark)))
        self.data_root.setText(data_root)
        self.method.setCurrentIndex(max(0, self.method.findData(method)))
        self.limit.setValue(limit or 0)
