"""Query points: select, delete, undo / redo (model and keyboard), and clicks near a point select it."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import Qt

from corrviz.core.session import ImageInput, Session

from .conftest import astronaut_pair, click_image


def two_images() -> Session:
    s = Session()
    rgb = np.zeros((100, 120, 3), np.uint8)
    s.set_images([ImageInput("a", rgb), ImageInput("b", rgb)])
    return s


def xy(s: Session) -> list[tuple[int, float, float]]:
    return [(p.image, p.x, p.y) for p in s.points]


def test_model_delete_undo_redo():
    s = two_images()
    s.add_point(0, 10, 20)
    s.add_point(1, 30, 40)
    s.add_point(0, 50, 60)
    assert s.selected == 2 and s.can_undo and not s.can_redo
    s.select(1)
    assert s.delete_point()  # the selected one
    assert xy(s) == [(0, 10, 20), (0, 50, 60)] and s.selected == -1
    assert not s.delete_point()  # nothing selected: nothing deleted
    assert s.undo()
    assert xy(s) == [(0, 10, 20), (1, 30, 40), (0, 50, 60)] and s.selected == 1
    assert s.undo() and xy(s) == [(0, 10, 20), (1, 30, 40)]
    assert s.redo() and s.redo()
    assert xy(s) == [(0, 10, 20), (0, 50, 60)]
    assert not s.redo()
    s.clear_points()
    assert s.points == [] and s.undo() and len(s.points) == 2
    s.undo()
    s.add_point(1, 5, 5)  # a new edit drops the redo history
    assert not s.can_redo
    # the colours of the remaining points are kept (a point keeps its colour through delete / undo)
    colours = [p.color for p in s.points]
    s.delete_point(0)
    assert [p.color for p in s.points] == colours[1:]
    s.set_images(s.images)  # new images: no history across image sets
    assert not s.can_undo and not s.can_redo


def test_model_point_near():
    s = two_images()
    s.add_point(0, 10, 20)
    s.add_point(1, 12, 20)
    s.add_point(0, 16, 20)
    assert s.point_near(0, 12, 20, 3) == 0  # nearest within the radius, in the same image only
    assert s.point_near(0, 14.5, 20, 3) == 2
    assert s.point_near(1, 40, 40, 3) == -1
    assert s.point_near(0, 13, 20, 2.5) == -1


@pytest.mark.gui
def test_keyboard_delete_undo_redo_and_click_selects(qtbot, make_controller, tmp_path):
    c = make_controller()
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    qtbot.waitUntil(lambda: c.session.features is not None, timeout=60000)
    w, s = c.window, c.session
    w.activateWindow()
    qtbot.waitActive(w)
    click_image(qtbot, c, 0, 200.0, 150.0)
    click_image(qtbot, c, 0, 100.0, 80.0)
    assert len(s.points) == 2 and s.selected == 1
    # A click a few screen pixels from point 0 selects it instead of adding a duplicate.
    click_image(qtbot, c, 0, 202.0, 151.0)
    assert len(s.points) == 2 and s.selected == 0
    qtbot.waitUntil(lambda: s.matches is not None and s.matches.heatmap_point == 0, timeout=20000)

    view = w.pair_view
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert [(round(p.x), round(p.y)) for p in s.points] == [(100, 80)]
    qtbot.waitUntil(lambda: s.matches is not None and len(s.matches.matches) == 1, timeout=20000)
    assert len(view._lines) == 1  # only the remaining point's match is drawn
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [(round(p.x), round(p.y)) for p in s.points] == [(200, 150), (100, 80)] and s.selected == 0
    qtbot.waitUntil(lambda: s.matches is not None and len(s.matches.matches) == 2, timeout=20000)
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(s.points) == 1
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the second click too
    assert len(s.points) == 1
    qtbot.keyClick(view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert len(s.points) == 2
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert s.selected == -1
    qtbot.keyClick(view, Qt.Key.Key_Delete)  # nothing selected: nothing deleted
    assert len(s.points) == 2
