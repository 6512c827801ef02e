"""Rendered views of one mesh and their ground-truth geometry.

A :class:`View` holds per-pixel maps in row-major order (arrays are (H, W, ...)); see
:mod:`corrviz.core.render.cameras` for the camera and pixel conventions. A :class:`ViewSet`
is a list of views of the same object (a view sphere or the frames of a camera path) plus,
when available, the mesh they were rendered from, which makes sub-pixel correspondences exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import correspondence as corr
from .cameras import camera_center, project
from .mesh import Mesh

if TYPE_CHECKING:
    from .raycast import Raycaster


@dataclass
class View:
    """One rendered image and its exact geometry.

    rgb:          (H, W, 3) uint8.
    depth:        (H, W) float32 z-depth (along the optical axis, not ray distance); 0 on background.
    mask:         (H, W) bool, True on the object.
    xyz:          (H, W, 3) float32 object-space surface point; NaN on background.
    face_id:      (H, W) int32 triangle index; -1 on background.
    K:            (3, 3) float64 intrinsics (principal point at the image centre).
    world_to_cam: (4, 4) float64 OpenCV extrinsics (x right, y down, z forward).
    """

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    xyz: np.ndarray
    face_id: np.ndarray
    K: np.ndarray
    world_to_cam: np.ndarray

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def camera_center(self) -> np.ndarray:
        return camera_center(self.world_to_cam)

    @property
    def viewing_direction(self) -> np.ndarray:
        """Unit optical axis (camera +z) in world coordinates."""
        return self.world_to_cam[2, :3].copy()

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project object points (N, 3): returns pixel coordinates (N, 2) and z-depth (N,)."""
        return project(points, self.K, self.world_to_cam)

    def foreground_pixels(self) -> np.ndarray:
        """(M, 2) pixel-centre coordinates of all object pixels, row-major order."""
        rows, cols = np.nonzero(self.mask)
        return np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float64)


@dataclass
class ViewSet:
    """Views of one object with exact ground-truth correspondence between any two of them."""

    views: list[View]
    mesh: Mesh | None = None
    name: str = ""
    background: tuple[int, int, int] = (0, 0, 0)
    _raycaster: Raycaster | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, index: int) -> View:
        return self.views[index]

    # ------------------------------------------------------------------------- geometry ---
    def attach_raycaster(self, raycaster: Raycaster) -> None:
        """Reuse an existing scene of ``self.mesh`` for exact look-ups."""
        self._raycaster = raycaster

    def raycaster(self) -> Raycaster:
        """The ray-casting scene of the mesh, built on first use."""
        if self.mesh is None:
            raise ValueError("this view set has no mesh; exact look-ups are unavailable")
        if self._raycaster is None:
            from .raycast import Raycaster

            self._raycaster = Raycaster(self.mesh)
        return self._raycaster

    @property
    def exact(self) -> bool:
        """True when correspondences are computed by ray casting (the mesh is present)."""
        return self.mesh is not None

    def surface_points(self, index: int, xy: np.ndarray, exact: bool | None = None) -> np.ndarray:
        """Object-space points (N, 3) under pixel coordinates ``xy`` (N, 2); NaN on background."""
        return corr.surface_points(self, index, xy, exact)

    def visible_in(self, index: int, points: np.ndarray, depth_tol: float | None = None,
                   exact: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Project object points into view ``index``: ``(xy (N, 2), visible (N,))``."""
        return corr.visible_in(self, index, points, depth_tol, exact)

    def correspondence(self, a: int, b: int, xy_a: np.ndarray, depth_tol: float | None = None,
                       exact: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ground truth for pixels ``xy_a`` (N, 2) of view ``a`` in view ``b``: ``(xy_b, valid)``.

        Invalid when background in ``a``, out of ``b``'s frame, or occluded in ``b``.
        """
        return corr.correspondence(self, a, b, xy_a, depth_tol, exact)

    def surface_distance(self, a: int, xy_a: np.ndarray, b: int, xy_b: np.ndarray,
                         exact: bool | None = None) -> np.ndarray:
        """3D distance (N,) between surface points of pixel pairs; NaN where either is background."""
        return corr.surface_distance(self, a, xy_a, b, xy_b, exact)

    def point_tracks(self, query_frame: int = 0, grid: int = 16, region: str = "object",
                     query_xy: np.ndarray | None = None, depth_tol: float | None = None,
                     exact: bool | None = None) -> corr.PointTracks:
        """Ground-truth tracks (positions (N, T, 2), visibility (N, T)) of a grid on one frame."""
        return corr.point_tracks(self, query_frame, grid, region, query_xy, depth_tol, exact)

    def relative_rotation_deg(self, a: int, b: int) -> float:
        """Angle in degrees of the relative rotation between the cameras of views ``a`` and ``b``."""
        ra, rb = self.views[a].world_to_cam[:3, :3], self.views[b].world_to_cam[:3, :3]
        cos = (np.trace(ra @ rb.T) - 1.0) / 2.0
        return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))

    def view_pairs(self, max_rotation_deg: float = 120.0) -> list[tuple[int, int]]:
        """Ordered pairs of distinct views whose relative rotation is at most ``max_rotation_deg``."""
        n = len(self.views)
        return [(a, b) for a in range(n) for b in range(n)
                if a != b and self.relative_rotation_deg(a, b) <= max_rotation_deg]

    def subset(self, indices: list[int]) -> ViewSet:
        """A view set with the chosen views (shares the arrays and the mesh)."""
        out = ViewSet(views=[self.views[i] for i in indices], mesh=self.mesh, name=self.name,
                      background=self.background)
        out._raycaster = self._raycaster
        return out
