"""Video view: the current frame, a scrubber, the sampling step and the tracked point's path.

Emits ``sigFrameRequested(index)`` when the scrubber moves, ``sigPointClicked(x, y)`` when a frame
is clicked (the controller tracks that point) and ``sigStepChanged`` / ``sigThresholdChanged``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QSpinBox, QVBoxLayout, QWidget

from . import IMAGE_AXIS_ORDER


class VideoView(QWidget):
    sigFrameRequested = pyqtSignal(int)
    sigPointClicked = pyqtSignal(float, float)
    sigStepChanged = pyqtSignal(int)
    sigThresholdChanged = pyqtSignal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground((30, 30, 34))
        self.vb: pg.ViewBox = self.graphics.addViewBox()
        self.vb.setAspectLocked(True)
        self.vb.invertY(True)
        self.vb.setMenuEnabled(False)
        self.frame_item = pg.ImageItem(axisOrder=IMAGE_AXIS_ORDER)
        self.trail = pg.PlotCurveItem(pen=pg.mkPen(255, 200, 0, 200, width=2))
        self.current = pg.ScatterPlotItem(pxMode=True, size=14, symbol="o")
        self.query = pg.ScatterPlotItem(pxMode=True, size=12, symbol="+")
        self.hint = pg.TextItem("Open a video with File > Open video (Ctrl+Shift+V)", color=(210, 210, 210))
        for z, item in enumerate((self.frame_item, self.trail, self.query, self.current, self.hint)):
            item.setZValue(z)
            self.vb.addItem(item)
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
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(-1.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(0.5)
        self.threshold.setToolTip("Occlusion threshold: below this similarity the point counts as hidden")
        bar.addWidget(QLabel("Frame"))
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.frame_label)
        bar.addWidget(QLabel("Sample"))
        bar.addWidget(self.step)
        bar.addWidget(QLabel("Occlusion <"))
        bar.addWidget(self.threshold)
        lay.addLayout(bar)
        self.status = QLabel("Click a point on a frame to track it through the video.")
        self.status.setStyleSheet("color: #444; padding: 0 6px 4px 6px;")
        lay.addWidget(self.status)

        self._track: tuple[np.ndarray, np.ndarray] | None = None  # (T, 2) xy, (T,) visible
        self._indices: list[int] = []
        self.slider.valueChanged.connect(self.sigFrameRequested)
        self.step.valueChanged.connect(self.sigStepChanged)
        self.threshold.valueChanged.connect(self.sigThresholdChanged)
        self.graphics.scene().sigMouseClicked.connect(self._on_click)

    def set_video(self, n_frames: int, indices: list[int], step: int) -> None:
        with QSignalBlocker(self.slider), QSignalBlocker(self.step):
            self.slider.setRange(0, max(0, n_frames - 1))
            self.slider.setValue(0)
            self.step.setValue(step)
        self._indices = list(indices)
        self._track = None
        self.hint.setVisible(n_frames == 0)
        self._draw_track(0)

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
        self._draw_track(index)

    def set_track(self, xy: np.ndarray | None, visible: np.ndarray | None, query_xy: tuple[float, float] | None,
                  text: str = "") -> None:
        self._track = None if xy is None else (np.asarray(xy, float), np.asarray(visible, bool))
        self.query.setData(pos=[] if query_xy is None else [query_xy], brush=pg.mkBrush(255, 255, 255),
                           pen=pg.mkPen("w", width=2))
        if text:
            self.status.setText(text)
        self._draw_track(self.slider.value())

    def _draw_track(self, index: int) -> None:
        if self._track is None:
            self.trail.setData([], [])
            self.current.setData(pos=[])
            return
        xy, vis = self._track
        upto = xy[: index + 1].copy()
        upto[~vis[: index + 1]] = np.nan
        self.trail.setData(upto[:, 0], upto[:, 1], connect="finite")
        if index < len(xy):
            color = (255, 200, 0) if vis[index] else (120, 120, 120)
            self.current.setData(pos=[tuple(xy[index])], brush=pg.mkBrush(*color), pen=pg.mkPen("k", width=1.5))

    def view_to_widget(self, x: float, y: float) -> QPointF:
        return QPointF(self.graphics.mapFromScene(self.vb.mapViewToScene(QPointF(x, y))))

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.frame_item.image is None:
            return
        p = self.vb.mapSceneToView(event.scenePos())
        h, w = self.frame_item.image.shape[:2]
        if 0 <= p.x() < w and 0 <= p.y() < h:
            event.accept()
            self.sigPointClicked.emit(float(p.x()), float(p.y()))
