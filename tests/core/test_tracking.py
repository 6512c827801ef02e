"""Video reading and NN + soft-argmax point tracking (headless)."""

from __future__ import annotations

import numpy as np
import pytest

from corrviz.core.session import ExtractionOptions, extract_maps
from corrviz.core.tracking import VideoError, read_video, track_points


def pan_frames(n: int = 8, shift: int = 4) -> list[np.ndarray]:
    from skimage import data

    a = data.astronaut()
    return [np.ascontiguousarray(a[100:356, 100 + shift * k: 356 + shift * k]) for k in range(n)]


@pytest.fixture(scope="module")
def maps():
    return extract_maps(pan_frames(), ExtractionOptions(backbone="dense_sift"))


def test_track_follows_a_pan(maps):
    t = track_points(maps, 2, np.array([[148.0, 90.0], [100.0, 200.0]]), occlusion_threshold=0.3)
    assert t.xy.shape == (8, 2, 2) and t.query_frame == 2
    expected = np.array([148.0, 100.0])[None] - 4.0 * (np.arange(8) - 2)[:, None]
    assert np.abs(t.xy[:, :, 0] - expected).max() < 5
    assert np.abs(t.xy[:, 0, 1] - 90).max() < 5
    assert t.visible.all()
    np.testing.assert_allclose(t.xy[2], [[148.0, 90.0], [100.0, 200.0]])
    curve = t.curve(0)
    assert curve.shape == (8, 3) and (curve[:, 2] == np.arange(8)).all()


def test_occlusion_threshold(maps):
    rng = np.random.default_rng(0)
    noise = extract_maps([rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)], ExtractionOptions())
    seq = list(maps[:3]) + noise + list(maps[3:])
    t = track_points(seq, 0, np.array([[148.0, 90.0]]), occlusion_threshold=0.7)
    assert not t.visible[3, 0]  # the noise frame hides the point
    assert t.visible[0, 0] and t.visible[1, 0]
    assert np.isnan(t.curve(0)[3, 0])


def test_track_input_errors(maps):
    from corrviz.core.errors import InputMismatchError

    with pytest.raises(InputMismatchError):
        track_points(maps, 99, np.array([[1.0, 1.0]]))
    with pytest.raises(InputMismatchError):
        track_points([], 0, np.array([[1.0, 1.0]]))


def test_read_video_and_errors(tmp_path):
    import cv2

    path = tmp_path / "pan.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    for f in pan_frames(10):
        w.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    w.release()
    v = read_video(str(path), step=3)
    assert v.indices == [0, 3, 6, 9] and v.size == (256, 256) and v.step == 3
    small = read_video(str(path), step=1, max_side=128)
    assert len(small) == 10 and small.size == (128, 128)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(VideoError, match="bad.mp4"):
        read_video(str(bad))
    with pytest.raises(VideoError, match="does not exist"):
        read_video(str(tmp_path / "missing.mp4"))
