"""Dense ground truth between two synthetic renders, also across instances (canonical-frame correspondence).

Every instance of a category lives in the same canonical frame (front +z, up +y, left +x, centred,
longest side 1: :mod:`.categories.base`), and the renders' world frame IS that frame. The true
counterpart of a pixel of render A in render B is therefore defined as:

1. the surface point X under the pixel (A's z-depth map, A's camera; NaN on background);
2. same instance: X itself; another instance: the closest point Y of B's mesh to X (NOCS-style
   correspondence: the same place of the category's shared layout -- a left wheel's hub goes to the
   other car's left wheel, never to its right one, since left and right differ in canonical x);
3. Y projected into B, ``visible`` when it passes B's z-depth test (relative tolerance
   ``depth_tol``; the pixel or one of its 8 neighbours, as a point on a silhouette edge projects
   up to a pixel off its own surface) inside the frame -- a counterpart that is hidden in B has no correct match.

For the same instance this is exact; across instances it is as exact as "the same canonical
position" is a definition of semantic correspondence, which the categories' jittered proportions
keep close (keypoints of one name differ by a few hundredths of the extent between instances).
Used to measure DIY-SC pseudo-label precision (``corrviz-train diy_sc labels``); never in training.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..render.cameras import pixel_rays, project

DEPTH_TOL = 0.02


@functools.lru_cache(maxsize=64)
def _scene(category: str, seed: int) -> Any:
    from ..render.backend import require_open3d
    from .categories import make_instance

    o3d = require_open3d()
    mesh = make_instance(category, int(seed)).mesh
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    return scene


def closest_surface_points(category: str, seed: int, points: np.ndarray) -> np.ndarray:
    """Closest points (N, 3) of instance (category, seed)'s mesh to ``points`` (NaN rows pass through)."""
    from ..render.backend import require_open3d

    o3d = require_open3d()
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    out = np.full_like(pts, np.nan)
    ok = np.isfinite(pts).all(axis=1)
    if ok.any():
        ans = _scene(category, int(seed)).compute_closest_points(o3d.core.Tensor(pts[ok].astype(np.float32)))
        out[ok] = ans["points"].numpy().astype(np.float64)
    return out


def _pixel(xy: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = shape
    inside = np.isfinite(xy).all(axis=1) & (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    safe = np.where(inside[:, None], xy, 0.0)
    return inside, np.floor(safe[:, 1]).astype(np.int64), np.floor(safe[:, 0]).astype(np.int64)


def unproject(xy: np.ndarray, depth: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray) -> np.ndarray:
    """World (canonical) points (N, 3) under pixels ``xy`` (N, 2): the pixel's centre ray at its z-depth.

    NaN for background pixels (depth 0) and points outside the image.
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    inside, row, col = _pixel(xy, depth.shape)
    z = np.where(inside, depth[row, col].astype(np.float64), 0.0)
    centres = np.stack([col + 0.5, row + 0.5], axis=1).astype(np.float64)
    origins, dirs, cos_axis = pixel_rays(centres, K, world_to_cam)
    pts = origins + dirs * (z / cos_axis)[:, None]
    pts[z <= 0] = np.nan
    return pts


def visible_projection(points: np.ndarray, depth: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray,
                       depth_tol: float = DEPTH_TOL, radius: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Projections (N, 2) of world points into a render and their visibility by its z-depth map: some
    pixel within ``radius`` of the projection has the point's z-depth (relative tolerance ``depth_tol``)."""
    xy, z = project(points, K, world_to_cam)
    inside, row, col = _pixel(xy, depth.shape)
    h, w = depth.shape
    visible = np.zeros(len(xy), dtype=bool)
    for dr in range(-radius, radius + 1):  # a point on a silhouette edge may fall one pixel off its surface
        for dc in range(-radius, radius + 1):
            r, c = np.clip(row + dr, 0, h - 1), np.clip(col + dc, 0, w - 1)
            d = np.where(inside, depth[r, c].astype(np.float64), 0.0)
            with np.errstate(invalid="ignore"):
                visible |= inside & (d > 0) & (z > 0) & (np.abs(z - d) <= depth_tol * np.abs(z))
    return xy, visible


class CanonicalGroundTruth:
    """Ground truth between renders of a synthetic SPair (:class:`SyntheticImage` records).

    Depth maps are read once per image and kept (float32, small at 256 px).
    """

    def __init__(self, depth_tol: float = DEPTH_TOL) -> None:
        self.depth_tol = float(depth_tol)
        self._depth: dict[str, np.ndarray] = {}

    def depth(self, image: Any) -> np.ndarray:
        key = str(image.depth)
        if key not in self._depth:
            self._depth[key] = np.load(image.depth).astype(np.float32)
        return self._depth[key]

    def transfer(self, src: Any, trg: Any, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """True counterparts (N, 2) in ``trg`` of pixels ``xy`` of ``src`` and whether each is visible there.

        NaN / not visible where the source pixel is background.
        """
        x = unproject(xy, self.depth(src), src.K, src.world_to_cam)
        if (src.category, src.seed) != (trg.category, trg.seed):
            x = closest_surface_points(trg.category, trg.seed, x)
        out, vis = visible_projection(x, self.depth(trg), trg.K, trg.world_to_cam, self.depth_tol)
        out[~np.isfinite(x).all(axis=1)] = np.nan
        return out, vis & np.isfinite(x).all(axis=1)
