"""The evented session model and its jobs, headless (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from corrviz.core.errors import Cancelled, InputMismatchError, MeshError
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
    load_mesh_arrays,
    raster_on_image,
)


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
    assert s.points[0].rgb != s.points[1].rgb
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
    assert len(res.maps) == 2 and len(res.overlays) == 2
    assert res.overlays[0].shape == (320, 320, 3) and res.overlays[0].dtype == np.uint8
    assert res.points3d[0].shape[1] == 3 and len(res.points3d[0]) == len(res.colors3d[0]) == len(res.cells3d[0])
    pts = (QueryPoint(0, 200.0, 150.0, 0), QueryPoint(1, 163.0, 129.0, 1))
    for method in ("nn", "mnn", "soft-argmax"):
        m = compute_matches(MatchRequest(tuple(res.maps), pts, method, heatmap_point=0))
        assert len(m.matches) == 2
        fwd, back = m.for_query(0)[0], m.for_query(1)[0]
        assert np.linalg.norm(np.array(fwd.xy) - (np.array([200.0, 150.0]) + shift)) < 5
        assert np.linalg.norm(np.array(back.xy) - (np.array([163.0, 129.0]) - shift)) < 5
        assert (fwd.confidence is not None) == (method == "soft-argmax")
        assert set(m.heatmaps) == {1} and m.heatmaps[1].max() <= 1.0
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
