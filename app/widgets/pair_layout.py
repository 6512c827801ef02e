"""Where the 2-D view puts each image, and how a match line runs between two images. Pure geometry.

Every image gets a cell of the same size (the median aspect ratio of the images, as tall as the
tallest), scaled to fit it and centred, so a 300x200 image next to a 6000x4000 one is drawn at
the same size. Cells sit on a rows x columns grid (:func:`best_grid`) separated by gutters of a
fixed number of screen pixels; each cell has a title band above it. Scene units are arbitrary
(the view fits the scene), screen pixels enter only through the view size.

A match line between neighbouring cells (same row or same column) is straight: it stays inside
the two cells and their gutter. Any other line is routed through the gutters (down/up out of
the source image into the horizontal gutter, along it to the vertical gutter beside the target
column, along that to the target row, then into the target), so it never crosses another image.
"""

from __future__ import annotations

from dataclasses import dataclass

TITLE_PX = 22.0  # title band above each image, in screen pixels
GUTTER_PX = 18.0  # gap between cells (and around the grid), in screen pixels


@dataclass(frozen=True)
class Placement:
    """One image on the grid: its rectangle in scene units, its scale (scene units per pixel) and cell."""

    x: float
    y: float
    width: float
    height: float
    scale: float
    row: int
    col: int


@dataclass(frozen=True)
class GridLayout:
    rows: int
    cols: int
    cell_w: float
    cell_h: float
    gutter: float  # scene units
    title: float  # scene units
    placements: tuple[Placement, ...]

    @property
    def width(self) -> float:
        return self.cols * (self.cell_w + self.gutter) + self.gutter

    @property
    def height(self) -> float:
        return self.rows * (self.title + self.cell_h + self.gutter) + self.gutter

    def cell_left(self, col: int) -> float:
        return self.gutter + col * (self.cell_w + self.gutter)

    def band_top(self, row: int) -> float:
        """Top of the title band of ``row``."""
        return self.gutter + row * (self.title + self.cell_h + self.gutter)

    def to_scene(self, image: int, x: float, y: float) -> tuple[float, float]:
        p = self.placements[image]
        return p.x + x * p.scale, p.y + y * p.scale

    def from_scene(self, sx: float, sy: float) -> tuple[int, float, float] | None:
        """(image, x, y) in image pixels under a scene point, or None."""
        for k, p in enumerate(self.placements):
            if p.x <= sx < p.x + p.width and p.y <= sy < p.y + p.height:
                return k, (sx - p.x) / p.scale, (sy - p.y) / p.scale
        return None

    def route(self, a: int, xa: float, ya: float, b: int, xb: float, yb: float,
              lane: float = 0.5) -> list[tuple[float, float]]:
        """Scene polyline of a match line from image ``a`` pixel (xa, ya) to image ``b`` pixel (xb, yb).

        ``lane`` in (0, 1) picks the position across a gutter, so several routed lines run side by side.
        """
        p0, p1 = self.to_scene(a, xa, ya), self.to_scene(b, xb, yb)
        pa, pb = self.placements[a], self.placements[b]
        dr, dc = pb.row - pa.row, pb.col - pa.col
        if (dr == 0 and abs(dc) == 1) or (dc == 0 and abs(dr) == 1) or (dr == 0 and dc == 0):
            return [p0, p1]
        lane = min(max(lane, 0.05), 0.95)
        g = self.gutter
        # horizontal gutter next to the source row, on the target's side (below when in the same row)
        if dr >= 0:
            gy = self.band_top(pa.row) + self.title + self.cell_h + g * lane
        else:
            gy = self.band_top(pa.row) - g + g * lane
        # vertical gutter next to the target column, on the source's side (left when in the same column)
        if dc > 0 or dc == 0:
            gx = self.cell_left(pb.col) - g + g * lane
        else:
            gx = self.cell_left(pb.col) + self.cell_w + g * lane
        return [p0, (p0[0], gy), (gx, gy), (gx, p1[1]), p1]


def _cell_size(sizes: list[tuple[int, int]]) -> tuple[float, float]:
    aspects = sorted(w / h for w, h in sizes)
    mid = len(aspects) // 2
    aspect = aspects[mid] if len(aspects) % 2 else 0.5 * (aspects[mid - 1] + aspects[mid])
    ch = float(max(h for _, h in sizes))
    return ch * aspect, ch


def _px_per_unit(rows: int, cols: int, cw: float, ch: float, view_w: float, view_h: float) -> float:
    free_w = view_w - (cols + 1) * GUTTER_PX
    free_h = view_h - rows * TITLE_PX - (rows + 1) * GUTTER_PX
    return min(free_w / (cols * cw), free_h / (rows * ch))


def best_grid(sizes: list[tuple[int, int]], view_w: float, view_h: float) -> tuple[int, int]:
    """(rows, cols) of the grid that draws images of ``sizes`` (W, H) largest in a view_w x view_h view.

    Ties go to fewer rows (the usual side-by-side figure).
    """
    n = len(sizes)
    if n == 0 or view_w <= 0 or view_h <= 0:
        return 1, max(n, 1)
    cw, ch = _cell_size(sizes)
    best, best_scale = (1, n), None
    for cols in range(n, 0, -1):
        rows = -(-n // cols)
        scale = _px_per_unit(rows, cols, cw, ch, view_w, view_h)
        if best_scale is None or scale > best_scale + 1e-3 * abs(best_scale):
            best, best_scale = (rows, cols), scale
    return best


def layout_grid(sizes: list[tuple[int, int]], view_w: float, view_h: float,
                grid: tuple[int, int] | None = None) -> GridLayout:
    """Place images of ``sizes`` (W, H) on ``grid`` (default :func:`best_grid`) for a view_w x view_h view."""
    if not sizes:
        return GridLayout(1, 1, 1.0, 1.0, 0.0, 0.0, ())
    rows, cols = grid or best_grid(sizes, view_w, view_h)
    cw, ch = _cell_size(sizes)
    ppu = _px_per_unit(rows, cols, cw, ch, view_w, view_h)
    ppu = ppu if ppu > 1e-9 else min(view_w, view_h, 100.0) / max(cols * cw, rows * ch)
    g, t = GUTTER_PX / ppu, TITLE_PX / ppu
    empty = GridLayout(rows, cols, cw, ch, g, t, ())
    out = []
    for k, (w, h) in enumerate(sizes):
        r, c = divmod(k, cols)
        s = min(cw / w, ch / h)
        x = empty.cell_left(c) + 0.5 * (cw - w * s)
        y = empty.band_top(r) + t + 0.5 * (ch - h * s)
        out.append(Placement(x, y, w * s, h * s, s, r, c))
    return GridLayout(rows, cols, cw, ch, g, t, tuple(out))
