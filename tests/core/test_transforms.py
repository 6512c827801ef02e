"""Pixel <-> canvas <-> grid transforms: exact round trips and hand-computed values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corrviz.core.errors import ResolutionError
from corrviz.core.transforms import CANVAS_MODES, CanvasTransform, mask_to_grid, render_canvas


@settings(max_examples=200, deadline=None)
@given(w=st.integers(1, 2000), h=st.integers(1, 2000), mode=st.sampled_from(CANVAS_MODES),
       cells=st.integers(1, 80), stride=st.sampled_from([8, 14, 16]))
def test_round_trips_exact(w, h, mode, cells, stride):
    t = CanvasTransform.create((w, h), cells * stride, stride, mode)
    rng = np.random.default_rng(w * 7919 + h)
    xy = rng.uniform([0, 0], [w, h], size=(50, 2))
    assert np.allclose(t.grid_to_image(t.image_to_grid(xy)), xy, atol=1e-9 * max(w, h))
    uv = rng.uniform(-0.5, cells - 0.5, size=(50, 2))
    assert np.allclose(t.image_to_grid(t.grid_to_image(uv)), uv, atol=1e-9 * cells)
    assert np.allclose(t.canvas_to_image(t.image_to_canvas(xy)), xy, atol=1e-9 * max(w, h))


@pytest.mark.parametrize("size", [(451, 300), (300, 451), (333, 333), (17, 999)])
def test_pad_center_hand_values(size):
    w, h = size
    t = CanvasTransform.create(size, 840, 14, "pad_center")
    s = 840 / max(w, h)
    nw, nh = round(w * s), round(h * s)
    assert (t.content_w, t.content_h) == (nw, nh)
    assert (t.ox, t.oy) == ((840 - nw) // 2, (840 - nh) // 2)
    # the image corners land on the content corners
    assert np.allclose(t.image_to_canvas(np.array([[0, 0], [w, h]])), [[t.ox, t.oy], [t.ox + nw, t.oy + nh]])
    # patch (i, j) centre is at canvas ((j + .5) * 14, (i + .5) * 14)
    assert np.allclose(t.grid_to_canvas(np.array([3.0, 5.0])), [3.5 * 14, 5.5 * 14])


def test_pad_br_white_and_resize_hand_values():
    t = CanvasTransform.create((400, 200), 800, 16, "pad_br_white")
    assert (t.sx, t.sy, t.ox, t.oy) == (2.0, 2.0, 0.0, 0.0)
    assert np.allclose(t.image_to_grid(np.array([8.0, 4.0])), [0.5, 0.0])
    r = CanvasTransform.create((400, 200), (224, 448), 14, "resize")
    assert (r.sx, r.sy) == (224 / 400, 448 / 200) and r.grid_shape == (32, 16)
    corner = CanvasTransform.create((400, 200), 800, 16, "pad_br_white", cell_anchor="corner")
    assert np.allclose(corner.cell_to_image(np.array([1, 2])), [16.0, 8.0])


def test_cells_and_normalised_coordinates():
    t = CanvasTransform.create((280, 140), 280, 14, "pad_center")  # 20x20 grid, content rows 5..14
    assert t.grid_shape == (20, 20)
    assert tuple(t.image_to_cell(np.array([0.1, 0.1]))) == (5, 0)
    assert np.allclose(t.cell_to_image(np.array([5, 0])), [7.0, 7.0])
    assert np.allclose(t.image_to_normalized(np.array([[0.0, 0.0], [280.0, 140.0]])), [[-1, -0.5], [1, 0.5]])
    cm = t.content_mask()
    assert cm[5:15].all() and not cm[:5].any() and not cm[15:].any()


def test_canvas_rendering_places_pixels_where_transform_says():
    img = np.zeros((90, 150, 3), np.uint8)
    img[40:50, 100:110] = (255, 0, 0)  # red square centred at (105, 45)
    for mode in CANVAS_MODES:
        t = CanvasTransform.create((150, 90), 224, 14, mode)
        canvas = render_canvas(img, t)
        assert canvas.shape == (224, 224, 3)
        ys, xs = np.nonzero((canvas[..., 0] > 0.5) & (canvas[..., 1] < 0.5))
        centre = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
        assert np.allclose(centre, t.image_to_canvas(np.array([105.0, 45.0])), atol=1.0), mode
        if mode == "pad_br_white":
            assert canvas[-1, -1].min() == 1.0  # white padding
        if mode == "pad_center":
            assert canvas[0, 0].max() == 0.0  # zero padding


def test_mask_to_grid():
    t = CanvasTransform.create((140, 140), 140, 14, "resize")
    m = np.zeros((140, 140), bool)
    m[:70, :70] = True
    g = mask_to_grid(m, t)
    assert g[:5, :5].all() and g.sum() == 25


@pytest.mark.parametrize("bad", [100, 839, 15])
def test_resolution_not_multiple_of_patch(bad):
    with pytest.raises(ResolutionError, match="not a multiple of the patch size 14"):
        CanvasTransform.create((10, 10), bad, 14)
