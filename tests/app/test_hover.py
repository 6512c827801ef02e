"""Hover-to-match in the window: moving the cursor over an image matches the point under it live."""

from __future__ import annotations

import re

import numpy as np
import pytest

from .conftest import astronaut_pair

pytestmark = pytest.mark.gui


def test_hover_matches_under_the_cursor_and_clears_when_it_leaves(qtbot, make_controller, tmp_path):
    c = make_controller()
    src, trg, shift = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    qtbot.waitUntil(lambda: c.session.features is not None and not c.runner.busy(), timeout=60000)
    view = c.window.pair_view
    qtbot.mouseMove(view.viewport(), view.view_to_widget(0, 200.0, 150.0).toPoint())
    qtbot.wait(200)
    assert view.hover_count() == 0, "hover-to-match is off until switched on"
    c.window.hover_action.trigger()  # View > Hover to match (Ctrl+H)
    for x in (180.0, 200.0):  # two positions: the newest one is what is drawn
        qtbot.mouseMove(view.viewport(), view.view_to_widget(0, x, 150.0).toPoint())
        qtbot.wait(30)
    qtbot.waitUntil(lambda: view.hover_count() == 2 and not c.runner.busy("hover"), timeout=20000)
    qtbot.wait(100)
    m = re.search(r"Hover \((\d+), (\d+)\) in image 1 -> image 2: \((\d+), (\d+)\)", c.window.status_label.text())
    assert m, c.window.status_label.text()
    hx, hy, tx, ty = (float(v) for v in m.groups())
    assert abs(hx - 200) <= 1 and abs(hy - 150) <= 1
    assert np.hypot(tx - (hx + shift[0]), ty - (hy + shift[1])) < 8.0  # the known shift, found live
    assert c.session.points == [] and c.session.matches is None  # hovering adds no point
    from PyQt6.QtCore import QPoint

    corner = QPoint(3, view.viewport().height() - 3)
    scene = view.vb.mapSceneToView(view.mapToScene(corner))
    assert view.image_at(scene.x(), scene.y()) is None
    qtbot.mouseMove(view.viewport(), corner)  # off the images
    qtbot.waitUntil(lambda: view.hover_count() == 0, timeout=5000)
