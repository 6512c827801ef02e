"""Padding never shows colour: cells whose patch touches the canvas padding are left out of the display."""

from __future__ import annotations

import numpy as np
import torch

from corrviz.core.features import FeatureMap, FeatureOptions
from corrviz.core.pca import fit_joint_pca, joint_pca_rgb, upsample_rgba
from corrviz.core.transforms import CanvasTransform


def test_inner_cell_mask_by_hand():
    # 300x200 on a 448 canvas, stride 8: content 448x299 at oy = 74, so rows 74..372 hold the image.
    t = CanvasTransform.create((300, 200), 448, 8, "pad_center")
    assert (t.oy, t.content_h) == (74.0, 299)
    rows = np.flatnonzero(t.inner_cell_mask().all(axis=1))
    assert rows[0] == 10 and rows[-1] == 45  # 80..88 is the first whole cell, 360..368 the last
    content_rows = np.flatnonzero(t.content_mask().all(axis=1))
    assert content_rows[0] == 9 and content_rows[-1] == 46  # cells 9 and 46 straddle the padding
    assert t.inner_cell_mask()[10:46].all()  # no padding left or right
    assert CanvasTransform.create((300, 200), 448, 8, "resize").inner_cell_mask().all()


def test_overlay_is_transparent_on_cells_touching_the_padding():
    t = CanvasTransform.create((300, 200), 448, 8, "pad_center")
    rng = np.random.default_rng(0)
    feats = torch.from_numpy(rng.normal(size=(16, *t.grid_shape)).astype(np.float32))
    # make the straddling rows extreme, as zero padding does to real features
    feats[:, 9] += 25.0
    feats[:, 46] -= 25.0
    fm = FeatureMap(feats, t, "test", FeatureOptions(resolution=448), (300, 200))
    pca = fit_joint_pca([fm])
    rgba = upsample_rgba(joint_pca_rgb([fm], pca=pca)[0], fm)
    assert rgba.shape == (200, 300, 4)
    # image rows 0..3 map to canvas 74..80 (cell row 9), rows 197..199 to 368..373 (cell row 46)
    assert (rgba[:4, :, 3] == 0).all() and (rgba[197:, :, 3] == 0).all()
    assert (rgba[4:197, :, 3] == 255).all()
    # the straddling rows are not in the fit either: the colour range comes from the image cells
    proj = pca.project(fm.unit().double().numpy()).reshape(*t.grid_shape, -1)
    inner = proj[10:46]
    assert np.percentile(inner[..., 0], 50) > pca.lo[0] and np.percentile(inner[..., 0], 50) < pca.hi[0]
    assert proj[9, :, 0].max() > pca.hi[0] or proj[9, :, 0].min() < pca.lo[0]
