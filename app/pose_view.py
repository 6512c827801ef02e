"""Pose mode of the mesh view: pick a mesh (or a reference folder) and a query, see the estimated pose.

The view holds no computation: it emits what the user asked for (``sigEstimate`` with the
:class:`PoseViewValues`, ``sigBrowse`` for the file pickers, ``sigCancel``) and draws the
ready-made :class:`PoseDrawing` the controller gives it: the query image with the object's outline
at the ground truth (green) and at the estimate (red), and the best reference view beside it, with
the inlier matches as lines from the query pixel to the reference pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .widgets import IMAGE_AXIS_ORDER

TRUTH_COLOR = (40, 220, 60)
ESTIMATE_COLOR = (235, 40, 40)
LINE_COLOR = (255, 210, 40, 170)
GAP_PX = 16  # between the query and the reference image
QUERY_KINDS = {"render": "render a view of the mesh (ground truth known)", "image": "an image file"}
APPEARANCES = ("same", "lighting", "texture", "lighting+texture")  # = core.evaluate.pose.APPEARANCES (tested)
MATCHER_LABELS = {"features": "features of the current backbone", "oracle": "oracle (exact points, rendered query)"}


@dataclass(frozen=True)
class PoseViewValues:
    """What the user asked for (plain values; the controller turns them into a core request)."""

    source: str
    query_kind: str  # "render" | "image"
    query_image: str
    azimuth_deg: float
    elevation_deg: float
    distance: float
    matcher: str
    n_references: int
    threshold_px: float
    render_resolution: int = 512
    appearance: str = "same"  # rendered query: same | lighting | texture | lighting+texture


@dataclass
class PoseDrawing:
    """Arrays to draw: images (H, W, 3) uint8, pixel arrays (N, 2) (x, y) in their image."""

    query_rgb: np.ndarray
    reference_rgb: np.ndarray | None = None
    truth_outline: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    estimate_outline: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    lines_query: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    lines_reference: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    text: str = ""
    found: bool = False


class PoseView(QWidget):
    sigEstimate = pyqtSignal(object)  # PoseViewValues
    sigBrowse = pyqtSignal(str)  # "mesh" | "folder" | "image"
    sigCancel = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        src_row = QHBoxLayout()
        self.source = QLineEdit()
        self.source.setPlaceholderText("a mesh file (.obj .glb .ply .npz ...) or a reference folder (poses.json)")
        self.mesh_button = QPushButton("Mesh…")
        self.folder_button = QPushButton("Reference folder…")
        src_row.addWidget(self.source, 1)
        src_row.addWidget(self.mesh_button)
        src_row.addWidget(self.folder_button)
        form.addRow("Object", src_row)
        q_row = QHBoxLayout()
        self.query_kind = QComboBox()
        for key, label in QUERY_KINDS.items():
            self.query_kind.addItem(label, key)
        self.query_image = QLineEdit()
        self.query_image.setPlaceholderText("query image file")
        self.image_button = QPushButton("Image…")
        q_row.addWidget(self.query_kind)
        q_row.addWidget(self.query_image, 1)
        q_row.addWidget(self.image_button)
        form.addRow("Query", q_row)
        v_row = QHBoxLayout()
        self.azimuth = self._spin(-360, 360, 35.0, " deg azimuth")
        self.elevation = self._spin(-89, 89, 40.0, " deg elevation")
        self.distance = self._spin(1.2, 5.0, 2.2, " distance", step=0.1)
        self.appearance = QComboBox()
        for key in APPEARANCES:
            self.appearance.addItem(f"{key} appearance" if key == "same" else f"changed {key}", key)
        self.appearance.setToolTip("Change the rendered query's lighting and/or texture colours (references unchanged)")
        for w in (self.azimuth, self.elevation, self.distance, self.appearance):
            v_row.addWidget(w)
        form.addRow("Rendered query", v_row)
        m_row = QHBoxLayout()
        self.matcher = QComboBox()
        for key, label in MATCHER_LABELS.items():
            self.matcher.addItem(label, key)
        self.references = QSpinBox()
        self.references.setRange(1, 200)
        self.references.setValue(36)
        self.references.setSuffix(" reference views")
        self.threshold = self._spin(0.5, 64.0, 8.0, " px RANSAC", step=0.5)
        self.render_px = QSpinBox()
        self.render_px.setRange(64, 2048)
        self.render_px.setValue(512)
        self.render_px.setSuffix(" px renders")
        self.run_button = QPushButton("Estimate pose")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        for w in (self.matcher, self.references, self.render_px, self.threshold, self.run_button, self.cancel_button):
            m_row.addWidget(w)
        form.addRow("Matching", m_row)
        lay.addLayout(form)
        self.status = QLabel("Pick a mesh (or a reference folder) and a query, then Estimate pose.")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        legend = QLabel("<span style='color:#28dc3c'>■ ground truth</span> &nbsp; "
                        "<span style='color:#eb2828'>■ estimate</span> &nbsp; "
                        "<span style='color:#d2a000'>— inlier matches to the reference view with most inliers</span>")
        lay.addWidget(legend)
        self.plot = pg.GraphicsLayoutWidget()
        self.viewbox = self.plot.addViewBox()
        self.viewbox.setAspectLocked(True)
        self.viewbox.invertY(True)
        self.query_item = pg.ImageItem(axisOrder=IMAGE_AXIS_ORDER)
        self.reference_item = pg.ImageItem(axisOrder=IMAGE_AXIS_ORDER)
        self.truth_item = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(*TRUTH_COLOR), pxMode=True)
        self.estimate_item = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(*ESTIMATE_COLOR), pxMode=True)
        self.lines_item = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(QColor(*LINE_COLOR), width=1))
        for it in (self.query_item, self.reference_item, self.truth_item, self.estimate_item, self.lines_item):
            self.viewbox.addItem(it)
        lay.addWidget(self.plot, 1)
        self.reference_offset = 0.0
        self.mesh_button.clicked.connect(lambda: self.sigBrowse.emit("mesh"))
        self.folder_button.clicked.connect(lambda: self.sigBrowse.emit("folder"))
        self.image_button.clicked.connect(lambda: self.sigBrowse.emit("image"))
        self.run_button.clicked.connect(lambda: self.sigEstimate.emit(self.values()))
        self.cancel_button.clicked.connect(self.sigCancel)
        self.query_kind.currentIndexChanged.connect(self._on_kind)
        self._on_kind()

    @staticmethod
    def _spin(lo: float, hi: float, value: float, suffix: str, step: float = 5.0) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setRange(lo, hi)
        s.setSingleStep(step)
        s.setValue(value)
        s.setSuffix(suffix)
        return s

    def _on_kind(self) -> None:
        image = self.query_kind.currentData() == "image"
        self.query_image.setEnabled(image)
        self.image_button.setEnabled(image)
        for w in (self.azimuth, self.elevation, self.distance, self.appearance):
            w.setEnabled(not image)

    # -- what the user asked for --------------------------------------------------------------------
    def values(self) -> PoseViewValues:
        return PoseViewValues(self.source.text().strip(), str(self.query_kind.currentData()),
                              self.query_image.text().strip(), self.azimuth.value(), self.elevation.value(),
                              self.distance.value(), str(self.matcher.currentData()), self.references.value(),
                              self.threshold.value(), self.render_px.value(), str(self.appearance.currentData()))

    def set_source(self, path: str) -> None:
        self.source.setText(path)

    def source_text(self) -> str:
        return self.source.text().strip()

    def set_query_image(self, path: str) -> None:
        self.query_image.setText(path)
        self.query_kind.setCurrentIndex(list(QUERY_KINDS).index("image"))

    # -- what the controller gives ------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def show_message(self, text: str, error: bool = False) -> None:
        self.status.setText(("⚠ " if error else "") + text)
        self.status.setStyleSheet("color: #b00020;" if error else "")

    def show_drawing(self, d: PoseDrawing) -> None:
        self.query_item.setImage(d.query_rgb, autoLevels=False, levels=(0, 255))
        w = d.query_rgb.shape[1]
        self.reference_offset = float(w + GAP_PX)
        if d.reference_rgb is not None:
            self.reference_item.setImage(d.reference_rgb, autoLevels=False, levels=(0, 255))
            self.reference_item.setPos(self.reference_offset, 0)
            self.reference_item.setVisible(True)
        else:
            self.reference_item.setVisible(False)
        self.truth_item.setData(pos=np.asarray(d.truth_outline, float).reshape(-1, 2))
        self.estimate_item.setData(pos=np.asarray(d.estimate_outline, float).reshape(-1, 2))
        n = len(d.lines_query)
        if n:
            pts = np.empty((2 * n, 2))
            pts[0::2] = d.lines_query
            pts[1::2] = np.asarray(d.lines_reference, float) + np.array([self.reference_offset, 0.0])
            self.lines_item.setData(pts[:, 0], pts[:, 1], connect="pairs")
        else:
            self.lines_item.setData([], [])
        self.viewbox.autoRange(padding=0.02)
        self.show_message(d.text, error=not d.found)

    def drawn_outline(self, which: str) -> np.ndarray:
        """(N, 2) points of the drawn ``truth`` or ``estimate`` outline (what is on screen)."""
        item = self.truth_item if which == "truth" else self.estimate_item
        x, y = item.getData()
        return np.stack([np.asarray(x, float), np.asarray(y, float)], axis=1) if x is not None and len(x) else \
            np.zeros((0, 2))

    def drawn_lines(self) -> int:
        x, _ = self.lines_item.getData()
        return 0 if x is None else len(x) // 2
