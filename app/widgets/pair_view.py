"""2-D view: all loaded images in one scene, with PCA overlays, heatmaps and match lines.

Putting every image into one ViewBox (each shifted to its cell of a rows x columns grid) lets match
lines run between images and makes the figure export a single scene. The grid is the one that
draws the images largest in the current viewport (:func:`best_grid`: side by side in a wide view,
stacked in a tall one), chosen again when the view is resized; images keep their aspect ratio and
pyqtgraph's row-major axis order. The view draws what the controller gives it and emits
``sigPointClicked(image, x, y)`` in image pixel coordinates.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont

from ..render_state import DrawLine, DrawPoint
from . import IMAGE_AXIS_ORDER

GAP_FRACTION = 0.03  # horizontal gap between images, as a fraction of the widest image
TITLE_PX = 22  # room above each image for its title, in screen pixels
PADDING = 0.015  # view padding around the whole figure


def best_grid(sizes: list[tuple[int, int]], view_w: float, view_h: float) -> tuple[int, int]:
    """(rows, cols) of the grid that shows images of ``sizes`` (W, H) largest in a view_w x view_h view.

    Cells are as large as the largest image; ties go to fewer rows (the usual side-by-side figure).
    """
    n = len(sizes)
    if n == 0 or view_w <= 0 or view_h <= 0:
        return 1, max(n, 1)
    cw = max(w for w, _ in sizes) * (1 + GAP_FRACTION)
    ch = max(h for _, h in sizes)
    best, best_scale = (1, n), -1.0
    for cols in range(n, 0, -1):
        rows = -(-n // cols)
        # the title above every row takes TITLE_PX of the view height
        scale = min(view_w / (cols * cw), (view_h - rows * TITLE_PX) / (rows * ch))
        if scale > best_scale * 1.001:
            best, best_scale = (rows, cols), scale
    return best


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
        self.offset = 0.0  # x of the image's left edge in the scene
        self.offset_y = 0.0  # y of its top edge
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
        self.ci.setContentsMargins(2, 2, 2, 2)
        self._slots: list[_ImageSlot] = []
        self._grid: tuple[int, int] = (1, 1)
        self._drawn: tuple[list[DrawPoint], list[DrawPoint], list[DrawLine], list[DrawLine]] = ([], [], [], [])
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
        for im, name in zip(images, names, strict=True):
            slot = _ImageSlot(self.vb)
            slot.width, slot.height = int(im.shape[1]), int(im.shape[0])
            slot.base.setImage(im, levels=(0, 255))
            slot.title.setText(f"[{len(self._slots) + 1}] {name}  ({slot.width}x{slot.height})")
            self._slots.append(slot)
        self.set_hint("" if images else "Open images with File > Open (Ctrl+O) or drop them here")
        self.clear_marks()
        self._layout(force=True)

    def _view_size(self) -> tuple[float, float]:
        r = self.vb.sceneBoundingRect()
        if r.width() > 10 and r.height() > 10:
            return r.width(), r.height()
        return float(max(self.width(), 1)), float(max(self.height(), 1))

    def _layout(self, force: bool = False) -> None:
        """Place the images on the grid that draws them largest; redraw marks; fit the view."""
        if not self._slots:
            return
        grid = best_grid([(s.width, s.height) for s in self._slots], *self._view_size())
        if grid == self._grid and not force:
            return
        self._grid = grid
        rows, cols = grid
        view_w, view_h = self._view_size()
        max_w, ch = max(s.width for s in self._slots), max(s.height for s in self._slots)
        gap = max_w * GAP_FRACTION
        cw = max_w + gap
        px_per_unit = max(min(view_w / (cols * cw), (view_h - rows * TITLE_PX) / (rows * ch)), 1e-6)
        row_gap = TITLE_PX / px_per_unit  # room for the titles, in scene units
        for k, slot in enumerate(self._slots):
            r, c = divmod(k, cols)
            slot.offset, slot.offset_y = c * cw, r * (ch + row_gap)
            rect = self.image_rect(k)
            for item in (slot.base, slot.overlay, slot.heat):
                if item.image is not None:
                    item.setRect(rect)
            slot.title.setPos(slot.offset, slot.offset_y)
        self._redraw_marks()
        top = -row_gap
        width = cols * cw - gap
        height = rows * (ch + row_gap) - row_gap
        self.vb.setRange(QRectF(0, top, width, height - top), padding=PADDING)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if hasattr(self, "_slots"):  # pyqtgraph resizes once inside its own __init__
            self._layout()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if hasattr(self, "_slots"):
            self._layout(force=True)

    def image_count(self) -> int:
        return len(self._slots)

    def image_rect(self, index: int) -> QRectF:
        s = self._slots[index]
        return QRectF(s.offset, s.offset_y, s.width, s.height)

    def grid(self) -> tuple[int, int]:
        return self._grid

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
                slot.overlay.setRect(self.image_rect(k))
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
            slot.heat.setRect(self.image_rect(k))
            slot.heat.setOpacity(opacity)
            slot.heat.setVisible(True)

    # -- points and lines ---------------------------------------------------------------------------
    def to_scene(self, image: int, x: float, y: float) -> tuple[float, float]:
        s = self._slots[image]
        return s.offset + x, s.offset_y + y

    def _redraw_marks(self) -> None:
        points, targets, lines, dense = self._drawn
        self.set_points(points)
        self.set_targets(targets)
        self.set_lines(lines)
        self.set_dense(dense)

    def clear_marks(self) -> None:
        self._drawn = ([], [], [], [])
        self._points.setData([])
        self._targets.setData([])
        self._dense.setData([], [])
        self._set_lines([])
        for slot in self._slots:
            slot.heat.setVisible(False)

    def set_points(self, points: list[DrawPoint]) -> None:
        self._drawn = (points, *self._drawn[1:])
        pts = [p for p in points if p.image < len(self._slots)]
        self._points.setData(
            pos=[self.to_scene(p.image, p.x, p.y) for p in pts],
            brush=[pg.mkBrush(*p.rgb) for p in pts], symbol="o",
            size=[16 if p.selected else 11 for p in pts],
            pen=[pg.mkPen("w", width=3 if p.selected else 1.5) for p in pts])

    def set_targets(self, points: list[DrawPoint]) -> None:
        self._drawn = (self._drawn[0], points, *self._drawn[2:])
        pts = [p for p in points if p.image < len(self._slots)]
        self._targets.setData(
            pos=[self.to_scene(p.image, p.x, p.y) for p in pts],
            brush=[pg.mkBrush(*p.rgb) if p.valid else pg.mkBrush(0, 0, 0, 0) for p in pts],
            pen=[pg.mkPen(*p.rgb, width=2) if not p.valid else pg.mkPen("w", width=1.5) for p in pts],
            symbol="s", size=[14 if p.selected else 10 for p in pts])

    def set_lines(self, lines: list[DrawLine]) -> None:
        self._drawn = (*self._drawn[:2], lines, self._drawn[3])
        self._set_lines([ln for ln in lines if max(ln.a, ln.b) < len(self._slots)])

    def _set_lines(self, lines: list[DrawLine]) -> None:
        for item in self._lines:
            self.vb.removeItem(item)
        for item in self._labels:
            self.vb.removeItem(item)
        self._lines, self._labels = [], []
        for ln in lines:
            (xa, ya), (xb, yb) = self.to_scene(ln.a, ln.xa, ln.ya), self.to_scene(ln.b, ln.xb, ln.yb)
            curve = pg.PlotCurveItem([xa, xb], [ya, yb], pen=pg.mkPen(*ln.rgb, width=ln.width))
            curve.setZValue(16)
            self.vb.addItem(curve)
            self._lines.append(curve)
            if ln.label:
                text = pg.TextItem(ln.label, color=(255, 255, 255), fill=pg.mkBrush(0, 0, 0, 170),
                                   anchor=(0, 1.2))
                text.setPos(xb, yb)
                text.setZValue(25)
                self.vb.addItem(text)
                self._labels.append(text)

    def set_dense(self, lines: list[DrawLine]) -> None:
        self._drawn = (*self._drawn[:3], lines)
        lines = [ln for ln in lines if max(ln.a, ln.b) < len(self._slots)]
        if not lines:
            self._dense.setData([], [])
            return
        xy = np.empty((2 * len(lines), 2))
        for k, ln in enumerate(lines):
            xy[2 * k] = self.to_scene(ln.a, ln.xa, ln.ya)
            xy[2 * k + 1] = self.to_scene(ln.b, ln.xb, ln.yb)
        self._dense.setData(xy[:, 0], xy[:, 1], connect="pairs", pen=pg.mkPen(QColor(80, 220, 255, 150), width=1))

    # -- input --------------------------------------------------------------------------------------
    def image_at(self, scene_x: float, scene_y: float) -> tuple[int, float, float] | None:
        """(image, x, y) under a point in view coordinates, or None."""
        for k, slot in enumerate(self._slots):
            x, y = scene_x - slot.offset, scene_y - slot.offset_y
            if 0 <= x < slot.width and 0 <= y < slot.height:
                return k, float(x), float(y)
        return None

    def view_to_widget(self, image: int, x: float, y: float) -> QPointF:
        """Widget (viewport) coordinates of an image pixel position; used by tests and tools."""
        scene_pt = self.vb.mapViewToScene(QPointF(*self.to_scene(image, x, y)))
        return QPointF(self.mapFromScene(scene_pt))

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        pos = self.vb.mapSceneToView(event.scenePos())
        hit = self.image_at(pos.x(), pos.y())
        if hit is not None:
            event.accept()
            self.sigPointClicked.emit(*hit)
