"""Renderer and ground truth: reprojection round trips, occlusion, exact z-depth, cameras."""

from __future__ import annotations

import numpy as np
import pytest

from corrviz.core.errors import Cancelled
from corrviz.core.progress import Progress
from corrviz.core.render import (
    Mesh,
    arc_poses,
    handheld_poses,
    intrinsics,
    look_at,
    orbit_poses,
    render_poses,
    render_views,
    view_directions,
)
from corrviz.core.render.cameras import camera_center, project
from corrviz.core.synthetic import build_object
from corrviz.core.synthetic import geons as g
from corrviz.core.synthetic.objects import assemble
from corrviz.core.synthetic.textures import paint


@pytest.fixture(scope="module")
def car_views():
    return render_views(build_object("car", 0), n_views=12, resolution=128)


def _box_mesh(boxes: list[tuple[tuple[float, float, float], tuple[float, float, float]]]) -> Mesh:
    """Boxes given as (size, centre), in world units (not normalised)."""
    parts = [(g.box(*size), paint(np.random.default_rng(i))) for i, (size, _) in enumerate(boxes)]
    parts = [([p.transformed(None, np.array(c)) for p in patches], tex)
             for (patches, tex), (_, c) in zip(parts, boxes, strict=True)]
    return assemble(parts, name="boxes")


# --------------------------------------------------------------------------- cameras ---
def test_look_at_is_opencv_rotation_with_image_up_world_up():
    eye = np.array([1.0, 0.7, 1.6])
    w2c = look_at(eye)
    rot = w2c[:3, :3]
    assert np.allclose(rot @ rot.T, np.eye(3)) and np.isclose(np.linalg.det(rot), 1.0)
    assert np.allclose(camera_center(w2c), eye)
    K = intrinsics(512, 384, 500.0)
    xy, z = project(np.array([[0.0, 0.0, 0.0], [0.0, 0.2, 0.0]]), K, w2c)
    assert np.allclose(xy[0], [256.0, 192.0])  # target at the principal point (image centre)
    assert np.isclose(z[0], np.linalg.norm(eye))
    assert xy[1, 1] < xy[0, 1]  # world up is up in the image (smaller row)


def test_view_directions_icosphere_42_unique_unit():
    d = view_directions(42)
    assert d.shape == (42, 3)
    assert np.allclose(np.linalg.norm(d, axis=1), 1.0)
    dots = d @ d.T - 2 * np.eye(42)
    assert dots.max() < 0.99  # all distinct
    assert view_directions(7).shape == (7, 3)
    # Poses along the poles (parallel to world up) are still valid rotations.
    for w2c in (look_at(np.array([0.0, 2.0, 0.0])), look_at(np.array([0.0, -2.0, 0.0]))):
        assert np.isclose(np.linalg.det(w2c[:3, :3]), 1.0)


def test_video_paths_shapes_and_determinism():
    for poses in (orbit_poses(8), arc_poses(8), handheld_poses(8, seed=3)):
        assert poses.shape == (8, 4, 4)
        assert np.allclose(np.linalg.det(poses[:, :3, :3]), 1.0)
    assert np.array_equal(handheld_poses(8, seed=3), handheld_poses(8, seed=3))
    assert not np.allclose(handheld_poses(8, seed=3), handheld_poses(8, seed=4))


# ----------------------------------------------------------------------- render maps ---
def test_view_fields_and_conventions(car_views):
    v = car_views.views[0]
    assert v.rgb.shape == (128, 128, 3) and v.rgb.dtype == np.uint8
    assert v.depth.dtype == np.float32 and v.xyz.dtype == np.float32 and v.face_id.dtype == np.int32
    assert v.mask.dtype == bool and 0.02 < v.mask.mean() < 0.9
    bg = ~v.mask
    assert np.all(v.depth[bg] == 0) and np.all(np.isnan(v.xyz[bg])) and np.all(v.face_id[bg] == -1)
    assert np.all(v.rgb[bg] == 0)
    assert np.all(v.depth[v.mask] > 0) and np.all(v.face_id[v.mask] >= 0)
    assert np.isclose(v.K[0, 0], 560.0 * 128 / 512) and np.allclose(v.K[:2, 2], 64.0)
    # Projecting the xyz map back lands on the pixel centres with the stored z-depth.
    rows, cols = np.nonzero(v.mask)
    xy, z = v.project(v.xyz[rows, cols].astype(np.float64))
    assert np.abs(xy - np.stack([cols + 0.5, rows + 0.5], 1)).max() < 1e-3
    assert np.abs(z - v.depth[rows, cols]).max() < 1e-5


def test_depth_is_z_depth_not_ray_distance():
    # A 2 x 2 x 0.2 box centred on the optical axis; its front face is the plane z = 2.9.
    mesh = _box_mesh([((2.0, 2.0, 0.2), (0.0, 0.0, 3.0))])
    f, res = 100.0, 64
    vs = render_poses(mesh, np.eye(4)[None], resolution=res, K=intrinsics(res, res, f))
    v = vs.views[0]
    face = v.mask
    assert face.any()
    assert np.abs(v.depth[face] - 2.9).max() < 1e-5
    assert np.abs(v.xyz[face][:, 2] - 2.9).max() < 1e-5
    # Off-axis the ray distance is longer than the z-depth; the corner pixel proves the conversion.
    r, c = np.nonzero(face)
    corner = np.argmax((c + 0.5 - 32) ** 2 + (r + 0.5 - 32) ** 2)
    ray_len = np.linalg.norm(v.xyz[r[corner], c[corner]].astype(np.float64))
    assert ray_len > 2.9 * 1.05 and np.isclose(v.depth[r[corner], c[corner]], 2.9, atol=1e-5)
    # The silhouette: x = +-1 at z = 2.9 projects to 32 +- f / 2.9 = 32 +- 34.5 -> whole image.
    assert face.all()
    # Same box seen from the side at a known distance: depth = distance - half depth of box.
    w2c = look_at(np.array([5.0, 0.0, 3.0]), np.array([0.0, 0.0, 3.0]))
    side = render_poses(mesh, w2c[None], resolution=res, K=intrinsics(res, res, f)).views[0]
    assert np.abs(side.depth[side.mask] - 4.0).max() < 1e-5


def test_occlusion_small_box_behind_large_box():
    # Camera A at the origin looking down +z; a large box hides a small box behind it.
    mesh = _box_mesh([((2.0, 2.0, 0.2), (0.0, 0.0, 3.0)), ((0.4, 0.4, 0.4), (0.0, 0.0, 5.0))])
    pose_a = look_at(np.zeros(3), np.array([0.0, 0.0, 1.0]))
    pose_b = look_at(np.array([3.0, 0.0, 1.0]), np.array([0.0, 0.0, 4.8]))
    vs = render_poses(mesh, np.stack([pose_a, pose_b]), resolution=128, focal=300.0)
    hidden = np.array([[0.0, 0.0, 4.8], [0.1, 0.1, 4.8]])  # on the small box's front face
    xy_b, vis_b = vs.visible_in(1, hidden)
    assert vis_b.all()  # B sees the small box past the large one
    xy_a, valid = vs.correspondence(1, 0, xy_b)
    assert not valid.any()  # hidden in A
    xy_a_proj, _ = vs.views[0].project(hidden)
    assert np.allclose(xy_a, xy_a_proj, atol=1e-3)  # position is still reported
    row, col = int(xy_a_proj[0, 1]), int(xy_a_proj[0, 0])
    assert np.isclose(vs.views[0].depth[row, col], 2.9, atol=1e-5)  # A sees the large box there
    _, valid_maps = vs.correspondence(1, 0, xy_b, exact=False)
    assert not valid_maps.any()
    # A visible point of the large box is valid both ways.
    front = np.array([[0.5, 0.2, 2.9]])
    xy_front_a, vis = vs.visible_in(0, front)
    assert vis.all()
    _, ok = vs.correspondence(0, 1, xy_front_a)
    assert ok.all()


# ------------------------------------------------------------------ correspondences ---
def test_round_trip_a_b_a_returns_to_start(car_views):
    rng = np.random.default_rng(0)
    n_checked = 0
    pairs = car_views.view_pairs(max_rotation_deg=90.0)
    for k in rng.choice(len(pairs), size=6, replace=False):
        a, b = pairs[k]
        xy = rng.uniform(0, 128, size=(4000, 2))
        xy_b, ok_ab = car_views.correspondence(a, b, xy)
        xy_back, ok_ba = car_views.correspondence(b, a, xy_b)
        both = ok_ab & ok_ba
        err = np.linalg.norm(xy_back - xy, axis=1)[both]
        assert np.all(err < 0.5)
        assert np.median(err) < 1e-3
        # Points valid A->B are (almost always) valid back B->A.
        assert ok_ba[ok_ab].mean() > 0.99
        n_checked += int(both.sum())
    assert n_checked > 500


def test_correspondence_invalid_on_background_and_out_of_frame(car_views):
    v0 = car_views.views[0]
    rows, cols = np.nonzero(~v0.mask)
    xy_bg = np.stack([cols[:50] + 0.5, rows[:50] + 0.5], 1)
    xy_b, valid = car_views.correspondence(0, 1, xy_bg)
    assert not valid.any() and np.isnan(xy_b).all()
    outside = np.array([[-3.0, 10.0], [200.0, 5.0]])
    assert not car_views.correspondence(0, 1, outside)[1].any()
    # Same view: every foreground pixel maps to itself.
    fg = v0.foreground_pixels()
    xy_same, ok = car_views.correspondence(0, 0, fg)
    assert ok.mean() > 0.99 and np.abs(xy_same - fg)[ok].max() < 1e-3


def test_exact_and_map_lookups_agree_at_pixel_centres(car_views):
    fg = car_views.views[3].foreground_pixels()
    exact = car_views.surface_points(3, fg)
    maps = car_views.surface_points(3, fg, exact=False)
    assert np.abs(exact - maps).max() < 1e-5
    _, ok_e = car_views.correspondence(3, 4, fg)
    _, ok_m = car_views.correspondence(3, 4, fg, exact=False)
    # They differ only near silhouettes, where a projection falls in a background pixel of B.
    assert (ok_e == ok_m).mean() > 0.9


def test_surface_distance(car_views):
    fg = car_views.views[0].foreground_pixels()[::7]
    xy_b, ok = car_views.correspondence(0, 1, fg)
    d = car_views.surface_distance(0, fg[ok], 1, xy_b[ok])
    assert d.max() < 1e-4
    d_self = car_views.surface_distance(0, fg, 0, fg)
    assert np.allclose(d_self, 0.0)
    shifted = car_views.surface_distance(0, fg[:-1], 0, fg[1:])
    assert np.nanmax(shifted) > 0.005
    bg = np.array([[0.5, 0.5]])
    assert np.isnan(car_views.surface_distance(0, bg, 1, fg[:1])).all()


def test_point_tracks_on_orbit():
    mesh = build_object("mug", 0)
    vs = render_poses(mesh, orbit_poses(6, sweep_deg=120.0), resolution=96)
    tracks = vs.point_tracks(0, grid=8)
    assert tracks.positions.shape == (64, 6, 2) and tracks.visibility.shape == (64, 6)
    on = tracks.on_object
    assert on.mean() > 0.5
    assert np.abs(tracks.positions[on, 0] - tracks.query_xy[on]).max() < 1e-3
    assert tracks.visibility[on, 0].all() and not tracks.visibility[~on].any()
    assert np.isnan(tracks.positions[~on]).all()
    # Visibility changes along the orbit (the handle swings round), and agrees with correspondence.
    assert 0.2 < tracks.visibility[on].mean() < 1.0
    xy3, ok3 = vs.correspondence(0, 3, tracks.query_xy)
    assert np.array_equal(ok3, tracks.visibility[:, 3])
    assert np.allclose(xy3[on], tracks.positions[on, 3])


def test_render_progress_and_cancel():
    mesh = build_object("box", 0)
    seen = []
    progress = Progress(lambda done, total, msg: seen.append((done, total)))
    render_views(mesh, n_views=3, resolution=16, progress=progress)
    assert seen[-1] == (3, 3)
    cancelling = Progress(lambda done, total, msg: cancelling.cancel() if done == 1 else None)
    with pytest.raises(Cancelled):
        render_views(mesh, n_views=3, resolution=16, progress=cancelling)


def test_relative_rotation_and_pairs(car_views):
    assert car_views.relative_rotation_deg(0, 0) == pytest.approx(0.0, abs=1e-6)
    pairs = car_views.view_pairs(120.0)
    assert pairs and all(car_views.relative_rotation_deg(a, b) <= 120.0 for a, b in pairs)
    assert len(pairs) < 12 * 11
