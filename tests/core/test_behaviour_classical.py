"""Weight-free backbones recover a known scale + translation on a real photo (../shared/data)."""

import os

import numpy as np
import pytest

from corrviz.core.backbones import create_backbone
from corrviz.core.demo import apply_affine, warp_affine
from corrviz.core.features import FeatureExtractor, FeatureOptions
from corrviz.core.io import load_image
from corrviz.core.matching import grid_points, match_points

AFFINE = np.array([[0.85, 0.0, 51.24], [0.0, 0.85, 24.0]])  # scale 0.85, shift (6 %, 5 %) of the frame


@pytest.fixture(scope="module")
def photos(shared_data):
    src = load_image(shared_data / "DAVIS/JPEGImages/480p/horsejump-high/00000.jpg")
    horse_dir = shared_data / "SPair-71k/JPEGImages/horse"
    unrelated = load_image(horse_dir / sorted(os.listdir(horse_dir))[0])
    h, w = src.shape[:2]
    return src, warp_affine(src, AFFINE, (w, h)), unrelated


@pytest.mark.parametrize("name", ["dense_sift", "daisy"])
def test_known_warp_is_recovered(photos, name):
    src, trg, unrelated = photos
    h, w = src.shape[:2]
    ex = FeatureExtractor(create_backbone(name, patch_size=12), FeatureOptions(resolution=480), cache=None)
    fs, ft, fu = ex.extract_many([src, trg, unrelated])
    pts = grid_points(fs, 1)  # every foreground (non-padding) cell of the source
    gt = apply_affine(AFFINE, pts)
    inside = (gt[:, 0] > 0) & (gt[:, 0] < w) & (gt[:, 1] > 0) & (gt[:, 1] < h)
    pts, gt = pts[inside], gt[inside]
    thr = 0.05 * max(h, w)  # PCK@0.05, image normalisation

    mutual = match_points(fs, ft, pts, "mnn").valid
    assert mutual.sum() > 300
    err_nn = np.linalg.norm(match_points(fs, ft, pts, "nn").trg_xy - gt, axis=1)[mutual]
    err_sa = np.linalg.norm(match_points(fs, ft, pts, "soft-argmax", radius=3, beta=0.02).trg_xy - gt, axis=1)[mutual]
    pck_nn, pck_sa = (err_nn <= thr).mean(), (err_sa <= thr).mean()
    assert pck_nn >= 0.9
    assert pck_sa > pck_nn or pck_sa == pck_nn == 1.0
    if name == "dense_sift":  # DAISY's similarity is too smooth for beta 0.02 to sharpen the peak
        inliers = (err_nn <= thr) & (err_sa <= thr)
        assert np.median(err_sa[inliers]) < np.median(err_nn[inliers])  # sub-cell precision

    mutual_u = match_points(fs, fu, pts, "mnn").valid
    err_u = np.linalg.norm(match_points(fs, fu, pts, "nn").trg_xy - gt, axis=1)[mutual_u]
    assert (err_u <= thr).mean() < 0.2
