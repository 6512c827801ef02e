"""Building blocks of the semantic categories: parts with frames, keypoints in part coordinates.

Conventions shared by every category (the "canonical frame" after normalisation):

* y is up, the object's FRONT faces +z, and its left/right axis is x: the object's own LEFT is
  +x (seen from the front, a camera at azimuth 0 sees the object's left on the image's right,
  as a person facing you has their left hand on your right).
* The object is mirror-symmetric about the plane x = 0: every part on the left has a twin on
  the right built from the same jittered numbers, and every ``left_*`` keypoint has a
  ``right_*`` twin whose part-coordinate definition is the mirror image (x negated).
* A keypoint is defined on a part, in that part's own coordinates (e.g. "the outer cap centre of
  the front-left wheel"), and carried through the part's placement and the normalisation (centre
  at the bounding-box centre, longest side 1) exactly as the part's vertices are.
* Keypoints lie ON the surface (they are snapped to the closest point of the final triangle
  mesh), so the renderer's depth test decides their visibility.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...errors import CorrvizError
from ...render.mesh import Mesh, normalize_mesh
from .. import geons as g
from ..objects import assemble

# Bump when any category's generation changes, so cached data sets are rebuilt.
CATEGORY_GENERATOR_VERSION = 1
MIRROR = np.diag([-1.0, 1.0, 1.0])  # the left/right mirror of the canonical frame (x -> -x)


def rot_x(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def rot_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def rot_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


@dataclass(frozen=True)
class Frame:
    """A part's placement: object point = rotation @ part point + translation."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def place(self, local: Sequence[float] | np.ndarray) -> np.ndarray:
        return np.asarray(self.rotation, np.float64) @ np.asarray(local, np.float64) + np.asarray(self.translation)


def jitter(rng: np.random.Generator, value: float, spread: float = 0.15) -> float:
    """``value`` scaled by a factor drawn uniformly in [1 - spread, 1 + spread]."""
    return float(value * rng.uniform(1 - spread, 1 + spread))


# ---------------------------------------------------------------- points on primitives ---
_FACE_AXES = {"x": 0, "y": 1, "z": 2}


def box_point(size: Sequence[float], face: str, u: float, v: float) -> np.ndarray:
    """A point on a face of the box ``g.box(*size)`` (centred at the origin), in its coordinates.

    ``face`` is ``+x``, ``-x``, ``+y``, ``-y``, ``+z`` or ``-z``; ``u``, ``v`` in [-1, 1] run along the
    two other axes in x, y, z order, as fractions of the half sizes.
    """
    half = np.asarray(size, np.float64) / 2.0
    axis = _FACE_AXES[face[1]]
    others = [a for a in range(3) if a != axis]
    p = np.zeros(3)
    p[axis] = half[axis] if face[0] == "+" else -half[axis]
    p[others[0]] = u * half[others[0]]
    p[others[1]] = v * half[others[1]]
    return p


def cylinder_side_point(radius: float, height: float, angle_deg: float, h: float) -> np.ndarray:
    """Point on the side of ``g.cylinder(radius, height)`` (axis y); ``angle`` from +x towards -z
    (the revolve convention), ``h`` in [-1, 1] a fraction of the half height."""
    a = np.deg2rad(angle_deg)
    return np.array([radius * np.cos(a), h * height / 2.0, -radius * np.sin(a)])


def direction_angle(direction_xz: Sequence[float]) -> float:
    """The revolve angle (degrees) of a horizontal direction (x, z): from +x towards -z."""
    return float(np.degrees(np.arctan2(-direction_xz[1], direction_xz[0])))


def sphere_point(radius: float, direction: Sequence[float]) -> np.ndarray:
    d = np.asarray(direction, np.float64)
    return radius * d / np.linalg.norm(d)


# --------------------------------------------------------------------------- assembly ---
class Assembly:
    """Parts (patches + texture) placed by frames, and keypoints given in part coordinates."""

    def __init__(self) -> None:
        self.parts: list[tuple[list[g.Patch], np.ndarray]] = []
        self.keypoints: dict[str, np.ndarray] = {}
        self.part_names: list[str] = []

    def add(self, name: str, patches: list[g.Patch], texture: np.ndarray, frame: Frame | None = None) -> Frame:
        """Place ``patches`` (part coordinates) by ``frame`` (default identity); returns the frame."""
        frame = frame or Frame()
        moved = [p.transformed(frame.rotation, frame.translation) for p in patches]
        self.parts.append((moved, texture))
        self.part_names.append(name)
        return frame

    def keypoint(self, name: str, frame: Frame, local: Sequence[float] | np.ndarray) -> None:
        """Keypoint ``name`` at ``local`` in the coordinates of the part placed by ``frame``."""
        if name in self.keypoints:
            raise CorrvizError(f"keypoint {name!r} defined twice")
        self.keypoints[name] = frame.place(local)

    def twin_keypoints(self, name: str, frames: tuple[Frame, Frame], local_left: Sequence[float]) -> None:
        """``left_<name>`` at ``local_left`` on ``frames[0]`` and ``right_<name>`` at the mirror
        image (x negated) in the coordinates of ``frames[1]`` (the mirrored part)."""
        self.keypoint(f"left_{name}", frames[0], local_left)
        self.keypoint(f"right_{name}", frames[1], MIRROR @ np.asarray(local_left, np.float64))


def mirrored(frame: Frame) -> Frame:
    """The mirror image (x -> -x) of a part placement: M R M, M t.

    A part built mirror-symmetric about its own x = 0 plane (boxes, cylinders, spheres about
    their axes) placed by ``mirrored(f)`` is the exact mirror image of the part placed by ``f``.
    """
    return Frame(MIRROR @ np.asarray(frame.rotation) @ MIRROR, MIRROR @ np.asarray(frame.translation))


# --------------------------------------------------------------------------- category ---
Builder = Callable[[np.random.Generator], Assembly]


@dataclass(frozen=True)
class Category:
    """A semantic category: named keypoints (ids are their positions), twins, and a builder."""

    name: str
    keypoints: tuple[str, ...]
    build: Builder
    description: str = ""

    @property
    def twins(self) -> dict[str, str]:
        """Left/right twin of each keypoint that has one (``left_x`` <-> ``right_x``)."""
        out: dict[str, str] = {}
        for k in self.keypoints:
            for a, b in (("left_", "right_"), ("right_", "left_")):
                if k.startswith(a) and b + k[len(a):] in self.keypoints:
                    out[k] = b + k[len(a):]
        return out

    @property
    def twin_ids(self) -> dict[int, int]:
        idx = {k: i for i, k in enumerate(self.keypoints)}
        return {idx[a]: idx[b] for a, b in self.twins.items()}


@dataclass
class Instance:
    """One generated object of a category, normalised, with its keypoints.

    mesh:      unit-extent mesh in the canonical frame (see the module docstring).
    keypoints: (K, 3) object-space points in the category's keypoint order; NaN rows for
               keypoints this instance lacks (e.g. armrest ends of a chair without armrests).
    """

    category: str
    seed: int
    mesh: Mesh
    keypoints: np.ndarray
    names: tuple[str, ...]
    twins: dict[int, int]
    parts: tuple[str, ...] = ()

    @property
    def instance_id(self) -> str:
        return f"{self.category}-s{self.seed}"

    @property
    def present(self) -> np.ndarray:
        return np.all(np.isfinite(self.keypoints), axis=1)


def snap_to_surface(mesh: Mesh, points: np.ndarray) -> np.ndarray:
    """Closest points (N, 3) of the triangle mesh to ``points`` (NaN rows pass through)."""
    from ...render.backend import require_open3d

    o3d = require_open3d()
    out = np.array(points, dtype=np.float64, copy=True)
    ok = np.all(np.isfinite(out), axis=1)
    if not np.any(ok):
        return out
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    ans = scene.compute_closest_points(o3d.core.Tensor(out[ok].astype(np.float32)))
    out[ok] = ans["points"].numpy().astype(np.float64)
    return out


def finish(category: Category, assembly: Assembly, seed: int) -> Instance:
    """Assemble, normalise mesh and keypoints together, snap keypoints onto the surface."""
    unknown = sorted(set(assembly.keypoints) - set(category.keypoints))
    if unknown:
        raise CorrvizError(f"category {category.name}: builder made undeclared keypoints {unknown}")
    raw = assemble(assembly.parts, name=category.name)
    lo, hi = raw.bounds()
    centre, extent = (lo + hi) / 2.0, float(np.max(hi - lo))
    mesh = normalize_mesh(raw)
    mesh.name = f"{category.name}-s{seed}"
    mesh.source = f"corrviz.synthetic.categories:{category.name}:{seed}"
    kps = np.full((len(category.keypoints), 3), np.nan)
    for i, name in enumerate(category.keypoints):
        if name in assembly.keypoints:
            kps[i] = (assembly.keypoints[name] - centre) / extent
    return Instance(category=category.name, seed=int(seed), mesh=mesh, keypoints=snap_to_surface(mesh, kps),
                    names=category.keypoints, twins=category.twin_ids, parts=tuple(assembly.part_names))
