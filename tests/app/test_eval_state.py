"""Evaluation state -> plot data, headless: the running curve ends at the run's headline number."""

from __future__ import annotations

import numpy as np
import pytest

from corrviz.app.eval_state import eval_series, headline, outcome_score, table_rows
from corrviz.core.evaluate import EvalResult
from corrviz.core.evaluate.keypoints import PairOutcome
from corrviz.core.evaluate.result import pck_rows
from corrviz.core.evaluate.tracking import ClipOutcome
from corrviz.core.metrics import PairErrors
from corrviz.core.session import EvalRun


def test_running_pck_equals_pooled_result():
    rng = np.random.default_rng(0)
    pairs = [PairErrors(f"p{k}", "cat" if k % 2 else "dog", rng.uniform(0, 40, 5 + k), 100.0, 300.0)
             for k in range(6)]
    run = EvalRun("pfwillow", "/d", "nn")
    for p in pairs:
        o = PairOutcome(p, np.zeros((p.n_keypoints, 2)))
        run.scores.append(outcome_score("pfwillow", o))
        run.outcomes.append(o)
    s = eval_series(run)
    result = EvalResult("pfwillow", "keypoints", {"threshold_norm": "bbox"}, pck_rows(pairs, (0.05, 0.1), ["bbox"]))
    label, value = headline(result)
    assert s.running[-1] == pytest.approx(value) and "PCK@0.1" in label and s.percent
    assert s.item[0] == pytest.approx(np.mean(pairs[0].errors <= 10.0))
    header, rows = table_rows(result)
    assert header[3] == "per keypoint" and rows[1][:3] == ["PCK", "bbox", "0.1"]


def test_tracking_scores_use_the_clip_metric():
    outs = [ClipOutcome(f"c{k}", 3, 10, {"average_jaccard": v, "delta_avg": 0.5}, "first")
            for k, v in enumerate((0.2, float("nan"), 0.6))]
    run = EvalRun("tapvid_davis", "/d", "nn", scores=[outcome_score("tapvid_davis", o) for o in outs],
                  outcomes=outs)
    s = eval_series(run)
    assert s.running[-1] == pytest.approx(0.4) and "average jaccard" in s.title
