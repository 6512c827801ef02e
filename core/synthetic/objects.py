"""Procedural objects: geons and composed objects with procedural textures.

Composed objects have repeated parts (four chair legs, four car wheels, two headlights) that
share one texture, and left/right halves that look alike, so a point can only be told from its
twin by geometry or context -- the ambiguity 3D-aware features should resolve. Every object is
deterministic from ``(name, seed)``: the seed jitters proportions and picks colours and textures.
All objects are y-up, then centred and scaled to unit extent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import CorrvizError, suggest
from ..render.mesh import Mesh, normalize_mesh
from . import geons as g
from .textures import checker, noise, paint, pick_colors, random_texture, stripes

Part = tuple[list[g.Patch], np.ndarray]
Builder = Callable[[np.random.Generator], list[Part]]

# Bump when generation changes, so cached meshes are rebuilt.
GENERATOR_VERSION = 1


def _rot_x(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def _moved(patches: list[g.Patch], translation: tuple[float, float, float],
           rotation: np.ndarray | None = None) -> list[g.Patch]:
    return [p.transformed(rotation, np.asarray(translation, dtype=np.float64)) for p in patches]


def _j(rng: np.random.Generator, value: float, spread: float = 0.12) -> float:
    """``value`` jittered by up to +-``spread`` (relative)."""
    return float(value * rng.uniform(1 - spread, 1 + spread))


# ------------------------------------------------------------------------------ geons ---
def _geon_builder(name: str) -> Builder:
    def build(rng: np.random.Generator) -> list[Part]:
        if name == "box":
            patches = g.box(_j(rng, 1.0), _j(rng, 0.7), _j(rng, 0.5))
        elif name == "cylinder":
            patches = g.cylinder(_j(rng, 0.35), _j(rng, 1.0))
        elif name == "cone":
            patches = g.cone(_j(rng, 0.45), _j(rng, 1.0))
        elif name == "torus":
            patches = g.torus(_j(rng, 0.38), _j(rng, 0.12))
        elif name == "capsule":
            patches = g.capsule(_j(rng, 0.25), _j(rng, 1.0))
        elif name == "sphere":
            patches = g.sphere(0.5)
        elif name == "bowl":
            patches = g.bowl(0.5, _j(rng, 0.06))
        else:
            patches = g.wedge(_j(rng, 1.0), _j(rng, 0.6), _j(rng, 0.6))
        return [(patches, random_texture(rng))]

    return build


# --------------------------------------------------------------------------- composed ---
def _chair(rng: np.random.Generator) -> list[Part]:
    w, d, seat_h = _j(rng, 0.9), _j(rng, 0.85), _j(rng, 0.5)
    t, leg_r, back_h = _j(rng, 0.08), _j(rng, 0.04, 0.2), _j(rng, 0.8)
    seat = _moved(g.box(w, t, d), (0, seat_h + t / 2, 0))
    back = _moved(g.box(w, back_h, t), (0, seat_h + t + back_h / 2, -d / 2 + t / 2))
    legs: list[g.Patch] = []
    for sx in (-1, 1):
        for sz in (-1, 1):
            legs += _moved(g.cylinder(leg_r, seat_h, 24), (sx * (w / 2 - 2 * leg_r), seat_h / 2,
                                                          sz * (d / 2 - 2 * leg_r)))
    return [(seat, checker(rng)), (back, stripes(rng, vertical=True)), (legs, paint(rng))]


def _table(rng: np.random.Generator) -> list[Part]:
    w, d, h, t, leg = _j(rng, 1.4), _j(rng, 0.8), _j(rng, 0.72), _j(rng, 0.07), _j(rng, 0.07, 0.2)
    top = _moved(g.box(w, t, d), (0, h - t / 2, 0))
    legs: list[g.Patch] = []
    for sx in (-1, 1):
        for sz in (-1, 1):
            legs += _moved(g.box(leg, h - t, leg), (sx * (w / 2 - 1.5 * leg), (h - t) / 2,
                                                     sz * (d / 2 - 1.5 * leg)))
    return [(top, noise(rng)), (legs, paint(rng))]


def _mug(rng: np.random.Generator) -> list[Part]:
    r, h = _j(rng, 0.4), _j(rng, 0.9)
    wall = _j(rng, 0.04, 0.2)
    body = g.tube(r, r - wall, h)
    major, minor = _j(rng, 0.22), _j(rng, 0.05, 0.2)
    # The handle's ends sink half a wall thickness into the wall, never through it.
    handle = _moved(g.partial_torus(major, minor, -np.pi / 2, np.pi / 2), (r + minor - wall / 2, 0, 0))
    return [(body, stripes(rng, vertical=False)), (handle, paint(rng))]


def _car(rng: np.random.Generator) -> list[Part]:
    length, width, body_h = _j(rng, 2.0, 0.08), _j(rng, 0.9, 0.08), _j(rng, 0.45)
    wheel_r, wheel_w, clearance = _j(rng, 0.22), _j(rng, 0.15), _j(rng, 0.12, 0.2)
    body_y = clearance + body_h / 2
    body = _moved(g.box(length, body_h, width), (0, body_y, 0))
    cabin_l, cabin_h = _j(rng, 1.0), _j(rng, 0.4)
    cabin = _moved(g.box(cabin_l, cabin_h, width * 0.85), (-0.12 * length, body_y + body_h / 2 + cabin_h / 2, 0))
    wheels: list[g.Patch] = []
    for sx in (-1, 1):
        for sz in (-1, 1):
            wheels += _moved(g.cylinder(wheel_r, wheel_w, 32), (sx * 0.32 * length, wheel_r,
                                                               sz * (width / 2 - wheel_w / 2 + 0.02)),
                             rotation=_rot_x(90))
    lamp = (0.04, 0.09, 0.16)
    heads: list[g.Patch] = []
    tails: list[g.Patch] = []
    for sz in (-1, 1):
        z = sz * width * 0.32
        heads += _moved(g.box(*lamp), (length / 2 + lamp[0] / 2, body_y + body_h * 0.2, z))
        tails += _moved(g.box(*lamp), (-length / 2 - lamp[0] / 2, body_y + body_h * 0.2, z))
    body_colour = pick_colors(rng, 1)[0]
    return [
        (body, paint(rng, color=body_colour)), (cabin, checker(rng)),
        (wheels, checker(rng, cells=4, colors=np.array([[40, 40, 45], [150, 150, 155]]))), (heads, paint(rng, color=np.array([250, 240, 150]))),
        (tails, paint(rng, color=np.array([200, 20, 20]))),
    ]


GEON_NAMES = ("box", "cylinder", "cone", "torus", "capsule", "sphere", "bowl", "wedge")
COMPOSED: dict[str, Builder] = {"chair": _chair, "mug": _mug, "car": _car, "table": _table}
BUILDERS: dict[str, Builder] = {**{n: _geon_builder(n) for n in GEON_NAMES}, **COMPOSED}


def list_objects(kind: str = "all") -> list[str]:
    """Names of the procedural objects: ``kind`` is ``all``, ``geons`` or ``composed``."""
    if kind == "geons":
        return list(GEON_NAMES)
    if kind == "composed":
        return list(COMPOSED)
    if kind == "all":
        return list(BUILDERS)
    raise ValueError(f"kind must be 'all', 'geons' or 'composed', got {kind!r}")


def assemble(parts: list[Part], name: str = "") -> Mesh:
    """Concatenate textured parts into one :class:`Mesh` (textures shared by identity)."""
    verts, faces, uvs, normals, tex_ids = [], [], [], [], []
    textures: list[np.ndarray] = []
    index_of: dict[int, int] = {}
    offset = 0
    for patches, texture in parts:
        if id(texture) not in index_of:
            index_of[id(texture)] = len(textures)
            textures.append(texture)
        t = index_of[id(texture)]
        for p in patches:
            verts.append(p.vertices)
            faces.append(p.faces + offset)
            uvs.append(p.uvs)
            normals.append(p.normals)
            tex_ids.append(np.full(len(p.faces), t, np.int32))
            offset += len(p.vertices)
    return Mesh(vertices=np.concatenate(verts), faces=np.concatenate(faces), face_uvs=np.concatenate(uvs),
                face_texture=np.concatenate(tex_ids), textures=textures,
                vertex_normals=np.concatenate(normals), name=name, source=f"corrviz.synthetic:{name}")


def build_object(name: str, seed: int = 0) -> Mesh:
    """Generate an object (no cache), centred and scaled to unit extent."""
    if name not in BUILDERS:
        raise CorrvizError(f"unknown synthetic object {name!r}.{suggest(name, BUILDERS)} "
                           f"Available: {', '.join(BUILDERS)}")
    rng = np.random.default_rng([int(seed), sum(ord(c) for c in name)])
    mesh = normalize_mesh(assemble(BUILDERS[name](rng), name=name))
    mesh.name = name
    return mesh
