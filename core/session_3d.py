"""The session's 3-D jobs: meshes coloured by their features, and sphere-mapper maps.

Plain functions from a request to a result, run off the GUI thread by the app (like the jobs in
:mod:`corrviz.core.session`); they take a :class:`~corrviz.core.progress.Progress` where they are
long. Heavy libraries (torch, Open3D) load lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import CheckpointMismatchError
from .session import ExtractionOptions, ImageInput, extract_maps

if TYPE_CHECKING:  # pragma: no cover
    from .features import FeatureMap
    from .progress import Progress


def check_sphere_checkpoint(path: str, backbone: str) -> dict:
    """Metadata of a sphere-mapper checkpoint usable with ``backbone``; clear errors otherwise."""
    from .checkpoint import read_checkpoint_metadata

    meta = read_checkpoint_metadata(path)
    name, kinds = Path(path).name, [str(m.get("type")) for m in meta.get("modules", [])]
    if not kinds or kinds[-1] != "sphere_mapper":
        raise CheckpointMismatchError(
            f"{name} is not a sphere mapper: it is a '{meta.get('method', '?')}' checkpoint with modules "
            f"[{', '.join(kinds) or 'none'}]. Load it as the finetuned checkpoint instead; a sphere mapper's "
            "last module is 'sphere_mapper'.")
    if meta.get("backbone") != backbone:
        raise CheckpointMismatchError(
            f"{name} maps '{meta.get('backbone')}' features to the sphere, but the current backbone is "
            f"'{backbone}'. Pick '{meta.get('backbone')}' in the backbone list first.")
    return meta


def extract_sphere(images: list[ImageInput], options: ExtractionOptions, checkpoint: str,
                   progress: Progress | None = None) -> list[FeatureMap]:
    """Sphere maps (3 channels, unit vectors per cell) of the images, on the same grid as the features."""
    feature = check_sphere_checkpoint(checkpoint, options.backbone).get("feature") or {}
    sphere_opts = replace(options, checkpoint=checkpoint, layer=feature.get("layer", options.layer),
                          facet=feature.get("facet", options.facet))
    return extract_maps([im.rgb for im in images], sphere_opts, progress)


def sphere_points(maps: list[FeatureMap], cells: list[np.ndarray]) -> list[np.ndarray]:
    """The sphere point (N_i, 3) of each listed (row, col) cell of each sphere map."""
    out = []
    for fm, rc in zip(maps, cells, strict=True):
        grid = fm.features.detach().cpu().numpy()  # (3, h, w)
        out.append(grid[:, rc[:, 0], rc[:, 1]].T.astype(np.float32))
    return out


@dataclass
class MeshArrays:
    """A mesh ready for the 3-D view: vertices (V, 3), faces (F, 3), optional colours (V, 3) in [0, 1].

    ``up``: the model axis that points up ("+y" for glTF by specification and for most OBJ/PLY
    scans, "+z" for STL, usually CAD). ``options``: the extraction options the colours were computed
    for (None: the mesh's own colours).
    """

    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: np.ndarray | None = None
    note: str = ""
    up: str = "+y"
    options: ExtractionOptions | None = None


def default_up_axis(path: str) -> str:
    """The up axis a mesh file most likely uses, from its format."""
    return "+z" if Path(path).suffix.lower() == ".stl" else "+y"


def load_mesh_arrays(path: str, options: ExtractionOptions | None = None, n_views: int = 8,
                     resolution: int = 256, progress: Progress | None = None) -> MeshArrays:
    """Load and validate a mesh; with ``options``, colour its vertices by the PCA of their features.

    Per-vertex features: the mesh is rendered from ``n_views`` directions, features are extracted
    from each view and sampled at the projections of the vertices that pass a depth test; a
    vertex's feature is the mean over the views that see it.
    """
    from .render import load_mesh, render_views, validate_mesh

    mesh = validate_mesh(load_mesh(path), str(path))
    out = MeshArrays(mesh.vertices, mesh.faces, mesh.vertex_colors, "Shaded by the mesh's own colours.",
                     up=default_up_axis(path))
    if options is None:
        return out
    views = render_views(mesh, n_views=n_views, resolution=resolution, progress=progress)
    maps = extract_maps([v.rgb for v in views.views], options, progress)
    acc = np.zeros((len(mesh.vertices), maps[0].dim))
    seen = np.zeros(len(mesh.vertices))
    for view, fm in zip(views.views, maps, strict=True):
        xy, z = view.project(mesh.vertices)
        col = np.clip(np.floor(xy[:, 0]).astype(int), 0, view.width - 1)
        row = np.clip(np.floor(xy[:, 1]).astype(int), 0, view.height - 1)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < view.width) & (xy[:, 1] >= 0) & (xy[:, 1] < view.height)
        depth = view.depth[row, col]
        vis = inside & view.mask[row, col] & (np.abs(depth - z) < 0.02 * max(float(z.max()), 1e-6))
        if vis.any():
            acc[vis] += fm.sample(xy[vis]).double().numpy()
            seen[vis] += 1
    if not seen.any():
        out.note, out.options = "No vertex was visible in the rendered views; shown without feature colours.", options
        return out
    feats = acc[seen > 0] / seen[seen > 0, None]
    feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-9)
    centred = feats - feats.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    proj = centred @ vt[:3].T
    lo, hi = np.percentile(proj, 1, axis=0), np.percentile(proj, 99, axis=0)
    colors = np.full((len(mesh.vertices), 3), 0.35, np.float32)
    colors[seen > 0] = np.clip((proj - lo) / np.maximum(hi - lo, 1e-9), 0, 1)
    out.vertex_colors, out.options = colors, options
    out.note = (f"Vertices coloured by the PCA of {options.backbone} features from {n_views} rendered views "
                f"({int((seen > 0).sum())} of {len(seen)} vertices seen; unseen ones grey).")
    return out
