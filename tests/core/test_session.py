"""The evented session model and its jobs, headless (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from corrviz.core.errors import Cancelled, InputMismatchError, MeshError
from corrviz.core.matching import similarity_map
from corrviz.core.progress import Progress
from corrviz.core.session import (
    ExtractionOptions,
    ImageInput,
    MatchRequest,
    QueryPoint,
    Session,
    compute_dense,
    compute_matches,
    extract_features,
    raster_on_image,
)
from corrviz.core.session_3d import load_mesh_arrays


def astronaut_pair() -> tuple[list[ImageInput], np.ndarray]:
    from skimage import data

    a = data.astronaut()
    return [ImageInput("src", a[40:360, 60:380].copy()), ImageInput("trg", a[61:381, 97:417].copy())], \
        np.array([-37.0, -21.0])


@pytest.fixture(scope="module")
def features():
    images, shift = astronaut_pair()
    return images, shift, extract_features(images, ExtractionOptions(backbone="dense_sift"))


def test_signals_fire_per_field():
    s = Session()
    seen: list[str] = []
    for name in ("sigImagesChanged", "sigPointsChanged", "sigMatchesChanged", "sigMethodChanged", "sigOverlayChanged",
                 "sigSelectionChanged", "sigOptionsChanged"):
        getattr(s, name).connect(lambda *_a, n=name: seen.append(n))
    rgb = np.zeros((32, 40, 3), np.uint8)
    s.set_images([ImageInput("a", rgb), ImageInput("b", rgb)])
    assert "sigImagesChanged" in seen and "sigPointsChanged" in seen
    seen.clear()
    assert s.add_point(1, 10.0, 5.0) == 0
    assert seen == ["sigPointsChanged", "sigSelectionChanged"]
    s.add_point(0, 100.0, -3.0)  # clipped into the image
    assert s.points[1].x < 40 and s.points[1].y == 0
    assert s.points[0].color != s.points[1].color  # distinct colour slots
    seen.clear()
    s.set_method("nn")
    s.set_method("nn")  # unchanged: no second signal
    assert seen == ["sigMethodChanged"]
    with pytest.raises(ValueError):
        s.set_method("bogus")
    s.set_overlay(opacity=2.0)
    assert s.overlay_opacity == 1.0
    seen.clear()
    s.set_options(ExtractionOptions(backbone="daisy"))
    assert seen == ["sigOptionsChanged", "sigMatchesChanged"] and s.features is None
    s.clear_points()
    assert s.points == [] and s.selected == -1
    with pytest.raises(InputMismatchError):
        s.add_point(5, 0, 0)


def test_too_small_image_is_rejected():
    s = Session()
    with pytest.raises(InputMismatchError, match="too small"):
        s.set_images([ImageInput("tiny", np.zeros((8, 200, 3), np.uint8))])


def test_extract_and_match_lands_on_known_shift(features):
    images, shift, res = features
    assert len(res.maps) == 2 and len(res.pca_rgb) == 2
    assert res.pca_rgb[0].shape == (*res.maps[0].grid_shape, 3) and res.pca_rgb[0].dtype == np.float32
    assert 0.0 <= res.pca_rgb[0].min() and res.pca_rgb[0].max() <= 1.0  # colours per cell; drawing is the app's
    assert res.points3d[0].shape[1] == 3 and len(res.points3d[0]) == len(res.colors3d[0]) == len(res.cells3d[0])
    pts = (QueryPoint(0, 200.0, 150.0, 0), QueryPoint(1, 163.0, 129.0, 1))
    for method in ("nn", "mnn", "soft-argmax"):
        m = compute_matches(MatchRequest(tuple(res.maps), pts, method, heatmap_point=0))
        assert len(m.matches) == 2
        fwd, back = m.for_query(0)[0], m.for_query(1)[0]
        assert np.linalg.norm(np.array(fwd.xy) - (np.array([200.0, 150.0]) + shift)) < 5
        assert np.linalg.norm(np.array(back.xy) - (np.array([163.0, 129.0]) - shift)) < 5
        assert (fwd.confidence is not None) == (method == "soft-argmax")
        assert set(m.heatmaps) == {1} and np.nanmax(m.heatmaps[1]) <= 1.0
        # absolute cosine similarity, not min-max normalised to [0, 1] per click
        hm = m.heatmaps[1]
        sim = similarity_map(res.maps[0], np.array([[200.0, 150.0]]), res.maps[1])[0].numpy()
        for x, y in ((40.0, 40.0), (250.0, 100.0), (130.0, 290.0)):
            r, c = res.maps[1].transform.image_to_cell(np.array([x, y]))
            assert hm[int(y * 256 / 320), int(x * 256 / 320)] == pytest.approx(sim[r, c], abs=1e-5)
    with pytest.raises(InputMismatchError, match="sphere"):
        compute_matches(MatchRequest(tuple(res.maps), pts, "combined"))


def test_dense_and_raster(features):
    _, shift, res = features
    d = compute_dense(res.maps[0], res.maps[1], step=2, max_lines=100)
    assert 10 < len(d) <= 100 and d.valid.all()
    err = np.linalg.norm(d.trg_xy - (d.src_xy + shift), axis=1)
    assert np.mean(err < 12) > 0.4  # most mutual NNs of dense SIFT are right (within ~2 cells)
    r = raster_on_image(np.arange(np.prod(res.maps[0].grid_shape)).reshape(res.maps[0].grid_shape), res.maps[0], 64)
    assert r.shape == (64, 64)


def test_extraction_cancels_between_images():
    rng = np.random.default_rng(7)
    images = [ImageInput(f"n{k}", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for k in range(4)]
    steps: list[int] = []
    progress = Progress(lambda d, t, m: steps.append(d))
    progress_ref = progress

    def cb(d, t, m):
        steps.append(d)
        if d >= 1:
            progress_ref.cancel()

    progress._callback = cb
    with pytest.raises(Cancelled):
        extract_features(images, ExtractionOptions(), progress=progress)
    assert max(steps) == 1


def test_mesh_without_faces(tmp_path):
    ply = tmp_path / "pts.ply"
    ply.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                   "property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n")
    with pytest.raises(MeshError, match="face"):
        load_mesh_arrays(str(ply))


def _sphere_checkpoint(path, backbone: str = "test_dinov2_tiny", last: str = "sphere_mapper"):
    """A random-init (untrained) checkpoint for the tests."""
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.heads import AdaptedBackbone

    bb = create_backbone(backbone)
    spec = ({"type": "sphere_mapper", "channels": bb.feature_dim(), "heads": 2} if last == "sphere_mapper"
            else {"type": "conv", "channels": bb.feature_dim()})
    return save_checkpoint(path, AdaptedBackbone(bb, [spec]), "sph-random-init")


def test_sphere_jobs_and_combined_matcher(tmp_path):
    from corrviz.core.errors import CheckpointMismatchError
    from corrviz.core.matching import match_points
    from corrviz.core.session_3d import check_sphere_checkpoint, extract_sphere, sphere_points

    ck = str(_sphere_checkpoint(tmp_path / "sph.safetensors"))
    with pytest.raises(CheckpointMismatchError, match="current backbone is 'dense_sift'"):
        check_sphere_checkpoint(ck, "dense_sift")
    with pytest.raises(CheckpointMismatchError, match="not a sphere mapper"):
        check_sphere_checkpoint(str(_sphere_checkpoint(tmp_path / "c.safetensors", last="conv")), "test_dinov2_tiny")
    images, _ = astronaut_pair()
    opts = ExtractionOptions(backbone="test_dinov2_tiny", resolution=112)
    feats = extract_features(images, opts)
    sph = extract_sphere(images, opts, ck)
    assert [m.dim for m in sph] == [3, 3] and sph[0].grid_shape == feats.maps[0].grid_shape
    pts = sphere_points(sph, feats.cells3d)
    assert all(len(p) == len(c) and np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-4)
               for p, c in zip(pts, feats.cells3d, strict=True))
    q = [QueryPoint(0, 150.0, 120.0)]
    res = compute_matches(MatchRequest(tuple(feats.maps), tuple(q), "combined", sphere=tuple(sph), alpha=0.4))
    ref = match_points(feats.maps[0], feats.maps[1], np.array([[150.0, 120.0]]), "combined", sphere=tuple(sph),
                       alpha=0.4)
    assert np.allclose(res.matches[0].xy, ref.trg_xy[0]) and res.matches[0].confidence is not None
    with pytest.raises(InputMismatchError, match="sphere-mapper"):
        compute_matches(MatchRequest(tuple(feats.maps), tuple(q), "combined"))


def test_sphere_and_evaluation_state_signals():
    from corrviz.core.session import EvalRun

    s = Session()
    seen: list[str] = []
    s.sigSphereChanged.connect(lambda: seen.append("sphere"))
    s.sigEvaluationChanged.connect(lambda: seen.append("eval"))
    with pytest.raises(InputMismatchError, match="sphere-mapper"):
        s.set_method("combined")
    s.set_sphere_checkpoint("/x/sph.safetensors")
    s.set_method("combined")
    s.set_sphere_alpha(0.5)
    s.set_sphere_alpha(0.5)  # unchanged: no signal
    assert seen == ["sphere", "sphere"] and s.sphere_alpha == 0.5
    s.set_sphere_checkpoint(None)
    assert s.method == "soft-argmax" and s.sphere_maps is None
    seen.clear()
    s.start_evaluation(EvalRun("pfwillow", "/data", "nn", 3))
    s.add_eval_outcome("pair-1", ("pair-1", 2.0, 4.0))
    s.finish_evaluation("done", result="r")
    assert seen == ["eval"] * 3 and s.evaluation.scores == [("pair-1", 2.0, 4.0)] and s.evaluation.state == "done"
