"""Surface colour and lighting of ray hits (vectorised over all hit pixels of a view).

Colour = face base colour x interpolated vertex colour x bilinear texture sample (each factor
present only when the mesh has it). Lighting is Lambertian with an ambient term and a few
directional lights fixed in world space, so a surface point has the same shade in every view
(which keeps ground-truth correspondences photometrically consistent). Normals face the camera
(two-sided lighting), so open meshes and inconsistent windings shade correctly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .mesh import Mesh


@dataclass(frozen=True)
class Lighting:
    """Ambient level plus directional lights (world-space directions towards the light)."""

    ambient: float = 0.35
    directions: tuple[tuple[float, float, float], ...] = field(
        default_factory=lambda: ((0.5, 0.9, 0.7), (-0.8, 0.3, 0.4), (0.1, -0.4, -0.9)))
    intensities: tuple[float, ...] = (0.55, 0.3, 0.2)

    def shade(self, normals: np.ndarray) -> np.ndarray:
        """Light intensity (N,) for unit normals (N, 3)."""
        dirs = np.asarray(self.directions, dtype=np.float64)
        dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
        lambert = np.clip(normals @ dirs.T, 0.0, None) @ np.asarray(self.intensities, dtype=np.float64)
        return self.ambient + lambert


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear sample of an (h, w, 3) uint8 texture at UVs (N, 2), wrapping; returns (N, 3) in [0, 1].

    ``v = 0`` is the bottom row of the image (OBJ/OpenGL convention).
    """
    h, w = texture.shape[:2]
    x = uv[:, 0].astype(np.float64) * w - 0.5
    y = (1.0 - uv[:, 1].astype(np.float64)) * h - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x0i, y0i = x0.astype(np.int64) % w, y0.astype(np.int64) % h
    x1i, y1i = (x0i + 1) % w, (y0i + 1) % h
    fx, fy = fx.astype(np.float32), fy.astype(np.float32)

    def texel(yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        return texture[yi, xi].astype(np.float32)

    top = texel(y0i, x0i) * (1 - fx) + texel(y0i, x1i) * fx
    bottom = texel(y1i, x0i) * (1 - fx) + texel(y1i, x1i) * fx
    return (top * (1 - fy) + bottom * fy) / 255.0


class SurfaceShader:
    """Precomputed per-mesh data for shading hits: normals and colour sources."""

    def __init__(self, mesh: Mesh, lighting: Lighting | None = None, crease_cos: float = 0.5) -> None:
        from .mesh import compute_vertex_normals, face_normals

        self.mesh = mesh
        self.lighting = lighting or Lighting()
        self.face_normals = face_normals(mesh.vertices, mesh.faces)
        vn = mesh.vertex_normals
        if vn is None or len(vn) != mesh.n_vertices or not np.all(np.isfinite(vn)):
            vn = compute_vertex_normals(mesh.vertices, mesh.faces)
        self.vertex_normals = vn
        self.crease_cos = crease_cos

    def normals(self, face: np.ndarray, bary: np.ndarray, ray_dirs: np.ndarray) -> np.ndarray:
        """Smooth normals at hits, replaced by face normals across creases, facing the camera."""
        fn = self.face_normals[face]
        corners = self.vertex_normals[self.mesh.faces[face]]  # (N, 3, 3)
        smooth = np.einsum("nk,nkd->nd", bary, corners)
        norm = np.linalg.norm(smooth, axis=1, keepdims=True)
        smooth = smooth / np.maximum(norm, 1e-12)
        use_face = (norm[:, 0] < 1e-6) | (np.abs(np.sum(smooth * fn, axis=1)) < self.crease_cos)
        n = np.where(use_face[:, None], fn, smooth)
        # Two-sided: make the normal point back towards the camera.
        flip = np.sum(n * ray_dirs, axis=1) > 0
        return np.where(flip[:, None], -n, n)

    def albedo(self, face: np.ndarray, bary: np.ndarray) -> np.ndarray:
        """Unlit colour (N, 3) in [0, 1] at hits."""
        mesh = self.mesh
        colour = mesh.face_colors[face].astype(np.float32)
        if mesh.vertex_colors is not None:
            corners = mesh.vertex_colors[mesh.faces[face]]
            colour = colour * np.einsum("nk,nkd->nd", bary, corners).astype(np.float32)
        if mesh.face_uvs is not None and mesh.textures:
            tex_id = mesh.face_texture[face]
            for t, texture in enumerate(mesh.textures):
                sel = np.nonzero(tex_id == t)[0]
                if len(sel) == 0:
                    continue
                uv = np.einsum("nk,nkd->nd", bary[sel], mesh.face_uvs[face[sel]])
                colour[sel] = colour[sel] * sample_texture(texture, uv)
        return colour

    def shade(self, face: np.ndarray, bary: np.ndarray, ray_dirs: np.ndarray) -> np.ndarray:
        """Lit colour (N, 3) uint8."""
        light = self.lighting.shade(self.normals(face, bary, ray_dirs))
        rgb = self.albedo(face, bary) * light[:, None].astype(np.float32)
        return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
