"""One-shot pose: onboarding geometry and cache, PnP-RANSAC with exact and corrupted correspondences,
"no pose" for degenerate queries, and the user folder layout."""

import json

import numpy as np
import pytest

from corrviz.core.errors import DatasetError
from corrviz.core.evaluate import ExtractorSpec, FeatureStore, build_extractor
from corrviz.core.pose import (
    PoseOptions,
    build_database,
    diameter,
    estimate_pose,
    load_reference_folder,
    pose_errors,
    reference_views,
    sample_surface,
    solve_pnp,
)
from corrviz.core.render import look_at, orbit_poses, render_poses
from corrviz.core.synthetic import make_object


@pytest.fixture(scope="module")
def scene():
    mesh = make_object("mug")
    refs = render_poses(mesh, orbit_poses(8, elevation_deg=20.0), resolution=160)
    query_pose = look_at(np.array([0.9, 1.1, 1.4]), np.array([0.05, -0.03, 0.0]), roll_deg=12.0)
    query = render_poses(mesh, query_pose[None], resolution=160)
    return mesh, refs, query


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    ex = build_extractor(ExtractorSpec("dense_sift", resolution=160))
    return FeatureStore(ex, tmp_path_factory.mktemp("features"))


def oracle_matches(query, step=3):
    view = query.views[0]
    xy = view.foreground_pixels()[::step]
    return query.surface_points(0, xy), xy, view


def errors_of(est, view, mesh):
    pose = view.world_to_cam
    return pose_errors(est.rotation, est.translation, pose[:3, :3], pose[:3, 3],
                       sample_surface(mesh.vertices, mesh.faces, 500), diameter(mesh.vertices), 20.0)


def test_exact_correspondences_give_the_exact_pose(scene):
    mesh, _, query = scene
    pts, xy, view = oracle_matches(query)
    est = solve_pnp(pts, xy, view.K)
    e = errors_of(est, view, mesh)
    assert est.found and est.refined and est.n_inliers == est.n_matches == len(xy)
    assert e.rotation_deg < 0.01 and e.translation_diam < 1e-4 and est.inlier_ratio == 1.0


def test_ransac_recovers_the_pose_with_30_percent_outliers(scene):
    mesh, _, query = scene
    pts, xy, view = oracle_matches(query)
    rng = np.random.default_rng(3)
    bad = rng.choice(len(xy), size=int(0.3 * len(xy)), replace=False)
    noisy = xy.copy()
    noisy[bad] = rng.uniform(0, view.width, size=(len(bad), 2))
    est = solve_pnp(pts, noisy, view.K)
    e = errors_of(est, view, mesh)
    assert est.found and e.rotation_deg < 0.5 and e.translation_diam < 0.005
    assert 0.65 < est.inlier_ratio < 0.75  # the 70% true matches (and a stray outlier within 8 px)
    # without RANSAC the same matches give a wrong pose: the outliers matter
    import cv2

    _, rvec, tvec = cv2.solvePnP(pts[:, None], noisy[:, None], view.K, None, flags=cv2.SOLVEPNP_EPNP)
    assert pose_errors(cv2.Rodrigues(rvec)[0], tvec.ravel(), view.world_to_cam[:3, :3], view.world_to_cam[:3, 3],
                       pts, 1.0, 20.0).rotation_deg > 2.0


def test_too_few_matches_is_no_pose_with_the_reason(scene):
    _, _, query = scene
    pts, xy, view = oracle_matches(query)
    est = solve_pnp(pts[:5], xy[:5], view.K)
    assert not est.found and est.rotation is None and est.object_to_camera is None
    assert "5 2D-3D matches, at least 6 needed" in est.reason
    # all matches random: no consensus
    rng = np.random.default_rng(0)
    est = solve_pnp(pts[:200], rng.uniform(0, 160, (200, 2)), view.K, PoseOptions(min_inliers=20))
    assert not est.found and "inliers" in est.reason


def test_database_points_are_the_surface_under_their_pixels(scene, store, tmp_path):
    _, refs, _ = scene
    db = build_database(reference_views(refs), store, cache_root=tmp_path)
    assert db.n_views == 8 and len(db) > 8 * 50 and not db.from_cache
    for k in (0, 5):
        v = refs.views[k]
        sel = db.view_ids == k
        xy, z = v.project(db.points[sel])
        assert np.abs(xy - db.ref_xy[sel]).max() < 1e-3 and np.all(z > 0)
        r, c = np.floor(db.ref_xy[sel, 1]).astype(int), np.floor(db.ref_xy[sel, 0]).astype(int)
        assert np.abs(v.xyz[r, c] - db.points[sel]).max() < 1e-4
    again = build_database(reference_views(refs), store, cache_root=tmp_path)
    assert again.from_cache and np.array_equal(again.points, db.points)
    assert np.array_equal(again.features.numpy(), db.features.numpy())
    coarse = build_database(reference_views(refs), store, stride=2, cache_root=tmp_path)
    assert not coarse.from_cache and 0.15 * len(db) < len(coarse) < 0.4 * len(db)


def test_a_reference_view_as_query_gets_its_own_pose(scene, store, tmp_path):
    mesh, refs, _ = scene
    db = build_database(reference_views(refs), store, cache_root=tmp_path)
    view = refs.views[3]
    est = estimate_pose(store.get(view.rgb), db, view.K)
    e = errors_of(est, view, mesh)
    assert est.found and est.inlier_ratio > 0.8 and np.mean(est.ref_view[est.inliers] == 3) > 0.8
    assert e.rotation_deg < 1.0 and e.translation_diam < 0.01


def test_object_not_visible_is_no_pose(scene, store, tmp_path):
    mesh, refs, _ = scene
    db = build_database(reference_views(refs), store, cache_root=tmp_path)
    away = render_poses(mesh, look_at(np.array([0.0, 0.0, 2.0]), np.array([0.0, 0.0, 5.0]))[None], resolution=160)
    view = away.views[0]
    assert not view.mask.any()
    est = estimate_pose(store.get(view.rgb), db, view.K)
    assert not est.found and est.rotation is None and est.reason.startswith("no pose:")
    est = estimate_pose(store.get(scene[2].views[0].rgb), db, view.K, mask=np.zeros((160, 160), bool))
    assert not est.found and "no informative cell" in est.reason


def test_user_folder_layout_round_trip(scene, tmp_path):
    from PIL import Image

    _, refs, _ = scene
    entries = []
    for i, v in enumerate(refs.views[:2]):
        Image.fromarray(v.rgb).save(tmp_path / f"rgb{i}.png")
        Image.fromarray(np.round(v.depth * 10000).astype(np.uint16)).save(tmp_path / f"depth{i}.png")
        entries.append({"rgb": f"rgb{i}.png", "depth": f"depth{i}.png", "object_to_camera": v.world_to_cam.tolist()})
    (tmp_path / "poses.json").write_text(json.dumps({"format": "corrviz-pose-references", "version": 1,
                                                     "K": refs.views[0].K.tolist(), "depth_scale": 1e-4,
                                                     "views": entries}))
    views = load_reference_folder(tmp_path)
    assert len(views) == 2 and np.array_equal(views[1].mask, refs.views[1].mask)
    xy = refs.views[1].foreground_pixels()[::7]
    pts, _, valid = views[1].backproject_pixels(xy)
    exact = refs.surface_points(1, xy)
    assert valid.all() and np.abs(pts - exact).max() < 2e-4  # 16-bit depth at 0.1 mm steps
    (tmp_path / "depth1.png").unlink()
    with pytest.raises(DatasetError, match="depth1.png: depth file is missing"):
        load_reference_folder(tmp_path)
    with pytest.raises(DatasetError, match="poses.json"):
        load_reference_folder(tmp_path / "nowhere")


def test_mutual_nn_equals_brute_force_in_every_chunking():
    import torch

    from corrviz.core.pose import mutual_nn

    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(300, 8, generator=g), dim=1)
    d = torch.nn.functional.normalize(torch.randn(900, 8, generator=g), dim=1)
    sim = q @ d.T
    fwd, bwd = sim.argmax(1), sim.argmax(0)
    want = [(i, int(fwd[i])) for i in range(300) if int(bwd[fwd[i]]) == i]
    assert 0 < len(want) < 300
    for budget in (1, 5000, 1 << 24):
        qi, dj, score = mutual_nn(q, d, budget=budget)
        assert list(zip(qi.tolist(), dj.tolist(), strict=True)) == want
        assert np.allclose(score, sim[qi, dj].numpy())
