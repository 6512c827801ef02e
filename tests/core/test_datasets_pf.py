"""PF-WILLOW and PF-PASCAL loaders on the real data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from corrviz.core.datasets import PFPascalDataset, PFWillowDataset, get_dataset
from corrviz.core.errors import DatasetError

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the checkout
WILLOW = SHARED_DATA / "PF-WILLOW"
PASCAL = SHARED_DATA / "PF-PASCAL"


def test_willow_has_900_ordered_pairs() -> None:
    ds = PFWillowDataset(WILLOW)
    assert len(ds) == 900 and not ds.incomplete()
    cats = {}
    for r in ds:
        cats[r.category] = cats.get(r.category, 0) + 1
    assert len(cats) == 10 and set(cats.values()) == {90}
    ids = {r.pair_id for r in ds}
    assert "car(G)/Cars_006a-Cars_007a" in ids and "car(G)/Cars_007a-Cars_006a" in ids
    assert len(PFWillowDataset(WILLOW / "PF-dataset-WILLOW", categories="duck(S)")) == 90


def test_willow_keypoints_and_threshold() -> None:
    ds = get_dataset("pf-willow", WILLOW)
    rec = next(r for r in ds if r.pair_id == "car(G)/Cars_006a-Cars_007a")
    mat = scipy.io.loadmat(str(WILLOW / "PF-dataset-WILLOW" / "car(G)" / "Cars_006a.mat"))["pts_coord"]
    np.testing.assert_allclose(rec.src_kps[0], [47.93528064, 98.15864834])
    np.testing.assert_array_equal(rec.src_kps, mat.T)
    assert rec.n_keypoints == 10 and rec.src_size == (300, 200)
    # threshold box tight around the TARGET keypoints
    t = rec.trg_kps
    np.testing.assert_allclose(rec.trg_bbox, [t[:, 0].min(), t[:, 1].min(), t[:, 0].max(), t[:, 1].max()])
    assert rec.threshold_norm == "bbox" and rec.bbox_source == "keypoints"
    assert rec.threshold_size() == pytest.approx(max(np.ptp(t[:, 0]), np.ptp(t[:, 1])))


def test_willow_missing_mat_is_reported(tmp_path: Path) -> None:
    cls = tmp_path / "duck(S)"
    shutil.copytree(WILLOW / "PF-dataset-WILLOW" / "duck(S)", cls)
    (cls / "060_0000.mat").unlink()
    ds = PFWillowDataset(tmp_path)
    assert len(ds) == 9 * 8
    assert len(ds.incomplete()) == 1 and "060_0000.mat" in ds.incomplete()[0].reason
    with pytest.raises(DatasetError, match="class folders"):
        PFWillowDataset(cls)


def test_pascal_lists_299_pairs_all_incomplete() -> None:
    ds = PFPascalDataset(PASCAL)
    assert len(ds) == 0
    inc = ds.incomplete()
    assert len(inc) == 299
    assert all("missing" in i.reason for i in inc)
    full = PFPascalDataset(PASCAL, require_images=False)
    assert len(full) == 299
    first = full[0]
    assert first.category == "aeroplane" and first.threshold_norm == "img"
    assert first.src_kps[0].tolist() == pytest.approx([253.631662222222, 58.1813333333333])
    assert first.trg_kps[0].tolist() == pytest.approx([272.801888, 65.2755428571429])
    assert first.n_keypoints == 11


def test_pascal_malformed_rows(tmp_path: Path) -> None:
    d = tmp_path / "PF-dataset-PASCAL"
    d.mkdir()
    lines = (PASCAL / "PF-dataset-PASCAL" / "test_pairs_pf_pascal.csv").read_text().splitlines()
    head, row = lines[0], lines[1].split(",")
    bad = list(row)
    bad[5] = ";".join(bad[5].split(";")[:-1])  # XB one shorter
    (d / "test_pairs_pf_pascal.csv").write_text("\n".join([head, ",".join(bad), ",".join(row)]) + "\n")
    ds = PFPascalDataset(tmp_path, require_images=False)
    assert len(ds) == 1 and "different lengths" in ds.incomplete()[0].reason
    with pytest.raises(DatasetError, match="test_pairs_pf_pascal.csv"):
        PFPascalDataset(tmp_path / "PF-dataset-PASCAL" / "..", csv_name="test_pairs_pf_pascal.csv.x")
