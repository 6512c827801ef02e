"""The training panel (a tab): method, config, data, device; start / cancel; live plots; past runs.

A view only: it emits what the user asked for as ``sig*`` signals and shows what the training
controller (:mod:`corrviz.app.controller_training`) gives it. Setting a field from the controller
never re-emits its signal.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QFont, QFontDatabase
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .run_monitor import RunInfo, RunSeries

EVAL_COLORS = ((230, 25, 75), (0, 130, 200), (60, 180, 75), (245, 130, 48), (145, 30, 180), (70, 160, 160))
RUN_COLUMNS = ("run", "method", "status", "step", "final evaluation")


class TrainingPanel(QWidget):
    sigMethodChanged = pyqtSignal(str)
    sigPresetChanged = pyqtSignal(object)  # path of a shipped experiment config, or None (method defaults)
    sigBackboneChanged = pyqtSignal(str)
    sigDeviceChanged = pyqtSignal(str)
    sigDataChanged = pyqtSignal(str, object)  # kind ("default" | "categories" | "folder" | "meshes" | "video"), value
    sigCheck = pyqtSignal()
    sigStart = pyqtSignal()
    sigCancel = pyqtSignal()
    sigResume = pyqtSignal(str)  # run folder
    sigRefreshRuns = pyqtSignal()
    sigRunSelected = pyqtSignal(str)
    sigCompareRun = pyqtSignal(str)
    sigUseCheckpoint = pyqtSignal(str)
    sigRunsFolderChanged = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self._choices: dict[str, Any] = {}
        outer = QHBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(split)
        split.addWidget(self._controls())
        right = QSplitter(Qt.Orientation.Vertical)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self._editor())
        top.addWidget(self._plots())
        top.setSizes([420, 560])
        right.addWidget(top)
        right.addWidget(self._runs())
        right.setSizes([520, 260])
        split.addWidget(right)
        split.setSizes([300, 1000])

    # -- building -----------------------------------------------------------------------------------
    def _controls(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        g = QGroupBox("Method")
        form = QFormLayout(g)
        self.method = QComboBox()
        self.method_info = QLabel("loading training methods…")
        self.method_info.setWordWrap(True)
        self.preset = QComboBox()
        self.preset.setToolTip("method defaults, or one of the experiment configs shipped with the method")
        form.addRow("Method", self.method)
        form.addRow(self.method_info)
        form.addRow("Config", self.preset)
        lay.addWidget(g)
        g = QGroupBox("Model and device")
        form = QFormLayout(g)
        self.backbone = QComboBox()
        self.device = QComboBox()
        form.addRow("Backbone", self.backbone)
        form.addRow("Device", self.device)
        lay.addWidget(g)
        g = QGroupBox("Data")
        v = QVBoxLayout(g)
        self.data_kind = QComboBox()
        self.categories = QListWidget()
        self.categories.setMaximumHeight(150)
        self.data_browse = QPushButton("Choose…")
        self.data_info = QLabel("")
        self.data_info.setWordWrap(True)
        v.addWidget(self.data_kind)
        v.addWidget(self.categories)
        v.addWidget(self.data_browse)
        v.addWidget(self.data_info)
        lay.addWidget(g)
        g = QGroupBox("Runs folder")
        h = QHBoxLayout(g)
        self.runs_folder = QLineEdit()
        self.runs_browse = QPushButton("…")
        self.runs_browse.setMaximumWidth(32)
        h.addWidget(self.runs_folder)
        h.addWidget(self.runs_browse)
        lay.addWidget(g)
        row = QHBoxLayout()
        self.check_button, self.start_button = QPushButton("Check"), QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.start_button.setStyleSheet("font-weight: bold;")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("stop after the current step and keep the last checkpoint (again: kill)")
        for b in (self.check_button, self.start_button, self.cancel_button):
            row.addWidget(b)
        lay.addLayout(row)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.message)
        lay.addStretch(1)

        self.method.currentIndexChanged.connect(lambda _i: self.sigMethodChanged.emit(self.method.currentText()))
        self.preset.currentIndexChanged.connect(lambda _i: self.sigPresetChanged.emit(self.preset.currentData()))
        self.backbone.currentIndexChanged.connect(lambda _i: self.sigBackboneChanged.emit(self.backbone.currentText()))
        self.device.currentIndexChanged.connect(lambda _i: self.sigDeviceChanged.emit(self.device.currentText()))
        self.data_kind.currentIndexChanged.connect(self._on_data_kind)
        self.categories.itemChanged.connect(self._on_categories)
        self.data_browse.clicked.connect(self._browse_data)
        self.runs_folder.editingFinished.connect(lambda: self.sigRunsFolderChanged.emit(self.runs_folder.text()))
        self.runs_browse.clicked.connect(self._browse_runs)
        self.check_button.clicked.connect(self.sigCheck)
        self.start_button.clicked.connect(self.sigStart)
        self.cancel_button.clicked.connect(self.sigCancel)
        scroll = QScrollArea()
        scroll.setWidget(box)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(280)
        return scroll

    def _editor(self) -> QWidget:
        g = QGroupBox("Config (YAML; checked before the run starts)")
        v = QVBoxLayout(g)
        self.editor = QPlainTextEdit()
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.editor.setFont(font)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        v.addWidget(self.editor)
        return g

    def _plots(self) -> QWidget:
        g = QGroupBox("Live run")
        v = QVBoxLayout(g)
        self.progress_label = QLabel("no run")
        self.progress_label.setObjectName("trainingProgress")
        v.addWidget(self.progress_label)
        self.loss_plot = pg.PlotWidget(background="w")
        self.loss_plot.setTitle("training loss", color="k")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.3)
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen((30, 30, 30), width=1.5))
        self.eval_plot = pg.PlotWidget(background="w")
        self.eval_plot.setTitle("evaluation (the run's held-out set)", color="k")
        self.eval_plot.setLabel("bottom", "step")
        self.eval_plot.showGrid(x=True, y=True, alpha=0.3)
        self.eval_legend = self.eval_plot.addLegend(offset=(-10, 10))
        self.eval_curves: dict[str, pg.PlotDataItem] = {}
        v.addWidget(self.loss_plot, 3)
        v.addWidget(self.eval_plot, 2)
        return g

    def _runs(self) -> QWidget:
        g = QGroupBox("Past runs")
        h = QHBoxLayout(g)
        left = QVBoxLayout()
        self.runs = QTreeWidget()
        self.runs.setHeaderLabels(list(RUN_COLUMNS))
        self.runs.setRootIsDecorated(False)
        self.runs.setColumnWidth(0, 230)
        left.addWidget(self.runs)
        row = QHBoxLayout()
        self.refresh_button, self.resume_button = QPushButton("Refresh"), QPushButton("Resume to steps")
        self.resume_steps_box = QSpinBox()
        self.resume_steps_box.setRange(0, 10_000_000)
        self.resume_steps_box.setSpecialValueText("config")
        self.resume_steps_box.setToolTip("train.steps of the resumed run (\"config\": keep the run's own)")
        self.use_button, self.compare_button = QPushButton("Use checkpoint"), QPushButton("Before / after")
        for w in (self.refresh_button, self.resume_button, self.resume_steps_box, self.use_button, self.compare_button):
            row.addWidget(w)
        left.addLayout(row)
        h.addLayout(left, 3)
        self.run_details = QPlainTextEdit()
        self.run_details.setReadOnly(True)
        self.run_details.setFont(self.editor.font())
        h.addWidget(self.run_details, 2)
        self.runs.currentItemChanged.connect(lambda cur, _prev: cur is not None and self.sigRunSelected.emit(
            cur.data(0, Qt.ItemDataRole.UserRole)))
        self.refresh_button.clicked.connect(self.sigRefreshRuns)
        for button, sig in ((self.resume_button, self.sigResume), (self.use_button, self.sigUseCheckpoint),
                            (self.compare_button, self.sigCompareRun)):
            button.clicked.connect(lambda _c=False, sig=sig: self.selected_run() and sig.emit(self.selected_run()))
        return g

    # -- what the controller sets -------------------------------------------------------------------
    @staticmethod
    def _fill(combo: QComboBox, items: list[tuple[str, Any]], current: str | None = None) -> None:
        combo.blockSignals(True)
        combo.clear()
        for label, data in items:
            combo.addItem(label, data)
        if current is not None and combo.findText(current) >= 0:
            combo.setCurrentIndex(combo.findText(current))
        combo.blockSignals(False)

    def set_methods(self, methods: list[tuple[str, str]]) -> None:
        self._descriptions = dict(methods)
        self._fill(self.method, [(n, n) for n, _ in methods])
        self.method_info.setText(self._descriptions.get(self.method.currentText(), ""))

    def set_presets(self, presets: list[tuple[str, str | None]]) -> None:
        self._fill(self.preset, presets)
        self.method_info.setText(getattr(self, "_descriptions", {}).get(self.method.currentText(), ""))

    def set_backbones(self, names: list[str]) -> None:
        self._fill(self.backbone, [(n, n) for n in names], self.backbone.currentText() or None)

    def set_devices(self, devices: list[str]) -> None:
        self._fill(self.device, [(d, d) for d in devices])

    def show_backbone(self, name: str) -> None:
        if self.backbone.findText(name) < 0:
            self._fill(self.backbone, [(self.backbone.itemText(i), None) for i in range(self.backbone.count())]
                       + [(name, None)])
        self._select(self.backbone, name)

    def show_device(self, device: str) -> None:
        self._select(self.device, device)

    def show_method(self, name: str) -> None:
        """Select ``name`` in the method list (without emitting) and show its description."""
        self._select(self.method, name)
        self.method_info.setText(getattr(self, "_descriptions", {}).get(name, ""))

    def show_preset(self, path: str | None) -> None:
        """Select the preset whose path is ``path`` (None: the method defaults), without emitting."""
        self.preset.blockSignals(True)
        index = self.preset.findData(path)
        self.preset.setCurrentIndex(index if index >= 0 else 0)
        self.preset.blockSignals(False)

    @staticmethod
    def _select(combo: QComboBox, text: str) -> None:
        combo.blockSignals(True)
        if combo.findText(text) >= 0:
            combo.setCurrentIndex(combo.findText(text))
        combo.blockSignals(False)

    def set_data_choices(self, choices: list[Any], objects: list[str]) -> None:
        """Data kinds (``DataChoice``); unsupported ones are listed disabled, with the reason as tooltip."""
        from corrviz.core.synthetic.objects import list_objects

        self._choices = {c.kind: c for c in choices}
        self.data_kind.blockSignals(True)
        self.data_kind.clear()
        for c in choices:
            self.data_kind.addItem(c.label, c.kind)
            item = self.data_kind.model().item(self.data_kind.count() - 1)
            if not c.supported:
                item.setEnabled(False)
                item.setToolTip(c.why_not)
        self.data_kind.blockSignals(False)
        self.categories.blockSignals(True)
        self.categories.clear()
        for name in list_objects():
            it = QListWidgetItem(name)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Checked if name in objects else Qt.CheckState.Unchecked)
            self.categories.addItem(it)
        self.categories.blockSignals(False)
        self._show_data_widgets("default")

    def _show_data_widgets(self, kind: str) -> None:
        self.categories.setVisible(kind == "categories")
        self.data_browse.setVisible(kind in ("folder", "meshes", "video"))
        self.data_info.setText({"default": "the objects listed in the config (data.objects / data.root)",
                                "categories": "tick the procedural categories to train on",
                                }.get(kind, ""))

    def _on_data_kind(self, _index: int) -> None:
        kind = self.data_kind.currentData()
        self._show_data_widgets(kind)
        if kind == "default":
            self.sigDataChanged.emit("default", None)
        elif kind == "categories":
            self._on_categories()

    def checked_categories(self) -> list[str]:
        return [self.categories.item(i).text() for i in range(self.categories.count())
                if self.categories.item(i).checkState() == Qt.CheckState.Checked]

    def _on_categories(self, _item: Any = None) -> None:
        self.sigDataChanged.emit("categories", self.checked_categories())

    def _browse_data(self) -> None:
        kind = self.data_kind.currentData()
        if kind == "video":
            path, _ = QFileDialog.getOpenFileName(self, "Training video", "", "Videos (*.mp4 *.avi *.mov *.mkv *.webm)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Mesh folder" if kind == "meshes" else "Dataset folder")
        if path:
            self.data_info.setText(path)
            self.sigDataChanged.emit(kind, path)

    def _browse_runs(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of training runs", self.runs_folder.text())
        if d:
            self.runs_folder.setText(d)
            self.sigRunsFolderChanged.emit(d)

    def set_runs_folder(self, folder: str) -> None:
        self.runs_folder.setText(folder)

    def set_config_text(self, text: str) -> None:
        self.editor.setPlainText(text)

    def config_text(self) -> str:
        return self.editor.toPlainText()

    def set_message(self, text: str, ok: bool = True) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("" if ok else "color: #d04040;")

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        for w in (self.start_button, self.check_button, self.resume_button, self.method, self.preset):
            w.setEnabled(not running)

    def set_progress_text(self, text: str) -> None:
        self.progress_label.setText(text)

    def show_series(self, series: RunSeries) -> None:
        self.loss_curve.setData(series.steps, series.loss)
        for name in list(self.eval_curves):
            if name not in series.evals:
                self.eval_plot.removeItem(self.eval_curves.pop(name))
        for k, (name, (xs, ys)) in enumerate(sorted(series.evals.items())):
            curve = self.eval_curves.get(name)
            if curve is None:
                color = EVAL_COLORS[k % len(EVAL_COLORS)]
                curve = self.eval_plot.plot([], [], pen=pg.mkPen(color, width=1.5), symbol="o", symbolSize=6,
                                            symbolBrush=color, name=name)
                self.eval_curves[name] = curve
            curve.setData(xs, ys)

    def loss_points(self) -> int:
        """How many points the loss plot shows (tests)."""
        xs, _ = self.loss_curve.getData()
        return 0 if xs is None else len(xs)

    def set_runs(self, runs: list[RunInfo]) -> None:
        current = self.selected_run()
        self.runs.blockSignals(True)
        self.runs.clear()
        for r in runs:
            metrics = ", ".join(f"{k} {v:.3g}" for k, v in r.final_metrics.items()) or "—"
            it = QTreeWidgetItem([r.name, r.method, r.status, f"{r.step}/{r.total_steps}", metrics])
            it.setData(0, Qt.ItemDataRole.UserRole, str(r.folder))
            it.setToolTip(0, str(r.folder))
            self.runs.addTopLevelItem(it)
            if str(r.folder) == current:
                self.runs.setCurrentItem(it)
        self.runs.blockSignals(False)

    def run_names(self) -> list[str]:
        return [self.runs.topLevelItem(i).text(0) for i in range(self.runs.topLevelItemCount())]

    def selected_run(self) -> str:
        it = self.runs.currentItem()
        return str(it.data(0, Qt.ItemDataRole.UserRole)) if it is not None else ""

    def select_run_named(self, name: str) -> None:
        for i in range(self.runs.topLevelItemCount()):
            if self.runs.topLevelItem(i).text(0) == name:
                self.runs.setCurrentItem(self.runs.topLevelItem(i))

    def show_run_details(self, info: RunInfo) -> None:
        lines = [f"# {info.folder}", f"# {info.command}", f"# status: {info.status}, last checkpoint step {info.step}"]
        if info.first_metrics:
            lines.append("# before (step 0): " + ", ".join(f"{k} {v:.4g}" for k, v in info.first_metrics.items()))
        if info.final_metrics:
            lines.append("# final: " + ", ".join(f"{k} {v:.4g}" for k, v in info.final_metrics.items()))
        self.run_details.setPlainText("\n".join(lines) + "\n\n" + info.config_text())

    def resume_steps(self) -> int:
        return int(self.resume_steps_box.value())
