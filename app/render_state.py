"""Session state -> what the views draw. Pure functions (no Qt), tested without a display."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from corrviz.core.session import COLOR_SLOTS, Session

# Distinct colours for the query points' colour slots (RGB 0-255), cycled.
POINT_COLORS: tuple[tuple[int, int, int], ...] = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
    (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128))
assert len(POINT_COLORS) == COLOR_SLOTS


def point_rgb(slot: int) -> tuple[int, int, int]:
    """The colour of a query point's colour slot."""
    return POINT_COLORS[slot % len(POINT_COLORS)]


_OVERLAYS: dict[int, tuple[Any, list[np.ndarray]]] = {}  # id(result) -> (weak ref to the result, overlays)
_OVERLAYS_LOCK = threading.Lock()


def overlay_images(result: Any) -> list[np.ndarray]:
    """Image-sized RGBA uint8 overlays of a :class:`~corrviz.core.session.FeatureResult`'s joint-PCA cell colours
    (nearest cell; cells touching the canvas padding transparent). Kept as long as the result lives (a weak
    reference: the feature cache and the session decide how long), so the extraction worker computes them
    (:func:`with_overlays`) and the GUI thread only looks them up."""
    from corrviz.core.pca import upsample_rgba

    key = id(result)
    with _OVERLAYS_LOCK:
        hit = _OVERLAYS.get(key)
        if hit is not None and hit[0]() is result:
            return hit[1]
    images = [upsample_rgba(rgb, fm) for rgb, fm in zip(result.pca_rgb, result.maps, strict=True)]
    with _OVERLAYS_LOCK:
        _OVERLAYS[key] = (weakref.ref(result), images)
    weakref.finalize(result, _forget_overlays, key)
    return images


def _forget_overlays(key: int) -> None:
    with _OVERLAYS_LOCK:
        _OVERLAYS.pop(key, None)


def with_overlays(result: Any) -> Any:
    """``result``, its overlays computed (call it in the worker that made the result)."""
    overlay_images(result)
    return result


@dataclass
class DrawPoint:
    """A point to draw: image index, image pixel coordinates, RGB colour, selected flag."""

    image: int
    x: float
    y: float
    rgb: tuple[int, int, int]
    selected: bool = False
    valid: bool = True


@dataclass
class DrawLine:
    """A match line from (image a, xa, ya) to (image b, xb, yb) in one colour, with an optional label."""

    a: int
    xa: float
    ya: float
    b: int
    xb: float
    yb: float
    rgb: tuple[int, int, int]
    label: str = ""
    width: float = 2.0


@dataclass
class MatchDrawing:
    points: list[DrawPoint]
    targets: list[DrawPoint]
    lines: list[DrawLine]
    heatmaps: dict[int, np.ndarray]


def match_drawing(session: Session) -> MatchDrawing:
    """Query points, their matches, lines (labelled for the selected point) and heatmaps."""
    sel = session.selected
    points = [DrawPoint(p.image, p.x, p.y, point_rgb(p.color), k == sel) for k, p in enumerate(session.points)]
    targets: list[DrawPoint] = []
    lines: list[DrawLine] = []
    heatmaps: dict[int, np.ndarray] = {}
    res = session.matches
    if res is not None:
        for m in res.matches:
            if m.query >= len(session.points):
                continue
            p = session.points[m.query]
            chosen = m.query == sel
            targets.append(DrawPoint(m.target, m.xy[0], m.xy[1], point_rgb(p.color), chosen, m.valid))
            label = ""
            if chosen:
                label = f"sim {m.score:.2f}"
                if m.confidence is not None:
                    label += f" · conf {m.confidence:.2f}"
                if not m.valid:
                    label += " (not mutual)"
            lines.append(DrawLine(p.image, p.x, p.y, m.target, m.xy[0], m.xy[1], point_rgb(p.color), label,
                                  3.0 if chosen else 1.5))
        if res.heatmap_point == sel:
            heatmaps = res.heatmaps
    return MatchDrawing(points, targets, lines, heatmaps)


def dense_lines(session: Session, src: int = 0, trg: int = 1) -> list[DrawLine]:
    m = session.dense
    if m is None or not session.dense_enabled:
        return []
    return [DrawLine(src, float(s[0]), float(s[1]), trg, float(t[0]), float(t[1]), (80, 220, 255))
            for s, t in zip(m.src_xy, m.trg_xy, strict=True)]


def highlight_cells(session: Session) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """Feature cells (image, row, col) of the selected point and its matches, with their colours."""
    if session.features is None or not 0 <= session.selected < len(session.points):
        return [], []
    maps = session.features.maps
    p = session.points[session.selected]
    cells, colors = [], []
    r, c = maps[p.image].transform.image_to_cell(np.array([p.x, p.y]))
    cells.append((p.image, int(r), int(c)))
    colors.append(point_rgb(p.color))
    if session.matches is not None:
        for m in session.matches.for_query(session.selected):
            r, c = maps[m.target].transform.image_to_cell(np.array(m.xy))
            cells.append((m.target, int(r), int(c)))
            colors.append(point_rgb(p.color))
    return cells, colors


def timing_text(timings: dict[str, float]) -> str:
    names = {"extract": "extraction", "match": "matching", "display": "click→display", "track": "tracking",
             "video": "video features", "dense": "dense", "pca": "PCA"}
    parts = []
    for key, label in names.items():
        if key in timings:
            v = timings[key]
            parts.append(f"{label} {v * 1000:.0f} ms" if v < 1 else f"{label} {v:.2f} s")
    return " · ".join(parts)
