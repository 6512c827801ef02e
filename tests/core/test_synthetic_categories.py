"""Synthetic categories: exact keypoints (two-view agreement), mirror twins, occlusion, variation."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("open3d")

from corrviz.core.synthetic import geons as g  # noqa: E402
from corrviz.core.synthetic.categories import (  # noqa: E402
    MIRROR,
    get_category,
    instance_seeds,
    list_categories,
    make_instance,
    split_of_seed,
)
from corrviz.core.synthetic.categories.base import Assembly, Category, Frame, box_point, finish  # noqa: E402
from corrviz.core.synthetic.keypoints import (  # noqa: E402
    RenderSettings,
    azimuth_bin_of,
    render_instance,
    render_sample,
)
from corrviz.core.synthetic.textures import paint  # noqa: E402

SMALL = RenderSettings(resolution=96)


def test_at_least_six_categories_with_twins():
    names = list_categories()
    assert len(names) >= 6
    for name in names:
        cat = get_category(name)
        twins = cat.twins
        assert twins, f"{name} has no left/right twins"
        assert all(twins[twins[k]] == k for k in twins)  # symmetric map
        lefts = [k for k in cat.keypoints if k.startswith("left_")]
        assert all(twins[k] == "right_" + k[5:] for k in lefts)
        assert len(set(cat.keypoints)) == len(cat.keypoints)


@pytest.mark.parametrize("category", ["car", "chair", "quadruped", "bottle"])
def test_keypoint_in_two_views_agrees_with_renderer_correspondence(category):
    inst = make_instance(category, 3)
    views, viewset = render_instance(inst, [0, 1, 2], RenderSettings(resolution=128))
    checked = 0
    for a, b in ((0, 1), (1, 2), (0, 2)):
        both = views[a].visible & views[b].visible
        if not both.any():
            continue
        xy_b, valid = viewset.correspondence(a, b, views[a].kps_xy[both])
        assert valid.all()
        err = np.linalg.norm(xy_b - views[b].kps_xy[both], axis=1)
        assert err.max() < 0.5, (category, a, b, err.max())
        checked += int(both.sum())
    assert checked >= 5


@pytest.mark.parametrize("category", list_categories())
def test_twins_are_mirror_images(category):
    for seed in (0, 1, 1000):
        inst = make_instance(category, seed)
        for a, b in inst.twins.items():
            ka, kb = inst.keypoints[a], inst.keypoints[b]
            assert np.isfinite(ka).all() == np.isfinite(kb).all()  # a twin exists exactly when its pair does
            if np.isfinite(ka).all():
                np.testing.assert_allclose(kb, MIRROR @ ka, atol=1e-5)
                if inst.names[a].startswith("left_"):
                    assert ka[0] > 0 > kb[0], (inst.names[a], "left must be +x")


def test_twin_definitions_mirror_in_part_coordinates():
    a = Assembly()
    left = Frame(translation=np.array([0.3, 0.1, 0.2]))
    from corrviz.core.synthetic.categories.base import mirrored, rot_z

    left = Frame(rot_z(-30.0), left.translation)
    right = mirrored(left)
    a.twin_keypoints("x", (left, right), (0.05, 0.2, -0.1))
    np.testing.assert_allclose(a.keypoints["right_x"], MIRROR @ a.keypoints["left_x"], atol=1e-12)
    # the right part's local point is the mirrored local point
    np.testing.assert_allclose(np.linalg.inv(right.rotation) @ (a.keypoints["right_x"] - right.translation),
                               [-0.05, 0.2, -0.1], atol=1e-12)


def _occlusion_instance(with_occluder: bool):
    """A low box with a keypoint on its top, and (optionally) a tall wall in front of it (+z)."""

    def build(rng):
        a = Assembly()
        low = (0.4, 0.2, 0.4)
        f = a.add("low", g.box(*low), paint(rng), Frame(translation=np.array([0.0, 0.1, 0.0])))
        a.keypoint("top", f, box_point(low, "+y", 0.0, 0.0))
        if with_occluder:
            a.add("wall", g.box(0.8, 0.8, 0.05), paint(rng), Frame(translation=np.array([0.0, 0.4, 0.5])))
        else:  # same bounding box, nothing in front
            a.add("wall", g.box(0.8, 0.8, 0.05), paint(rng), Frame(translation=np.array([0.0, 0.4, -0.5])))
        return a

    cat = Category("occlusion-case", ("top",), build)
    return finish(cat, build(np.random.default_rng(0)), 0)


def test_visibility_false_when_occluded():
    flat = RenderSettings(resolution=96, elevation_deg=(10.0, 10.0), azimuth_jitter_deg=0.0, background="black")
    views, _ = render_instance(_occlusion_instance(True), [0, 4], flat)
    front, back = views
    assert not front.visible[0]  # behind the wall seen from the front
    x, y = front.kps_xy[0]
    assert front.mask[int(y), int(x)]  # it projects onto the wall, inside the frame
    assert back.visible[0]  # seen from behind, over the low wall side... the top is open
    views, _ = render_instance(_occlusion_instance(False), [0], flat)
    assert views[0].visible[0]  # no occluder in front: visible from the same camera


def test_instances_vary_and_splits():
    a, b = make_instance("chair", 0), make_instance("chair", 1)
    assert not np.allclose(np.nan_to_num(a.keypoints), np.nan_to_num(b.keypoints))
    parts = {make_instance("chair", s).parts for s in range(8)}
    assert len({len(p) for p in parts}) > 1  # part counts vary (slats, armrests)
    np.testing.assert_array_equal(make_instance("car", 5).keypoints, make_instance("car", 5).keypoints)
    assert [split_of_seed(s) for s in (0, 499, 500, 999, 1000)] == ["test", "test", "val", "val", "train"]
    assert instance_seeds("val", 2) == [500, 501]


def test_render_sample_metadata():
    v = render_sample("mug", 2, 3, SMALL)
    assert v.rgb.shape == (96, 96, 3) and v.mask.shape == (96, 96) and v.depth.shape == (96, 96)
    assert v.azimuth_bin == 3 and azimuth_bin_of(v.azimuth_deg) == 3
    assert v.category == "mug" and v.instance_id == "mug-s2" and v.split == "test"
    assert v.kps_xy.shape == (len(get_category("mug").keypoints), 2)
    assert (v.depth[v.mask] > 0).all() and (v.depth[~v.mask] == 0).all()
    x1, y1, x2, y2 = v.bbox
    assert v.mask[int(y1):int(y2), int(x1):int(x2)].sum() == v.mask.sum()
    vis = v.kps_xy[v.visible]
    assert v.mask[vis[:, 1].astype(int), vis[:, 0].astype(int)].all()  # visible keypoints lie on the object
