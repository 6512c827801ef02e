"""TAP-Vid OA / delta_avg / AJ and BADJA PCK on hand-built clips."""

from __future__ import annotations

import numpy as np
import pytest

from corrviz.core.metrics.tapvid import (
    badja_pck,
    evaluation_mask,
    mean_over_videos,
    rescale_to_256,
    sample_queries,
    tapvid_metrics,
)

T = 4
GT = np.full((3, T, 2), 100.0)  # every point sits at (100, 100) in the 256 raster
GT_OCC = np.array([
    [False, False, False, False],  # point 0: always visible, queried at frame 0
    [True, False, False, True],    # point 1: first visible at frame 1
    [False, True, True, False],    # point 2: visible at 0 and 3
])
ERR_X = np.array([
    [0.0, 0.5, 3.0, 20.0],
    [0.0, 0.0, 1.5, 0.0],
    [0.0, 0.0, 0.0, 0.0],
])
PRED = GT.copy()
PRED[..., 0] += ERR_X
PRED_OCC = np.array([
    [False, False, False, False],
    [True, False, False, False],   # t3 predicted visible while occluded -> false positive
    [False, True, False, True],    # t2 visible while occluded (FP); t3 occluded while visible (FN)
])


def test_queries_first_and_strided() -> None:
    q = sample_queries(GT, GT_OCC, "first")
    assert q.point_index.tolist() == [0, 1, 2] and q.frame.tolist() == [0, 1, 0]
    s = sample_queries(GT, GT_OCC, "strided", stride=2)
    assert list(zip(s.point_index.tolist(), s.frame.tolist(), strict=True)) == [(0, 0), (2, 0), (0, 2), (1, 2)]
    assert evaluation_mask(np.array([1]), 4, "first").tolist() == [[False, False, True, True]]
    assert evaluation_mask(np.array([1]), 4, "strided").tolist() == [[True, False, True, True]]


def test_first_mode_hand_values() -> None:
    m = tapvid_metrics(np.array([0, 1, 0]), GT, GT_OCC, PRED, PRED_OCC, "first")
    # evaluated: p0 t1-3, p1 t2-3, p2 t1-3 = 8; occlusion agrees on 3 + 1 + 1
    assert m.occlusion_accuracy == pytest.approx(5 / 8)
    # visible evaluated: p0 t1 (0.5), t2 (3), t3 (20); p1 t2 (1.5); p2 t3 (0) -> 5
    assert [m.pts_within[d] for d in (1, 2, 4, 8, 16)] == pytest.approx([2 / 5, 3 / 5, 4 / 5, 4 / 5, 4 / 5])
    assert m.average_pts_within == pytest.approx(0.68)
    # Jaccard TP / (5 + FP): d=1: 1/(5+5); d=2: 2/(5+4); d>=4: 3/(5+3)
    assert [m.jaccard[d] for d in (1, 2, 4, 8, 16)] == pytest.approx([0.1, 2 / 9, 3 / 8, 3 / 8, 3 / 8])
    assert m.average_jaccard == pytest.approx((0.1 + 2 / 9 + 3 * 3 / 8) / 5)


def test_strided_mode_also_evaluates_frames_before_the_query() -> None:
    m = tapvid_metrics(np.array([0, 1, 0]), GT, GT_OCC, PRED, PRED_OCC, "strided")
    # adds p1 at t0: occluded and predicted occluded -> 6 / 9
    assert m.occlusion_accuracy == pytest.approx(6 / 9)
    assert m.average_pts_within == pytest.approx(0.68)


def test_perfect_tracker_and_video_mean() -> None:
    perfect = tapvid_metrics(np.array([0, 1, 0]), GT, GT_OCC, GT, GT_OCC, "first")
    assert perfect.occlusion_accuracy == perfect.average_jaccard == perfect.average_pts_within == 1.0
    hand = tapvid_metrics(np.array([0, 1, 0]), GT, GT_OCC, PRED, PRED_OCC, "first")
    mean = mean_over_videos([perfect, hand])
    assert mean["delta_avg"] == pytest.approx((1.0 + 0.68) / 2)
    assert mean["occlusion_accuracy"] == pytest.approx((1.0 + 5 / 8) / 2)


def test_rescale_to_256() -> None:
    assert rescale_to_256(np.array([[427.0, 240.0], [854.0, 0.0]]), (854, 480)).tolist() == [[128, 128], [256, 0]]


def test_badja_pck_hand_values() -> None:
    gt = np.zeros((2, 3, 2))
    pred = gt.copy()
    pred[0, :, 0] = [0.0, 1.5, 2.5]  # area 100 -> threshold 0.2 * 10 = 2 px
    pred[1, :, 0] = [0.0, 2.0, 9.0]
    occ = np.array([[False, False, False], [False, False, True]])
    valid = np.array([[True, True, True], [True, True, True]])
    s = badja_pck(np.array([0, 0]), gt, occ, pred, np.array([100.0, 100.0, 100.0]), valid)
    # evaluated (not the query frame, visible): p0 t1, t2; p1 t1 -> correct: p0 t1 (1.5), p1 t1 (2.0)
    assert (s.n_correct, s.n_evaluated) == (2, 3)
    assert s.pck == pytest.approx(2 / 3)


def test_threshold_is_strict() -> None:
    gt = np.zeros((1, 2, 2))
    pred = gt.copy()
    pred[0, 1] = [4.0, 0.0]  # exactly on the 4 px threshold: not within (TAP-Vid uses d < thr)
    occ = np.zeros((1, 2), dtype=bool)
    m = tapvid_metrics(np.array([0]), gt, occ, pred, occ, "first")
    assert [m.pts_within[d] for d in (1, 2, 4, 8, 16)] == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert m.jaccard[4] == 0.0 and m.jaccard[8] == 1.0
