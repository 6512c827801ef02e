"""Matching maths on hand-built feature maps: NN, mutual NN, window soft-argmax, combined, dense."""

import numpy as np
import pytest
import torch

from corrviz.core.errors import InputMismatchError
from corrviz.core.features import FeatureMap, FeatureOptions
from corrviz.core.matching import (
    combine_similarity,
    dense_matches,
    match_points,
    similarity_map,
    window_soft_argmax,
)
from corrviz.core.transforms import CanvasTransform


def fmap(feats: np.ndarray, stride: int = 10) -> FeatureMap:
    d, h, w = feats.shape
    t = CanvasTransform.create((w * stride, h * stride), (w * stride, h * stride), stride, "resize")
    return FeatureMap(torch.from_numpy(feats.astype(np.float32)), t, "hand", FeatureOptions(), (t.image_w, t.image_h))


def one_hot_grid(h: int, w: int, perm: np.ndarray | None = None) -> np.ndarray:
    n = h * w
    eye = np.eye(n, dtype=np.float32)
    if perm is not None:
        eye = eye[:, perm]
    return eye.reshape(n, h, w)


def test_nn_recovers_a_known_flip():
    h, w = 4, 6
    src = one_hot_grid(h, w)
    flipped = src[:, :, ::-1].copy()  # target is the horizontally mirrored image
    a, b = fmap(src), fmap(flipped)
    pts = np.array([[5.0, 5.0], [15.0, 25.0], [55.0, 35.0]])  # centres of cells (0,0), (2,1), (3,5)
    m = match_points(a, b, pts, "nn")
    assert np.allclose(m.trg_xy, [[55.0, 5.0], [45.0, 25.0], [5.0, 35.0]])
    assert np.allclose(m.score, 1.0) and m.valid.all()


def test_mutual_nn_rejects_non_mutual():
    # source cells 0 and 1 both prefer target cell 0; target cell 0 prefers source cell 0.
    src = np.array([[1.0, 0.9], [0.0, 0.1]], np.float32).reshape(2, 1, 2)
    trg = np.array([[1.0, -1.0], [0.0, 0.0]], np.float32).reshape(2, 1, 2)
    m = match_points(fmap(src), fmap(trg), np.array([[5.0, 5.0], [15.0, 5.0]]), "mnn")
    assert np.allclose(m.trg_xy, [[5.0, 5.0], [5.0, 5.0]])
    assert m.valid.tolist() == [True, False]


def test_window_soft_argmax_hand_value():
    sim = torch.full((1, 5, 5), -1.0)
    sim[0, 2, 2] = 1.0
    sim[0, 2, 3] = 1.0 - 0.02 * np.log(3.0)  # weight ratio 1 : 1/3 for beta = 0.02
    sim[0, 0, 0] = 0.99  # outside a radius-1 window: ignored
    uv = window_soft_argmax(sim, radius=1, beta=0.02)[0]
    e = np.exp(-2 / 0.02)
    wts = np.array([1.0, 1 / 3] + [e] * 7)
    u = (2 * wts[0] + 3 * wts[1] + e * (1 + 1 + 2 + 3 + 1 + 2 + 3)) / wts.sum()
    v = (2 * wts[0] + 2 * wts[1] + e * (1 + 1 + 1 + 3 + 3 + 3 + 2)) / wts.sum()
    assert uv.tolist() == pytest.approx([u, v], abs=1e-5)
    assert u == pytest.approx(2.25, abs=1e-4)


def test_soft_argmax_points_map_to_image_pixels():
    src = one_hot_grid(5, 5)
    trg = src.copy()
    # cell (2, 3) gets a scaled copy of cell (2, 2)'s feature: cosine 1 to the query as well, so the
    # window soft-argmax puts equal weight on the two cells (every other cell: cosine 0, weight
    # exp(-1 / 0.02) ~ 2e-22) -> grid u = 2.5, v = 2 -> image (2.5 + 0.5) * 10 = 30, (2 + 0.5) * 10 = 25
    trg[:, 2, 3] = trg[:, 2, 2] * 0.5
    m = match_points(fmap(src), fmap(trg), np.array([[25.0, 25.0]]), "soft-argmax", radius=2, beta=0.02)
    assert m.trg_xy[0].tolist() == pytest.approx([30.0, 25.0], abs=1e-4)
    # the same estimate through a stride-16 map: patch centres at (j + 0.5) * 16
    m16 = match_points(fmap(src, 16), fmap(trg, 16), np.array([[40.0, 40.0]]), "soft-argmax", radius=2, beta=0.02)
    assert m16.trg_xy[0].tolist() == pytest.approx([48.0, 40.0], abs=1e-4)


def test_combined_similarity_and_alpha():
    a = torch.ones(2, 3, 3)
    b = torch.zeros(2, 3, 3)
    assert torch.allclose(combine_similarity(a, b, 0.2), torch.full((2, 3, 3), 0.8))
    with pytest.raises(InputMismatchError):
        combine_similarity(a, torch.zeros(1, 3, 3))


def test_similarity_is_cosine():
    src = np.zeros((2, 1, 2), np.float32)
    src[:, 0, 0] = [3.0, 4.0]
    trg = np.zeros((2, 1, 2), np.float32)
    trg[:, 0, 0] = [4.0, 3.0]
    trg[:, 0, 1] = [0.0, -2.0]
    sim = similarity_map(fmap(src), np.array([[5.0, 5.0]]), fmap(trg))
    assert sim[0, 0].tolist() == pytest.approx([24 / 25, -0.8], abs=1e-6)


def test_trg_mask_restricts_matches():
    src = one_hot_grid(2, 2)
    trg = src.copy()
    trg[:, 1, 1] = src[:, 0, 0] + src[:, 1, 1]  # cosine 1/sqrt(2) to the query cell (0, 0): the runner-up
    pts = np.array([[5.0, 5.0]])
    assert match_points(fmap(src), fmap(trg), pts, "nn").trg_xy[0].tolist() == [5.0, 5.0]
    m = match_points(fmap(src), fmap(trg), pts, "nn", trg_mask=np.array([[False, True], [True, True]]))
    assert m.trg_xy[0].tolist() == pytest.approx([15.0, 15.0])  # best allowed cell (1, 1)
    assert m.score[0] == pytest.approx(1 / np.sqrt(2), abs=1e-6)


def test_dense_mutual_matches_on_permuted_grid():
    rng = np.random.default_rng(0)
    h, w = 6, 7
    perm = rng.permutation(h * w)
    src = rng.standard_normal((16, h, w)).astype(np.float32)
    trg = src.reshape(16, -1)[:, perm].reshape(16, h, w)  # target cell k holds source cell perm[k]
    m = dense_matches(fmap(src), fmap(trg))
    assert m.valid.all() and len(m) == h * w
    t = fmap(src).transform
    src_cells = t.image_to_cell(m.src_xy)
    trg_cells = t.image_to_cell(m.trg_xy)
    src_lin = src_cells[:, 0] * w + src_cells[:, 1]
    trg_lin = trg_cells[:, 0] * w + trg_cells[:, 1]
    assert np.array_equal(perm[trg_lin], src_lin)


def test_points_shape_errors():
    f = fmap(one_hot_grid(2, 2))
    with pytest.raises(InputMismatchError, match=r"\(N, 2\)"):
        match_points(f, f, np.zeros((3, 3)))
