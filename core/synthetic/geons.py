"""Geons: simple closed solids with texture coordinates, built from parametric patches.

Every geon is a list of :class:`Patch` objects. A patch is a smooth piece of surface: its
vertex normals are averaged within the patch only, so the edges between patches (a box's
edges, a cylinder's rims) stay sharp. Texture coordinates run over [0, 1] on each patch
(around x along for surfaces of revolution, planar for flat caps). All geons are y-up and
centred near the origin; sizes are in arbitrary units (objects are normalised afterwards).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..render.mesh import compute_vertex_normals


@dataclass
class Patch:
    """A piece of triangle surface: vertices (V, 3), faces (F, 3), uvs (F, 3, 2), normals (V, 3)."""

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    normals: np.ndarray

    def transformed(self, rotation: np.ndarray | None = None, translation: np.ndarray | None = None) -> Patch:
        """Rotate (3x3) then translate (3,) the patch."""
        rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
        shift = np.zeros(3) if translation is None else np.asarray(translation, dtype=np.float64)
        return Patch(self.vertices @ rot.T + shift, self.faces.copy(), self.uvs.copy(), self.normals @ rot.T)


Surface = Callable[[np.ndarray, np.ndarray], np.ndarray]


def grid_patch(surface: Surface, nu: int, nv: int) -> Patch:
    """Triangulate ``surface(u, v) -> (..., 3)`` over u, v in [0, 1] with nu x nv quads."""
    u, v = np.meshgrid(np.linspace(0.0, 1.0, nu + 1), np.linspace(0.0, 1.0, nv + 1))
    verts = surface(u, v).reshape(-1, 3)
    idx = np.arange((nv + 1) * (nu + 1)).reshape(nv + 1, nu + 1)
    a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    uv_flat = np.stack([u.ravel(), v.ravel()], axis=1)
    normals = compute_vertex_normals(verts, faces)
    return Patch(verts, faces.astype(np.int32), uv_flat[faces].astype(np.float32), normals)


def revolve(radius: np.ndarray, height: np.ndarray, n_around: int = 48) -> Patch:
    """Surface of revolution about +y of the profile ``(radius[i], height[i])``."""
    radius = np.asarray(radius, dtype=np.float64)
    height = np.asarray(height, dtype=np.float64)
    n_prof = len(radius) - 1
    t = np.linspace(0.0, 1.0, n_prof + 1)

    def surface(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        r = np.interp(v, t, radius)
        y = np.interp(v, t, height)
        angle = 2.0 * np.pi * u
        return np.stack([r * np.cos(angle), y, -r * np.sin(angle)], axis=-1)

    return grid_patch(surface, n_around, n_prof)


def disc(radius: float, y: float, n_around: int = 48, rings: int = 4) -> Patch:
    """Flat disc at height ``y`` facing +y, planar texture coordinates."""

    def surface(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        r = radius * v
        angle = 2.0 * np.pi * u
        return np.stack([r * np.cos(angle), np.full_like(r, y), -r * np.sin(angle)], axis=-1)

    patch = grid_patch(surface, n_around, rings)
    corners = patch.vertices[patch.faces]
    patch.uvs = np.stack([corners[..., 0] / (2 * radius) + 0.5, corners[..., 2] / (2 * radius) + 0.5],
                         axis=-1).astype(np.float32)
    patch.normals = np.tile([0.0, 1.0, 0.0], (len(patch.vertices), 1))
    return patch


def quad(origin: np.ndarray, edge_u: np.ndarray, edge_v: np.ndarray) -> Patch:
    """Flat parallelogram ``origin + u * edge_u + v * edge_v``."""
    o, eu, ev = (np.asarray(x, dtype=np.float64) for x in (origin, edge_u, edge_v))
    patch = grid_patch(lambda u, v: o + u[..., None] * eu + v[..., None] * ev, 1, 1)
    n = np.cross(eu, ev)
    patch.normals = np.tile(n / np.linalg.norm(n), (len(patch.vertices), 1))
    return patch


def triangle(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> Patch:
    """One flat triangle with UVs (0, 0), (1, 0), (0, 1)."""
    verts = np.stack([p0, p1, p2]).astype(np.float64)
    n = np.cross(verts[1] - verts[0], verts[2] - verts[0])
    return Patch(verts, np.array([[0, 1, 2]], np.int32), np.array([[[0, 0], [1, 0], [0, 1]]], np.float32),
                 np.tile(n / np.linalg.norm(n), (3, 1)))


# ------------------------------------------------------------------------------ geons ---
def box(sx: float = 1.0, sy: float = 1.0, sz: float = 1.0) -> list[Patch]:
    """Axis-aligned box centred at the origin, one patch per side."""
    hx, hy, hz = sx / 2, sy / 2, sz / 2
    return [
        quad([-hx, -hy, hz], [sx, 0, 0], [0, sy, 0]),    # front (+z)
        quad([hx, -hy, -hz], [-sx, 0, 0], [0, sy, 0]),   # back (-z)
        quad([hx, -hy, hz], [0, 0, -sz], [0, sy, 0]),    # right (+x)
        quad([-hx, -hy, -hz], [0, 0, sz], [0, sy, 0]),   # left (-x)
        quad([-hx, hy, hz], [sx, 0, 0], [0, 0, -sz]),    # top (+y)
        quad([-hx, -hy, -hz], [sx, 0, 0], [0, 0, sz]),   # bottom (-y)
    ]


def cylinder(radius: float = 0.5, height: float = 1.0, n_around: int = 48) -> list[Patch]:
    """Closed cylinder along y, centred at the origin."""
    h = height / 2
    return [revolve(np.array([radius, radius]), np.array([-h, h]), n_around),
            disc(radius, h, n_around), disc(radius, -h, n_around)]


def cone(radius: float = 0.5, height: float = 1.0, n_around: int = 48) -> list[Patch]:
    """Closed cone along y with its apex up, centred at half height."""
    h = height / 2
    r = np.linspace(radius, 0.0, 9)
    return [revolve(r, np.linspace(-h, h, 9), n_around), disc(radius, -h, n_around)]


def sphere(radius: float = 0.5, n_around: int = 48, n_rings: int = 24) -> list[Patch]:
    """UV sphere."""
    phi = np.linspace(-np.pi / 2, np.pi / 2, n_rings + 1)
    return [revolve(radius * np.cos(phi), radius * np.sin(phi), n_around)]


def capsule(radius: float = 0.3, length: float = 1.0, n_around: int = 48, n_cap: int = 12) -> list[Patch]:
    """Cylinder of total length ``length`` along y with hemispherical ends."""
    h = max(length / 2 - radius, 0.0)
    a = np.linspace(-np.pi / 2, 0.0, n_cap + 1)
    b = np.linspace(0.0, np.pi / 2, n_cap + 1)
    r = np.concatenate([radius * np.cos(a), radius * np.cos(b)])
    y = np.concatenate([radius * np.sin(a) - h, radius * np.sin(b) + h])
    return [revolve(r, y, n_around)]


def torus(major: float = 0.4, minor: float = 0.12, n_around: int = 48, n_tube: int = 24) -> list[Patch]:
    """Torus around y."""

    def surface(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        a, b = 2 * np.pi * u, 2 * np.pi * v
        r = major + minor * np.cos(b)
        return np.stack([r * np.cos(a), minor * np.sin(b), -r * np.sin(a)], axis=-1)

    return [grid_patch(surface, n_around, n_tube)]


def bowl(radius: float = 0.5, thickness: float = 0.06, n_around: int = 48, n_rings: int = 16) -> list[Patch]:
    """Hemispherical bowl (opening up) with a wall of the given thickness."""
    phi = np.linspace(-np.pi / 2, 0.0, n_rings + 1)
    inner = radius - thickness
    return [
        revolve(radius * np.cos(phi), radius * np.sin(phi), n_around),             # outside
        revolve(np.array([radius, inner]), np.array([0.0, 0.0]), n_around),        # rim
        revolve(inner * np.cos(phi[::-1]), inner * np.sin(phi[::-1]), n_around),   # inside
    ]


def wedge(sx: float = 1.0, sy: float = 0.6, sz: float = 0.6) -> list[Patch]:
    """Triangular prism: a right triangle in x-y (right angle at -x, -y) extruded along z."""
    hx, hy, hz = sx / 2, sy / 2, sz / 2
    a, b, c = np.array([-hx, -hy]), np.array([hx, -hy]), np.array([-hx, hy])

    def p(xy: np.ndarray, z: float) -> np.ndarray:
        return np.array([xy[0], xy[1], z])

    return [
        triangle(p(a, hz), p(b, hz), p(c, hz)),
        triangle(p(a, -hz), p(c, -hz), p(b, -hz)),
        quad(p(a, hz), p(b, hz) - p(a, hz), p(a, -hz) - p(a, hz)),     # bottom
        quad(p(a, -hz), p(c, -hz) - p(a, -hz), p(a, hz) - p(a, -hz)),  # back wall
        quad(p(b, hz), p(c, hz) - p(b, hz), p(b, -hz) - p(b, hz)),     # slope
    ]


def tube(outer: float, inner: float, height: float, bottom: float | None = None,
         n_around: int = 48) -> list[Patch]:
    """Open-topped cup shape: outer wall, rim, inner wall, inner floor and outer base.

    ``bottom`` is the floor thickness (default: the wall thickness).
    """
    h = height / 2
    floor = (outer - inner) if bottom is None else bottom
    return [
        revolve(np.array([outer, outer]), np.array([-h, h]), n_around),
        revolve(np.array([outer, inner]), np.array([h, h]), n_around),
        revolve(np.array([inner, inner]), np.array([h, -h + floor]), n_around),
        disc(inner, -h + floor, n_around),
        disc(outer, -h, n_around),
    ]


def partial_torus(major: float, minor: float, start: float, stop: float, n_around: int = 24,
                  n_tube: int = 16) -> list[Patch]:
    """Part of a torus in the x-y plane (angles in radians from +x towards +y), open ends."""

    def surface(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        a = start + (stop - start) * u
        b = 2 * np.pi * v
        r = major + minor * np.cos(b)
        return np.stack([r * np.cos(a), r * np.sin(a), minor * np.sin(b)], axis=-1)

    return [grid_patch(surface, n_around, n_tube)]


GEONS: dict[str, Callable[[], list[Patch]]] = {
    "box": lambda: box(1.0, 0.7, 0.5),
    "cylinder": lambda: cylinder(0.35, 1.0),
    "cone": lambda: cone(0.45, 1.0),
    "torus": lambda: torus(0.38, 0.12),
    "capsule": lambda: capsule(0.25, 1.0),
    "sphere": lambda: sphere(0.5),
    "bowl": lambda: bowl(0.5, 0.06),
    "wedge": lambda: wedge(1.0, 0.6, 0.6),
}
