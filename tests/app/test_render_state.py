"""Session state -> drawing requests (pure functions; no display needed) and the worker runner."""

from __future__ import annotations

import numpy as np

from corrviz.app.render_state import dense_lines, match_drawing, overlay_images, point_rgb, timing_text
from corrviz.core.session import ImageInput, MatchResult, PointMatch, Session


def session_with_matches() -> Session:
    s = Session()
    rgb = np.zeros((40, 50, 3), np.uint8)
    s.set_images([ImageInput("a", rgb), ImageInput("b", rgb)])
    s.add_point(0, 10, 12)
    s.add_point(0, 20, 22)
    res = MatchResult("soft-argmax", [PointMatch(0, 1, (11.0, 13.0), 0.9, True, 0.5),
                                      PointMatch(1, 1, (21.0, 23.0), 0.7, False, None)],
                      {1: np.zeros((4, 5), np.float32)}, heatmap_point=1)
    s.set_matches(res)
    return s


def test_match_drawing_labels_selected_point_only():
    s = session_with_matches()
    d = match_drawing(s)
    assert [p.selected for p in d.points] == [False, True]
    assert len(d.lines) == 2 and d.lines[0].label == "" and "sim 0.70" in d.lines[1].label
    assert "not mutual" in d.lines[1].label and d.lines[1].rgb == point_rgb(s.points[1].color)
    assert [t.valid for t in d.targets] == [True, False]
    assert set(d.heatmaps) == {1}
    s.select(0)
    d = match_drawing(s)
    assert d.heatmaps == {} and "conf 0.50" in d.lines[0].label  # heatmap belongs to the other point


def test_dense_lines_and_timings():
    s = session_with_matches()
    assert dense_lines(s) == []
    assert timing_text({"extract": 1.5, "match": 0.004}) == "extraction 1.50 s · matching 4 ms"


def test_runner_newest_request_wins(qtbot):
    import threading

    from corrviz.app.workers import TaskRunner

    runner = TaskRunner(max_threads=2)
    gate = threading.Event()
    results: list[str] = []

    def slow(_p):
        gate.wait(5)
        return "old"

    cancelled: list[str] = []
    runner.submit("match", slow, on_result=lambda r, s: results.append(r), on_cancelled=lambda: cancelled.append("x"))
    runner.submit("match", lambda _p: "new", on_result=lambda r, s: results.append(r))
    qtbot.waitUntil(lambda: results == ["new"], timeout=5000)
    gate.set()
    assert runner.wait(5000)
    qtbot.wait(50)
    assert results == ["new"]  # the superseded job finished later but was dropped
    assert cancelled == []  # and is not reported as a user cancel
    errors: list[Exception] = []
    runner.submit("x", lambda _p: 1 / 0, on_error=errors.append)
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=5000)
    assert isinstance(errors[0], ZeroDivisionError)
    runner.shutdown()


def test_best_grid_draws_images_largest():
    from corrviz.app.widgets.pair_view import best_grid

    assert best_grid([(450, 300), (450, 300)], 2000, 500) == (1, 2)  # wide view: side by side
    assert best_grid([(450, 300), (450, 300)], 700, 900) == (2, 1)  # tall view: stacked
    assert best_grid([(100, 100)] * 4, 800, 800) == (2, 2)
    assert best_grid([], 800, 600) == (1, 1)


def test_overlays_are_drawn_from_the_cell_colours_and_cached():
    """The session holds PCA colours per cell; the app rasterises them: image-sized RGBA, the colour of the cell
    under each pixel, padding cells transparent; computed once per result."""
    from corrviz.core.session import ExtractionOptions, ImageInput, extract_features

    rng = np.random.default_rng(3)
    im = ImageInput("wide", rng.integers(0, 255, (120, 200, 3), dtype=np.uint8))  # not square: padded canvas
    res = extract_features([im, im], ExtractionOptions(backbone="dense_sift"))
    (ov, _), fm = overlay_images(res), res.maps[0]
    assert ov.shape == (120, 200, 4) and ov.dtype == np.uint8
    inner = fm.transform.inner_cell_mask()
    r, c = np.argwhere(inner)[len(np.argwhere(inner)) // 2]
    x, y = fm.transform.cell_centers_image()[r, c]
    assert np.array_equal(ov[int(y), int(x), :3], (np.clip(res.pca_rgb[0][r, c], 0, 1) * 255).astype(np.uint8))
    assert ov[int(y), int(x), 3] == 255
    edge = np.argwhere(fm.transform.content_mask() & ~inner)
    if len(edge):
        er, ec = edge[0]
        ex, ey = fm.transform.cell_centers_image()[er, ec]
        if 0 <= ey < 120 and 0 <= ex < 200:
            assert ov[int(ey), int(ex), 3] == 0  # a cell touching the padding shows no colour
    assert overlay_images(res)[0] is ov  # cached: the GUI thread only looks it up
    assert point_rgb(0) != point_rgb(1) and point_rgb(11) == point_rgb(0)
