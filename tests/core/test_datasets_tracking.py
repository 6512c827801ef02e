"""BADJA over the DAVIS 480p frames, and the TAP-Vid pickle / folder loaders."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_dilation

from corrviz.core.datasets import BadjaDataset, TapVidFolderDataset, TapVidPickleDataset, get_dataset
from corrviz.core.errors import DatasetError

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the checkout
DATA = SHARED_DATA
MASKS = DATA / "DAVIS" / "Masks_binary_dinotracker" / "480p" / "horsejump-high"


def _fraction_on_mask(xy_by_frame: list[tuple[str, np.ndarray]], dilate: int) -> float:
    hit = total = 0
    for stem, xy in xy_by_frame:
        m = np.asarray(Image.open(MASKS / f"{stem}.png")) > 127
        if dilate:
            m = binary_dilation(m, iterations=dilate)
        col = np.clip(np.floor(xy[:, 0]).astype(int), 0, m.shape[1] - 1)
        row = np.clip(np.floor(xy[:, 1]).astype(int), 0, m.shape[0] - 1)
        hit += int(m[row, col].sum())
        total += len(xy)
    return hit / total


def test_badja_only_horsejump_high_has_frames() -> None:
    ds = BadjaDataset(DATA / "BADJA")
    assert [c.clip_id for c in ds] == ["horsejump-high"]
    assert len(ds.incomplete()) == 10
    assert all("DAVIS frames missing" in i.reason for i in ds.incomplete())
    clip = ds[0]
    assert clip.image_size == (854, 480) and clip.n_frames == 50 and clip.n_points == 37
    assert clip.threshold == "sqrt_mask_area"
    annotated_frames = np.flatnonzero(clip.annotated.any(axis=0))
    assert annotated_frames.tolist() == [0, 2, 7, 8, 18, 26, 36, 39, 47, 49]
    assert np.all(np.isfinite(clip.mask_area[annotated_frames]))
    assert clip.mask_area[0] == float((np.asarray(Image.open(MASKS / "00000.png")) > 127).sum())
    assert clip.load_frame(0).shape == (480, 854, 3)
    assert len(get_dataset("badja", DATA, sequences="horsejump-high")) == 1


def test_badja_joints_scaled_to_480p_land_on_the_horse() -> None:
    clip = BadjaDataset(DATA / "BADJA")[0]
    raw = json.loads((DATA / "BADJA" / "joint_annotations" / "horsejump-high.json").read_text())
    ours, swapped, unscaled = [], [], []
    for e in raw:
        stem = Path(e["image_path"]).stem
        t = int(stem)
        vis = np.asarray(e["visibility"], bool)
        ours.append((stem, clip.points[vis, t]))
        rc = np.asarray(e["joints"], float)[vis]
        swapped.append((stem, rc * 480 / 1080))  # wrongly read as (x, y)
        unscaled.append((stem, rc[:, ::-1]))  # right order, full-resolution scale
        # row/col order: x comes from the column, y from the row, +0.5 pixel centre, scaled
        np.testing.assert_allclose(clip.points[vis, t], (rc[:, ::-1] + 0.5) * [854 / 1920, 480 / 1080])
        assert not clip.occluded[vis, t].any() and clip.occluded[~vis, t].all()
    assert _fraction_on_mask(ours, dilate=0) > 0.85
    assert _fraction_on_mask(ours, dilate=3) > 0.95
    assert _fraction_on_mask(swapped, dilate=3) < 0.5
    assert _fraction_on_mask(unscaled, dilate=3) < 0.5


def test_badja_queries_use_annotated_frames() -> None:
    clip = BadjaDataset(DATA / "BADJA")[0]
    q = clip.queries("first")
    assert len(q) == int((~clip.occluded & clip.annotated).any(axis=1).sum())
    assert np.all(clip.annotated[q.point_index, q.frame])


def test_badja_wrong_layout(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="joint_annotations"):
        BadjaDataset(tmp_path)


def _tiny_video() -> dict:
    rng = np.random.default_rng(0)
    video = rng.integers(0, 255, size=(3, 8, 10, 3), dtype=np.uint8)
    points = np.array([[[0.5, 0.5], [0.6, 0.5], [0.7, 0.25]], [[0.1, 0.9], [0.1, 0.9], [0.0, 0.0]]])
    occluded = np.array([[False, False, False], [False, False, True]])
    return {"video": video, "points": points, "occluded": occluded}


def test_tapvid_pickle(tmp_path: Path) -> None:
    data = {"clip_b": _tiny_video(), "broken": {"video": np.zeros((2, 4, 4, 3), np.uint8)}}
    pkl = tmp_path / "tapvid_davis.pkl"
    pkl.write_bytes(pickle.dumps(data))
    ds = TapVidPickleDataset(tmp_path)
    assert [c.clip_id for c in ds] == ["clip_b"]
    assert "'points'" in ds.incomplete()[0].reason
    c = ds[0]
    assert c.image_size == (10, 8)
    np.testing.assert_allclose(c.points[0, 2], [7.0, 2.0])  # (0.7 * W, 0.25 * H)
    assert c.occluded.tolist() == data["clip_b"]["occluded"].tolist()
    np.testing.assert_array_equal(c.load_frame(1), data["clip_b"]["video"][1])
    assert len(TapVidPickleDataset(pkl)) == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="tapvid_davis.pkl"):
        TapVidPickleDataset(tmp_path / "empty")


def test_tapvid_folder(tmp_path: Path) -> None:
    v = _tiny_video()
    d = tmp_path / "clip_a" / "frames"
    d.mkdir(parents=True)
    for t, frame in enumerate(v["video"]):
        Image.fromarray(frame).save(d / f"{t:05d}.png")
    np.savez(tmp_path / "clip_a" / "tracks.npz", points=v["points"], occluded=v["occluded"])
    bad = tmp_path / "clip_bad"
    bad.mkdir()
    Image.fromarray(v["video"][0]).save(bad / "00000.png")
    np.savez(bad / "tracks.npz", points=v["points"], occluded=v["occluded"])  # 3 frames of tracks, 1 frame
    ds = TapVidFolderDataset(tmp_path)
    assert [c.clip_id for c in ds] == ["clip_a"]
    assert "frames" in ds.incomplete()[0].reason
    c = ds[0]
    np.testing.assert_allclose(c.points[0, 2], [7.0, 2.0])
    np.testing.assert_array_equal(c.load_frame(2), v["video"][2])
    with pytest.raises(DatasetError, match="tracks.npz"):
        TapVidFolderDataset(tmp_path / "clip_a" / "frames")
