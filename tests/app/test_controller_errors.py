"""Errors a user meets in the controller: a data folder of another dataset, malformed session files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_inputs import wait_error

pytestmark = pytest.mark.gui

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "SPair-71k").is_dir(), reason="needs ../shared/data/SPair-71k")
def test_evaluation_with_another_datasets_folder_is_an_error(qtbot, make_controller, tmp_path):
    from corrviz.app.eval_state import EvalRequestValues

    c = make_controller()
    panel = c.window.eval_panel
    panel.set_result("PCK@0.1 (bbox, per keypoint) = 42.00 %   (n = 3, skipped 0)", ["metric"], [["PCK"]])
    panel.set_series("PCK", *([__import__("numpy").arange(3.0)] * 3), True)
    assert c.eval.run_evaluation(EvalRequestValues("pfwillow", str(SHARED / "SPair-71k"), "nn", 3))
    text = wait_error(qtbot, c, 1)
    qtbot.waitUntil(lambda: not c.runner.busy("eval"), timeout=30000)
    assert "pfwillow" in text and "SPair-71k" in text
    assert c.session.evaluation.state == "failed" and c.session.evaluation.result is None
    assert "failed" in panel.status.text() and "nan" not in panel.status.text().lower()
    assert panel.headline.text() == "" and panel.table.rowCount() == 0  # the old headline is gone
    assert len(panel.running_curve.getData()[0] or []) == 0
    assert panel.run_button.isEnabled()
    # A folder with the layout but no pairs: nothing to evaluate is an error too, never "done, nan %".
    (tmp_path / "PairAnnotation" / "test").mkdir(parents=True)
    (tmp_path / "JPEGImages").mkdir()
    panel.set_result("old = 1.00 %", ["metric"], [["PCK"]])
    assert c.eval.run_evaluation(EvalRequestValues("spair", str(tmp_path), "nn", None))
    assert "nothing to evaluate" in wait_error(qtbot, c, 2)
    qtbot.waitUntil(lambda: not c.runner.busy("eval"), timeout=30000)
    assert c.session.evaluation.state == "failed" and panel.headline.text() == ""
    # A folder that does not exist fails before the run starts, and also clears the old headline.
    panel.set_result("old = 1.00 %", ["metric"], [["PCK"]])
    assert not c.eval.run_evaluation(EvalRequestValues("pfwillow", str(SHARED / "no_such_folder"), "nn", None))
    assert "does not exist" in wait_error(qtbot, c, 3)
    assert panel.headline.text() == ""


def test_nothing_evaluated_is_an_error():
    from types import SimpleNamespace

    from corrviz.app.eval_state import check_evaluated
    from corrviz.core.errors import DatasetError

    done = SimpleNamespace(benchmark="spair", protocol={"n_evaluated": 4, "subset_size": 4})
    check_evaluated(done, "/data")
    none = SimpleNamespace(benchmark="spair", protocol={"n_evaluated": 0, "subset_size": 3, "n_skipped": 3,
                                                        "skipped_reasons": {"source image missing": 3}})
    with pytest.raises(DatasetError, match=r"nothing was evaluated in /data \(3 item\(s\) skipped: 3 x source"):
        check_evaluated(none, "/data")


def test_malformed_session_files_are_reported_as_such(qtbot, make_controller, tmp_path):
    c = make_controller()
    cases = {
        "syntax.json": ("{\"format\": \"corrviz-session\", \"points\": [", ["malformed session file", "line 1"]),
        "truncated.corrviz.json": ("{not json", ["malformed session file", "invalid JSON"]),
        "notjson.json": ("{not json", ["malformed session file", "line 1, column 2"]),
        "types.json": (json.dumps({"format": "corrviz-session", "version": 1, "points": [{"image": "a", "x": 1}],
                                   "options": {"layer": "last"}}),
                       ["malformed session file", "\"points\"[0]", "\"options.layer\""]),
        "other.json": (json.dumps({"matches": []}), ["not a corrviz session file"]),
    }
    for k, (name, (text, expected)) in enumerate(cases.items(), start=1):
        path = tmp_path / name
        path.write_text(text)
        c.open_paths([str(path)])
        message = wait_error(qtbot, c, k)
        assert name in message and "image" not in message.replace('"image"', ""), message
        for e in expected:
            assert e in message, (name, message)
    assert c.session.images == [] and c.window.isVisible()
