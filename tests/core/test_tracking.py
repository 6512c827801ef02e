"""Video reading and NN + soft-argmax point tracking (headless)."""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture(scope="module")
def with_noise_frame(maps):
    """The pan with a random-noise frame inserted at index 3 (the tracked content vanishes there)."""
    rng = np.random.default_rng(0)
    noise = extract_maps([rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)], ExtractionOptions())
    return list(maps[:3]) + noise + list(maps[3:])


def test_occlusion_threshold(with_noise_frame):
    seq = with_noise_frame
    t = track_points(seq, 0, np.array([[148.0, 90.0]]), occlusion_threshold=0.9)
    assert t.score[3, 0] < 0.9 < t.score[[1, 2, 4, 5], 0].min()  # pan frames peak at 0.99
    assert not t.visible[3, 0]  # the noise frame hides the point
    assert t.visible[0, 0] and t.visible[1, 0]
    assert np.isnan(t.curve(0)[3, 0])
    assert t.rule == "absolute" and np.allclose(t.confidence, np.clip(t.score, 0, 1))


def test_cycle_rule_reports_failure_where_the_absolute_rule_cannot(with_noise_frame):
    """Weight-free descriptors peak high everywhere: A.10's 0.5 flags nothing, the cycle check flags
    exactly the noise frame for both points (its matches do not lead back to the queries)."""
    pts = np.array([[148.0, 90.0], [100.0, 200.0]])
    absolute = track_points(with_noise_frame, 0, pts)
    assert absolute.visible.all()  # peak 0.77 on pure noise
    t = track_points(with_noise_frame, 0, pts, occlusion="cycle")
    assert (~t.visible).sum() == 2 and not t.visible[3].any()
    pitch = 8 * 256 / 448  # one dense_sift cell (stride 8 on the 448 px canvas) in image pixels
    assert (t.cycle_error[3] > 10 * pitch).all()
    others = np.delete(np.arange(len(with_noise_frame)), 3)
    assert (t.cycle_error[others] < pitch).all()
    assert (t.confidence[3] == 0).all() and (t.confidence[0] == 1).all()


def test_relative_confidence_by_hand():
    from corrviz.core.tracking import relative_confidence

    score = np.array([[0.9, 0.5, 0.75, 1.2], [0.3, 0.6, 0.45, 0.0]])
    c = relative_confidence(score, own=np.array([1.0, 0.6]), median=np.array([0.5, 0.3]))
    np.testing.assert_allclose(c, [[0.8, 0.0, 0.5, 1.0], [0.0, 1.0, 0.5, 0.0]])


def test_relative_rule_flags_the_noise_frame_for_a_distinctive_point(with_noise_frame):
    t = track_points(with_noise_frame, 0, np.array([[148.0, 90.0]]), occlusion="relative", relative_threshold=0.5)
    assert not t.visible[3, 0] and t.visible[np.arange(len(with_noise_frame)) != 3, 0].all()
    assert 0 < t.confidence[3, 0] < 0.5 and t.confidence[[1, 2, 4], 0].min() > 0.9


def test_several_tracks_from_their_own_frames(maps):
    from corrviz.core.tracking import track_query_points

    queries = [(2, 148.0, 90.0), (6, 100.0, 200.0), (2, 60.0, 60.0)]
    t = track_query_points(maps, queries, "cycle")
    assert t.num_points == 3 and list(t.point_query_frames()) == [2, 6, 2]
    for k, (f, x, y) in enumerate(queries):
        np.testing.assert_allclose(t.xy[f, k], [x, y])  # each sits at its query on its own frame
        assert t.visible[f, k] and t.confidence[f, k] == 1.0
        expected = x - 4.0 * (np.arange(8) - f)  # the pan moves content 4 px left per frame
        assert np.abs(t.xy[:, k, 0] - expected).max() < 5
    np.testing.assert_allclose(t.query_xy, [[148, 90], [100, 200], [60, 60]])
    with pytest.raises(Exception, match="occlusion rule"):
        track_query_points(maps, queries, "bogus")


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


BADJA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.skipif(not (BADJA / "BADJA").is_dir() or not (BADJA / "DAVIS").is_dir(),
                    reason=f"BADJA / DAVIS not found under {BADJA}")
@pytest.mark.slow
def test_occlusion_rules_script(tmp_path):
    """scripts/occlusion_rules.py on BADJA at a tiny resolution: one row per rule; the absolute rule
    flags nothing for a weight-free backbone, the cycle check flags some of the wrong predictions."""
    import subprocess
    import sys

    env = {"CORRVIZ_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "scripts/occlusion_rules.py", "--data", str(BADJA), "--backbone",
                           "dense_sift", "--resolution", "112"], cwd=Path(__file__).resolve().parents[2],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if line.startswith("| ") and "%" in line]
    assert [r[0].strip() for r in rows] == ["absolute", "relative", "relative", "cycle", "cycle"]
    flagged_wrong = [float(r[6].split("%")[0]) for r in rows]
    assert flagged_wrong[0] == 0.0 and flagged_wrong[3] > 10.0, proc.stdout
    assert len({r[2] for r in rows}) == 1  # positions (PCK) do not depend on the rule
