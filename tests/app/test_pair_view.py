"""The 2-D view: comparable display sizes, grid lines that never cross other images, padding without
colour, a colour bar in absolute cosine similarity, and the layer list."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PyQt6.QtCore import Qt

from corrviz.app.widgets.pair_layout import best_grid, layout_grid

from .conftest import click_image
from .test_export import as_array, matched_pair

MIXED = [(300, 200), (6000, 4000), (200, 300), (640, 480), (500, 500), (1024, 256), (320, 240), (800, 600),
         (256, 512)]


def inside(p, x: float, y: float, eps: float = 1e-6) -> bool:
    return p.x + eps < x < p.x + p.width - eps and p.y + eps < y < p.y + p.height - eps


def test_mixed_sizes_are_drawn_at_comparable_size():
    lay = layout_grid([(300, 200), (6000, 4000)], 1200, 700)
    a, b = lay.placements
    assert (lay.rows, lay.cols) == (1, 2)
    assert a.width == pytest.approx(b.width) and a.height == pytest.approx(b.height)  # not a 25 px thumbnail
    assert a.scale == pytest.approx(20 * b.scale)
    lay = layout_grid([(200, 300), (6000, 4000)], 1200, 700)  # different aspect: both fit the same cell
    a, b = lay.placements
    assert max(a.width, a.height) > 0.6 * max(b.width, b.height)
    for p in lay.placements:
        assert p.width <= lay.cell_w + 1e-6 and p.height <= lay.cell_h + 1e-6


def test_grid_choice_follows_the_view_shape():
    sizes = [(400, 300)] * 4
    assert best_grid(sizes, 2000, 400) == (1, 4)
    assert best_grid(sizes, 900, 800) == (2, 2)
    assert best_grid(sizes, 300, 2000) == (4, 1)


@pytest.mark.parametrize("n, view", [(3, (1400, 500)), (5, (1200, 760)), (9, (1200, 900)), (6, (500, 1400))])
def test_match_lines_never_cross_other_images(n, view):
    lay = layout_grid(MIXED[:n], *view)
    assert lay.rows * lay.cols >= n
    rng = np.random.default_rng(n)
    for a, b in itertools.permutations(range(n), 2):
        (wa, ha), (wb, hb) = MIXED[a], MIXED[b]
        pa, pb = lay.placements[a], lay.placements[b]
        path = lay.route(a, rng.uniform(0, wa), rng.uniform(0, ha), b, rng.uniform(0, wb), rng.uniform(0, hb),
                         lane=rng.uniform(0.1, 0.9))
        neighbours = abs(pa.row - pb.row) + abs(pa.col - pb.col) == 1
        assert len(path) == (2 if neighbours else 5)
        for (x0, y0), (x1, y1) in itertools.pairwise(path):
            for t in np.linspace(0, 1, 400):
                x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                hit = [k for k, p in enumerate(lay.placements) if inside(p, x, y)]
                assert set(hit) <= {a, b}, (a, b, path, hit)


@pytest.mark.gui
def test_many_images_grid_in_the_view(qtbot):
    from corrviz.app.render_state import DrawLine
    from corrviz.app.widgets.pair_view import PairView

    view = PairView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    rng = np.random.default_rng(1)
    sizes = [(300, 200), (3000, 2000), (200, 300), (640, 480), (500, 500), (320, 240)]
    view.set_images([rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for w, h in sizes],
                    [f"im{k}" for k in range(6)])
    rows, cols = view.grid()
    assert rows >= 2 and rows * cols >= 6
    w0, w1 = view.image_rect(0).width(), view.image_rect(1).width()
    assert w0 == pytest.approx(w1)  # 300x200 and 3000x2000 drawn the same size
    view.set_lines([DrawLine(0, 150, 100, 5, 160, 120, (230, 25, 75))])
    xs, ys = view._lines[0].getData()
    assert len(xs) == 5  # routed through the gutters
    for x, y in zip(np.interp(np.linspace(0, 4, 800), np.arange(5), xs),
                    np.interp(np.linspace(0, 4, 800), np.arange(5), ys), strict=True):
        hit = view.image_at(x, y)
        assert hit is None or hit[0] in (0, 5)
    # a resized view is laid out again: the title bands stay TITLE_PX screen pixels tall
    from corrviz.app.widgets.pair_layout import TITLE_PX

    view.resize(1600, 420)
    qtbot.waitUntil(lambda: view.grid()[0] == 1, timeout=5000)
    px_per_unit = view.vb.sceneBoundingRect().width() / (view.vb.viewRange()[0][1] - view.vb.viewRange()[0][0])
    assert view._layout_state.title * px_per_unit == pytest.approx(TITLE_PX, rel=0.05)
    # clicks still land on the right image pixel after scaling
    assert view.image_at(*view.to_scene(1, 2500.0, 1500.0)) == (1, pytest.approx(2500.0), pytest.approx(1500.0))


def grab(view) -> np.ndarray:
    return as_array(view.grab().toImage())


@pytest.mark.gui
def test_padding_cells_show_no_colour(qtbot, make_controller, tmp_path):
    """300x200 images on the 448 canvas: image rows 0-3 and 197-199 lie on cells that straddle the padding."""
    from skimage import data

    from corrviz.core.io import save_image

    a = data.astronaut()
    paths = [tmp_path / "wide_a.png", tmp_path / "wide_b.png"]
    save_image(paths[0], a[60:260, 40:340].copy())
    save_image(paths[1], a[80:280, 70:370].copy())
    c = make_controller()
    c.open_paths([str(p) for p in paths])
    qtbot.waitUntil(lambda: c.session.features is not None, timeout=60000)
    t = c.session.features.maps[0].transform
    assert (t.image_w, t.image_h, t.canvas_h, t.stride) == (300, 200, 448, 8)
    layers, view = c.window.layers, c.window.pair_view
    layers.opacity["pca"].setValue(100)
    assert c.session.overlay_opacity == 1.0 and view.layers["pca"].opacity == 1.0
    qtbot.wait(50)
    with_pca = grab(view)
    layers.visible["pca"].setChecked(False)
    qtbot.wait(50)
    without = grab(view)
    for k in (0, 1):
        strip = [view.view_to_widget(k, x, y) for x in range(15, 290, 25) for y in (1.0, 198.5)]
        inner = [view.view_to_widget(k, x, y) for x in range(15, 290, 25) for y in (60.0, 140.0)]
        d_strip = [np.abs(with_pca[round(p.y()), round(p.x()), :3].astype(int)
                          - without[round(p.y()), round(p.x()), :3]).max() for p in strip]
        d_inner = [np.abs(with_pca[round(p.y()), round(p.x()), :3].astype(int)
                          - without[round(p.y()), round(p.x()), :3]).max() for p in inner]
        assert max(d_strip) <= 12, d_strip  # the photo itself: no PCA colour on the padding cells
        assert np.mean(d_inner) > 30  # inside, the PCA colours cover the photo


@pytest.mark.gui
def test_colorbar_shows_absolute_cosine(qtbot, make_controller, tmp_path):
    from corrviz.core.matching import similarity_map

    c = matched_pair(qtbot, make_controller, tmp_path)
    view, layers = c.window.pair_view, c.window.layers
    assert view.colorbar.isVisible() and (view.colorbar.lo, view.colorbar.hi) == (-1.0, 1.0)
    slot = view._slots[1]
    assert slot.heat.isVisible() and tuple(slot.heat.getLevels()) == (-1.0, 1.0)
    # the heatmap holds the cosine similarity of the query feature with every cell, not a min-max rescale
    maps, p = c.session.features.maps, c.session.points[0]
    sim = similarity_map(maps[0], np.array([[p.x, p.y]]), maps[1])[0].numpy()
    hm = slot.heat.image
    t = maps[1].transform
    for x, y in ((40.0, 40.0), (160.0, 250.0), (290.0, 100.0)):
        r, col = t.image_to_cell(np.array([x, y]))
        scale = hm.shape[1] / t.image_w
        assert hm[int(y * scale), int(x * scale)] == pytest.approx(sim[r, col], abs=1e-5)
    # what is drawn is that value through the colour map over [-1, 1]
    layers.visible["pca"].setChecked(False)
    layers.visible["lines"].setChecked(False)
    layers.visible["points"].setChecked(False)
    layers.opacity["heatmap"].setValue(100)
    qtbot.wait(50)
    img = grab(view)
    x, y = 60.0, 260.0
    r, col = t.image_to_cell(np.array([x, y]))
    expected = view.cmap.map((sim[r, col] + 1) / 2, mode="byte")[:3]
    wp = view.view_to_widget(1, x, y)
    assert np.abs(img[round(wp.y()), round(wp.x()), :3].astype(int) - expected).max() <= 12
    # normalised scaling: the colour bar spans this click's values, still labelled in cosine
    layers.scale.setCurrentIndex(layers.scale.findData("normalised"))
    assert view.heatmap_scale == "normalised"
    assert view.colorbar.lo == pytest.approx(float(np.nanmin(hm))) and view.colorbar.hi == pytest.approx(
        float(np.nanmax(hm)))
    assert tuple(slot.heat.getLevels()) == pytest.approx((view.colorbar.lo, view.colorbar.hi))


@pytest.mark.gui
def test_layer_list_drives_each_layer(qtbot, make_controller, tmp_path):
    c = matched_pair(qtbot, make_controller, tmp_path)
    view, layers = c.window.pair_view, c.window.layers
    qtbot.mouseClick(layers.visible["heatmap"], Qt.MouseButton.LeftButton)
    assert not view._slots[1].heat.isVisible() and not view.colorbar.isVisible()
    assert view._slots[0].overlay.isVisible()  # the PCA layer is independent
    layers.opacity["lines"].setValue(30)
    assert view._lines[0].opacity() == pytest.approx(0.3) and view._points.opacity() == 1.0
    layers.visible["points"].setChecked(False)
    assert not view._points.isVisible() and not view._targets.isVisible() and view._lines[0].isVisible()
    layers.opacity["pca"].setValue(20)
    assert c.session.overlay_opacity == pytest.approx(0.2)
    assert view._slots[0].overlay.opacity() == pytest.approx(0.2)
    c.session.set_overlay(opacity=0.7)  # e.g. from the options panel or a session file
    assert layers.layer("pca") == (True, pytest.approx(0.7))
    click_image(qtbot, c, 0, 250.0, 100.0)  # new matches keep the chosen layer styles
    qtbot.waitUntil(lambda: c.session.matches is not None and len(c.session.matches.matches) == 2, timeout=20000)
    assert not view._slots[1].heat.isVisible() and view._lines[0].opacity() == pytest.approx(0.3)
    assert not view._points.isVisible()


def test_colorbar_ticks_are_round_cosine_values():
    from corrviz.app.widgets.colorbar import nice_ticks, tick_label

    assert nice_ticks(-1.0, 1.0) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert nice_ticks(0.0, 0.93) == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert nice_ticks(0.31, 0.97) == [0.4, 0.6, 0.8]
    assert [tick_label(v, -1, 1) for v in (-1.0, 0.0, 0.5)] == ["-1.0", "0.0", "0.5"]
    assert tick_label(0.5, 0.31, 0.97) == "0.50"


@pytest.mark.gui
def test_layer_styles_and_heatmap_scale_come_back_next_start(qtbot, make_controller):
    c = make_controller(load_registry=False)
    c.window.layers.visible["lines"].setChecked(False)
    c.window.layers.opacity["heatmap"].setValue(35)
    c.window.layers.scale.setCurrentIndex(c.window.layers.scale.findData("normalised"))
    c.shutdown()
    again = make_controller(load_registry=False)  # same settings file
    view, layers = again.window.pair_view, again.window.layers
    assert not view.layers["lines"].visible and layers.layer("lines")[0] is False
    assert view.layers["heatmap"].opacity == pytest.approx(0.35) and layers.layer("heatmap")[1] == pytest.approx(0.35)
    assert view.heatmap_scale == "normalised" and layers.heatmap_scale() == "normalised"
    assert view.layers["points"].visible and view.layers["points"].opacity == 1.0


@pytest.mark.gui
def test_figure_right_after_the_colour_bar_appears_fits_the_view(qtbot):
    """Exporting at once after the first heatmap (no event processed since the colour bar appeared) must use
    the layout that makes room for the bar, not the one before: the figure is never wider than the view."""
    from corrviz.app.export import BAR_GAP_PX
    from corrviz.app.widgets.pair_view import PairView

    view = PairView()
    qtbot.addWidget(view)
    view.resize(780, 690)
    view.show()
    qtbot.waitExposed(view)
    rng = np.random.default_rng(2)
    view.set_images([rng.integers(0, 255, (320, 320, 3), dtype=np.uint8) for _ in range(2)], ["a", "b"])
    qtbot.wait(50)
    view.set_heatmaps({1: rng.random((320, 320)).astype(np.float32)})  # the colour bar shows: layout pending
    images, bar = view.figure_regions()
    assert bar is not None
    assert images.width() + BAR_GAP_PX + bar.width() <= view.width() + 1, (images.width(), bar.width(), view.width())
