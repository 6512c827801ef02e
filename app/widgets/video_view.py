"""Video view: the current frame, a scrubber, the sampling step, the tracks and their confidence.

Emits ``sigFrameRequested(index)`` when the scrubber moves, ``sigPointClicked(x, y)`` when a frame
is clicked (the controller adds a track from that point), ``sigStepChanged``,
``sigOcclusionChanged(rule, value)`` and ``sigClearTracks``. Several tracks are drawn at once, each
in its colour: its path up to the current frame (broken where occluded), its position now (filled
when visible, a hollow cross when the occlusion rule hides it, with the confidence beside it), and
its query "+" only on the query's own frame. Below the frame, the confidence of every track over
time, the rule's threshold (dashed) and the current frame (vertical line).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from . import IMAGE_AXIS_ORDER

# rule -> (label, spin label, range, step, default, tooltip)
OCCLUSION_UI = {
    "cycle": ("cycle check", "max back-track (cells)", (0.5, 20.0), 0.5, 2.0,
              "Occluded where tracking the match back into the query frame lands more than this many "
              "feature cells from the query. Works for any backbone, whatever its similarity scale."),
    "relative": ("relative to query", "min confidence", (0.0, 1.0), 0.05, 0.5,
                 "Confidence = (peak - median) / (self - median) of the query's own similarity map; "
                 "occluded below this value."),
    "absolute": ("similarity (A.10)", "min cosine", (-1.0, 1.0), 0.05, 0.5,
                 "Occluded where the peak cosine similarity is below this value (the benchmarks' rule, "
                 "seed 000 A.10). Weight-free descriptors peak at 0.8-0.9 everywhere."),
}


@dataclass
class TrackLayer:
    """One track as the view draws it: (T, 2) positions, (T,) visibility and confidence in [0, 1]."""

    xy: np.ndarray
    visible: np.ndarray
    confidence: np.ndarray
    query_frame: int
    query_xy: tuple[float, float]
    color: tuple[int, int, int]


class VideoView(QWidget):
    sigFrameRequested = pyqtSignal(int)
    sigPointClicked = pyqtSignal(float, float)
    sigStepChanged = pyqtSignal(int)
    sigOcclusionChanged = pyqtSignal(str, float)  # rule, its threshold
    sigClearTracks = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground((30, 30, 34))
        self.vb: pg.ViewBox = self.graphics.addViewBox(row=0, col=0)
        self.vb.setAspectLocked(True)
        self.vb.invertY(True)
        self.vb.setMenuEnabled(False)
        self.frame_item = pg.ImageItem(axisOrder=IMAGE_AXIS_ORDER)
        self.hint = pg.TextItem("Open a video with File > Open video (Ctrl+Shift+V)", color=(210, 210, 210))
        for z, item in enumerate((self.frame_item, self.hint)):
            item.setZValue(z)
            self.vb.addItem(item)
        self.conf_plot: pg.PlotItem = self.graphics.addPlot(row=1, col=0)
        self.conf_plot.setMaximumHeight(130)
        self.conf_plot.setMenuEnabled(False)
        self.conf_plot.setMouseEnabled(x=False, y=False)
        self.conf_plot.setYRange(0, 1.05, padding=0)
        self.conf_plot.setLabel("left", "confidence")
        self.conf_plot.setLabel("bottom", "frame")
        self.conf_plot.showGrid(y=True, alpha=0.25)
        self.conf_now = pg.InfiniteLine(angle=90, pen=pg.mkPen(220, 220, 220, 160))
        self.conf_thr = pg.InfiniteLine(angle=0, pen=pg.mkPen(230, 90, 90, 200, style=Qt.PenStyle.DashLine))
        self.conf_plot.addItem(self.conf_now)
        self.conf_plot.addItem(self.conf_thr)
        self.graphics.ci.layout.setRowStretchFactor(0, 5)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        lay.addWidget(self.graphics, 1)

        bar = QHBoxLayout()
        bar.setContentsMargins(6, 2, 6, 4)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.frame_label = QLabel("frame – / –")
        self.frame_label.setMinimumWidth(150)
        self.step = QSpinBox()
        self.step.setRange(1, 100)
        self.step.setValue(5)
        self.step.setPrefix("every ")
        self.step.setSuffix(" frames")
        self.occlusion = QComboBox()
        for key, ui in OCCLUSION_UI.items():
            self.occlusion.addItem(ui[0], key)
        self.threshold_label = QLabel("")
        self.threshold = QDoubleSpinBox()
        self.clear = QPushButton("Clear tracks")
        self.clear.setToolTip("Remove every track (a click on a frame adds one)")
        bar.addWidget(QLabel("Frame"))
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.frame_label)
        bar.addWidget(QLabel("Sample"))
        bar.addWidget(self.step)
        lay.addLayout(bar)
        rule_bar = QHBoxLayout()  # a second row, so the tab needs no wider window than the others
        rule_bar.setContentsMargins(6, 0, 6, 2)
        rule_bar.addWidget(QLabel("Occlusion"))
        rule_bar.addWidget(self.occlusion)
        rule_bar.addWidget(self.threshold_label)
        rule_bar.addWidget(self.threshold)
        rule_bar.addStretch(1)
        rule_bar.addWidget(self.clear)
        lay.addLayout(rule_bar)
        self.status = QLabel("Click points on a frame to track them through the video.")
        self.status.setStyleSheet("color: #444; padding: 0 6px 4px 6px;")
        lay.addWidget(self.status)

        self._tracks: list[TrackLayer] = []
        self._items: list[tuple[pg.PlotCurveItem, pg.ScatterPlotItem, pg.ScatterPlotItem, pg.TextItem,
                                pg.PlotDataItem]] = []
        self._indices: list[int] = []
        self._apply_rule_ui("cycle")
        self.slider.valueChanged.connect(self.sigFrameRequested)
        self.step.valueChanged.connect(self.sigStepChanged)
        self.occlusion.currentIndexChanged.connect(self._on_rule)
        self.threshold.valueChanged.connect(self._on_threshold)
        self.clear.clicked.connect(self.sigClearTracks)
        self.graphics.scene().sigMouseClicked.connect(self._on_click)

    # -- occlusion rule -----------------------------------------------------------------------------
    def occlusion_rule(self) -> str:
        return str(self.occlusion.currentData())

    def occlusion_setting(self) -> tuple[str, float]:
        """The occlusion rule and its threshold as the user set them."""
        return self.occlusion_rule(), float(self.threshold.value())

    def step_value(self) -> int:
        """Every how many frames the video is read."""
        return int(self.step.value())

    def show_message(self, text: str) -> None:
        """The status line under the frame."""
        self.status.setText(text)

    def set_occlusion(self, rule: str, value: float | None = None) -> None:
        """Select a rule (and its threshold) without emitting."""
        with QSignalBlocker(self.occlusion), QSignalBlocker(self.threshold):
            self.occlusion.setCurrentIndex(max(0, self.occlusion.findData(rule)))
            self._apply_rule_ui(rule, value)

    def _apply_rule_ui(self, rule: str, value: float | None = None) -> None:
        _label, spin_label, (lo, hi), step, default, tip = OCCLUSION_UI[rule]
        self.threshold_label.setText(spin_label)
        self.threshold.setRange(lo, hi)
        self.threshold.setSingleStep(step)
        self.threshold.setValue(default if value is None else value)
        self.threshold.setToolTip(tip)
        self.occlusion.setToolTip(tip)
        # The confidence plot shows the threshold where confidence is what the rule thresholds.
        self.conf_thr.setVisible(rule != "cycle")
        self.conf_thr.setValue(self.threshold.value() if rule != "cycle" else 0.0)

    def _on_threshold(self, value: float) -> None:
        if self.occlusion_rule() != "cycle":
            self.conf_thr.setValue(float(value))
        self.sigOcclusionChanged.emit(self.occlusion_rule(), float(value))

    def _on_rule(self, _index: int) -> None:
        rule = self.occlusion_rule()
        with QSignalBlocker(self.threshold):
            self._apply_rule_ui(rule)
        self.sigOcclusionChanged.emit(rule, float(self.threshold.value()))

    # -- data ---------------------------------------------------------------------------------------
    def set_video(self, n_frames: int, indices: list[int], step: int) -> None:
        with QSignalBlocker(self.slider), QSignalBlocker(self.step):
            self.slider.setRange(0, max(0, n_frames - 1))
            self.slider.setValue(0)
            self.step.setValue(step)
        self._indices = list(indices)
        self.hint.setVisible(n_frames == 0)
        self.conf_plot.setXRange(0, max(n_frames - 1, 1), padding=0.02)
        self.set_tracks([])

    def set_frame(self, index: int, rgb: np.ndarray | None) -> None:
        with QSignalBlocker(self.slider):
            self.slider.setValue(index)
        first = self.frame_item.image is None
        if rgb is not None:
            self.frame_item.setImage(rgb, levels=(0, 255))
            self.frame_item.setRect(QRectF(0, 0, rgb.shape[1], rgb.shape[0]))
            if first:
                self.vb.autoRange(padding=0.02)
        n = self.slider.maximum() + 1
        file_index = self._indices[index] if index < len(self._indices) else index
        self.frame_label.setText(f"frame {index + 1} / {n}  (#{file_index})")
        self._draw(index)

    def set_tracks(self, tracks: list[TrackLayer], text: str = "") -> None:
        """Replace the drawn tracks (an empty list clears them)."""
        for items in self._items:
            for it in items[:4]:
                self.vb.removeItem(it)
            self.conf_plot.removeItem(items[4])
        self._tracks, self._items = list(tracks), []
        for k, t in enumerate(tracks):
            z = 10 + 4 * k
            trail = pg.PlotCurveItem(pen=pg.mkPen(*t.color, 220, width=2))
            query = pg.ScatterPlotItem(pxMode=True, size=14, symbol="+", pen=pg.mkPen("w", width=2.5),
                                       brush=pg.mkBrush(*t.color))
            now = pg.ScatterPlotItem(pxMode=True, size=14)
            label = pg.TextItem("", color=t.color, anchor=(-0.25, 1.1))
            for j, it in enumerate((trail, query, now, label)):
                it.setZValue(z + j)
                self.vb.addItem(it)
            curve = self.conf_plot.plot(np.arange(len(t.confidence)), np.asarray(t.confidence, float),
                                        pen=pg.mkPen(*t.color, width=2), symbol="o", symbolSize=4,
                                        symbolBrush=pg.mkBrush(*t.color), symbolPen=None)
            self._items.append((trail, query, now, label, curve))
        if text:
            self.status.setText(text)
        self._draw(self.slider.value())

    def track_count(self) -> int:
        return len(self._tracks)

    def _draw(self, index: int) -> None:
        self.conf_now.setValue(index)
        for t, (trail, query, now, label, _curve) in zip(self._tracks, self._items, strict=True):
            upto = np.asarray(t.xy[: index + 1], float).copy()
            upto[~np.asarray(t.visible[: index + 1], bool)] = np.nan
            trail.setData(upto[:, 0], upto[:, 1], connect="finite")
            query.setData(pos=[t.query_xy] if index == t.query_frame else [])
            if index >= len(t.xy):
                now.setData(pos=[])
                label.setText("")
                continue
            x, y = (float(v) for v in t.xy[index])
            if t.visible[index]:
                now.setData(pos=[(x, y)], symbol="o", brush=pg.mkBrush(*t.color), pen=pg.mkPen("k", width=1.5))
            else:
                now.setData(pos=[(x, y)], symbol="x", brush=pg.mkBrush(0, 0, 0, 0), pen=pg.mkPen(160, 160, 160, width=2))
            label.setText(f"{float(t.confidence[index]):.2f}" + ("" if t.visible[index] else " occluded"))
            label.setPos(x, y)

    def view_to_widget(self, x: float, y: float) -> QPointF:
        return QPointF(self.graphics.mapFromScene(self.vb.mapViewToScene(QPointF(x, y))))

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.frame_item.image is None:
            return
        if not self.vb.sceneBoundingRect().contains(event.scenePos()):
            return
        p = self.vb.mapSceneToView(event.scenePos())
        h, w = self.frame_item.image.shape[:2]
        if 0 <= p.x() < w and 0 <= p.y() < h:
            event.accept()
            self.sigPointClicked.emit(float(p.x()), float(p.y()))
