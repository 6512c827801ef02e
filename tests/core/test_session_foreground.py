"""The app's foreground mask for backbones without one: each image's first PCA component, borders as background."""

from __future__ import annotations

import numpy as np
import torch

from corrviz.core.features import FeatureMap, FeatureOptions
from corrviz.core.session import PCA_FOREGROUND, pca_foreground, pca_result
from corrviz.core.transforms import CanvasTransform


def object_map(seed: int, flip: bool = False) -> tuple[FeatureMap, np.ndarray]:
    """A 12x12 map: one feature direction (plus noise) inside a 4..9 square, another outside."""
    rng = np.random.default_rng(seed)
    inside = np.zeros((12, 12), bool)
    inside[4:10, 3:9] = True
    a, b = rng.normal(size=16), rng.normal(size=16)
    if flip:
        a, b = b, a
    feats = np.where(inside[..., None], a, b) + 0.05 * rng.normal(size=(12, 12, 16))
    t = CanvasTransform.create((96, 96), 96, 8, "resize")
    fm = FeatureMap(torch.from_numpy(feats.transpose(2, 0, 1)).float(), t, "synthetic", FeatureOptions(), (96, 96))
    return fm, inside


def test_pca_foreground_finds_the_object_whatever_the_sign():
    maps, truth = zip(*(object_map(0), object_map(1, flip=True)), strict=True)
    masks = pca_foreground(list(maps))
    for m, t in zip(masks, truth, strict=True):
        assert (m == t).all()  # the object, not the border region, in both sign conventions
    res = pca_result(list(maps), foreground_only=True)
    assert res.mask_source == PCA_FOREGROUND and res.foreground_only
    assert [len(p) for p in res.points3d] == [36, 36]  # 3-D points of the foreground cells only
    assert pca_result(list(maps)).mask_source == ""
