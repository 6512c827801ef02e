"""End to end under Xvfb: a tiny run started from the Training panel, its loss plot, cancel, the checkpoint
in the picker, and matches that change when it is loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .conftest import astronaut_pair, click_image

pytestmark = pytest.mark.gui

TINY = {"model.backbone": "test_dinov2_tiny", "model.pretrained": False, "model.resolution": 56,
        "model.lora_blocks": 2, "data.objects": ["box", "chair"], "data.seeds": 1, "data.n_views": 6,
        "data.render_resolution": 56, "data.points_per_view": 48, "eval.objects": ["mug"], "eval.n_views": 12,
        "eval.resolution": 56, "eval.n_pairs": 2, "eval.n_points": 20, "eval.max_rotation_deg": 90.0,
        "train.steps": 100000, "train.log_every": 1, "train.eval_every": 0, "train.eval_at_start": False,
        "train.save_last_every": 1, "train.threads": 1, "optim.lr": 0.05}


def matched_xy(qtbot, c) -> tuple[float, float]:
    qtbot.waitUntil(lambda: c.session.features is not None and not c.runner.busy(), timeout=120000)
    qtbot.waitUntil(lambda: c.session.matches is not None and len(c.session.matches.for_query(0)) > 0
                    and not c.runner.busy(), timeout=60000)
    return c.session.matches.for_query(0)[0].xy


def test_train_from_the_panel_cancel_and_use_the_checkpoint(qtbot, make_controller, tmp_path):
    from PyQt6.QtCore import Qt

    c = make_controller(backbone="test_dinov2_tiny")
    w, panel = c.window, c.window.training_panel
    c.training.set_runs_folder(str(tmp_path / "runs"))
    w.tabs.setCurrentWidget(panel)  # the first visit loads the methods in a worker
    qtbot.waitUntil(lambda: c.training.catalog is not None, timeout=120000)
    c.training.select_method("mef")
    for key, value in TINY.items():
        assert c.training.set_value(key, value), key
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: c.training.process is not None, timeout=60000)  # checked, then launched
    qtbot.waitUntil(lambda: panel.loss_points() >= 3, timeout=180000)  # the plot follows the run's metrics log
    assert not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: c.training.process is None, timeout=120000)
    assert "cancelled at step" in panel.message.text()
    (ckpt,) = w.options.trained_checkpoints()  # the last checkpoint is in the picker
    assert Path(ckpt).is_file() and "mef-" in ckpt

    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    w.tabs.setCurrentIndex(0)
    assert c.checkpoints.load_trained_checkpoint(ckpt)
    assert (c.session.options.resolution, c.session.options.checkpoint) == (56, ckpt)
    qtbot.waitUntil(lambda: c.session.features is not None and not c.runner.busy(), timeout=120000)
    click_image(qtbot, c, 0, 150.0, 120.0)
    tuned = matched_xy(qtbot, c)
    assert c.checkpoints.set_checkpoint(None)  # the plain backbone at the same tap and resolution
    qtbot.waitUntil(lambda: c.session.options.checkpoint is None, timeout=10000)
    qtbot.waitUntil(lambda: c.session.matches is not None and c.session.matches.for_query(0)
                    and c.session.matches.for_query(0)[0].xy != tuned and not c.runner.busy(), timeout=120000)
    plain = c.session.matches.for_query(0)[0].xy
    assert np.hypot(tuned[0] - plain[0], tuned[1] - plain[1]) > 0.5  # the trained LoRA moved the match
    assert w.errors_shown == 0, w.error_box.text() if w.error_box is not None else ""
