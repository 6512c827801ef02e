"""Side-by-side comparison: the same clicked points matched by two feature settings on the same pair.

Three panels: the source image with the query points (click to add one), and the target image
twice, with the matches of side A (left, e.g. the base backbone) and of side B (right, e.g. the
finetuned checkpoint). Each side says what it is and, when the pair has known ground truth (the
demo pair's affine), the error of its matches in pixels. Below: the evaluation the training run
performed (each metric against the step; step 0 is the "before"). A view only: the compare
controller (:mod:`corrviz.app.controller_compare`) does the work.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .run_monitor import RunSeries
from .training_panel import EVAL_COLORS
from .widgets import IMAGE_AXIS_ORDER

SIDES = ("A", "B")


class _ImagePanel:
    def __init__(self, layout: pg.GraphicsLayoutWidget, col: int, title: str) -> None:
        self.vb = layout.addViewBox(row=0, col=col, lockAspect=True, invertY=True, enableMouse=True)
        self.vb.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder=IMAGE_AXIS_ORDER)
        self.points = pg.ScatterPlotItem(size=11, pen=pg.mkPen("w", width=1.5))
        self.misses = pg.ScatterPlotItem(size=11, symbol="x", pen=pg.mkPen("w", width=1.5))
        self.title = pg.TextItem(title, color=(20, 20, 20), anchor=(0, 1))
        self.title.setFont(QFont("Sans", 10))
        for z, item in enumerate((self.image, self.points, self.misses, self.title)):
            item.setZValue(z)
            self.vb.addItem(item)

    def set_image(self, rgb: np.ndarray) -> None:
        self.image.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.title.setPos(0, 0)
        self.vb.autoRange(padding=0.02)


class CompareView(QWidget):
    sigSourceClicked = pyqtSignal(float, float)  # image pixels of the source image
    sigClearPoints = pyqtSignal()
    sigSideBackbone = pyqtSignal(int, str)  # side (0 = A, 1 = B), backbone name
    sigSideCheckpoint = pyqtSignal(int)  # choose a checkpoint for the side
    sigSideCheckpointClear = pyqtSignal(int)
    sigUseSessionPair = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareView")
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        self.side_backbone: list[QComboBox] = []
        self.side_info: list[QLabel] = []
        self.side_summary: list[QLabel] = []
        for k, name in enumerate(SIDES):
            g = QGroupBox(f"Side {name}")
            lay = QVBoxLayout(g)
            row = QHBoxLayout()
            combo = QComboBox()
            choose, clear = QPushButton("Checkpoint…"), QPushButton("No checkpoint")
            row.addWidget(combo, 1)
            row.addWidget(choose)
            row.addWidget(clear)
            info, summary = QLabel(""), QLabel("")
            info.setWordWrap(True)
            summary.setWordWrap(True)
            summary.setStyleSheet("font-weight: bold;")
            lay.addLayout(row)
            lay.addWidget(info)
            lay.addWidget(summary)
            top.addWidget(g, 1)
            combo.currentIndexChanged.connect(lambda _i, k=k, c=combo: self.sigSideBackbone.emit(k, c.currentText()))
            choose.clicked.connect(lambda _c=False, k=k: self.sigSideCheckpoint.emit(k))
            clear.clicked.connect(lambda _c=False, k=k: self.sigSideCheckpointClear.emit(k))
            self.side_backbone.append(combo)
            self.side_info.append(info)
            self.side_summary.append(summary)
        buttons = QVBoxLayout()
        self.session_button, self.clear_button = QPushButton("Use the 2D pair"), QPushButton("Clear points")
        buttons.addWidget(self.session_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        top.addLayout(buttons)
        outer.addLayout(top)
        self.message = QLabel("Click points in the source image; both sides match them.")
        self.message.setWordWrap(True)
        outer.addWidget(self.message)
        split = QSplitter(Qt.Orientation.Vertical)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.source = _ImagePanel(self.graphics, 0, "source (click to add points)")
        self.targets = [_ImagePanel(self.graphics, 1, "A"), _ImagePanel(self.graphics, 2, "B")]
        split.addWidget(self.graphics)
        self.eval_plot = pg.PlotWidget(background="w")
        self.eval_plot.setLabel("bottom", "training step")
        self.eval_plot.showGrid(x=True, y=True, alpha=0.3)
        self.eval_plot.setTitle("the run's evaluation (step 0 = before)", color="k")
        self.eval_legend = self.eval_plot.addLegend(offset=(-10, 10))
        split.addWidget(self.eval_plot)
        split.setSizes([520, 220])
        outer.addWidget(split, 1)
        self.graphics.scene().sigMouseClicked.connect(self._on_click)
        self.session_button.clicked.connect(self.sigUseSessionPair)
        self.clear_button.clicked.connect(self.sigClearPoints)
        self._image_size = (0, 0)

    # -- input --------------------------------------------------------------------------------------
    def _on_click(self, event) -> None:  # noqa: ANN001
        if event.button() != Qt.MouseButton.LeftButton:
            return
        vb = self.source.vb
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        p = vb.mapSceneToView(event.scenePos())
        w, h = self._image_size
        if 0 <= p.x() < w and 0 <= p.y() < h:
            event.accept()
            self.sigSourceClicked.emit(float(p.x()), float(p.y()))

    def source_to_widget(self, x: float, y: float):  # noqa: ANN201 - QPoint, for tests
        scene = self.source.vb.mapViewToScene(pg.Point(x, y))
        return self.graphics.mapFromScene(scene)

    # -- what the controller sets -------------------------------------------------------------------
    def set_backbones(self, names: list[str]) -> None:
        for combo in self.side_backbone:
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            combo.blockSignals(False)

    def set_side(self, side: int, backbone: str, description: str) -> None:
        combo = self.side_backbone[side]
        combo.blockSignals(True)
        if combo.findText(backbone) < 0:
            combo.addItem(backbone)
        combo.setCurrentText(backbone)
        combo.blockSignals(False)
        self.side_info[side].setText(description)
        self.targets[side].title.setText(f"{SIDES[side]}: {description}")

    def set_images(self, source: np.ndarray, target: np.ndarray) -> None:
        self._image_size = (int(source.shape[1]), int(source.shape[0]))
        self.source.set_image(source)
        for t in self.targets:
            t.set_image(target)

    def set_points(self, points_xy: np.ndarray, colors: list[tuple[int, int, int]]) -> None:
        pts = np.asarray(points_xy, float).reshape(-1, 2)
        self.source.points.setData(pos=pts, brush=[pg.mkBrush(*c) for c in colors])

    def set_matches(self, side: int, trg_xy: np.ndarray | None, valid: np.ndarray | None,
                    colors: list[tuple[int, int, int]]) -> None:
        t = self.targets[side]
        if trg_xy is None or len(trg_xy) == 0:
            t.points.setData(pos=np.zeros((0, 2)))
            t.misses.setData(pos=np.zeros((0, 2)))
            return
        xy = np.asarray(trg_xy, float)
        ok = np.asarray(valid, bool) if valid is not None else np.ones(len(xy), bool)
        brushes = [pg.mkBrush(*c) for c in colors]
        t.points.setData(pos=xy[ok], brush=[b for b, o in zip(brushes, ok, strict=True) if o])
        t.misses.setData(pos=xy[~ok], pen=pg.mkPen("r", width=2))

    def set_summary(self, side: int, text: str) -> None:
        self.side_summary[side].setText(text)

    def set_message(self, text: str, ok: bool = True) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("" if ok else "color: #d04040;")

    def set_eval(self, series: RunSeries | None, title: str = "") -> None:
        self.eval_plot.clear()
        self.eval_legend.clear()
        if series is None or not series.evals:
            self.eval_plot.setTitle(title or "no training-run evaluation for this comparison", color="k")
            return
        self.eval_plot.setTitle(title, color="k")
        for k, (name, (xs, ys)) in enumerate(sorted(series.evals.items())):
            color = EVAL_COLORS[k % len(EVAL_COLORS)]
            self.eval_plot.plot(xs, ys, pen=pg.mkPen(color, width=1.5), symbol="o", symbolSize=7,
                                symbolBrush=color, name=name)

    def eval_curve_names(self) -> list[str]:
        return [item.name() for item in self.eval_plot.listDataItems()]
