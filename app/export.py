"""Figure and match export: PNG / SVG / PDF figures, matches as CSV / JSON. Atomic writes.

A figure of the 2-D view (anything with ``figure_regions`` / ``figure_style``, i.e.
:class:`~corrviz.app.widgets.pair_view.PairView`) is the images and what is drawn on them,
tightly cropped, on a white or transparent background, with the chosen layers and the heatmap's
colour bar beside them. Items are drawn in pyqtgraph's export mode, so markers and lines are
paths in SVG / PDF (not the on-screen sprite sheet) and the SVG renders like the PNG. Any other
``QGraphicsView`` is rendered whole; a widget given with an RGBA ``snapshot`` (the VisPy 3-D
canvas) is embedded as an image. Sizes are on-screen pixels at 96 DPI: a PNG at ``dpi`` is
``round(w * dpi / 96)`` x ``round(h * dpi / 96)`` pixels; SVG and PDF keep the on-screen size
(w / 96 inches wide).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QMarginsF, QRect, QRectF, QSize, QSizeF, Qt
from PyQt6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter
from PyQt6.QtWidgets import QGraphicsScene, QGraphicsView, QWidget

from corrviz.core.io import atomic_path, atomic_write, write_json
from corrviz.core.session import Session

SCREEN_DPI = 96.0
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
MATCH_SUFFIXES = (".csv", ".json")
BACKGROUNDS = ("white", "transparent")
BAR_GAP_PX = 8.0  # between the images and the colour bar
PROVENANCE_FIELDS = ("backbone", "resolution", "canvas", "layer", "facet", "checkpoint", "weights", "grid")


class ExportError(ValueError):
    pass


def figure_size(widget: QWidget) -> tuple[float, float]:
    """Size of the figure of ``widget`` in on-screen (96 DPI) pixels."""
    if hasattr(widget, "figure_regions"):
        images, bar = widget.figure_regions()
        if bar is None:
            return images.width(), images.height()
        return images.width() + BAR_GAP_PX + bar.width(), images.height()
    return float(widget.width()), float(widget.height())


def figure_pixel_size(widget: QWidget, dpi: float) -> tuple[int, int]:
    w, h = figure_size(widget)
    s = dpi / SCREEN_DPI
    return max(1, round(w * s)), max(1, round(h * s))


@contextmanager
def export_mode(scene: QGraphicsScene | None) -> Iterator[None]:
    """pyqtgraph's export mode on every item of ``scene``: scatter markers drawn as paths, antialiased."""
    items = [it for it in scene.items() if hasattr(it, "setExportMode")] if scene is not None else []
    for it in items:
        it.setExportMode(True, {"antialias": True, "resolutionScale": 1.0})
    try:
        yield
    finally:
        for it in items:
            it.setExportMode(False)


def _paint(painter: QPainter, widget: QWidget, snapshot: np.ndarray | None, w: float, h: float) -> None:
    """Paint the figure into (0, 0, w, h) logical pixels of ``painter``."""
    if snapshot is not None:
        painter.drawImage(QRectF(0, 0, w, h), _qimage(snapshot))
    elif hasattr(widget, "figure_regions"):
        from .widgets.colorbar import paint_colorbar

        images, bar = widget.figure_regions()
        widget.scene().render(painter, QRectF(0, 0, images.width(), images.height()), images,
                              Qt.AspectRatioMode.IgnoreAspectRatio)
        if bar is not None:
            cb = widget.colorbar
            rect = QRectF(images.width() + BAR_GAP_PX, 0, bar.width(), images.height())
            paint_colorbar(painter, rect, cb.cmap, cb.lo, cb.hi, cb.color)
    elif isinstance(widget, QGraphicsView):
        widget.render(painter, QRectF(0, 0, w, h), QRect(0, 0, widget.width(), widget.height()),
                      Qt.AspectRatioMode.IgnoreAspectRatio)
    else:
        painter.scale(w / max(widget.width(), 1), h / max(widget.height(), 1))
        widget.render(painter)


def _qimage(rgba: np.ndarray) -> QImage:
    arr = np.ascontiguousarray(rgba[..., :3] if rgba.shape[2] >= 3 else rgba, dtype=np.uint8)
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def export_figure(widget: QWidget, path: str | Path, dpi: float = 150.0, snapshot: np.ndarray | None = None,
                  background: str = "white", layers: dict[str, bool] | None = None) -> Path:
    """Write the figure of ``widget`` (or its ``snapshot``) to PNG, SVG or PDF, chosen by the suffix.

    ``layers`` (name -> shown) overrides the on-screen layer visibility for the 2-D view.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FIGURE_SUFFIXES:
        raise ExportError(f"{target.name}: choose a .png, .svg or .pdf file name")
    if not 10 <= dpi <= 1200:
        raise ExportError(f"DPI must be between 10 and 1200, got {dpi}")
    if background not in BACKGROUNDS:
        raise ExportError(f"background must be one of {', '.join(BACKGROUNDS)}, got {background!r}")
    styled = widget.figure_style(layers) if hasattr(widget, "figure_style") else nullcontext()
    scene = widget.scene() if isinstance(widget, QGraphicsView) and snapshot is None else None
    with styled, export_mode(scene):
        w, h = figure_size(widget) if snapshot is None else (widget.width(), widget.height())
        if w < 1 or h < 1:
            raise ExportError("nothing to export: the view is empty")
        fill = QColor(255, 255, 255) if background == "white" else QColor(0, 0, 0, 0)
        with atomic_path(target) as tmp:
            if suffix == ".png":
                _write_png(tmp, widget, snapshot, w, h, dpi, fill)
            elif suffix == ".svg":
                _write_svg(tmp, widget, snapshot, w, h, background == "white")
            else:
                _write_pdf(tmp, widget, snapshot, w, h, background == "white")
    return target


def _write_png(tmp: Path, widget, snapshot, w: float, h: float, dpi: float, fill: QColor) -> None:
    s = dpi / SCREEN_DPI
    img = QImage(max(1, round(w * s)), max(1, round(h * s)), QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(fill)
    dpm = round(dpi / 0.0254)
    img.setDotsPerMeterX(dpm)
    img.setDotsPerMeterY(dpm)
    img.setDevicePixelRatio(img.width() / w)  # paint in on-screen pixels; pens and markers scale with it
    painter = QPainter(img)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    _paint(painter, widget, snapshot, w, h)
    painter.end()
    img.setDevicePixelRatio(1.0)
    if not img.save(str(tmp), "PNG"):
        raise ExportError(f"{tmp.name}: could not write the PNG")


def _write_svg(tmp: Path, widget, snapshot, w: float, h: float, white: bool) -> None:
    from PyQt6.QtSvg import QSvgGenerator

    gen = QSvgGenerator()
    gen.setFileName(str(tmp))
    size = QSize(round(w), round(h))
    gen.setSize(size)
    gen.setViewBox(QRect(0, 0, size.width(), size.height()))
    gen.setResolution(round(SCREEN_DPI))
    gen.setTitle("corrviz figure")
    painter = QPainter(gen)
    if white:
        painter.fillRect(QRectF(0, 0, w, h), QColor(255, 255, 255))
    _paint(painter, widget, snapshot, w, h)
    painter.end()


def _write_pdf(tmp: Path, widget, snapshot, w: float, h: float, white: bool) -> None:
    writer = QPdfWriter(str(tmp))
    writer.setResolution(round(SCREEN_DPI))  # vector: painter units are on-screen pixels
    writer.setPageLayout(QPageLayout(QPageSize(QSizeF(w / SCREEN_DPI, h / SCREEN_DPI), QPageSize.Unit.Inch),
                                     QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0)))
    painter = QPainter(writer)
    if white:
        painter.fillRect(QRectF(0, 0, w, h), QColor(255, 255, 255))
    _paint(painter, widget, snapshot, w, h)
    painter.end()


def provenance(session: Session) -> dict:
    """What produced the matches: backbone, resolution, canvas, layer / facet, checkpoint, weights, grid."""
    o = session.options
    rec = {"backbone": o.backbone, "resolution": o.resolution, "canvas": o.canvas, "layer": o.layer,
           "facet": o.facet, "checkpoint": o.checkpoint, "weights": "", "grid": ""}
    if session.features is not None and session.features.maps:
        fm = session.features.maps[0]
        res = fm.options.resolution
        rec.update(backbone=fm.backbone, canvas=fm.options.canvas, layer=fm.options.layer,
                   facet=fm.options.facet, checkpoint=fm.checkpoint or o.checkpoint, weights=fm.weights,
                   resolution="x".join(str(v) for v in res) if isinstance(res, tuple) else res,
                   grid="x".join(str(v) for v in fm.grid_shape))
    return rec


def export_matches(rows: list[dict], path: str | Path, meta: dict | None = None) -> Path:
    """Write match rows to CSV or JSON (chosen by the suffix), atomically.

    ``meta`` (:func:`provenance`) goes into every CSV row and into the JSON header.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in MATCH_SUFFIXES:
        raise ExportError(f"{target.name}: choose a .csv or .json file name")
    meta = dict(meta or {})
    if suffix == ".json":
        write_json(target, {**meta, "matches": rows})
        return target
    fields = list(rows[0].keys()) if rows else ["point", "src_image", "src_x", "src_y", "trg_image", "trg_x",
                                                "trg_y", "score", "valid", "confidence", "method"]
    fields += [k for k in meta if k not in fields]
    with atomic_write(target, "w") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({**meta, **r})
    return target


def matches_table(session: Session) -> list[dict]:
    """Rows of the current point matches (for CSV / JSON export)."""
    rows: list[dict] = []
    if session.matches is None:
        return rows
    for m in session.matches.matches:
        p = session.points[m.query] if m.query < len(session.points) else None
        if p is None:
            continue
        rows.append({"point": m.query, "src_image": session.images[p.image].name, "src_x": p.x, "src_y": p.y,
                     "trg_image": session.images[m.target].name, "trg_x": m.xy[0], "trg_y": m.xy[1],
                     "score": m.score, "valid": m.valid, "confidence": m.confidence,
                     "method": session.matches.method})
    return rows
