"""KAP of the combined matcher scores the combined similarity (features + sphere), not features alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from corrviz.core.datasets import PairRecord
from corrviz.core.evaluate.keypoints import kap_add
from corrviz.core.features import FeatureMap, FeatureOptions
from corrviz.core.metrics import KapAccumulator
from corrviz.core.transforms import CanvasTransform


def fmap(feats: np.ndarray, stride: int = 10) -> FeatureMap:
    d, h, w = feats.shape
    t = CanvasTransform.create((w * stride, h * stride), (w * stride, h * stride), stride, "resize")
    return FeatureMap(torch.from_numpy(feats.astype(np.float32)), t, "hand", FeatureOptions(), (t.image_w, t.image_h))


def _pair() -> PairRecord:
    kp = np.array([[5.0, 5.0]])
    return PairRecord("p", "hand", "car", Path("a.png"), Path("b.png"), kp, kp, ("0",), ("left_wheel",),
                      (40, 10), (40, 10), np.array([0, 0, 40, 10.0]), np.array([0, 0, 40, 10.0]),
                      kap_src_kps=kp, kap_trg_kps=kp)


def test_combined_kap_uses_the_sphere_to_break_a_twin_tie():
    # a 1 x 4 grid: the target's cells 0 and 3 look the same (left / right twins); the ground truth is cell 0
    src_f = np.zeros((2, 1, 4))
    src_f[0, 0, 0] = 1.0
    src_f[1, 0, 1:] = 1.0
    trg_f = np.zeros((2, 1, 4))
    trg_f[0, 0, [0, 3]] = 1.0
    trg_f[1, 0, 1:3] = 1.0
    src_s = np.zeros((3, 1, 4))
    src_s[0] = 1.0                    # every source cell on +x of the sphere
    trg_s = np.zeros((3, 1, 4))
    trg_s[0, 0, :2] = 1.0             # the true side on +x,
    trg_s[0, 0, 2:] = -1.0            # the twin's side on -x
    src, trg, s_src, s_trg = fmap(src_f), fmap(trg_f), fmap(src_s), fmap(trg_s)

    feat_only = {0.1: KapAccumulator(0.1, "pair")}
    assert kap_add(feat_only, src, trg, _pair())
    scores, labels = feat_only[0.1].samples["car"][0]
    # features alone: inside max (cell 0) and outside max (the twin, cell 3) are equal
    assert scores[labels == 1][0] == pytest.approx(scores[labels == 0][0])
    assert feat_only[0.1].result().kap == pytest.approx(0.5)

    combined = {0.1: KapAccumulator(0.1, "pair")}
    assert kap_add(combined, src, trg, _pair(), (s_src, s_trg), 0.2)
    scores, labels = combined[0.1].samples["car"][0]
    # combined: inside 0.8 + 0.2 = 1, twin 0.8 - 0.2 = 0.6, minimum -0.2 (cell 2: feature 0, sphere -1)
    # -> min-max: 1 and (0.6 + 0.2) / 1.2 = 2/3
    assert scores[labels == 1][0] == pytest.approx(1.0)
    assert scores[labels == 0][0] == pytest.approx(2 / 3, abs=1e-6)
    assert combined[0.1].result().kap == pytest.approx(1.0)
