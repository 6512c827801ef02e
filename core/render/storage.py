"""A view set on disk, and ground-truth point tracks.

Folder layout written by :func:`write_view_set` (every file written atomically)::

    <folder>/
      cameras.json          format "corrviz-viewset" v1: name, background, depth convention, and per
                            view: index, width, height, K (3x3), world_to_cam (4x4, OpenCV), file names
      rgb/000.png           RGB uint8
      mask/000.png          8-bit grey, 255 = object, 0 = background
      geometry/000.npz      depth (H, W) float32 z-depth, 0 on background; xyz (H, W, 3) float32
                            object-space points, NaN on background; face_id (H, W) int32, -1 on background
      mesh.npz              the (normalised) mesh, for exact sub-pixel correspondences (optional)
      tracks.npz            ground-truth point tracks of a camera path (optional):
                            query_xy (N, 2), positions (N, T, 2), visibility (N, T), xyz (N, 3), query_frame

Loading is exact: every array reads back bit for bit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError, ImageLoadError, MeshError
from ..io import atomic_write, load_image, read_json, save_image, write_json
from .correspondence import PointTracks
from .mesh import load_mesh_npz, save_mesh_npz
from .viewset import View, ViewSet

FORMAT = "corrviz-viewset"
FORMAT_VERSION = 1
CAMERAS_FILE = "cameras.json"


def _save_mask(path: Path, mask: np.ndarray) -> None:
    from PIL import Image

    from ..io import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(tmp)


def _load_mask(path: Path) -> np.ndarray:
    from PIL import Image

    if not path.exists():
        raise DatasetError(f"{path}: mask file is missing")
    with Image.open(path) as im:
        return np.asarray(im.convert("L")) > 127


def write_view_set(viewset: ViewSet, folder: str | os.PathLike, write_mesh: bool = True) -> Path:
    """Write ``viewset`` to ``folder`` in the layout described in this module; returns the folder."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    for i, view in enumerate(viewset.views):
        stem = f"{i:03d}"
        save_image(root / "rgb" / f"{stem}.png", view.rgb)
        _save_mask(root / "mask" / f"{stem}.png", view.mask)
        with atomic_write(root / "geometry" / f"{stem}.npz", "wb") as fh:
            np.savez_compressed(fh, depth=view.depth.astype(np.float32), xyz=view.xyz.astype(np.float32),
                                face_id=view.face_id.astype(np.int32))
        entries.append({
            "index": i, "width": view.width, "height": view.height,
            "K": view.K.tolist(), "world_to_cam": view.world_to_cam.tolist(),
            "rgb": f"rgb/{stem}.png", "mask": f"mask/{stem}.png", "geometry": f"geometry/{stem}.npz",
        })
    has_mesh = write_mesh and viewset.mesh is not None
    if has_mesh:
        save_mesh_npz(viewset.mesh, root / "mesh.npz")
    write_json(root / CAMERAS_FILE, {
        "format": FORMAT, "version": FORMAT_VERSION, "name": viewset.name,
        "background": list(viewset.background), "depth": "z-depth, 0 on background",
        "camera_convention": "OpenCV world_to_cam (x right, y down, z forward); pixel (r, c) centre at (c+0.5, r+0.5)",
        "mesh": "mesh.npz" if has_mesh else None, "views": entries,
    })
    return root


def _matrix(entry: dict[str, Any], key: str, shape: tuple[int, int], where: Path) -> np.ndarray:
    try:
        arr = np.asarray(entry[key], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise DatasetError(f"{where}: view {entry.get('index', '?')} has no valid {key!r}") from None
    if arr.shape != shape:
        raise DatasetError(f"{where}: view {entry.get('index', '?')} {key!r} has shape {arr.shape}, "
                           f"expected {shape}")
    return arr


def load_view_set(folder: str | os.PathLike, load_mesh: bool = True) -> ViewSet:
    """Read a folder written by :func:`write_view_set`; :class:`DatasetError` names what is wrong."""
    root = Path(folder)
    meta_path = root / CAMERAS_FILE
    meta = read_json(meta_path, DatasetError, "the view set's camera file (not a corrviz view set?)")
    if meta.get("format") != FORMAT:
        raise DatasetError(f"{meta_path}: format is {meta.get('format')!r}, expected {FORMAT!r}")
    if int(meta.get("version", 0)) > FORMAT_VERSION:
        raise DatasetError(f"{meta_path}: version {meta.get('version')} is newer than this corrviz reads")
    views = []
    for entry in meta.get("views", []):
        K = _matrix(entry, "K", (3, 3), meta_path)
        w2c = _matrix(entry, "world_to_cam", (4, 4), meta_path)
        try:
            rgb = load_image(root / entry["rgb"])
        except ImageLoadError as exc:
            raise DatasetError(str(exc)) from None
        mask = _load_mask(root / entry["mask"])
        geo_path = root / entry["geometry"]
        if not geo_path.exists():
            raise DatasetError(f"{geo_path}: geometry file is missing")
        try:
            with np.load(geo_path, allow_pickle=False) as geo:
                depth, xyz, face_id = geo["depth"], geo["xyz"], geo["face_id"]
        except (OSError, KeyError, ValueError) as exc:
            raise DatasetError(f"{geo_path}: unreadable geometry ({exc})") from None
        h, w = int(entry["height"]), int(entry["width"])
        for label, arr in (("rgb", rgb), ("mask", mask), ("depth", depth), ("xyz", xyz), ("face_id", face_id)):
            if arr.shape[:2] != (h, w):
                raise DatasetError(f"{root}: view {entry['index']} {label} is {arr.shape[:2]}, expected {(h, w)}")
        views.append(View(rgb=rgb, depth=depth.astype(np.float32), mask=mask, xyz=xyz.astype(np.float32),
                          face_id=face_id.astype(np.int32), K=K, world_to_cam=w2c))
    mesh = None
    if load_mesh and meta.get("mesh"):
        try:
            mesh = load_mesh_npz(root / meta["mesh"])
        except MeshError as exc:
            raise DatasetError(str(exc)) from None
    background = tuple(int(c) for c in meta.get("background", (0, 0, 0)))
    return ViewSet(views=views, mesh=mesh, name=str(meta.get("name", "")), background=background)


def write_point_tracks(tracks: PointTracks, path: str | os.PathLike) -> None:
    """Write ground-truth tracks to an NPZ file (atomically)."""
    with atomic_write(path, "wb") as fh:
        np.savez_compressed(fh, query_xy=tracks.query_xy, positions=tracks.positions,
                            visibility=tracks.visibility, xyz=tracks.xyz,
                            query_frame=np.array(tracks.query_frame))


def load_point_tracks(path: str | os.PathLike) -> PointTracks:
    """Read tracks written by :func:`write_point_tracks`."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            return PointTracks(query_xy=data["query_xy"], positions=data["positions"],
                               visibility=data["visibility"].astype(bool), xyz=data["xyz"],
                               query_frame=int(data["query_frame"]))
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{p}: not a corrviz tracks file ({exc})") from None
