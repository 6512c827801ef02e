"""Procedural objects, dataset writing/reading, the demo pair and the corrviz-data command."""

from __future__ import annotations

import numpy as np
import pytest

from corrviz.core import synthetic
from corrviz.core.errors import CorrvizError, DatasetError
from corrviz.core.render import load_point_tracks, orbit_poses, render_poses, render_views


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CORRVIZ_CACHE", str(cache))
    return cache


def test_list_objects():
    assert set(synthetic.list_objects("geons")) == {
        "box", "cylinder", "cone", "torus", "capsule", "sphere", "bowl", "wedge"}
    assert set(synthetic.list_objects("composed")) == {"chair", "mug", "car", "table"}
    assert len(synthetic.list_objects()) == 12
    with pytest.raises(CorrvizError, match="Did you mean: chair"):
        synthetic.make_object("chiar")


@pytest.mark.parametrize("name", synthetic.list_objects())
def test_objects_are_valid_normalised_and_textured(name):
    mesh = synthetic.make_object(name, seed=0)
    lo, hi = mesh.bounds()
    assert np.isclose(np.max(hi - lo), 1.0) and np.allclose((lo + hi) / 2, 0.0, atol=1e-9)
    assert mesh.textures and np.all(mesh.face_texture >= 0) and mesh.face_uvs is not None
    assert np.all(np.isfinite(mesh.vertices)) and mesh.vertex_normals.shape == mesh.vertices.shape
    view = render_views(mesh, n_views=1, resolution=48).views[0]
    assert view.mask.mean() > 0.03
    assert len(np.unique(view.rgb[view.mask].reshape(-1, 3), axis=0)) > 5  # textured and shaded


def test_repeated_parts_share_a_texture():
    car = synthetic.make_object("car")
    # body, cabin, wheels (x4), headlights (x2), tail lights (x2): five textures for 10 parts
    assert len(car.textures) == 5
    chair = synthetic.make_object("chair")
    assert len(chair.textures) == 3  # seat, back, four legs
    # The four wheels are congruent: their faces split into 4 equal groups by the sign of x and z.
    wheel_faces = np.nonzero(car.face_texture == 2)[0]
    centres = car.vertices[car.faces[wheel_faces]].mean(axis=1)
    quadrant = (centres[:, 0] > 0) * 2 + (centres[:, 2] > 0)
    assert np.bincount(quadrant, minlength=4).tolist() == [len(wheel_faces) // 4] * 4


def test_determinism_from_seed(fresh_cache):
    a = synthetic.build_object("chair", seed=3)
    b = synthetic.build_object("chair", seed=3)
    c = synthetic.build_object("chair", seed=4)
    assert np.array_equal(a.vertices, b.vertices)
    assert all(np.array_equal(x, y) for x, y in zip(a.textures, b.textures, strict=True))
    assert not np.array_equal(a.vertices, c.vertices)
    # Cached copy equals the generated one; the second call reads the cache file.
    cached = synthetic.make_object("chair", seed=3)
    files = list((fresh_cache / "objects").glob("chair-s3-*.npz"))
    assert len(files) == 1
    again = synthetic.make_object("chair", seed=3)
    for m in (cached, again):
        assert np.array_equal(m.vertices, a.vertices) and np.array_equal(m.faces, a.faces)
        assert np.array_equal(m.face_uvs, a.face_uvs)
    va = render_views(a, n_views=2, resolution=32)
    vb = render_views(again, n_views=2, resolution=32)
    assert all(np.array_equal(x.rgb, y.rgb) for x, y in zip(va.views, vb.views, strict=True))


def _assert_views_equal(a, b) -> None:
    assert len(a.views) == len(b.views)
    for x, y in zip(a.views, b.views, strict=True):
        assert np.array_equal(x.rgb, y.rgb) and np.array_equal(x.mask, y.mask)
        assert np.array_equal(x.depth, y.depth) and np.array_equal(x.face_id, y.face_id)
        assert np.array_equal(x.xyz, y.xyz, equal_nan=True)
        assert np.array_equal(x.K, y.K) and np.array_equal(x.world_to_cam, y.world_to_cam)
        assert x.xyz.dtype == y.xyz.dtype and x.depth.dtype == y.depth.dtype


def test_write_load_round_trip_is_exact(tmp_path):
    vs = render_poses(synthetic.make_object("mug"), orbit_poses(3, sweep_deg=60.0), resolution=40,
                      background=(10, 20, 30))
    folder = synthetic.write_view_set(vs, tmp_path / "mug")
    for sub in ("cameras.json", "mesh.npz", "rgb/000.png", "mask/002.png", "geometry/001.npz"):
        assert (folder / sub).exists()
    back = synthetic.load_view_set(folder)
    _assert_views_equal(vs, back)
    assert back.background == (10, 20, 30) and back.name == "mug"
    assert np.array_equal(back.mesh.vertices, vs.mesh.vertices)
    xy = np.random.default_rng(0).uniform(0, 40, (500, 2))
    r1, ok1 = vs.correspondence(0, 1, xy)
    r2, ok2 = back.correspondence(0, 1, xy)
    assert ok1.sum() > 20
    assert np.array_equal(ok1, ok2) and np.array_equal(r1, r2, equal_nan=True)
    # Without the mesh, correspondences fall back to the maps.
    no_mesh = synthetic.load_view_set(folder, load_mesh=False)
    assert no_mesh.mesh is None and not no_mesh.exact
    assert no_mesh.correspondence(0, 1, xy)[1].sum() > 0


def test_load_view_set_errors(tmp_path):
    with pytest.raises(DatasetError, match="cameras.json"):
        synthetic.load_view_set(tmp_path)
    vs = render_views(synthetic.make_object("box"), n_views=1, resolution=16)
    folder = synthetic.write_view_set(vs, tmp_path / "box")
    (folder / "geometry" / "000.npz").unlink()
    with pytest.raises(DatasetError, match="000.npz"):
        synthetic.load_view_set(folder)


def test_default_dataset_is_generated_once_and_cached(fresh_cache):
    ds = synthetic.default_dataset(n_objects=2, n_views=2, resolution=24)
    assert ds.names() == list(synthetic.DEFAULT_OBJECTS[:2])
    assert str(ds.root).startswith(str(fresh_cache))
    stamp = (ds.root / "dataset.json").stat().st_mtime_ns
    again = synthetic.default_dataset(n_objects=2, n_views=2, resolution=24)
    assert (again.root / "dataset.json").stat().st_mtime_ns == stamp
    vs = again.load(synthetic.DEFAULT_OBJECTS[1])
    assert len(vs) == 2 and vs.views[0].rgb.shape == (24, 24, 3) and vs.exact
    assert len(list(again)) == 2


def test_demo_pair_has_exact_ground_truth():
    pair = synthetic.demo_pair(resolution=64)
    assert len(pair) == 2 and pair.exact
    assert synthetic.demo_pair_folder(resolution=64).exists()
    fg = pair.views[0].foreground_pixels()
    xy_b, ok = pair.correspondence(0, 1, fg)
    assert ok.mean() > 0.5
    back, ok_back = pair.correspondence(1, 0, xy_b[ok])
    assert np.abs(back - fg[ok])[ok_back].max() < 0.5
    cached = synthetic.demo_pair(resolution=64)
    _assert_views_equal(pair, cached)


def test_tracks_round_trip(tmp_path):
    from corrviz.core.render import write_point_tracks

    vs = render_poses(synthetic.make_object("torus"), orbit_poses(3), resolution=32)
    tracks = vs.point_tracks(grid=4)
    write_point_tracks(tracks, tmp_path / "tracks.npz")
    back = load_point_tracks(tmp_path / "tracks.npz")
    assert np.array_equal(back.positions, tracks.positions, equal_nan=True)
    assert np.array_equal(back.visibility, tracks.visibility) and back.query_frame == 0


def test_corrviz_data_command(tmp_path, capsys):
    from corrviz.core.commands.data import main

    assert main(["list"]) == 0
    assert "chair" in capsys.readouterr().out
    out = tmp_path / "ds"
    assert main(["objects", str(out), "--objects", "box,mug", "--n-views", "2", "--resolution", "24",
                 "--quiet"]) == 0
    ds = synthetic.SyntheticDataset(out)
    assert ds.names() == ["box", "mug"] and len(ds.load("mug")) == 2
    video = tmp_path / "video"
    assert main(["video", "chair", str(video), "--path", "handheld", "--frames", "3", "--grid", "4",
                 "--resolution", "24", "--quiet"]) == 0
    tracks = load_point_tracks(video / "tracks.npz")
    assert tracks.positions.shape == (16, 3, 2)
    assert main(["objects", str(tmp_path / "bad"), "--objects", "chiar", "--quiet"]) == 2
    assert "Did you mean" in capsys.readouterr().err
    assert main(["mesh", str(tmp_path / "none.obj"), "--out", str(tmp_path / "m"), "--quiet"]) == 2


def test_view_set_record_for_evaluation(tmp_path):
    from corrviz.core.datasets import ViewSetRecord

    ds = synthetic.write_dataset(tmp_path / "ds", ["mug"], n_views=3, resolution=32)
    rec = ds.records()[0]
    assert isinstance(rec, ViewSetRecord) and rec.n_views == 3 and rec.image_size == (32, 32)
    assert all(p.exists() for p in rec.images + rec.masks + rec.depths)
    vs = ds.load(0)
    assert np.allclose(rec.cam_to_world[1] @ vs.views[1].world_to_cam, np.eye(4))
    xy = vs.views[0].foreground_pixels()
    got, ok = rec.correspond(0, 1, xy)
    want, ok_want = vs.correspondence(0, 1, xy)
    assert np.array_equal(ok, ok_want) and np.array_equal(got, want, equal_nan=True)
    with pytest.raises(DatasetError):
        synthetic.view_set_record(tmp_path)


def test_oracle_scores_ape_zero_pcdp_hundred_on_default_views():
    from corrviz.core.metrics.multiview import normalised_errors, scores_from_errors

    pair = synthetic.demo_pair(resolution=64)
    errors = []
    for a, b in ((0, 1), (1, 0)):
        xy = pair.views[a].foreground_pixels()
        gt, valid = pair.correspondence(a, b, xy)
        oracle = pair.correspondence(a, b, xy)[0]  # a matcher that returns the ground truth
        errors.append(normalised_errors(oracle, gt, (64, 64), valid))
    scores = scores_from_errors(np.concatenate(errors))
    assert scores.n_points > 100 and scores.ape == 0.0 and all(v == 1.0 for v in scores.pcdp.values())
