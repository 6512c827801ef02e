"""Rendering by ray casting with Open3D's ``RaycastingScene`` (Embree on the CPU).

One ray per pixel, through the pixel centre. Each hit gives the triangle id and barycentric
coordinates, from which the object-space surface point, the z-depth, the normal and the colour
are computed in float64 numpy, vectorised over the whole image.

Depth: ``RaycastingScene`` reports ``t_hit``, the distance along the ray. corrviz stores
z-depth (distance along the camera's optical axis), converted explicitly as
``z = t_hit * cos_axis`` where ``cos_axis`` is the z component of the unit ray direction in the
camera frame. Background pixels have depth 0, face id -1, xyz NaN and mask False.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..progress import Progress
from .backend import require_open3d
from .cameras import intrinsics, pixel_centers, pixel_rays, scaled_focal, sphere_poses
from .mesh import Mesh, validate_mesh
from .shading import Lighting, SurfaceShader
from .viewset import View, ViewSet


@dataclass
class RayHits:
    """First hits of a batch of rays: ``t`` (N,) ray distance (inf on miss), ``face`` (N,) int32
    (-1 on miss), ``bary`` (N, 3) barycentric weights of the face's three vertices."""

    t: np.ndarray
    face: np.ndarray
    bary: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        return self.face >= 0


class Raycaster:
    """A ``RaycastingScene`` holding one mesh, reusable for any number of rays and views."""

    def __init__(self, mesh: Mesh) -> None:
        o3d = require_open3d()

        validate_mesh(mesh, mesh.source or mesh.name or "mesh")
        self.mesh = mesh
        self._scene = o3d.t.geometry.RaycastingScene()
        self._scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)),
                                  o3d.core.Tensor(mesh.faces.astype(np.uint32)))
        self._invalid = int(o3d.t.geometry.RaycastingScene.INVALID_ID)

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> RayHits:
        """First intersection of rays (N, 3) + (N, 3); ``t`` is in units of the direction length."""
        o3d = require_open3d()

        n = len(directions)
        if n == 0:
            return RayHits(np.zeros(0), np.zeros(0, np.int32), np.zeros((0, 3)))
        rays = np.empty((n, 6), dtype=np.float32)
        rays[:, :3] = origins
        rays[:, 3:] = directions
        ans = self._scene.cast_rays(o3d.core.Tensor.from_numpy(rays), nthreads=0)
        prim = ans["primitive_ids"].numpy()
        t_hit = ans["t_hit"].numpy()
        hit = (prim != self._invalid) & np.isfinite(t_hit)
        face = np.full(n, -1, dtype=np.int32)
        face[hit] = prim[hit]
        t = np.full(n, np.inf)
        t[hit] = t_hit[hit]
        uv = ans["primitive_uvs"].numpy()[hit].astype(np.float64)
        bary = np.zeros((n, 3))
        bary[hit] = np.stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1)
        return RayHits(t=t, face=face, bary=bary)

    def surface_points(self, hits: RayHits) -> np.ndarray:
        """Object-space points (N, 3) of the hits from barycentrics; NaN where nothing was hit."""
        out = np.full((len(hits.face), 3), np.nan)
        sel = hits.hit
        corners = self.mesh.vertices[self.mesh.faces[hits.face[sel]]]
        out[sel] = np.einsum("nk,nkd->nd", hits.bary[sel], corners)
        return out

    def cast_pixels(self, xy: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray) -> tuple[RayHits, np.ndarray, np.ndarray]:
        """Cast rays through continuous pixel coordinates; returns hits, z-depth (0 on miss), directions."""
        origins, directions, cos_axis = pixel_rays(xy, K, world_to_cam)
        hits = self.cast(origins, directions)
        depth = np.where(hits.hit, hits.t * cos_axis, 0.0)
        return hits, depth, directions


def camera_frame_rays(K: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions (H*W, 3) in the camera frame through all pixel centres, and their z (cos_axis)."""
    xy = pixel_centers(width, height)
    kinv = np.linalg.inv(np.asarray(K, dtype=np.float64))
    d = xy @ kinv[:, :2].T + kinv[:, 2]
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return d, d[:, 2].copy()


def render_view(raycaster: Raycaster, shader: SurfaceShader, K: np.ndarray, world_to_cam: np.ndarray,
                width: int, height: int, background: Sequence[int] = (0, 0, 0),
                rays_cam: tuple[np.ndarray, np.ndarray] | None = None) -> View:
    """Render one view: RGB, z-depth, mask, object-space xyz and face ids.

    ``rays_cam`` (from :func:`camera_frame_rays`) can be shared by all views with the same K and size.
    """
    d_cam, cos_axis = camera_frame_rays(K, width, height) if rays_cam is None else rays_cam
    w2c = np.asarray(world_to_cam, dtype=np.float64)
    directions = d_cam @ w2c[:3, :3]  # rotate to world: R^T d for each row
    origin = -w2c[:3, :3].T @ w2c[:3, 3]
    hits = raycaster.cast(np.broadcast_to(origin, directions.shape), directions)
    mask = hits.hit
    sel = np.nonzero(mask)[0]
    n = width * height
    depth = np.zeros(n, dtype=np.float32)
    depth[sel] = hits.t[sel] * cos_axis[sel]  # ray distance -> z-depth
    rgb = np.empty((n, 3), np.uint8)
    rgb[:] = np.asarray(background, dtype=np.uint8).reshape(1, 3)
    xyz = np.full((n, 3), np.nan, dtype=np.float32)
    if len(sel):
        face, bary = hits.face[sel], hits.bary[sel]
        rgb[sel] = shader.shade(face, bary, directions[sel])
        corners = raycaster.mesh.vertices[raycaster.mesh.faces[face]]
        xyz[sel] = np.einsum("nk,nkd->nd", bary, corners)
    return View(
        rgb=rgb.reshape(height, width, 3),
        depth=depth.reshape(height, width),
        mask=mask.reshape(height, width),
        xyz=xyz.reshape(height, width, 3),
        face_id=hits.face.reshape(height, width),
        K=np.asarray(K, dtype=np.float64).copy(),
        world_to_cam=w2c.copy(),
    )


def _image_size(resolution: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(resolution, (tuple, list)):
        width, height = int(resolution[0]), int(resolution[1])
    else:
        width = height = int(resolution)
    if width < 1 or height < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    return width, height


def render_poses(mesh: Mesh, world_to_cam: np.ndarray | Sequence[np.ndarray],
                 resolution: int | tuple[int, int] = 512, focal: float = 560.0,
                 background: Sequence[int] = (0, 0, 0), progress: Progress | None = None,
                 lighting: Lighting | None = None, K: np.ndarray | None = None) -> ViewSet:
    """Render ``mesh`` from explicit OpenCV ``world_to_cam`` poses (T, 4, 4), e.g. a video path.

    ``resolution`` is the side of a square image or ``(width, height)``; ``focal`` is in pixels
    at 512 px width and scaled with the width, unless ``K`` gives the intrinsics directly.
    """
    width, height = _image_size(resolution)
    poses = np.asarray(world_to_cam, dtype=np.float64).reshape(-1, 4, 4)
    K = intrinsics(width, height, scaled_focal(focal, width)) if K is None else np.asarray(K, np.float64)
    raycaster = Raycaster(mesh)
    shader = SurfaceShader(mesh, lighting)
    if progress is not None:
        progress.start(len(poses), f"rendering {mesh.name or 'mesh'}")
        progress.check()
    rays_cam = camera_frame_rays(K, width, height)
    views = []
    for pose in poses:
        views.append(render_view(raycaster, shader, K, pose, width, height, background, rays_cam))
        if progress is not None:
            progress.step()
    viewset = ViewSet(views=views, mesh=mesh, name=mesh.name,
                      background=tuple(int(c) for c in background))
    viewset.attach_raycaster(raycaster)
    return viewset


def render_views(mesh: Mesh, n_views: int = 42, resolution: int | tuple[int, int] = 512,
                 distance: float = 2.0, focal: float = 560.0, background: Sequence[int] = (0, 0, 0),
                 progress: Progress | None = None, lighting: Lighting | None = None) -> ViewSet:
    """Render ``n_views`` look-at views from icosphere-like directions at ``distance``.

    Defaults follow the multiview-equivariance protocol: 42 views, distance 2, focal 560 px at
    512 px, black background. The mesh is rendered as given (``load_mesh`` already normalised it).
    """
    return render_poses(mesh, sphere_poses(n_views, distance), resolution=resolution, focal=focal,
                        background=background, progress=progress, lighting=lighting)
