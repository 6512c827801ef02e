"""APE / PCDP on a hand-built view pair, and the multiview benchmark scoring with the same function."""

from __future__ import annotations

import numpy as np
import pytest

from corrviz.core.errors import InputMismatchError
from corrviz.core.evaluate.multiview import MultiviewRun, MultiviewSettings, ObjectOutcome, multiview_rows
from corrviz.core.metrics.multiview import (
    ape,
    multiview_metrics,
    multiview_summary,
    normalised_errors,
    pcdp,
    scores_from_errors,
)

SIZE = (200, 100)  # (W, H) -> min side 100
GT = np.array([[50.0, 50.0], [60.0, 20.0], [10.0, 90.0], [150.0, 40.0], [0.0, 0.0]])
PRED = GT + np.array([[0.0, 0.0], [3.0, 0.0], [0.0, -8.0], [18.0, 24.0], [500.0, 0.0]])
VALID = np.array([True, True, True, True, False])  # last point: background, ignored


def test_hand_values_are_fractions() -> None:
    # normalised errors 0, 0.03, 0.08, 0.30 (by min side 100, not max side 200) -> APE = 0.41 / 4 = 0.1025
    m = multiview_metrics(PRED, GT, SIZE, VALID)
    assert m.ape == pytest.approx(0.1025)
    assert m.pcdp == pytest.approx({0.05: 0.5, 0.1: 0.75, 0.2: 0.75})
    assert m.n_points == 4
    assert ape(PRED, GT, SIZE, VALID) == pytest.approx(0.1025)
    assert pcdp(PRED, GT, SIZE, 0.05, VALID) == pytest.approx(0.5)
    # strictly below delta: an error of exactly 0.08 is not correct at 0.08
    assert pcdp(PRED, GT, SIZE, 0.08, VALID) == pytest.approx(0.5)


def test_perfect_and_pooled() -> None:
    assert multiview_metrics(GT, GT, SIZE).ape == 0.0
    pooled = multiview_summary([(PRED, GT, SIZE, VALID), (GT[:4], GT[:4], SIZE, None)])
    assert pooled.n_points == 8
    assert pooled.ape == pytest.approx(0.1025 / 2)
    assert pooled.pcdp[0.05] == pytest.approx(0.75)


def test_benchmark_rows_use_the_metric_functions() -> None:
    """The runner's rows hold exactly the metric module's numbers (one unit: fractions)."""
    e1 = normalised_errors(PRED, GT, SIZE, VALID)  # 0, 0.03, 0.08, 0.30
    e2 = np.array([0.5, 0.01])
    s = MultiviewSettings()
    run = MultiviewRun()
    for name, e in (("a", e1), ("b", e2)):
        sc = scores_from_errors(e, s.deltas)
        run.outcomes.append(ObjectOutcome(name, 1, sc.n_points, sc.ape, sc.pcdp))
        run.errors.append(e)
    rows = {(r["metric"], r["alpha"], r["category"]): r["value"] for r in multiview_rows(run, s)}
    # pooled over the 6 points: (0 + .03 + .08 + .30 + .5 + .01) / 6 = 0.92 / 6
    assert rows[("ape", None, "all")] == pytest.approx(0.92 / 6)
    assert rows[("pcdp", 0.05, "all")] == pytest.approx(3 / 6)
    assert rows[("pcdp", 0.2, "all")] == pytest.approx(4 / 6)
    assert rows[("ape", None, "a")] == pytest.approx(0.1025)
    assert rows[("ape", None, "b")] == pytest.approx(0.255)
    assert rows[("pcdp", 0.1, "b")] == pytest.approx(0.5)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(InputMismatchError):
        ape(PRED[:3], GT, SIZE)


def test_one_cache_folder_rule_honours_xdg(tmp_path, monkeypatch) -> None:
    """The evaluation cache, the renders and the procedural objects share one cache folder function."""
    from corrviz.core import synthetic
    from corrviz.core.evaluate import default_feature_cache_dir
    from corrviz.core.settings import cache_dir

    monkeypatch.delenv("CORRVIZ_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "corrviz"
    assert synthetic.cache_dir() == cache_dir()
    assert default_feature_cache_dir() == tmp_path / "xdg" / "corrviz" / "features"
    monkeypatch.setenv("CORRVIZ_CACHE", str(tmp_path / "mine"))
    assert synthetic.cache_dir() == tmp_path / "mine" and default_feature_cache_dir() == tmp_path / "mine" / "features"
