"""2-D view: all loaded images in one scene, with PCA overlays, heatmaps, match lines and a colour bar.

Putting every image into one ViewBox lets match lines run between images and makes the figure
export a single scene. Images are drawn at comparable size on the grid that shows them largest
in the current viewport (:mod:`.pair_layout`; chosen again when the view is resized), and match
lines between non-neighbouring images run through the gutters. What is drawn is grouped into
layers (``pca``, ``heatmap``, ``lines``, ``points``), each with its own visibility and opacity.
The heatmap holds absolute cosine similarities; the colour bar shows the values its colours
stand for, either a fixed range (``absolute``) or the range of the current heatmaps
(``normalised``). The view draws what the controller gives it and emits
``sigPointClicked(image, x, y)`` in image pixel coordinates.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6 import sip
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QPolygonF

from ..render_state import DrawLine, DrawPoint
from . import IMAGE_AXIS_ORDER
from .colorbar import WIDTH_PX, ColorBar
from .pair_layout import GridLayout, best_grid, layout_grid

LAYERS = ("pca", "heatmap", "lines", "points")
ABSOLUTE_RANGE = (-1.0, 1.0)  # cosine similarity
CONFIDENCE_RANGE = (0.0, 1.0)  # a grid matcher's confidence
HEATMAP_SCALES = ("absolute", "normalised")
SCREEN_TITLE, FIGURE_TITLE = (235, 235, 235), (20, 20, 20)
__all__ = ["ABSOLUTE_RANGE", "HEATMAP_SCALES", "LAYERS", "LayerStyle", "PairView", "best_grid"]


@dataclass
class LayerStyle:
    visible: bool = True
    opacity: float = 1.0


class _ImageSlot:
    """The items of one image: pixels, PCA overlay, heatmap and title."""

    def __init__(self, vb: pg.ViewBox) -> None:
        self.base = pg.ImageItem(axisOrder=IMAGE_AXIS_ORDER)
        self.overlay = pg.ImageItem(axisOrder=IMAGE_AXIS_ORDER)
        self.heat = pg.ImageItem(axisOrder=IMAGE_AXIS_ORDER)
        self.heat.setColorMap(pg.colormap.get("inferno"))
        self.title = pg.TextItem("", color=SCREEN_TITLE, anchor=(0, 1))
        self.title.setFont(QFont("Sans", 10))
        for z, item in enumerate((self.base, self.overlay, self.heat, self.title)):
            item.setZValue(z)
            vb.addItem(item)
        self.overlay.setVisible(False)
        self.heat.setVisible(False)
        self.has_heat = False
        self.width = 0
        self.height = 0

    def remove(self, vb: pg.ViewBox) -> None:
        for item in (self.base, self.overlay, self.heat, self.title):
            vb.removeItem(item)


class PairView(pg.GraphicsLayoutWidget):
    """Images on a grid with layered overlays; emits ``sigPointClicked(image, x, y)``."""

    sigPointClicked = pyqtSignal(int, float, float)
    sigHovered = pyqtSignal(int, float, float)  # (image, x, y) under the cursor, while hover-to-match is on
    sigHoverLeft = pyqtSignal()  # the cursor left the images

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground((30, 30, 34))
        self.vb: pg.ViewBox = self.addViewBox(row=0, col=0)
        self.vb.setAspectLocked(True)
        self.vb.invertY(True)
        self.vb.setMenuEnabled(False)
        self.cmap = pg.colormap.get("inferno")
        self.colorbar = ColorBar(self.cmap)
        self.addItem(self.colorbar, row=0, col=1)
        self.colorbar.setVisible(False)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self._slots: list[_ImageSlot] = []
        self._layout_state: GridLayout = layout_grid([], 1, 1)
        self._grid: tuple[int, int] = (1, 1)
        self._laid_out_for = (0.0, 0.0)  # view size of the current layout (titles and gutters are in pixels)
        self._drawn: tuple[list[DrawPoint], list[DrawPoint], list[DrawLine], list[DrawLine]] = ([], [], [], [])
        self.layers: dict[str, LayerStyle] = {"pca": LayerStyle(True, 0.5), "heatmap": LayerStyle(True, 0.6),
                                              "lines": LayerStyle(True, 1.0), "points": LayerStyle(True, 1.0)}
        self.heatmap_scale = "absolute"
        self.heatmap_kind = "similarity"  # or "confidence" (a grid-matcher checkpoint's heatmap)
        self._overlay_on = False
        self._points = pg.ScatterPlotItem(pxMode=True)
        self._targets = pg.ScatterPlotItem(pxMode=True)
        self._dense = pg.PlotCurveItem(connect="pairs")
        self._points.setZValue(20)
        self._targets.setZValue(19)
        self._dense.setZValue(15)
        # annotations of one pair: a DIY-SC store's pseudo-labels, an evaluated pair's keypoints (app/annotations.py)
        self._annotation: tuple[list[DrawLine], list[DrawPoint]] = ([], [])
        self._annotation_items: list = []
        self._annotation_n = 0
        for item in (self._points, self._targets, self._dense):
            self.vb.addItem(item)
        self._lines: list[pg.PlotCurveItem] = []
        self._labels: list[pg.TextItem] = []
        self._hover = pg.ScatterPlotItem(pxMode=True)  # hover-to-match: the point under the cursor and its matches
        self._hover.setZValue(21)
        self.vb.addItem(self._hover)
        self._hover_enabled = False
        self._hovering = False
        self._hint = pg.TextItem("", color=(200, 200, 200), anchor=(0.5, 0.5))
        self._hint.setZValue(30)
        self.vb.addItem(self._hint)
        self.scene().sigMouseClicked.connect(self._on_click)
        self.scene().sigMouseMoved.connect(self._on_move)
        self.vb.sigResized.connect(lambda _vb: self._layout())  # e.g. when the colour bar appears

    # -- images and layout --------------------------------------------------------------------------
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
        return float(max(self.width() - WIDTH_PX, 1)), float(max(self.height(), 1))

    def _layout(self, force: bool = False) -> None:
        """Place the images on the grid that draws them largest; redraw marks; fit the view."""
        if not self._slots or sip.isdeleted(self.vb):  # resized while being torn down
            return
        sizes = [(s.width, s.height) for s in self._slots]
        view_w, view_h = self._view_size()
        grid = best_grid(sizes, view_w, view_h)
        lw, lh = self._laid_out_for
        same_size = abs(view_w - lw) <= 0.02 * lw and abs(view_h - lh) <= 0.02 * lh
        if grid == self._grid and same_size and not force:
            return
        self._grid, self._laid_out_for = grid, (view_w, view_h)
        self._layout_state = layout_grid(sizes, view_w, view_h, grid)
        for k, slot in enumerate(self._slots):
            rect = self.image_rect(k)
            for item in (slot.base, slot.overlay, slot.heat):
                if item.image is not None:
                    item.setRect(rect)
            slot.title.setPos(rect.left(), rect.top())
        self._redraw_marks()
        lay = self._layout_state
        self.vb.setRange(QRectF(0, 0, lay.width, lay.height), padding=0)

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
        p = self._layout_state.placements[index]
        return QRectF(p.x, p.y, p.width, p.height)

    def grid(self) -> tuple[int, int]:
        return self._grid

    def set_hint(self, text: str) -> None:
        """A message over the view: centred on the first image when there is one (e.g. why no features)."""
        self._hint.setText(text)
        self._hint.fill = pg.mkBrush(0, 0, 0, 190 if text and self._slots else 0)  # readable over a photo
        placed = bool(self._slots) and bool(self._layout_state.placements)
        self._hint.setPos(self.image_rect(0).center() if placed else QPointF(0, 0))

    # -- layers -------------------------------------------------------------------------------------
    def set_layer(self, name: str, visible: bool | None = None, opacity: float | None = None) -> None:
        if name not in self.layers:
            raise ValueError(f"unknown layer {name!r}; layers are {', '.join(LAYERS)}")
        style = self.layers[name]
        if visible is not None:
            style.visible = bool(visible)
        if opacity is not None:
            style.opacity = float(np.clip(opacity, 0.0, 1.0))
        self._apply_layers()

    def set_overlay_opacity(self, opacity: float) -> None:
        self.set_layer("pca", opacity=opacity)

    def _apply_layers(self) -> None:
        pca, heat, lines, points = (self.layers[n] for n in LAYERS)
        for slot in self._slots:
            slot.overlay.setOpacity(pca.opacity)
            slot.overlay.setVisible(self._overlay_on and pca.visible and pca.opacity > 0)
            slot.heat.setOpacity(heat.opacity)
            slot.heat.setVisible(slot.has_heat and heat.visible and heat.opacity > 0)
        self.colorbar.setVisible(self.heatmap_shown())
        for item in (*self._lines, *self._labels, self._dense, *self._annotation_items):
            item.setOpacity(lines.opacity)
            item.setVisible(lines.visible)
        for item in (self._points, self._targets):
            item.setOpacity(points.opacity)
            item.setVisible(points.visible)

    def heatmap_shown(self) -> bool:
        style = self.layers["heatmap"]
        return style.visible and style.opacity > 0 and any(s.has_heat for s in self._slots)

    def set_overlays(self, overlays: list[np.ndarray] | None) -> None:
        for k, slot in enumerate(self._slots):
            ov = overlays[k] if overlays is not None and k < len(overlays) else None
            if ov is None:
                slot.overlay.clear()
            else:
                slot.overlay.setImage(ov, levels=(0, 255))
                slot.overlay.setRect(self.image_rect(k))
        self._overlay_on = overlays is not None
        self._apply_layers()

    def set_heatmap_scale(self, scale: str) -> None:
        if scale not in HEATMAP_SCALES:
            raise ValueError(f"unknown heatmap scale {scale!r}; choose one of {', '.join(HEATMAP_SCALES)}")
        self.heatmap_scale = scale
        self._apply_levels()

    def heatmap_levels(self) -> tuple[float, float]:
        """Cosine similarities at the two ends of the colour map (and of the colour bar)."""
        if self.heatmap_scale == "absolute":
            return CONFIDENCE_RANGE if self.heatmap_kind == "confidence" else ABSOLUTE_RANGE
        values = [s.heat.image for s in self._slots if s.has_heat and s.heat.image is not None]
        finite = [v[np.isfinite(v)] for v in values]
        finite = [v for v in finite if v.size]
        if not finite:
            return ABSOLUTE_RANGE
        lo, hi = float(min(v.min() for v in finite)), float(max(v.max() for v in finite))
        return (lo, hi) if hi > lo else (lo - 1e-3, hi + 1e-3)

    def _apply_levels(self) -> None:
        lo, hi = self.heatmap_levels()
        for slot in self._slots:
            if slot.has_heat:
                slot.heat.setLevels((lo, hi))
        self.colorbar.set_range(lo, hi)

    def set_heatmap_kind(self, kind: str) -> None:
        """What the heatmap shows: "similarity" (cosine, -1 ... 1) or "confidence" (0 ... 1); titles the colour bar."""
        if kind == self.heatmap_kind:
            return
        from .colorbar import TITLE

        self.heatmap_kind = kind
        self.colorbar.title = "matcher confidence" if kind == "confidence" else TITLE
        self._apply_levels()

    def set_heatmaps(self, heatmaps: dict[int, np.ndarray]) -> None:
        """Cosine-similarity rasters per image index (NaN = no colour, e.g. cells touching the padding)."""
        for k, slot in enumerate(self._slots):
            hm = heatmaps.get(k)
            slot.has_heat = hm is not None
            if hm is None:
                slot.heat.clear()
                continue
            slot.heat.setImage(np.asarray(hm, dtype=np.float32), autoLevels=False, levels=ABSOLUTE_RANGE)
            slot.heat.setRect(self.image_rect(k))
        self._apply_levels()
        self._apply_layers()

    # -- points and lines ---------------------------------------------------------------------------
    def to_scene(self, image: int, x: float, y: float) -> tuple[float, float]:
        return self._layout_state.to_scene(image, x, y)

    def _redraw_marks(self) -> None:
        points, targets, lines, dense = self._drawn
        self.set_points(points)
        self.set_targets(targets)
        self.set_lines(lines)
        self.set_dense(dense)
        self.set_annotations(*self._annotation)

    def clear_marks(self) -> None:
        self._drawn = ([], [], [], [])
        self._points.setData([])
        self._targets.setData([])
        self._dense.setData([], [])
        self._set_lines([])
        for slot in self._slots:
            slot.has_heat = False
            slot.heat.clear()
        self._apply_layers()

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

    def line_path(self, ln: DrawLine, lane: float = 0.5) -> list[tuple[float, float]]:
        """Scene polyline of a match line (straight between neighbours, else through the gutters)."""
        return self._layout_state.route(ln.a, ln.xa, ln.ya, ln.b, ln.xb, ln.yb, lane)

    def _set_lines(self, lines: list[DrawLine]) -> None:
        for item in (*self._lines, *self._labels):
            self.vb.removeItem(item)
        self._lines, self._labels = [], []
        for k, ln in enumerate(lines):
            path = np.array(self.line_path(ln, (k + 1) / (len(lines) + 1)))
            curve = pg.PlotCurveItem(path[:, 0], path[:, 1], pen=pg.mkPen(*ln.rgb, width=ln.width))
            curve.setZValue(16)
            self.vb.addItem(curve)
            self._lines.append(curve)
            if ln.label:
                text = pg.TextItem(ln.label, color=(255, 255, 255), fill=pg.mkBrush(0, 0, 0, 170),
                                   anchor=(0, 1.2))
                text.setPos(*path[-1])
                text.setZValue(25)
                self.vb.addItem(text)
                self._labels.append(text)
        self._apply_layers()

    def set_annotations(self, lines: list[DrawLine], marks: list[DrawPoint] = ()) -> None:
        """Drawings that belong to the pair on screen, kept until replaced or cleared: lines (image a -> b) in
        their own colours, and ``+`` marks (e.g. ground-truth keypoints)."""
        self._annotation = (list(lines), list(marks))
        for item in self._annotation_items:
            self.vb.removeItem(item)
        self._annotation_items = []
        n = len(self._slots)
        lines = [ln for ln in lines if max(ln.a, ln.b) < n]
        marks = [m for m in marks if m.image < n]
        self._annotation_n = len(lines)
        groups: dict[tuple[int, int, int], list[DrawLine]] = {}
        for ln in lines:
            groups.setdefault(tuple(ln.rgb), []).append(ln)
        for rgb, group in groups.items():
            xy = self._segments(group)
            curve = pg.PlotCurveItem(xy[:, 0], xy[:, 1], connect="pairs", pen=pg.mkPen(QColor(*rgb, 220), width=1.5))
            curve.setZValue(16)
            self._annotation_items.append(curve)
        if marks:
            scatter = pg.ScatterPlotItem(pos=[self.to_scene(m.image, m.x, m.y) for m in marks], symbol="+", size=13,
                                         pxMode=True, pen=[pg.mkPen(*m.rgb, width=2) for m in marks],
                                         brush=[pg.mkBrush(*m.rgb) for m in marks])
            scatter.setZValue(17)
            self._annotation_items.append(scatter)
        for item in self._annotation_items:
            self.vb.addItem(item)
        self._apply_layers()

    def _segments(self, lines: list[DrawLine]) -> np.ndarray:
        """Scene coordinates (2N, 2) of the lines' end points, in ``connect="pairs"`` order."""
        xy = np.empty((2 * len(lines), 2))
        for k, ln in enumerate(lines):
            xy[2 * k] = self.to_scene(ln.a, ln.xa, ln.ya)
            xy[2 * k + 1] = self.to_scene(ln.b, ln.xb, ln.yb)
        return xy

    def annotation_count(self) -> tuple[int, int]:
        """How many annotation lines and marks are drawn (tests)."""
        return self._annotation_n, len(self._annotation[1]) if self._annotation_items else 0

    def set_dense(self, lines: list[DrawLine]) -> None:
        self._drawn = (*self._drawn[:3], lines)
        lines = [ln for ln in lines if max(ln.a, ln.b) < len(self._slots)]
        if not lines:
            self._dense.setData([], [])
            return
        xy = self._segments(lines)
        self._dense.setData(xy[:, 0], xy[:, 1], connect="pairs", pen=pg.mkPen(QColor(80, 220, 255, 150), width=1))

    # -- figure export ------------------------------------------------------------------------------
    def figure_regions(self) -> tuple[QRectF, QRectF | None]:
        """Scene rectangles of a tight figure: the images with everything drawn on or between them,
        and the colour bar (None when no heatmap is shown). Pending layout changes (e.g. the colour bar that
        the last match has just shown, which narrows the image area) are applied first, so the rectangles
        are those of what is about to be drawn."""
        if not self._slots:
            return QRectF(), None  # nothing to draw
        self.ci.layout.activate()
        self._layout()
        rect = QRectF()
        for k, slot in enumerate(self._slots):
            rect = rect.united(self.vb.mapViewToScene(QPolygonF(self.image_rect(k))).boundingRect())
            rect = rect.united(slot.title.sceneBoundingRect())
        for item in (*self._lines, *self._labels):
            if item.isVisible():
                rect = rect.united(item.sceneBoundingRect())
        rect = rect.adjusted(-9, -9, 9, 9).intersected(self.vb.sceneBoundingRect())  # room for markers
        bar = None
        if self.heatmap_shown():
            bar = self.colorbar.sceneBoundingRect()
        return rect, bar

    @contextmanager
    def figure_style(self, layers: dict[str, bool] | None = None) -> Iterator[None]:
        """Draw for a figure while inside: chosen layers only, dark titles, no hint; restored after."""
        saved = {n: (s.visible, s.opacity) for n, s in self.layers.items()}
        hint = self._hint.toPlainText()
        try:
            for name, on in (layers or {}).items():
                self.layers[name].visible = bool(on)
            self._apply_layers()
            self._hint.setText("")
            for slot in self._slots:
                slot.title.setColor(FIGURE_TITLE)
            self.colorbar.color = QColor(*FIGURE_TITLE)
            self.colorbar.setOpacity(0.0)  # the figure paints its own bar; SVG output ignores clipping
            yield
        finally:
            for name, (vis, op) in saved.items():
                self.layers[name].visible, self.layers[name].opacity = vis, op
            self._apply_layers()
            self._hint.setText(hint)
            for slot in self._slots:
                slot.title.setColor(SCREEN_TITLE)
            self.colorbar.color = QColor(220, 220, 220)
            self.colorbar.setOpacity(1.0)

    # -- hover-to-match -----------------------------------------------------------------------------
    def set_hover_enabled(self, on: bool) -> None:
        self._hover_enabled = bool(on)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        if not on:
            self.set_hover([])

    def set_hover(self, points: list[DrawPoint]) -> None:
        """The hovered point (first) and its matches, drawn as rings until replaced or cleared."""
        pts = [p for p in points if p.image < len(self._slots)]
        self._hover.setData(pos=[self.to_scene(p.image, p.x, p.y) for p in pts], symbol="o", brush=pg.mkBrush(0, 0, 0, 0),
                            pen=[pg.mkPen(*p.rgb, width=3 if p.valid else 1.5) for p in pts],
                            size=[18 if k == 0 else 14 for k in range(len(pts))])

    def hover_count(self) -> int:
        """How many hover rings are drawn (tests)."""
        return len(self._hover.data)

    def _on_move(self, scene_pos) -> None:
        if not self._hover_enabled:
            return
        pos = self.vb.mapSceneToView(scene_pos)
        hit = self.image_at(pos.x(), pos.y())
        if hit is not None:
            self._hovering = True
            self.sigHovered.emit(*hit)
        elif self._hovering:
            self._hovering = False
            self.sigHoverLeft.emit()

    # -- input --------------------------------------------------------------------------------------
    def image_at(self, scene_x: float, scene_y: float) -> tuple[int, float, float] | None:
        """(image, x, y) under a point in view coordinates, or None."""
        if not self._slots:
            return None
        return self._layout_state.from_scene(scene_x, scene_y)

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
