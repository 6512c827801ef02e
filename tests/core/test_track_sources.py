"""Track sources: rendered ground truth vs the renderer, flow forward-backward occlusion, cache, bins."""

from __future__ import annotations

import numpy as np
import pytest

from corrviz.core.metrics.multiview import scores_by_viewpoint, viewpoint_bin
from corrviz.core.track_sources import load_clip
from corrviz.core.track_sources.flow import FlowTracks, chain_tracks
from corrviz.core.track_sources.rendered import RenderedTracks


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CORRVIZ_CACHE", str(tmp_path / "cache"))


def test_rendered_tracks_agree_with_the_renderers_correspondences():
    src = RenderedTracks([("chair", 1000)], clips_per_object=1, grid=8, resolution=96)
    clip = src.clip(0)
    vs = src.render(0)
    assert clip.frames.shape == (4, 96, 96, 3) and clip.positions.shape == (64, 4, 2)
    q = clip.positions[:, 0]
    on = np.isfinite(q).all(1)
    assert on.sum() > 20
    for t in range(1, 4):
        gt, valid = vs.correspondence(0, t, q[on])
        vis = clip.visibility[on, t]
        np.testing.assert_array_equal(vis, valid)
        assert np.abs(clip.positions[on][vis, t] - gt[vis]).max() < 0.5
        # visible tracks land on the object in frame t (within a pixel of its mask: edges are sub-pixel)
        import cv2

        mask = cv2.dilate(vs.views[t].mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        xy = np.floor(clip.positions[on][vis, t]).astype(int)
        assert mask[xy[:, 1], xy[:, 0]].all()
    assert clip.visibility[:, 1:].sum() < clip.visibility[:, :1].sum() * 3  # some points get occluded
    assert clip.meta["rotation_deg"][0] == 0.0 and clip.meta["rotation_deg"][3] > 10.0


def test_rendered_clip_is_cached(tmp_path):
    src = RenderedTracks([("box", 1000)], clips_per_object=1, grid=4, resolution=48)
    first = src.clip(0)
    files = list((tmp_path / "cache" / "tracks").glob("*.npz"))
    assert len(files) == 1
    again = load_clip(files[0])
    np.testing.assert_array_equal(again.positions, first.positions)
    np.testing.assert_array_equal(src.clip(0).frames, first.frames)


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip((img - img.mean()) * 3 + 128, 0, 255).astype(np.uint8)


def _occluder_clip(n: int = 9, speed: int = 6):
    """A static textured background; a textured 40 px square slides right by ``speed`` px per frame."""
    bg, fg = _texture(120, 200, 0), _texture(40, 40, 1)
    frames = []
    for t in range(n):
        f = bg.copy()
        x0 = 10 + speed * t
        f[40:80, x0:x0 + 40] = fg
        frames.append(f)
    return frames


@pytest.mark.parametrize("tracker", ["lk", "dis"])
def test_forward_backward_check_marks_covered_points_occluded(tracker):
    frames = _occluder_clip()
    covered_at = 10 + 6 * 8 + 40  # right edge of the square in the last frame: x < 98 gets covered
    queries = np.array([[70.0, 60.0], [90.0, 58.0], [150.0, 20.0], [170.0, 100.0], [60.0, 105.0]])
    pos, vis = chain_tracks(frames, queries, tracker, fb_threshold=1.0)
    assert queries[0, 0] < covered_at and queries[1, 0] < covered_at
    assert not vis[0, -1] and not vis[1, -1]   # the square covers them: the chained track ends
    assert vis[2:, -1].all()                   # never covered: tracked to the end, on the static background
    assert np.abs(pos[2:, -1] - queries[2:]).max() < 0.5


def test_flow_source_clips_and_cache(tmp_path):
    import cv2

    folder = tmp_path / "video"
    folder.mkdir()
    for t, f in enumerate(_occluder_clip(13, 3)):
        cv2.imwrite(str(folder / f"{t:05d}.png"), f[..., ::-1])
    src = FlowTracks(folder, grid=4, clip_stride=4)
    assert len(src) == 1
    clip = src.clip(0)
    assert clip.frames.shape == (4, 120, 200, 3) and clip.visibility[:, 0].all()
    assert len(list((tmp_path / "cache" / "tracks").glob("flow-*.npz"))) == 1
    with pytest.raises(Exception, match="video: 13 frames.*needs 17"):
        FlowTracks(folder, n_frames=5)


def test_viewpoint_bins():
    assert [viewpoint_bin(r) for r in (0.0, 29.9, 30.0, 75.0, 90.0, 120.0, 130.0)] == \
        ["small", "small", "medium", "large", "xlarge", "xlarge", None]
    errors = np.array([0.01, 0.2, 0.01, 0.01, 0.3, 0.5])
    rot = np.array([10.0, 10.0, 45.0, 70.0, 70.0, 150.0])
    s = scores_by_viewpoint(errors, rot)
    assert set(s) == {"small", "medium", "large"}
    assert s["small"].pcdp[0.05] == 0.5 and s["medium"].pcdp[0.05] == 1.0 and s["large"].n_points == 2
    assert s["large"].ape == pytest.approx(0.155)


def test_flow_badja_script_on_a_few_frames(capsys):
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    data = root.parent / "shared" / "data" / "BADJA"
    if not (data / "joint_annotations" / "horsejump-high.json").exists():
        pytest.skip(f"BADJA annotations not found at {data}")
    spec = importlib.util.spec_from_file_location("flow_tracks_badja", root / "scripts" / "flow_tracks_badja.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--data", str(data), "--max-frames", "6", "--trackers", "lk"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = out[2].split()
    assert row[0] == "lk" and row[1] == "6"
    held, total = int(row[5]), int(row[7])
    assert 0 < held <= total and float(row[2]) < 10.0  # held joints stay within a few pixels
