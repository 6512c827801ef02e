"""Joint PCA of several feature maps, for colour overlays and 3-D point clouds.

The projection is fitted once on the cells of all maps together (optionally only foreground
cells) and the colour range is shared, so the same part gets the same colour in every image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .features import FeatureMap


@dataclass
class JointPCA:
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (k, D), rows are principal axes
    lo: np.ndarray  # (k,) colour range lower bound (robust percentile)
    hi: np.ndarray  # (k,)
    explained_variance_ratio: np.ndarray

    def project(self, feats: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, k) raw PCA coordinates."""
        return (np.asarray(feats, np.float64) - self.mean) @ self.components.T

    def to_unit(self, proj: np.ndarray) -> np.ndarray:
        return np.clip((proj - self.lo) / np.maximum(self.hi - self.lo, 1e-12), 0.0, 1.0)


def _cells(fm: FeatureMap, normalize: bool) -> np.ndarray:
    return (fm.unit() if normalize else fm.features.reshape(fm.dim, -1).T).double().numpy()


def fit_joint_pca(maps: Sequence[FeatureMap], n_components: int = 3, foreground_only: bool = False,
                  normalize: bool = True, percentile: float = 1.0) -> JointPCA:
    """Fit PCA on the (foreground) cells of all maps; colour range = [p, 100 - p] percentiles."""
    rows = []
    for fm in maps:
        x = _cells(fm, normalize)
        # cells touching the canvas padding are left out: their features are part padding
        keep = fm.foreground().ravel() if foreground_only else fm.transform.inner_cell_mask().ravel()
        rows.append(x[keep] if keep.any() else x)
    data = np.concatenate(rows, axis=0)
    mean = data.mean(axis=0)
    centred = data - mean
    k = min(n_components, centred.shape[1], centred.shape[0])
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:k]
    # Fix each axis' sign (largest-magnitude loading positive) so colours are stable across runs.
    signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
    comps = comps * signs[:, None]
    proj = centred @ comps.T
    var = s ** 2
    return JointPCA(mean, comps, np.percentile(proj, percentile, axis=0),
                    np.percentile(proj, 100 - percentile, axis=0), var[:k] / max(var.sum(), 1e-12))


def joint_pca_rgb(maps: Sequence[FeatureMap], foreground_only: bool = False, normalize: bool = True,
                  pca: JointPCA | None = None) -> list[np.ndarray]:
    """RGB images (grid_h, grid_w, 3) in [0, 1], one per map, with consistent colours.

    With ``foreground_only`` the PCA is fitted on foreground cells and background cells are black.
    """
    pca = pca or fit_joint_pca(maps, 3, foreground_only, normalize)
    out = []
    for fm in maps:
        rgb = pca.to_unit(pca.project(_cells(fm, normalize))).reshape(*fm.grid_shape, -1)
        if rgb.shape[-1] < 3:
            rgb = np.concatenate([rgb, np.zeros((*rgb.shape[:2], 3 - rgb.shape[-1]))], axis=-1)
        if foreground_only:
            rgb = rgb * fm.foreground()[..., None]
        out.append(rgb.astype(np.float32))
    return out


def pca_points(maps: Sequence[FeatureMap], foreground_only: bool = True) -> list[np.ndarray]:
    """3-D point clouds (N_i, 3) of each map's cells in a shared PCA space (for the 3-D view)."""
    pca = fit_joint_pca(maps, 3, foreground_only)
    return [pca.project(_cells(fm, True))[(fm.foreground() if foreground_only else np.ones(fm.grid_shape, bool)).ravel()]
            for fm in maps]


def _pixel_cells(fm: FeatureMap) -> np.ndarray:
    """(H, W, 2) cell (row, col) under the centre of every image pixel."""
    t = fm.transform
    ys, xs = np.mgrid[0: t.image_h, 0: t.image_w]
    return t.image_to_cell(np.stack([xs + 0.5, ys + 0.5], axis=-1))


def upsample_rgb(rgb: np.ndarray, fm: FeatureMap) -> np.ndarray:
    """Resample a grid-shaped RGB map to the original image size (nearest cell), uint8 (H, W, 3)."""
    cells = _pixel_cells(fm)
    return (np.clip(rgb[cells[..., 0], cells[..., 1]], 0, 1) * 255).astype(np.uint8)


def upsample_rgba(rgb: np.ndarray, fm: FeatureMap) -> np.ndarray:
    """Like :func:`upsample_rgb` with an alpha channel, (H, W, 4) uint8: pixels of cells that touch
    the canvas padding (:meth:`CanvasTransform.inner_cell_mask`) are transparent, so padding never
    shows colour on the image."""
    cells = _pixel_cells(fm)
    inner = fm.transform.inner_cell_mask()[cells[..., 0], cells[..., 1]]
    out = np.empty((*cells.shape[:2], 4), dtype=np.uint8)
    out[..., :3] = np.clip(rgb[cells[..., 0], cells[..., 1]], 0, 1) * 255
    out[..., 3] = np.where(inner, 255, 0)
    return out


__all__ = ["JointPCA", "fit_joint_pca", "joint_pca_rgb", "pca_points", "upsample_rgb", "upsample_rgba"]
