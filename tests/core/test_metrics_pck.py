"""PCK: hand-computed aggregations, perfect matcher, normalisations and breakdowns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corrviz.core.errors import InputMismatchError
from corrviz.core.metrics.pck import (
    PairErrors,
    bbox_size,
    pair_errors,
    pck_by_viewpoint,
    pck_correct,
    pck_curve,
    pck_summary,
    pck_table,
)

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the checkout
DATA = SHARED_DATA


def _pair(pid: str, cat: str, errors: list[float], vp: int | None = None) -> PairErrors:
    # target box 100 px on its long side, target image 200 x 100
    return PairErrors(pid, cat, np.asarray(errors, dtype=float), 100.0, 200.0, vp)


def unbalanced() -> list[PairErrors]:
    # alpha 0.1, bbox -> threshold 10 px. Category A: 4/4 and 0/1 correct; category B: 1/2.
    return [
        _pair("a1", "A", [0.0, 5.0, 9.9, 10.0], vp=0),  # 10.0 is on the threshold: correct (<=)
        _pair("a2", "A", [25.0], vp=2),
        _pair("b1", "B", [3.0, 40.0], vp=0),
    ]


def test_three_aggregations_differ_and_match_hand_values() -> None:
    s = pck_summary(unbalanced(), alpha=0.1, norm="bbox")
    # per-keypoint: (4 + 0 + 1) / (4 + 1 + 2) = 5/7
    assert s.per_keypoint == pytest.approx(5 / 7)
    # per-image: mean(4/4, 0/1, 1/2) = 0.5
    assert s.per_image == pytest.approx(0.5)
    # macro: mean(A = 4/5, B = 1/2) = 0.65
    assert s.macro == pytest.approx(0.65)
    assert len({round(s.per_keypoint, 6), round(s.per_image, 6), round(s.macro, 6)}) == 3
    assert s.per_category["A"].per_keypoint == pytest.approx(0.8)
    assert s.per_category["A"].per_image == pytest.approx(0.5)
    assert s.per_category["B"].n_keypoints == 2
    assert (s.n_pairs, s.n_keypoints) == (3, 7)


def test_image_normalisation_uses_target_image_size() -> None:
    # img: threshold 0.1 * 200 = 20 px -> a1 4/4, a2 0/1 (25 > 20), b1 1/2
    s = pck_summary(unbalanced(), alpha=0.1, norm="img")
    assert s.per_keypoint == pytest.approx(5 / 7)
    s2 = pck_summary(unbalanced(), alpha=0.15, norm="img")  # 30 px: a2 becomes correct
    assert s2.per_keypoint == pytest.approx(6 / 7)
    assert s2.per_image == pytest.approx((1 + 1 + 0.5) / 3)
    assert s2.macro == pytest.approx((1.0 + 0.5) / 2)


def test_viewpoint_breakdown() -> None:
    bins = pck_by_viewpoint(unbalanced(), alpha=0.1)
    assert set(bins) == {"small", "large", "all"}
    assert bins["small"].per_keypoint == pytest.approx(5 / 6)  # a1 + b1
    assert bins["small"].per_image == pytest.approx(0.75)
    assert bins["small"].macro == pytest.approx(0.75)
    assert bins["large"].per_keypoint == 0.0
    assert bins["all"].per_keypoint == pytest.approx(5 / 7)


def test_perfect_matcher_scores_one_on_every_variant_on_real_pairs() -> None:
    from corrviz.core.datasets import PFWillowDataset, SPairDataset

    pairs = []
    for ds in (PFWillowDataset(DATA / "PF-WILLOW"), SPairDataset(DATA / "SPair-71k")):
        for r in ds:
            pairs.append(pair_errors(r.trg_kps.copy(), r.trg_kps, pair_id=r.pair_id, category=r.category,
                                     trg_bbox=r.trg_bbox, trg_image_size=r.trg_size,
                                     viewpoint_variation=r.viewpoint_variation))
    for row in pck_table(pairs, alphas=(0.01, 0.05, 0.1, 0.15), norms=("bbox", "img")):
        assert row["per_keypoint"] == row["per_image"] == row["macro"] == 1.0
    for b in pck_by_viewpoint(pairs, 0.05).values():
        assert b.per_keypoint == b.per_image == b.macro == 1.0


def test_shifted_matcher_is_not_perfect() -> None:
    errs = pair_errors(np.array([[10.0, 0.0], [0.0, 3.0]]), np.zeros((2, 2)), pair_id="p", category="c",
                       trg_bbox=[0, 0, 50, 40], trg_image_size=(100, 80))
    assert bbox_size([0, 0, 50, 40]) == 50.0
    assert errs.errors.tolist() == [10.0, 3.0]
    assert pck_summary([errs], 0.1).per_keypoint == 0.5  # threshold 5 px
    assert pck_summary([errs], 0.1, "img").per_keypoint == 1.0  # threshold 10 px
    assert pck_curve([errs], [0.01, 0.1, 0.2]).tolist() == [0.0, 0.5, 1.0]
    assert pck_correct(np.array([1.0, 2.0]), 10, 0.1).tolist() == [True, False]


def test_empty_pairs_are_counted_not_averaged() -> None:
    s = pck_summary([_pair("e", "A", []), _pair("x", "A", [0.0])], 0.1)
    assert s.n_empty_pairs == 1 and s.per_image == 1.0 and s.n_pairs == 1


def test_mismatched_inputs_raise() -> None:
    with pytest.raises(InputMismatchError):
        pair_errors(np.zeros((3, 2)), np.zeros((2, 2)), pair_id="p", category="c", trg_bbox=None,
                    trg_image_size=(10, 10))
    with pytest.raises(InputMismatchError):
        pck_summary([PairErrors("p", "c", np.zeros(2), None, 100.0)], 0.1, "bbox")
