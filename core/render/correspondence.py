"""Ground-truth correspondences between rendered views (vectorised).

Two ways to find the surface point under a continuous pixel coordinate ``(x, y)``:

* exact (default when the view set carries its mesh): cast the ray through ``(x, y)`` itself,
  so a point anywhere inside a pixel gets its own surface point. A->B->A then returns to the
  start up to float precision, and the occlusion test in B casts B's ray through the projected
  point and compares z-depths (relative tolerance ``depth_tol``, default 1e-4).
* maps (a view set without its mesh): the xyz map at the pixel containing ``(x, y)``, and the
  occlusion test compares with B's depth map at the pixel containing the projection
  (relative tolerance default 2e-2, which absorbs the sub-pixel offset on slanted surfaces).

A correspondence is invalid when the pixel is background in A, the projection lies outside B's
frame or behind B's camera, or the point is hidden in B (depth test).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .cameras import project

if TYPE_CHECKING:
    from .viewset import ViewSet

EXACT_DEPTH_TOL = 1e-4
MAP_DEPTH_TOL = 2e-2


@dataclass
class PointTracks:
    """Ground-truth tracks of points chosen on a query frame.

    query_xy:   (N, 2) pixel coordinates on the query frame.
    positions:  (N, T, 2) projections in every frame (also where occluded or out of frame);
                NaN for query points that are not on the object.
    visibility: (N, T) bool, visible (in frame and not occluded) in each frame.
    xyz:        (N, 3) object-space points (NaN off the object).
    query_frame: index of the frame the points were chosen on.
    """

    query_xy: np.ndarray
    positions: np.ndarray
    visibility: np.ndarray
    xyz: np.ndarray
    query_frame: int = 0

    @property
    def on_object(self) -> np.ndarray:
        return np.all(np.isfinite(self.xyz), axis=1)


def _in_frame(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (np.isfinite(xy).all(axis=1) & (xy[:, 0] >= 0) & (xy[:, 0] < width)
                & (xy[:, 1] >= 0) & (xy[:, 1] < height))


def _pixel_index(xy: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    safe = np.where(np.isfinite(xy), xy, 0.0)
    col = np.clip(np.floor(safe[:, 0]).astype(np.int64), 0, width - 1)
    row = np.clip(np.floor(safe[:, 1]).astype(np.int64), 0, height - 1)
    return row, col


def use_exact(viewset: ViewSet, exact: bool | None) -> bool:
    if exact is None:
        return viewset.mesh is not None
    if exact and viewset.mesh is None:
        raise ValueError("exact correspondences need the view set's mesh, and this view set has none")
    return bool(exact)


def surface_points(viewset: ViewSet, index: int, xy: np.ndarray, exact: bool | None = None) -> np.ndarray:
    """Object-space surface points (N, 3) under pixel coordinates ``xy`` (N, 2) of view ``index``.

    NaN for background and for coordinates outside the image.
    """
    view = viewset.views[index]
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    inside = _in_frame(xy, view.width, view.height)
    out = np.full((len(xy), 3), np.nan)
    if not np.any(inside):
        return out
    if use_exact(viewset, exact):
        raycaster = viewset.raycaster()
        hits, _, _ = raycaster.cast_pixels(xy[inside], view.K, view.world_to_cam)
        out[inside] = raycaster.surface_points(hits)
    else:
        row, col = _pixel_index(xy[inside], view.width, view.height)
        out[inside] = view.xyz[row, col].astype(np.float64)
    return out


def visible_in(viewset: ViewSet, index: int, points: np.ndarray, depth_tol: float | None = None,
               exact: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Project object points (N, 3) into view ``index``; returns ``(xy, visible)``.

    ``xy`` is NaN for NaN points. ``visible`` requires the point in front of the camera, inside
    the frame and not hidden behind other surfaces (z-depth test, relative tolerance).
    """
    view = viewset.views[index]
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    xy, z = project(pts, view.K, view.world_to_cam)
    finite = np.isfinite(pts).all(axis=1)
    xy[~finite] = np.nan
    with np.errstate(invalid="ignore"):
        candidate = finite & (z > 0) & _in_frame(xy, view.width, view.height)
    visible = np.zeros(len(pts), dtype=bool)
    if not np.any(candidate):
        return xy, visible
    exact = use_exact(viewset, exact)
    tol = (EXACT_DEPTH_TOL if exact else MAP_DEPTH_TOL) if depth_tol is None else float(depth_tol)
    if exact:
        hits, depth, _ = viewset.raycaster().cast_pixels(xy[candidate], view.K, view.world_to_cam)
        found = hits.hit
    else:
        row, col = _pixel_index(xy[candidate], view.width, view.height)
        depth = view.depth[row, col].astype(np.float64)
        found = view.mask[row, col]
    zc = z[candidate]
    visible[candidate] = found & (np.abs(zc - depth) <= tol * zc)
    return xy, visible


def correspondence(viewset: ViewSet, a: int, b: int, xy_a: np.ndarray, depth_tol: float | None = None,
                   exact: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Where the surface under ``xy_a`` (N, 2) in view ``a`` appears in view ``b``.

    Returns ``xy_b`` (N, 2): the projection into ``b`` wherever ``xy_a`` is on the object (also
    when occluded or out of frame; NaN on background), and ``valid`` (N,) bool.
    """
    points = surface_points(viewset, a, xy_a, exact)
    return visible_in(viewset, b, points, depth_tol, exact)


def surface_distance(viewset: ViewSet, a: int, xy_a: np.ndarray, b: int, xy_b: np.ndarray,
                     exact: bool | None = None) -> np.ndarray:
    """3D distances (N,) between the surface points under ``xy_a`` in ``a`` and ``xy_b`` in ``b``.

    In object units (unit-extent objects); NaN where either pixel is background, so NaN compares
    False against both the positive (< 5e-3) and the negative (> 0.1) SmoothAP thresholds.
    """
    pa = surface_points(viewset, a, xy_a, exact)
    pb = surface_points(viewset, b, xy_b, exact)
    if len(pa) != len(pb):
        raise ValueError(f"xy_a and xy_b must have the same length, got {len(pa)} and {len(pb)}")
    return np.linalg.norm(pa - pb, axis=1)


def grid_points(viewset: ViewSet, frame: int, grid: int, region: str = "object") -> np.ndarray:
    """A ``grid x grid`` lattice of cell centres over the object's box (or the whole image)."""
    view = viewset.views[frame]
    if region == "image" or not np.any(view.mask):
        x0, y0, x1, y1 = 0.0, 0.0, float(view.width), float(view.height)
    elif region == "object":
        rows, cols = np.nonzero(view.mask)
        x0, x1 = float(cols.min()), float(cols.max() + 1)
        y0, y1 = float(rows.min()), float(rows.max() + 1)
    else:
        raise ValueError(f"region must be 'object' or 'image', got {region!r}")
    s = (np.arange(grid) + 0.5) / grid
    xs, ys = np.meshgrid(x0 + s * (x1 - x0), y0 + s * (y1 - y0))
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def point_tracks(viewset: ViewSet, query_frame: int = 0, grid: int = 16, region: str = "object",
                 query_xy: np.ndarray | None = None, depth_tol: float | None = None,
                 exact: bool | None = None) -> PointTracks:
    """Ground-truth tracks through every view of ``viewset`` (the frames of a camera path)."""
    xy0 = grid_points(viewset, query_frame, grid, region) if query_xy is None else \
        np.asarray(query_xy, dtype=np.float64).reshape(-1, 2)
    points = surface_points(viewset, query_frame, xy0, exact)
    n_frames = len(viewset.views)
    positions = np.full((len(xy0), n_frames, 2), np.nan)
    visibility = np.zeros((len(xy0), n_frames), dtype=bool)
    for t in range(n_frames):
        positions[:, t], visibility[:, t] = visible_in(viewset, t, points, depth_tol, exact)
    return PointTracks(query_xy=xy0, positions=positions, visibility=visibility, xyz=points,
                       query_frame=int(query_frame))
