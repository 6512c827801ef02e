"""Reference views for onboarding: RGB + z-depth + mask + intrinsics + object-to-camera pose.

Two sources: corrviz's renderer (:func:`reference_views` of a :class:`~corrviz.core.render.ViewSet`,
exact depth and pose) and a user folder in this layout (:func:`load_reference_folder`)::

    <folder>/
      poses.json     {"format": "corrviz-pose-references", "version": 1,
                      "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],      (or "K" in every view)
                      "depth_scale": 0.001,      depth file value x depth_scale = z-depth in object units
                      "views": [{"rgb": "rgb/000.png", "depth": "depth/000.png",
                                 "mask": "mask/000.png",             (optional: else depth > 0)
                                 "object_to_camera": 4x4 OpenCV matrix (x right, y down, z forward)}, ...]}
      rgb/*.png|jpg  RGB images
      depth/*.png    16-bit z-depth (along the optical axis, not ray distance; 0 = no depth), or .npy
                     float32 z-depth; each the size of its RGB image
      mask/*.png     optional object masks (non-zero = object)

A corrviz view-set folder (``cameras.json``, written by ``corrviz-data`` or :func:`write_view_set`)
is read as well. Poses map object coordinates to the camera; the 3D points of the database are
in that object frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError, ImageLoadError
from ..io import load_image, read_json

FOLDER_FORMAT = "corrviz-pose-references"
POSES_FILE = "poses.json"


@dataclass
class RefView:
    """One reference view: ``rgb`` (H, W, 3) uint8, ``depth`` (H, W) z-depth (0 = none), ``mask``
    (H, W) bool, ``K`` (3, 3), ``object_to_camera`` (4, 4) OpenCV."""

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    K: np.ndarray
    object_to_camera: np.ndarray
    name: str = ""

    def backproject_pixels(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Object points under image points ``xy`` (N, 2): each is read at the pixel containing it and
        back-projected through that pixel's centre with its z-depth.

        Returns ``(object points (N, 3), pixel centres used (N, 2), valid (N,))``; valid where the
        point is inside the image, on the mask and has a positive depth (NaN points elsewhere).
        """
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        h, w = self.depth.shape
        cols = np.floor(xy[:, 0]).astype(np.int64)
        rows = np.floor(xy[:, 1]).astype(np.int64)
        inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
        c, r = np.clip(cols, 0, w - 1), np.clip(rows, 0, h - 1)
        z = self.depth[r, c].astype(np.float64)
        valid = inside & self.mask[r, c] & np.isfinite(z) & (z > 0)
        centres = np.stack([c + 0.5, r + 0.5], axis=1).astype(np.float64)
        rays = np.concatenate([centres, np.ones((len(centres), 1))], axis=1) @ np.linalg.inv(self.K).T
        cam = rays * z[:, None]
        rot, t = self.object_to_camera[:3, :3], self.object_to_camera[:3, 3]
        obj = (cam - t) @ rot  # R^T (x_cam - t) for each row
        obj[~valid] = np.nan
        return obj, centres, valid


def reference_views(viewset: Any, indices: list[int] | None = None) -> list[RefView]:
    """Reference views from a rendered :class:`~corrviz.core.render.ViewSet` (exact depth and pose)."""
    idx = range(len(viewset.views)) if indices is None else indices
    return [RefView(v.rgb, v.depth, v.mask, v.K, v.world_to_cam, f"{viewset.name or 'view'}[{i}]")
            for i, v in ((i, viewset.views[i]) for i in idx)]


def _matrix(value: Any, shape: tuple[int, int], what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{what} is not a numeric matrix") from None
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise DatasetError(f"{what} must be a finite {shape[0]}x{shape[1]} matrix, got shape {arr.shape}")
    return arr


def _read_depth(path: Path, scale: float) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"{path}: depth file is missing")
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False).astype(np.float32) * np.float32(scale)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: unreadable depth array ({exc})") from None
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except OSError as exc:
        raise DatasetError(f"{path}: unreadable depth image ({exc})") from None
    if arr.ndim != 2:
        raise DatasetError(f"{path}: depth must be a single-channel (16-bit) image, got shape {arr.shape}")
    return arr.astype(np.float32) * np.float32(scale)


def load_reference_folder(folder: str | os.PathLike) -> list[RefView]:
    """Read reference views in the user layout of this module (or a corrviz view-set folder)."""
    root = Path(folder)
    if (root / "cameras.json").is_file() and not (root / POSES_FILE).is_file():
        from ..render.storage import load_view_set

        return reference_views(load_view_set(root, load_mesh=False))
    meta_path = root / POSES_FILE
    meta = read_json(meta_path, DatasetError, f"the reference poses file ({FOLDER_FORMAT} layout)")
    if meta.get("format") != FOLDER_FORMAT:
        raise DatasetError(f"{meta_path}: format is {meta.get('format')!r}, expected {FOLDER_FORMAT!r}")
    scale = float(meta.get("depth_scale", 1.0))
    if not scale > 0:
        raise DatasetError(f"{meta_path}: depth_scale must be positive, got {scale}")
    entries = meta.get("views") or []
    if not entries:
        raise DatasetError(f"{meta_path}: lists no views")
    views = []
    for i, e in enumerate(entries):
        where = f"{meta_path}: view {i}"
        if "rgb" not in e or "depth" not in e or "object_to_camera" not in e:
            raise DatasetError(f"{where} needs 'rgb', 'depth' and 'object_to_camera'")
        K = _matrix(e.get("K", meta.get("K")), (3, 3), f"{where} K")
        pose = _matrix(e["object_to_camera"], (4, 4), f"{where} object_to_camera")
        rot = pose[:3, :3]
        if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) or np.linalg.det(rot) < 0:
            raise DatasetError(f"{where} object_to_camera: the 3x3 block is not a rotation")
        try:
            rgb = load_image(root / e["rgb"])
        except ImageLoadError as exc:
            raise DatasetError(str(exc)) from None
        depth = _read_depth(root / e["depth"], scale)
        if depth.shape != rgb.shape[:2]:
            raise DatasetError(f"{where}: depth is {depth.shape[1]}x{depth.shape[0]}, rgb is "
                               f"{rgb.shape[1]}x{rgb.shape[0]}")
        if e.get("mask"):
            try:
                mask = load_image(root / e["mask"])[..., 0] > 0
            except ImageLoadError as exc:
                raise DatasetError(str(exc)) from None
            if mask.shape != depth.shape:
                raise DatasetError(f"{where}: mask size differs from the rgb size")
        else:
            mask = depth > 0
        views.append(RefView(rgb, depth, mask & (depth > 0), K, pose, str(e["rgb"])))
    return views
