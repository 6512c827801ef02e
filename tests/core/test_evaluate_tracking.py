"""Tracking pipeline: a hand-built translating clip (TAP-Vid folder layout) and real BADJA/DAVIS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from corrviz.core.evaluate import ExtractorSpec, MatcherSpec, OracleMatcher, evaluate
from corrviz.core.io import save_image
from corrviz.core.tracking import radius_soft_argmax

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the checkout
DATA = SHARED_DATA
SHIFT = np.array([8.0, 8.0])  # pixels per frame (x, y): one cell of dense SIFT at scale 1


def _texture(size: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    noise = rng.random((size, size, 3))
    return (np.clip(gaussian_filter(noise, (2, 2, 0)) * 1.6 - 0.3, 0, 1) * 255).astype(np.uint8)


def _clip(root: Path, n_frames: int = 4, size: tuple[int, int] = (128, 96),
          queries: tuple[tuple[float, float], ...] = ((36.0, 36.0), (60.0, 44.0), (84.0, 28.0))) -> Path:
    rng = np.random.default_rng(3)
    w, h = size
    big = _texture(max(w, h) + 20 + int(SHIFT.max()) * n_frames + 8, rng)
    vid = root / "translate"
    (vid / "frames").mkdir(parents=True)
    for t in range(n_frames):
        ox, oy = (20 + SHIFT * t).astype(int)
        save_image(vid / "frames" / f"{t:03d}.png", big[oy: oy + h, ox: ox + w])
    q = np.array(queries)  # cell centres
    pts = np.stack([q - SHIFT * t for t in range(n_frames)], axis=1)  # content moves by -SHIFT
    occ = np.zeros(pts.shape[:2], bool)
    np.savez(vid / "tracks.npz", points_px=pts, occluded=occ)
    return root


def test_radius_soft_argmax_stays_within_radius() -> None:
    sim = torch.zeros(1, 5, 5)
    sim[0, 2, 2], sim[0, 2, 3], sim[0, 0, 0] = 1.0, 1.0, 0.99
    cells = np.stack(np.meshgrid(np.arange(5) * 10.0 + 5, np.arange(5) * 10.0 + 5), axis=-1)
    xy, score = radius_soft_argmax(sim, cells, radius_px=12.0, beta=0.02)
    np.testing.assert_allclose(xy[0], [30.0, 25.0], atol=1e-6)  # between the two peaks, far cell ignored
    assert score[0] == pytest.approx(1.0)


def test_oracle_tracker_scores_perfectly(tmp_path: Path) -> None:
    root = _clip(tmp_path / "clips")
    res = evaluate("tapvid_folder", root, ExtractorSpec("dense_sift", resolution=128), OracleMatcher(),
                   cache_root=tmp_path / "cache")
    assert res.value("average_jaccard") == 1.0
    assert res.value("delta_avg") == 1.0 and res.value("occlusion_accuracy") == 1.0


def test_feature_tracking_follows_a_translation(tmp_path: Path) -> None:
    # 192 px frames on a 192 px canvas (8 px cells), content moving by exactly one cell per frame,
    # queries on cell centres far enough from the borders that every descriptor window (up to a
    # quarter of the canvas) stays inside the frame: the descriptors of a point are identical in
    # every frame, so nearest neighbour must land on the true cell every time (error 0).
    root = _clip(tmp_path / "clips", size=(192, 192), queries=((92.0, 92.0), (100.0, 84.0), (108.0, 100.0)))
    spec = ExtractorSpec("dense_sift", resolution=192)
    res = evaluate("tapvid_folder", root, spec, MatcherSpec("nn", occlusion_threshold=0.0),
                   cache_root=tmp_path / "cache")
    assert res.value("pts_within_1", norm="256px") == 1.0 and res.value("average_jaccard") == 1.0
    assert res.protocol["query_mode"] == "first" and res.protocol["n_queries"] == 3
    again = evaluate("tapvid_folder", root, spec, "soft-argmax", cache_root=tmp_path / "cache")
    assert again.stats["extractions"] == 0
    assert again.value("pts_within_4") == 1.0  # the 35 px soft-argmax stays within 4 px (256 px space)
    with pytest.raises(Exception, match="tracking supports"):
        evaluate("tapvid_folder", root, spec, "mnn", cache_root=tmp_path / "cache")


class FrameShiftTracker:
    """Ground-truth tracks moved right by ``frac`` x the BADJA threshold 0.2 sqrt(mask area) of each frame."""

    name = "frame-shift"

    def __init__(self, frac: float) -> None:
        self.frac = frac

    def track(self, maps, queries, clip):  # type: ignore[no-untyped-def]
        idx = np.asarray(queries.point_index)
        area = np.nan_to_num(np.asarray(clip.mask_area, np.float64), nan=0.0)
        pts = clip.points[idx].astype(np.float64).copy()
        pts[..., 0] += self.frac * 0.2 * np.sqrt(area)[None, :]
        return pts, clip.occluded[idx].copy()


@pytest.mark.skipif(not (DATA / "BADJA").is_dir(), reason="shared data not available")
def test_badja_on_real_davis_frames(tmp_path: Path) -> None:
    spec = ExtractorSpec("test_dinov2_tiny", resolution=112, batch_size=16)
    oracle = evaluate("badja", DATA, spec, OracleMatcher(), cache_root=tmp_path)
    assert oracle.value("badja_pck", alpha=0.2) == 1.0
    assert oracle.protocol["n_evaluated"] == 1 and oracle.protocol["n_skipped"] == 10
    assert all("frames missing" in s["reason"] for s in oracle.skipped)
    # predictions moved by just under / just over 0.2 x sqrt(mask area) of each frame, in the pixels
    # of the stored frames: all correct / all wrong (a run that rescaled to 256 px first, used the
    # area instead of its root, or another alpha, cannot give both)
    inside = evaluate("badja", DATA, spec, FrameShiftTracker(0.95), cache_root=tmp_path)
    outside = evaluate("badja", DATA, spec, FrameShiftTracker(1.05), cache_root=tmp_path)
    assert inside.value("badja_pck", alpha=0.2) == 1.0 and outside.value("badja_pck", alpha=0.2) == 0.0
    real = evaluate("badja", DATA, spec, "soft-argmax", cache_root=tmp_path)
    assert real.stats["extractions"] == 0  # the oracle run already cached all 50 frames
    assert real.value("badja_pck", alpha=0.2) == real.items[0]["badja_pck"]  # one clip: the mean is that clip
    paths = real.save(tmp_path / "out")
    assert paths["clips_png"].is_file() and paths["clips_svg"].is_file()
