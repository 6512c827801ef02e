"""A colour bar for the similarity heatmap, labelled in absolute cosine similarity.

One painting routine (:func:`paint_colorbar`) draws the bar on screen (:class:`ColorBar`, an item
of the pair view's layout) and into exported figures at any height; the gradient is a
``QLinearGradient`` and the ticks are lines and text, so SVG / PDF keep it vector.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, QSizeF, Qt
from PyQt6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PyQt6.QtWidgets import QSizePolicy

BAR_PX = 14.0  # width of the colour strip
WIDTH_PX = 78.0  # strip, ticks, tick labels and the rotated title
MARGIN_PX = 10.0  # above and below the strip (room for the end labels)
TITLE = "cosine similarity"


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values inside [lo, hi]: steps of 1, 2 or 5 x 10^k, about ``target`` of them, ends included."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw - 1e-12)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = [round(first + k * step, 10) for k in range(int((hi - first) / step + 1e-9) + 1)]
    return [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]


def tick_label(value: float, lo: float, hi: float) -> str:
    digits = 1 if hi - lo >= 0.99 else 2 if hi - lo >= 0.099 else 3
    text = f"{value:.{digits}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def paint_colorbar(p: QPainter, rect: QRectF, cmap: pg.ColorMap, lo: float, hi: float, color: QColor,
                   font: QFont | None = None, title: str = TITLE) -> None:
    """Draw the bar into ``rect`` (strip at the left, ticks + labels, title rotated at the right)."""
    font = font or QFont("Sans", 8)
    p.save()
    p.setFont(font)
    fm = QFontMetricsF(font)
    top, bottom = rect.top() + MARGIN_PX, rect.bottom() - MARGIN_PX
    strip = QRectF(rect.left() + 2, top, BAR_PX, max(bottom - top, 1.0))
    grad = cmap.getGradient(QPointF(0, strip.bottom()), QPointF(0, strip.top()))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(grad))
    p.drawRect(strip)
    pen = QPen(color, 1.0)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRect(strip)
    span = hi - lo if hi > lo else 1.0
    ticks = nice_ticks(lo, hi)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else span
    # the ends are labelled too (the normalised range rarely ends on a round value)
    ends = [v for v in (lo, hi) if all(abs(v - t) > 0.45 * step for t in ticks)]
    for t in sorted(ticks + ends):
        y = strip.bottom() - (t - lo) / span * strip.height()
        p.drawLine(QPointF(strip.right(), y), QPointF(strip.right() + 4, y))
        p.drawText(QPointF(strip.right() + 6, y + 0.35 * fm.height()), tick_label(t, lo, hi))
    p.translate(rect.right() - 3, strip.center().y())
    p.rotate(-90)
    w = fm.horizontalAdvance(title)
    p.drawText(QPointF(-w / 2, 0), title)
    p.restore()


class ColorBar(pg.GraphicsWidget):
    """On-screen colour bar beside the images (a pyqtgraph layout item)."""

    def __init__(self, cmap: pg.ColorMap) -> None:
        super().__init__()
        self.cmap = cmap
        self.lo, self.hi = -1.0, 1.0
        self.title = TITLE  # what the colours mean (cosine similarity, or a grid matcher's confidence)
        self.color = QColor(220, 220, 220)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.setPreferredSize(QSizeF(WIDTH_PX, 200))
        self.setMinimumWidth(WIDTH_PX)
        self.setMaximumWidth(WIDTH_PX)

    def set_range(self, lo: float, hi: float) -> None:
        self.lo, self.hi = float(lo), float(hi)
        self.update()

    def paint(self, p: QPainter, *_args) -> None:
        paint_colorbar(p, self.boundingRect(), self.cmap, self.lo, self.hi, self.color, title=self.title)
