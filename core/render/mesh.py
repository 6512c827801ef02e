"""Triangle meshes for rendering: loading, validation, normalisation and a compact NPZ format.

A :class:`Mesh` is a plain container of numpy arrays. Colour comes from three sources that are
multiplied together per surface point: the face's base colour (material colour), the vertex
colours (when the file has them) and a UV texture (when the face has one). Texture coordinates
follow the OBJ/OpenGL convention that Open3D returns for every format: ``v = 0`` is the bottom
row of the texture image.

Files are read with Open3D (``read_triangle_model`` for formats that have materials, OBJ and
glTF/GLB; ``read_triangle_mesh`` for PLY, STL, OFF and as a fallback). :func:`load_mesh`
normalises the mesh to unit extent (the longest side of its bounding box is 1) and centres the
bounding box at the origin, as the multiview-equivariance paper does.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import MeshError
from ..io import atomic_write
from .backend import require_open3d

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf", ".npz")
DEFAULT_GREY = (0.7, 0.7, 0.7)
_MODEL_SUFFIXES = (".obj", ".glb", ".gltf")


@dataclass
class Mesh:
    """A triangle mesh with optional UV textures, vertex colours and vertex normals.

    vertices:       (V, 3) float64 positions.
    faces:          (F, 3) int32 vertex indices.
    face_uvs:       (F, 3, 2) float32 texture coordinates per face corner, or None.
    face_texture:   (F,) int32 index into ``textures``; -1 for faces without a texture.
    textures:       list of (h, w, 3) uint8 RGB images.
    face_colors:    (F, 3) float32 base colour in [0, 1] (multiplies texture and vertex colour).
    vertex_colors:  (V, 3) float32 in [0, 1], or None.
    vertex_normals: (V, 3) float64 unit normals used for smooth shading, or None (computed).
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_uvs: np.ndarray | None = None
    face_texture: np.ndarray | None = None
    textures: list[np.ndarray] = field(default_factory=list)
    face_colors: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None
    vertex_normals: np.ndarray | None = None
    name: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float64).reshape(-1, 3)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int32).reshape(-1, 3)
        n_faces = len(self.faces)
        if self.face_texture is None:
            self.face_texture = np.full(n_faces, -1, dtype=np.int32)
        self.face_texture = np.asarray(self.face_texture, dtype=np.int32).reshape(n_faces)
        if self.face_colors is None:
            self.face_colors = np.ones((n_faces, 3), dtype=np.float32)
        self.face_colors = np.asarray(self.face_colors, dtype=np.float32).reshape(n_faces, 3)
        if self.face_uvs is not None:
            self.face_uvs = np.asarray(self.face_uvs, dtype=np.float32).reshape(n_faces, 3, 2)
        if self.vertex_colors is not None:
            self.vertex_colors = np.asarray(self.vertex_colors, dtype=np.float32).reshape(-1, 3)
        if self.vertex_normals is not None:
            self.vertex_normals = np.asarray(self.vertex_normals, dtype=np.float64).reshape(-1, 3)
        self.textures = [np.ascontiguousarray(t, dtype=np.uint8) for t in self.textures]

    @property
    def n_faces(self) -> int:
        return int(len(self.faces))

    @property
    def n_vertices(self) -> int:
        return int(len(self.vertices))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box ``(min, max)``."""
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    def extent(self) -> float:
        """Longest side of the bounding box."""
        lo, hi = self.bounds()
        return float(np.max(hi - lo))


# ----------------------------------------------------------------------------- validation ---
def validate_mesh(mesh: Mesh, source: str = "mesh") -> Mesh:
    """Raise :class:`MeshError` (naming ``source``) if the mesh cannot be rendered."""
    if mesh.n_vertices == 0:
        raise MeshError(f"{source}: the mesh has no vertices (unreadable, empty or not a mesh file)")
    if mesh.n_faces == 0:
        raise MeshError(f"{source}: the mesh has no faces (a point cloud cannot be rendered)")
    if not np.all(np.isfinite(mesh.vertices)):
        bad = int(np.sum(~np.all(np.isfinite(mesh.vertices), axis=1)))
        raise MeshError(f"{source}: {bad} vertices have NaN or infinite coordinates")
    if mesh.faces.min() < 0 or mesh.faces.max() >= mesh.n_vertices:
        raise MeshError(f"{source}: face indices out of range (mesh has {mesh.n_vertices} vertices)")
    used = mesh.vertices[np.unique(mesh.faces)]
    if float(np.max(used.max(axis=0) - used.min(axis=0))) <= 1e-12:
        raise MeshError(f"{source}: the mesh has zero extent (all vertices coincide)")
    n_tex = len(mesh.textures)
    if mesh.face_texture.max(initial=-1) >= n_tex:
        raise MeshError(f"{source}: a face refers to texture {int(mesh.face_texture.max())}, "
                        f"but only {n_tex} textures exist")
    if np.any(mesh.face_texture >= 0) and mesh.face_uvs is None:
        raise MeshError(f"{source}: faces have a texture but no texture coordinates")
    return mesh


def normalize_mesh(mesh: Mesh) -> Mesh:
    """Return a copy centred at the bounding-box centre and scaled to unit extent."""
    lo, hi = mesh.bounds()
    extent = float(np.max(hi - lo))
    if not np.isfinite(extent) or extent <= 1e-12:
        raise MeshError(f"{mesh.source or mesh.name or 'mesh'}: zero extent, cannot normalise")
    centre = (lo + hi) / 2.0
    return replace(mesh, vertices=(mesh.vertices - centre) / extent)


def compute_vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals; vertices at the same position share one normal."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    # Weld coincident positions so that seams (duplicated vertices for UVs) shade smoothly.
    scale = max(float(np.ptp(v, axis=0).max()), 1e-12)
    keys = np.round(v / scale * 1e6).astype(np.int64)
    _, weld = np.unique(keys, axis=0, return_inverse=True)
    weld = weld.reshape(-1)
    cross = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    acc = np.zeros((int(weld.max()) + 1, 3))
    for k in range(3):
        np.add.at(acc, weld[f[:, k]], cross)
    normals = acc[weld]
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(norm > 0, normals / np.maximum(norm, 1e-300), 0.0)


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit face normals (zero for degenerate faces)."""
    v = np.asarray(vertices, dtype=np.float64)
    cross = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    norm = np.linalg.norm(cross, axis=1, keepdims=True)
    return np.where(norm > 0, cross / np.maximum(norm, 1e-300), 0.0)


# -------------------------------------------------------------------------------- loading ---
def _to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else (255.0 if arr.max(initial=0) > 1 else 1.0)
        arr = np.clip(np.round(arr / top * 255.0), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[..., :3])


def _srgb_from_linear(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def missing_texture_files(path: Path) -> list[str]:
    """Texture files named by an OBJ's MTL files or a glTF's JSON that do not exist."""
    missing: list[str] = []
    suffix = path.suffix.lower()
    try:
        if suffix == ".obj":
            text = path.read_text(errors="replace")
            for mtl_name in re.findall(r"^\s*mtllib\s+(.+?)\s*$", text, flags=re.MULTILINE):
                mtl = path.parent / mtl_name
                if not mtl.exists():
                    continue
                for line in mtl.read_text(errors="replace").splitlines():
                    parts = line.strip().split(None, 1)
                    if len(parts) == 2 and parts[0].lower() in ("map_kd", "map_ka"):
                        tex = parts[1].strip().split(" -")[0].strip()
                        if not (mtl.parent / tex).exists():
                            missing.append(str(mtl.parent / tex))
        elif suffix == ".gltf":
            doc = json.loads(path.read_text(errors="replace"))
            for image in doc.get("images", []):
                uri = image.get("uri", "")
                if uri and not uri.startswith("data:") and not (path.parent / uri).exists():
                    missing.append(str(path.parent / uri))
    except (OSError, ValueError):
        return missing
    return sorted(set(missing))


def _from_model(path: Path) -> Mesh | None:
    """Read through ``read_triangle_model`` (keeps per-part materials); None if it reads nothing."""
    o3d = require_open3d()

    model = o3d.io.read_triangle_model(str(path))
    if len(model.meshes) == 0:
        return None
    linear_colours = path.suffix.lower() in (".glb", ".gltf")
    is_obj = path.suffix.lower() == ".obj"
    verts, faces, uvs, tex_ids, colours, vcols, vnorms, textures = [], [], [], [], [], [], [], []
    offset, any_uv, any_vcol, all_vn = 0, False, False, True
    for info in model.meshes:
        part = info.mesh
        v = np.asarray(part.vertices, dtype=np.float64)
        f = np.asarray(part.triangles, dtype=np.int64)
        if len(f) == 0:
            continue
        material = model.materials[info.material_idx] if info.material_idx < len(model.materials) else None
        base = np.asarray(material.base_color[:3], dtype=np.float64) if material is not None else np.ones(3)
        if linear_colours:
            base = _srgb_from_linear(base)
        has_vc = part.has_vertex_colors() and len(part.vertex_colors) == len(v)
        if is_obj and has_vc:
            base = np.ones(3)  # OBJ vertex colours are the colour; Kd (assimp's default 0.6) would dim them
        tex_index = -1
        part_uv = np.asarray(part.triangle_uvs, dtype=np.float32)
        has_uv = len(part_uv) == 3 * len(f)
        if material is not None and material.albedo_img is not None and has_uv:
            image = np.asarray(material.albedo_img)
            if image.size > 0:
                textures.append(_to_rgb_uint8(image))
                tex_index = len(textures) - 1
        any_uv = any_uv or has_uv
        uvs.append(part_uv.reshape(-1, 3, 2) if has_uv else np.zeros((len(f), 3, 2), np.float32))
        verts.append(v)
        faces.append(f + offset)
        tex_ids.append(np.full(len(f), tex_index, np.int32))
        colours.append(np.tile(base, (len(f), 1)))
        any_vcol = any_vcol or has_vc
        vcols.append(np.asarray(part.vertex_colors) if has_vc else np.ones((len(v), 3)))
        has_vn = part.has_vertex_normals() and len(part.vertex_normals) == len(v)
        all_vn = all_vn and has_vn
        vnorms.append(np.asarray(part.vertex_normals) if has_vn else np.zeros((len(v), 3)))
        offset += len(v)
    if not faces:
        return Mesh(np.concatenate(verts) if verts else np.zeros((0, 3)), np.zeros((0, 3)))
    return Mesh(
        vertices=np.concatenate(verts), faces=np.concatenate(faces),
        face_uvs=np.concatenate(uvs) if any_uv else None, face_texture=np.concatenate(tex_ids),
        textures=textures, face_colors=np.concatenate(colours),
        vertex_colors=np.concatenate(vcols) if any_vcol else None,
        vertex_normals=np.concatenate(vnorms) if all_vn else None,
    )


def _from_legacy(path: Path) -> Mesh:
    o3d = require_open3d()

    tm = o3d.io.read_triangle_mesh(str(path), enable_post_processing=False)
    v = np.asarray(tm.vertices, dtype=np.float64)
    f = np.asarray(tm.triangles, dtype=np.int64)
    uv = np.asarray(tm.triangle_uvs, dtype=np.float32)
    has_uv = len(f) > 0 and len(uv) == 3 * len(f)
    textures: list[np.ndarray] = []
    face_tex = np.full(len(f), -1, np.int32)
    images = [np.asarray(t) for t in tm.textures]
    if has_uv and images:
        mat = np.asarray(tm.triangle_material_ids, dtype=np.int64)
        if len(mat) != len(f):
            mat = np.zeros(len(f), np.int64)
        remap = np.full(len(images), -1, np.int32)
        for i, image in enumerate(images):
            if image.size > 0:
                textures.append(_to_rgb_uint8(image))
                remap[i] = len(textures) - 1
        face_tex = np.where((mat >= 0) & (mat < len(images)), remap[np.clip(mat, 0, len(images) - 1)], -1)
    return Mesh(
        vertices=v, faces=f, face_uvs=uv.reshape(-1, 3, 2) if has_uv else None,
        face_texture=face_tex.astype(np.int32), textures=textures,
        vertex_colors=np.asarray(tm.vertex_colors) if tm.has_vertex_colors() else None,
        vertex_normals=np.asarray(tm.vertex_normals) if tm.has_vertex_normals() else None,
    )


def _count_points(path: Path) -> int:
    """Vertices in a file that yielded no mesh (to tell 'no faces' from 'unreadable')."""
    try:
        if path.suffix.lower() == ".obj":
            with path.open(errors="replace") as fh:
                return sum(1 for line in fh if line.startswith("v "))
        o3d = require_open3d()

        return len(o3d.io.read_point_cloud(str(path)).points)
    except (OSError, RuntimeError, ValueError):
        return 0


def load_mesh(path: str | os.PathLike, normalize: bool = True) -> Mesh:
    """Read a mesh file (OBJ+MTL+texture, PLY, STL, OFF, GLB/glTF, or corrviz NPZ).

    The result is validated and, by default, centred and scaled to unit extent. Raises
    :class:`MeshError` naming the file when it is missing, unreadable, has no faces, has NaN
    vertices or zero extent. A texture file named by the mesh but missing on disk is not an
    error: the faces fall back to vertex colours (or the material colour when the file has none)
    and a ``UserWarning`` names the missing file.
    """
    p = Path(path)
    if not p.exists():
        raise MeshError(f"{p}: file does not exist")
    if p.is_dir():
        raise MeshError(f"{p}: is a folder, not a mesh file")
    suffix = p.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise MeshError(f"{p}: unsupported mesh format {suffix!r} (supported: {', '.join(MESH_SUFFIXES)})")
    if suffix == ".npz":
        mesh = load_mesh_npz(p)
    else:
        missing = missing_texture_files(p)
        try:
            mesh = _from_model(p) if suffix in _MODEL_SUFFIXES else None
            if mesh is None or mesh.n_faces == 0:
                mesh = _from_legacy(p)
        except (RuntimeError, ValueError, OSError) as exc:
            raise MeshError(f"{p}: unreadable mesh file ({exc})") from None
        if mesh.n_faces == 0:
            n_points = mesh.n_vertices or _count_points(p)
            if n_points:
                raise MeshError(f"{p}: the file has {n_points} vertices but no faces "
                                "(a point cloud cannot be rendered)")
            raise MeshError(f"{p}: unreadable mesh file (no vertices or faces could be read)")
        if missing:
            warnings.warn(f"{p}: texture file(s) {', '.join(missing)} not found; "
                          "using vertex colours instead", UserWarning, stacklevel=2)
    mesh.name = mesh.name or p.stem
    mesh.source = str(p)
    validate_mesh(mesh, str(p))
    return normalize_mesh(mesh) if normalize else mesh


# ------------------------------------------------------------------------------------ NPZ ---
def save_mesh_npz(mesh: Mesh, path: str | os.PathLike) -> None:
    """Write a mesh (geometry, UVs, textures, colours) to one compressed NPZ file, atomically."""
    arrays: dict[str, np.ndarray] = {
        "vertices": mesh.vertices, "faces": mesh.faces, "face_texture": mesh.face_texture,
        "face_colors": mesh.face_colors, "n_textures": np.array(len(mesh.textures)),
        "name": np.array(mesh.name), "source": np.array(mesh.source),
    }
    if mesh.face_uvs is not None:
        arrays["face_uvs"] = mesh.face_uvs
    if mesh.vertex_colors is not None:
        arrays["vertex_colors"] = mesh.vertex_colors
    if mesh.vertex_normals is not None:
        arrays["vertex_normals"] = mesh.vertex_normals
    for i, tex in enumerate(mesh.textures):
        arrays[f"texture_{i}"] = tex
    with atomic_write(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_mesh_npz(path: str | os.PathLike) -> Mesh:
    """Read a mesh written by :func:`save_mesh_npz` (not normalised again)."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            n_tex = int(data["n_textures"])
            return Mesh(
                vertices=data["vertices"], faces=data["faces"],
                face_uvs=data["face_uvs"] if "face_uvs" in data else None,
                face_texture=data["face_texture"], face_colors=data["face_colors"],
                textures=[data[f"texture_{i}"] for i in range(n_tex)],
                vertex_colors=data["vertex_colors"] if "vertex_colors" in data else None,
                vertex_normals=data["vertex_normals"] if "vertex_normals" in data else None,
                name=str(data["name"]), source=str(data["source"]),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise MeshError(f"{p}: not a corrviz mesh NPZ ({exc})") from None
