"""Displayed results always belong to the current options; cached features come back without re-extraction."""

from __future__ import annotations

import pytest

from .conftest import astronaut_pair, click_image
from .test_workflow import pick_backbone

pytestmark = pytest.mark.gui


def shown(c) -> dict:
    """What the pair view draws now: overlays, heatmaps, match lines, target markers."""
    view = c.window.pair_view
    return {"overlay": any(s.overlay.isVisible() for s in view._slots),
            "heat": any(s.heat.isVisible() for s in view._slots),
            "lines": len(view._lines), "targets": len(view._targets.data)}


def open_matched_pair(qtbot, c, tmp_path) -> None:
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    qtbot.waitUntil(lambda: c.session.features is not None and not c.runner.busy("extract"), timeout=60000)
    click_image(qtbot, c, 0, 200.0, 150.0)
    qtbot.waitUntil(lambda: c.session.matches is not None and shown(c)["lines"] == 1, timeout=20000)
    assert shown(c) == {"overlay": True, "heat": True, "lines": 1, "targets": 1}


def test_failed_extraction_leaves_no_stale_result(qtbot, make_controller, tmp_path, monkeypatch):
    monkeypatch.delenv("CORRVIZ_WEIGHTS", raising=False)
    c = make_controller()
    open_matched_pair(qtbot, c, tmp_path)
    errors = c.window.errors_shown
    pick_backbone(c, "dinov2_vits14")  # no weights here: the extraction fails
    qtbot.waitUntil(lambda: c.window.errors_shown > errors and not c.runner.busy(), timeout=60000)
    qtbot.wait(200)  # any late result of the old backbone would land now
    assert c.session.options.backbone == "dinov2_vits14"
    assert c.session.features is None and c.session.matches is None
    assert shown(c) == {"overlay": False, "heat": False, "lines": 0, "targets": 0}
    assert len(c.session.points) == 1  # the user's query point stays (it is input, not a result)
    assert "dinov2_vits14" in c.window.pair_view._hint.textItem.toPlainText()


def test_late_match_of_the_old_backbone_is_dropped(qtbot, make_controller, tmp_path, monkeypatch):
    """A match job still running when the backbone changes must not draw its (old) result afterwards."""
    import time

    import corrviz.app.controller_pair as cf

    monkeypatch.delenv("CORRVIZ_WEIGHTS", raising=False)
    c = make_controller()
    open_matched_pair(qtbot, c, tmp_path)
    slow = cf.compute_matches

    def slow_matches(req):
        time.sleep(1.5)
        return slow(req)

    monkeypatch.setattr(cf, "compute_matches", slow_matches)
    click_image(qtbot, c, 0, 100.0, 80.0)  # a match job on the dense_sift features starts (slowly)
    qtbot.waitUntil(lambda: c.runner.busy("match"), timeout=5000)
    pick_backbone(c, "daisy")
    pick_backbone(c, "dinov2_vits14")  # fails: no weights here
    qtbot.waitUntil(lambda: not c.runner.busy(), timeout=60000)
    qtbot.wait(100)
    assert c.session.matches is None and c.session.features is None
    assert shown(c) == {"overlay": False, "heat": False, "lines": 0, "targets": 0}


def test_option_changes_recompute_only_what_depends_on_them(qtbot, make_controller, tmp_path):
    from dataclasses import replace

    c = make_controller()
    open_matched_pair(qtbot, c, tmp_path)
    s, panel = c.session, c.window.options
    first = s.features
    assert not panel.layer.isEnabled() and "no layer" in panel.layer.toolTip()  # weight-free: nothing to pick
    # The layer or facet of a weight-free backbone cannot change its features: nothing is recomputed.
    v = panel.values()
    c.pair._on_options_edited(replace(v, layer=3, facet="prenorm"))
    assert s.options.layer == 3 and s.features is first and s.matches is not None
    assert not c.runner.busy("extract")
    # An explicit default resolution is the same features too.
    c.pair._on_options_edited(replace(v, resolution=448))
    assert s.features is first and not c.runner.busy("extract")
    # Another resolution extracts; switching back brings the first result back at once, from the cache.
    c.pair._on_options_edited(replace(v, resolution=224))
    assert s.features is None and c.runner.busy("extract")
    qtbot.waitUntil(lambda: s.features is not None and not c.runner.busy("extract"), timeout=60000)
    assert s.features.maps[0].grid_shape == (28, 28)
    c.pair._on_options_edited(replace(v, resolution=None))
    assert s.features is first and not c.runner.busy("extract")  # synchronously: no job at all
    assert "cache" in c.window.status_label.text()
    pick_backbone(c, "daisy")
    qtbot.waitUntil(lambda: s.features is not None and not c.runner.busy("extract"), timeout=60000)
    pick_backbone(c, "dense_sift")
    assert s.features is first
    qtbot.waitUntil(lambda: s.matches is not None and shown(c)["lines"] == 1, timeout=20000)


def test_foreground_only_needs_a_mask_source(qtbot, make_controller, tmp_path):
    import numpy as np

    c = make_controller()
    open_matched_pair(qtbot, c, tmp_path)
    box = c.window.options.foreground_only
    assert not box.isEnabled() and "no mask source" in box.toolTip()  # dense SIFT has nothing to mask with
    before = c.session.features
    c.session.set_overlay(foreground_only=True)
    assert c.session.features is before and not c.runner.busy("pca")  # nothing recomputed for nothing
    c.session.set_overlay(foreground_only=False)
    pick_backbone(c, "test_dinov2_tiny")
    qtbot.waitUntil(lambda: c.session.features is not None and not c.runner.busy("extract"), timeout=60000)
    assert box.isEnabled() and "first PCA component" in box.toolTip()
    plain = c.session.features
    box.setChecked(True)
    qtbot.waitUntil(lambda: c.session.features is not plain and c.session.features.foreground_only, timeout=30000)
    f = c.session.features
    assert "first PCA component" in f.mask_source and "Foreground only" in c.window.status_label.text()
    from corrviz.app.render_state import overlay_images

    for fm, overlay in zip(f.maps, overlay_images(f), strict=True):
        assert 0.05 < fm.mask.mean() < 0.95  # a real split of the cells, not all or nothing
        cy, cx = np.argwhere(~fm.mask & fm.transform.content_mask())[0]
        x, y = fm.transform.cell_centers_image()[cy, cx]
        assert not overlay[int(y), int(x), :3].any()  # background cells are black in the overlay
    box.setChecked(False)
    assert c.session.features is plain  # the plain PCA comes back from the cache


def test_images_opened_before_the_backbone_list_get_features(qtbot, make_controller, tmp_path):
    """At start the demo opens while the registry worker still runs: its features must still be shown."""
    c = make_controller(load_registry=False)
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    qtbot.waitUntil(lambda: c.runner.busy("extract"), timeout=20000)
    c.start()
    qtbot.waitUntil(lambda: c.session.features is not None and c._registry_loaded and not c.runner.busy(),
                    timeout=60000)
    assert shown(c)["overlay"]
