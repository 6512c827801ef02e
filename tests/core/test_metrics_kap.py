"""KAP: hand-computed samples and AP; a left/right-confusing matcher keeps PCK but loses KAP."""

from __future__ import annotations

import numpy as np
import pytest

from corrviz.core.metrics.kap import KapAccumulator, kap_from_samples, kap_samples, minmax_normalise
from corrviz.core.metrics.pck import pair_errors, pck_summary

# Target map: one row of 5 cells centred at x = 5, 15, 25, 35, 45 (y = 5).
CELLS = np.stack([np.array([[5.0, 15.0, 25.0, 35.0, 45.0]]), np.full((1, 5), 5.0)], axis=-1)
BBOX = 50.0  # max(h, w) of the target box; alpha 0.1 -> radius 5 px
NAN = [np.nan, np.nan]

# Source keypoints: L (left eye, visible in the target) and R (right eye, hidden in the target).
PAIR_A_GT = np.array([[15.0, 5.0], NAN])
PAIR_B_GT = np.array([[35.0, 5.0], NAN])
GOOD = {
    "A": np.array([[[0, 1.0, 0.2, 0.1, 0]], [[0, 0.3, 0.2, 0.1, 0]]]),
    "B": np.array([[[0, 0.1, 0.2, 0.8, 0.5]], [[0, 0.1, 0.1, 0.1, 0.2]]]),
}
CONFUSED = {  # same L maps; the hidden R keypoint fires strongly on the visible (wrong-side) eye
    "A": np.array([[[0, 1.0, 0.2, 0.1, 0]], [[0, 0.9, 0.2, 0.1, 0]]]),
    "B": np.array([[[0, 0.1, 0.2, 0.8, 0.5]], [[0, 0, 0, 0, 1.0]]]),
}


def _run(maps: dict[str, np.ndarray]) -> tuple[float, float, list[tuple[np.ndarray, np.ndarray]]]:
    acc = KapAccumulator(alpha=0.1)
    pcks = []
    samples = []
    for key, gt in (("A", PAIR_A_GT), ("B", PAIR_B_GT)):
        samples.append(acc.add("car", maps[key], CELLS, gt, BBOX))
        # PCK scores only L (visible in both): argmax prediction of the L map
        pred = CELLS.reshape(-1, 2)[np.argmax(maps[key][0].reshape(-1))]
        pcks.append(pair_errors(pred[None], gt[:1], pair_id=key, category="car",
                                trg_bbox=[0, 0, 50, 10], trg_image_size=(50, 10)))
    return pck_summary(pcks, 0.1).per_keypoint, acc.result().kap, samples


def test_samples_match_hand_values() -> None:
    _, _, good = _run(GOOD)
    # pair A: L positive 1.0, L negative outside radius 0.2, hidden R negative 0.3
    assert good[0][0].tolist() == pytest.approx([1.0, 0.2, 0.3])
    assert good[0][1].tolist() == [1, 0, 0]
    # pair B: max 0.8 over the pair -> divide by 0.8: L pos 1.0, L neg 0.5/0.8, R neg 0.2/0.8
    assert good[1][0].tolist() == pytest.approx([1.0, 0.625, 0.25])


def test_left_right_confusion_keeps_pck_but_is_punished_by_kap() -> None:
    pck_good, kap_good, _ = _run(GOOD)
    pck_conf, kap_conf, conf = _run(CONFUSED)
    assert pck_good == pck_conf == 1.0
    assert kap_good == pytest.approx(1.0)
    # confused samples: A (1.0 +, 0.2 -, 0.9 -), B (0.8 +, 0.5 -, 1.0 -).
    # thresholds 1.0: TP1 FP1 (P 1/2, R 1/2); 0.9: P 1/3; 0.8: TP2 FP2 (P 1/2, R 1)
    # AP = 0.5 * 0.5 + 0.5 * 0.5 = 0.5
    assert conf[1][0].tolist() == pytest.approx([0.8, 0.5, 1.0])
    assert kap_conf == pytest.approx(0.5)


def test_nearest_cell_always_counts_as_inside() -> None:
    sim = np.array([[[0.0, 0.7, 0.1, 1.0, 0.0]]])
    # radius 0.5 px around x = 16: no cell centre within it, cell 15 is the nearest -> positive 0.7
    scores, labels = kap_samples(sim, CELLS, np.array([[16.0, 5.0]]), radius=0.5)
    assert scores.tolist() == pytest.approx([0.7, 1.0])
    assert labels.tolist() == [1, 0]


def test_kap_is_mean_over_categories() -> None:
    perfect = (np.array([1.0, 0.2]), np.array([1, 0]))
    half = (np.array([1.0, 1.0, 0.9, 0.8]), np.array([1, 0, 0, 1]))  # AP 0.5 as above
    res = kap_from_samples({"car": [perfect], "dog": [half]}, alpha=0.1)
    assert res.per_category["car"] == pytest.approx(1.0)
    assert res.per_category["dog"] == pytest.approx(0.5)
    assert res.kap == pytest.approx(0.75)


def test_normalisation_scopes() -> None:
    maps = np.array([[[1.0, 3.0]], [[2.0, 5.0]]])
    assert minmax_normalise(maps, "pair").ravel().tolist() == pytest.approx([0, 0.5, 0.25, 1])
    assert minmax_normalise(maps, "keypoint").ravel().tolist() == pytest.approx([0, 1, 0, 1])


def test_default_scope_is_the_pair() -> None:
    # defaults of both entry points normalise over the pair (hand values of pair B above)
    scores, _ = kap_samples(GOOD["B"], CELLS, PAIR_B_GT, radius=5.0)
    assert scores.tolist() == pytest.approx([1.0, 0.625, 0.25])
    assert KapAccumulator(alpha=0.1).normalise == "pair"
    # per-keypoint scope: every hidden keypoint scores 1 -> the confusion is no longer visible
    per_kp = KapAccumulator(alpha=0.1, normalise="keypoint")
    for maps in (GOOD, CONFUSED):
        for key, gt in (("A", PAIR_A_GT), ("B", PAIR_B_GT)):
            s, _ = per_kp.add("car", maps[key], CELLS, gt, BBOX)
            assert s[-1] == 1.0
