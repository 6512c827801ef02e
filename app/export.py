"""Figure and match export: PNG / SVG / PDF at a chosen DPI, matches as CSV / JSON. Atomic writes.

A figure is a widget: a ``QGraphicsView`` (the pyqtgraph 2-D views) is rendered through its scene,
so lines and markers stay vector in SVG and PDF; any other widget (the VisPy 3-D canvas) is given
as an RGBA snapshot and embedded as an image. The on-screen size at 96 DPI is the figure's size,
so a PNG at ``dpi`` is ``round(width * dpi / 96)`` x ``round(height * dpi / 96)`` pixels.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QMarginsF, QRect, QRectF, QSize, QSizeF, Qt
from PyQt6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter
from PyQt6.QtWidgets import QGraphicsView, QWidget

from corrviz.core.io import atomic_path, atomic_write, write_json
from corrviz.core.session import Session

SCREEN_DPI = 96.0
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
MATCH_SUFFIXES = (".csv", ".json")


class ExportError(ValueError):
    pass


def figure_pixel_size(widget: QWidget, dpi: float) -> tuple[int, int]:
    s = dpi / SCREEN_DPI
    return max(1, round(widget.width() * s)), max(1, round(widget.height() * s))


def _paint(painter: QPainter, widget: QWidget, snapshot: np.ndarray | None, w: float, h: float) -> None:
    target = QRectF(0, 0, w, h)
    if snapshot is not None:
        img = _qimage(snapshot)
        painter.drawImage(target, img)
    elif isinstance(widget, QGraphicsView):
        widget.render(painter, target, QRect(0, 0, widget.width(), widget.height()),
                      Qt.AspectRatioMode.IgnoreAspectRatio)
    else:
        painter.scale(w / max(widget.width(), 1), h / max(widget.height(), 1))
        widget.render(painter)


def _qimage(rgba: np.ndarray) -> QImage:
    arr = np.ascontiguousarray(rgba[..., :3] if rgba.shape[2] >= 3 else rgba, dtype=np.uint8)
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def export_figure(widget: QWidget, path: str | Path, dpi: float = 150.0,
                  snapshot: np.ndarray | None = None) -> Path:
    """Write ``widget`` (or its ``snapshot``) to PNG, SVG or PDF, chosen by the suffix."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FIGURE_SUFFIXES:
        raise ExportError(f"{target.name}: choose a .png, .svg or .pdf file name")
    if not 10 <= dpi <= 1200:
        raise ExportError(f"DPI must be between 10 and 1200, got {dpi}")
    ww, wh = widget.width(), widget.height()
    with atomic_path(target) as tmp:
        if suffix == ".png":
            pw, ph = figure_pixel_size(widget, dpi)
            img = QImage(pw, ph, QImage.Format.Format_ARGB32)
            img.fill(QColor(255, 255, 255))
            dpm = round(dpi / 0.0254)
            img.setDotsPerMeterX(dpm)
            img.setDotsPerMeterY(dpm)
            painter = QPainter(img)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            _paint(painter, widget, snapshot, pw, ph)
            painter.end()
            if not img.save(str(tmp), "PNG"):
                raise ExportError(f"{target}: could not write the PNG")
        elif suffix == ".svg":
            from PyQt6.QtSvg import QSvgGenerator

            gen = QSvgGenerator()
            gen.setFileName(str(tmp))
            gen.setSize(QSize(ww, wh))
            gen.setViewBox(QRect(0, 0, ww, wh))
            gen.setResolution(round(dpi))
            gen.setTitle("corrviz figure")
            painter = QPainter(gen)
            _paint(painter, widget, snapshot, ww, wh)
            painter.end()
        else:
            writer = QPdfWriter(str(tmp))
            writer.setResolution(round(dpi))
            writer.setPageLayout(QPageLayout(QPageSize(QSizeF(ww / SCREEN_DPI, wh / SCREEN_DPI),
                                                       QPageSize.Unit.Inch),
                                             QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0)))
            painter = QPainter(writer)
            pw, ph = figure_pixel_size(widget, dpi)
            _paint(painter, widget, snapshot, pw, ph)
            painter.end()
    return target


def export_matches(rows: list[dict], path: str | Path) -> Path:
    """Write match rows to CSV or JSON (chosen by the suffix), atomically."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in MATCH_SUFFIXES:
        raise ExportError(f"{target.name}: choose a .csv or .json file name")
    if suffix == ".json":
        write_json(target, {"matches": rows})
        return target
    fields = list(rows[0].keys()) if rows else ["point", "src_image", "src_x", "src_y", "trg_image", "trg_x",
                                                "trg_y", "score", "valid", "confidence", "method"]
    with atomic_write(target, "w") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow(r)
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
