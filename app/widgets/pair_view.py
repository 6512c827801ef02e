"""2-D view: all loaded images side by side in one scene, with PCA overlays, heatmaps and match lines.

Putting every image into one ViewBox (each shifted along x) lets match lines run between images
and makes the figure export a single scene. The view draws what the controller gives it and emits
``sigPointClicked(image, x, y)`` in image pixel coordinates.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont

from ..render_state import DrawLine, DrawPoint
from . import IMAGE_AXIS_ORDER

GAP_FRACTION = 0.04


class _ImageSlot:
    """The items of one image: pixels, PCA overlay, heatmap and title."""

    def __init__(self, vb: pg.ViewBox) -> None:
        self.base = pg.ImageItem(axisOrder=IMAGE_AXIS_ORDER)
        self.overlay = pg.ImageItem(axisOrder=IMAGE_AXIS_ORDER)
        self.heat = pg.ImageItem(axisOrder=IMAGE_AXIS_ORDER)
        self.heat.setColorMap(pg.colormap.get("inferno"))
        self.title = pg.TextItem("", color=(235, 235, 235), anchor=(0, 1))
        self.title.setFont(QFont("Sans", 10))
        for z, item in enumerate((self.base, self.overlay, self.heat, self.title)):
            item.setZValue(z)
            vb.addItem(item)
        self.overlay.setVisible(False)
        self.heat.setVisible(False)
        self.offset = 0.0
        self.width = 0
        self.height = 0

    def remove(self, vb: pg.ViewBox) -> None:
        for item in (self.base, self.overlay, self.heat, self.title):
            vb.removeItem(item)


class PairView(pg.GraphicsLayoutWidget):
    """Images side by side with overlays; emits ``sigPointClicked(image, x, y)``."""

    sigPointClicked = pyqtSignal(int, float, float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground((30, 30, 34))
        self.vb: pg.ViewBox = self.addViewBox()
        self.vb.setAspectLocked(True)
        self.vb.invertY(True)
        self.vb.setMenuEnabled(False)
        self._slots: list[_ImageSlot] = []
        self._opacity = 0.5
        self._overlay_on = False
        self._points = pg.ScatterPlotItem(pxMode=True)
        self._targets = pg.ScatterPlotItem(pxMode=True)
        self._dense = pg.PlotCurveItem(connect="pairs")
        self._points.setZValue(20)
        self._targets.setZValue(19)
        self._dense.setZValue(15)
        for item in (self._points, self._targets, self._dense):
            self.vb.addItem(item)
        self._lines: list[pg.PlotCurveItem] = []
        self._labels: list[pg.TextItem] = []
        self._hint = pg.TextItem("", color=(200, 200, 200), anchor=(0.5, 0.5))
        self._hint.setZValue(30)
        self.vb.addItem(self._hint)
        self.scene().sigMouseClicked.connect(self._on_click)

    # -- images and overlays ------------------------------------------------------------------------
    def set_images(self, images: list[np.ndarray], names: list[str]) -> None:
        for slot in self._slots:
            slot.remove(self.vb)
        self._slots = []
        gap = GAP_FRACTION * max((im.shape[1] for im in images), default=0)
        x = 0.0
        for im, name in zip(images, names, strict=True):
            slot = _ImageSlot(self.vb)
            slot.offset, slot.width, slot.height = x, int(im.shape[1]), int(im.shape[0])
            slot.base.setImage(im, levels=(0, 255))
            slot.base.setRect(QRectF(x, 0, slot.width, slot.height))
            slot.title.setText(f"[{len(self._slots) + 1}] {name}  ({slot.width}x{slot.height})")
            slot.title.setPos(x, 0)
            self._slots.append(slot)
            x += slot.width + gap
        self.set_hint("" if images else "Open images with File > Open (Ctrl+O) or drop them here")
        self.clear_marks()
        self.vb.autoRange(padding=0.04)

    def image_count(self) -> int:
        return len(self._slots)

    def image_rect(self, index: int) -> QRectF:
        s = self._slots[index]
        return QRectF(s.offset, 0, s.width, s.height)

    def set_hint(self, text: str) -> None:
        self._hint.setText(text)
        self._hint.setPos(0, 0)

    def set_overlays(self, overlays: list[np.ndarray] | None) -> None:
        for k, slot in enumerate(self._slots):
            ov = overlays[k] if overlays is not None and k < len(overlays) else None
            if ov is None:
                slot.overlay.clear()
            else:
                slot.overlay.setImage(ov, levels=(0, 255))
                slot.overlay.setRect(QRectF(slot.offset, 0, slot.width, slot.height))
        self._overlay_on = overlays is not None
        self._apply_overlay()

    def set_overlay_opacity(self, opacity: float) -> None:
        self._opacity = float(opacity)
        self._apply_overlay()

    def _apply_overlay(self) -> None:
        for slot in self._slots:
            slot.overlay.setOpacity(self._opacity)
            slot.overlay.setVisible(self._overlay_on and self._opacity > 0)

    def set_heatmaps(self, heatmaps: dict[int, np.ndarray], opacity: float = 0.55) -> None:
        for k, slot in enumerate(self._slots):
            hm = heatmaps.get(k)
            if hm is None:
                slot.heat.setVisible(False)
                continue
            slot.heat.setImage(hm, levels=(0.0, 1.0))
            slot.heat.setRect(QRectF(slot.offset, 0, slot.width, slot.height))
            slot.heat.setOpacity(opacity)
            slot.heat.setVisible(True)

    # -- points and lines ---------------------------------------------------------------------------
    def to_scene_x(self, image: int, x: float) -> float:
        return self._slots[image].offset + x

    def clear_marks(self) -> None:
        self._points.setData([])
        self._targets.setData([])
        self._dense.setData([], [])
        self._set_lines([])
        for slot in self._slots:
            slot.heat.setVisible(False)

    def set_points(self, points: list[DrawPoint]) -> None:
        pts = [p for p in points if p.image < len(self._slots)]
        self._points.setData(
            pos=[(self.to_scene_x(p.image, p.x), p.y) for p in pts],
            brush=[pg.mkBrush(*p.rgb) for p in pts], symbol="o",
            size=[16 if p.selected else 11 for p in pts],
            pen=[pg.mkPen("w", width=3 if p.selected else 1.5) for p in pts])

    def set_targets(self, points: list[DrawPoint]) -> None:
        pts = [p for p in points if p.image < len(self._slots)]
        self._targets.setData(
            pos=[(self.to_scene_x(p.image, p.x), p.y) for p in pts],
            brush=[pg.mkBrush(*p.rgb) if p.valid else pg.mkBrush(0, 0, 0, 0) for p in pts],
            pen=[pg.mkPen(*p.rgb, width=2) if not p.valid else pg.mkPen("w", width=1.5) for p in pts],
            symbol="s", size=[14 if p.selected else 10 for p in pts])

    def set_lines(self, lines: list[DrawLine]) -> None:
        self._set_lines([ln for ln in lines if max(ln.a, ln.b) < len(self._slots)])

    def _set_lines(self, lines: list[DrawLine]) -> None:
        for item in self._lines:
            self.vb.removeItem(item)
        for item in self._labels:
            self.vb.removeItem(item)
        self._lines, self._labels = [], []
        for ln in lines:
            xa, xb = self.to_scene_x(ln.a, ln.xa), self.to_scene_x(ln.b, ln.xb)
            curve = pg.PlotCurveItem([xa, xb], [ln.ya, ln.yb], pen=pg.mkPen(*ln.rgb, width=ln.width))
            curve.setZValue(16)
            self.vb.addItem(curve)
            self._lines.append(curve)
            if ln.label:
                text = pg.TextItem(ln.label, color=(255, 255, 255), fill=pg.mkBrush(0, 0, 0, 170),
                                   anchor=(0, 1.2))
                text.setPos(xb, ln.yb)
                text.setZValue(25)
                self.vb.addItem(text)
                self._labels.append(text)

    def set_dense(self, lines: list[DrawLine]) -> None:
        if not lines:
            self._dense.setData([], [])
            return
        xy = np.empty((2 * len(lines), 2))
        for k, ln in enumerate(lines):
            xy[2 * k] = (self.to_scene_x(ln.a, ln.xa), ln.ya)
            xy[2 * k + 1] = (self.to_scene_x(ln.b, ln.xb), ln.yb)
        self._dense.setData(xy[:, 0], xy[:, 1], connect="pairs", pen=pg.mkPen(QColor(80, 220, 255, 150), width=1))

    # -- input --------------------------------------------------------------------------------------
    def image_at(self, scene_x: float, scene_y: float) -> tuple[int, float, float] | None:
        """(image, x, y) under a point in view coordinates, or None."""
        for k, slot in enumerate(self._slots):
            x = scene_x - slot.offset
            if 0 <= x < slot.width and 0 <= scene_y < slot.height:
                return k, float(x), float(scene_y)
        return None

    def view_to_widget(self, image: int, x: float, y: float) -> QPointF:
        """Widget (viewport) coordinates of an image pixel position; used by tests and tools."""
        scene_pt = self.vb.mapViewToScene(QPointF(self.to_scene_x(image, x), y))
        return QPointF(self.mapFromScene(scene_pt))

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        pos = self.vb.mapSceneToView(event.scenePos())
        hit = self.image_at(pos.x(), pos.y())
        if hit is not None:
            event.accept()
            self.sigPointClicked.emit(*hit)
