"""APE / PCDP on a hand-built view pair."""

from __future__ import annotations

import numpy as np
import pytest

from corrviz.core.errors import InputMismatchError
from corrviz.core.metrics.multiview import ape, multiview_metrics, multiview_summary, pcdp

SIZE = (200, 100)  # (W, H) -> min side 100
GT = np.array([[50.0, 50.0], [60.0, 20.0], [10.0, 90.0], [150.0, 40.0], [0.0, 0.0]])
PRED = GT + np.array([[0.0, 0.0], [3.0, 0.0], [0.0, -8.0], [18.0, 24.0], [500.0, 0.0]])
VALID = np.array([True, True, True, True, False])  # last point: background, ignored


def test_hand_values() -> None:
    # normalised errors 0, 0.03, 0.08, 0.30 -> APE = 100 * 0.41 / 4 = 10.25 %
    m = multiview_metrics(PRED, GT, SIZE, VALID)
    assert m.ape == pytest.approx(10.25)
    assert m.pcdp == pytest.approx({0.05: 50.0, 0.1: 75.0, 0.2: 75.0})
    assert m.n_points == 4
    assert ape(PRED, GT, SIZE, VALID) == pytest.approx(10.25)
    assert pcdp(PRED, GT, SIZE, 0.05, VALID) == pytest.approx(50.0)


def test_perfect_and_pooled() -> None:
    assert multiview_metrics(GT, GT, SIZE).ape == 0.0
    pooled = multiview_summary([(PRED, GT, SIZE, VALID), (GT[:4], GT[:4], SIZE, None)])
    assert pooled.n_points == 8
    assert pooled.ape == pytest.approx(10.25 / 2)
    assert pooled.pcdp[0.05] == pytest.approx(75.0)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(InputMismatchError):
        ape(PRED[:3], GT, SIZE)
