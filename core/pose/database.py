"""Onboarding: a database of dense features and 3D object points from reference views.

For every reference view (RGB + z-depth + mask + K + object-to-camera pose), features are extracted
through a :class:`~corrviz.core.evaluate.FeatureStore` (so per-image features are cached on disk
like every other benchmark's). Every ``stride``-th cell of the patch grid whose centre lies on the
object is kept: its L2-normalised feature, the object point under it (the pixel containing the
cell centre, back-projected with its depth: exact for rendered views) and its view id. Cells whose
feature is zero (dense SIFT on a flat region) carry no information and are left out.

The database itself is cached as one safetensors file under ``$CORRVIZ_CACHE/pose_db/<backbone>/``,
keyed by the feature setting (backbone, weights digest, checkpoint, resolution, tap, canvas), the
stride and the content of every reference view (RGB, depth, mask, K, pose); files are written
atomically and a foreign or corrupt file is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..io import atomic_path
from ..progress import Progress
from ..settings import cache_dir
from .views import RefView

if TYPE_CHECKING:  # pragma: no cover
    from ..evaluate.cache import FeatureStore
    from ..features import FeatureMap

DB_FORMAT = 1


@dataclass
class PoseDatabase:
    """Features (N, D) unit-norm float32, object points (N, 3), view ids (N,), reference pixels (N, 2)."""

    features: torch.Tensor
    points: np.ndarray
    view_ids: np.ndarray
    ref_xy: np.ndarray
    n_views: int
    stride: int
    setting: dict[str, Any] = field(default_factory=dict)
    view_names: list[str] = field(default_factory=list)
    from_cache: bool = False

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1]) if self.features.ndim == 2 else 0

    def summary(self) -> dict[str, Any]:
        per_view = np.bincount(self.view_ids, minlength=self.n_views) if len(self) else np.zeros(self.n_views)
        return {"n_points": len(self), "n_views": self.n_views, "stride_cells": self.stride, "dim": self.dim,
                "points_per_view_mean": float(per_view.mean()) if self.n_views else 0.0,
                "from_cache": self.from_cache}


def cell_selection(fm: FeatureMap, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices and image coordinates (N, 2) of every ``stride``-th cell inside the image content."""
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    gh, gw = fm.grid_shape
    keep = np.zeros((gh, gw), bool)
    keep[::stride, ::stride] = True
    keep &= fm.transform.content_mask()
    idx = np.flatnonzero(keep.ravel())
    centres = fm.cell_centers().reshape(-1, 2)[idx]
    return idx, centres


def informative(unit: torch.Tensor) -> np.ndarray:
    """Rows of unit features that are not zero (a zero descriptor matches everything equally)."""
    return (unit.norm(dim=1) > 0.5).numpy()


def view_entries(view: RefView, fm: FeatureMap, stride: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(features (n, D), object points (n, 3), pixel centres (n, 2)) of one view's object cells."""
    idx, xy = cell_selection(fm, stride)
    pts, centres, valid = view.backproject_pixels(xy)
    unit = fm.unit()[torch.from_numpy(idx)]
    keep = valid & informative(unit)
    sel = torch.from_numpy(np.flatnonzero(keep))
    return unit[sel].contiguous(), pts[keep], centres[keep]


def _digest_views(views: list[RefView]) -> str:
    h = hashlib.sha1()
    for v in views:
        for arr in (v.rgb, v.depth, v.mask, v.K, v.object_to_camera):
            a = np.ascontiguousarray(arr)
            h.update(str((a.dtype.str, a.shape)).encode())
            h.update(a.tobytes())
    return h.hexdigest()


def database_key(store: FeatureStore, views: list[RefView], stride: int) -> str:
    return hashlib.sha1(f"pose-db{DB_FORMAT}|{store.setting_digest}|{stride}|{_digest_views(views)}".encode()
                        ).hexdigest()


def default_database_dir() -> Path:
    """``$CORRVIZ_CACHE/pose_db``."""
    return cache_dir() / "pose_db"


def _path(root: Path, store: FeatureStore, key: str) -> Path:
    return root / store.extractor.backbone.name / f"{key}.safetensors"


def save_database(db: PoseDatabase, path: Path, key: str) -> None:
    from safetensors.torch import save_file

    meta = {"key": key, "format": str(DB_FORMAT), "n_views": str(db.n_views), "stride": str(db.stride),
            "setting": json.dumps(db.setting, sort_keys=True), "view_names": json.dumps(db.view_names)}
    tensors = {"features": db.features.contiguous(), "points": torch.from_numpy(np.ascontiguousarray(db.points)),
               "view_ids": torch.from_numpy(db.view_ids.astype(np.int32)),
               "ref_xy": torch.from_numpy(np.ascontiguousarray(db.ref_xy))}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_database(path: Path, key: str | None = None) -> PoseDatabase | None:
    """A database file (never executes code); None if absent, foreign (other ``key``) or corrupt."""
    if not path.is_file():
        return None
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        if key is not None and meta.get("key") != key:
            return None
        t = load_file(str(path))
        return PoseDatabase(t["features"], t["points"].numpy().astype(np.float64), t["view_ids"].numpy(),
                            t["ref_xy"].numpy().astype(np.float64), int(meta["n_views"]), int(meta["stride"]),
                            json.loads(meta.get("setting", "{}")), json.loads(meta.get("view_names", "[]")),
                            from_cache=True)
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError):
        return None


def build_database(views: list[RefView], store: FeatureStore, stride: int = 1, progress: Progress | None = None,
                   cache_root: Path | str | None = None, use_cache: bool = True) -> PoseDatabase:
    """Onboard ``views`` (see the module docstring); ``cache_root`` defaults to ``$CORRVIZ_CACHE/pose_db``."""
    from ..errors import DatasetError

    if not views:
        raise DatasetError("pose onboarding needs at least one reference view")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    root = Path(cache_root) if cache_root is not None else default_database_dir()
    key = database_key(store, views, stride)
    path = _path(root, store, key)
    if use_cache:
        cached = load_database(path, key)
        if cached is not None:
            return cached
    store.prefetch([v.rgb for v in views])
    if progress is not None:
        progress.start(len(views), f"onboarding {len(views)} reference views")
    feats, pts, ids, xys = [], [], [], []
    for i, v in enumerate(views):
        f, p, xy = view_entries(v, store.get(v.rgb), stride)
        feats.append(f)
        pts.append(p)
        xys.append(xy)
        ids.append(np.full(len(p), i, np.int32))
        if progress is not None:
            progress.step()
    db = PoseDatabase(torch.cat(feats) if feats else torch.zeros(0, 0), np.concatenate(pts), np.concatenate(ids),
                      np.concatenate(xys), len(views), stride, dict(store.setting), [v.name for v in views])
    if len(db) == 0:
        raise DatasetError("pose onboarding: no reference view has an object cell with depth "
                           f"(checked {len(views)} views; are the masks and depths empty?)")
    if use_cache:
        save_database(db, path, key)
    return db
