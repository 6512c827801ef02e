"""SPair-71k loader on the real sample, plus malformed copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from corrviz.core.datasets import SPairDataset, get_dataset, list_datasets
from corrviz.core.errors import DatasetError

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the checkout
ROOT = SHARED_DATA / "SPair-71k"


def test_counts_match_the_readme() -> None:
    ds = SPairDataset(ROOT, split="test")
    assert len(ds) == 92
    assert len(ds.incomplete()) == 168 - 92
    assert ds.category_counts() == {"person": 63, "horse": 12, "cow": 6, "sheep": 5, "pottedplant": 4,
                                    "cat": 1, "dog": 1}
    assert ds.viewpoint_counts() == {"small": 47, "medium": 35, "large": 10}
    assert all("missing" in i.reason and i.paths for i in ds.incomplete())
    assert len(SPairDataset(ROOT, require_images=False)) == 168


def test_filters() -> None:
    assert len(SPairDataset(ROOT, categories="horse")) == 12
    assert len(SPairDataset(ROOT, categories=["cow", "sheep"])) == 11
    assert len(SPairDataset(ROOT, viewpoint="large")) == 10
    assert len(SPairDataset(ROOT, viewpoint=[0, 1])) == 82
    assert len(get_dataset("spair", ROOT, categories="person", viewpoint="small")) == len(
        [r for r in SPairDataset(ROOT, categories="person") if r.viewpoint_variation == 0])
    assert "spair" in list_datasets()


def test_values_equal_the_files() -> None:
    ds = SPairDataset(ROOT)
    for rec in list(ds)[:5]:
        raw = json.loads((ROOT / "PairAnnotation" / "test" / f"{rec.pair_id}.json").read_text())
        np.testing.assert_array_equal(rec.src_kps, np.asarray(raw["src_kps"], float))
        np.testing.assert_array_equal(rec.trg_kps, np.asarray(raw["trg_kps"], float))
        np.testing.assert_array_equal(rec.trg_bbox, raw["trg_bndbox"])
        assert rec.trg_size == tuple(raw["trg_imsize"][:2])
        assert rec.kps_ids == tuple(raw["kps_ids"])
        assert rec.src_image.is_file() and rec.trg_image.is_file()
    # a pair with both ImageAnnotations: azimuth bins and the KAP keypoint set
    rec = next(r for r in ds if r.pair_id.startswith("006333-"))
    assert (rec.src_azimuth, rec.trg_azimuth) == (2, 1)
    assert rec.kap_src_kps is not None and rec.kap_trg_kps is not None
    assert set(rec.kps_ids) <= set(rec.kap_ids or ())
    src_ia = json.loads((ROOT / "ImageAnnotation" / "cow" / "2007_004081.json").read_text())
    k = rec.kap_ids.index("8")
    assert rec.kap_src_kps[k].tolist() == src_ia["kps"]["8"]
    assert rec.src_mask is None  # no Segmentation folder in this sample
    assert rec.threshold_size("bbox") == max(rec.trg_bbox[2] - rec.trg_bbox[0], rec.trg_bbox[3] - rec.trg_bbox[1])
    assert len(ds.partial()) > 0 and all("ImageAnnotation" in p.reason for p in ds.partial())


def _copy_pair(src_root: Path, dst_root: Path, name: str) -> dict:
    raw = json.loads((src_root / "PairAnnotation" / "test" / f"{name}.json").read_text())
    cat = raw["category"]
    (dst_root / "JPEGImages" / cat).mkdir(parents=True, exist_ok=True)
    for n in (raw["src_imname"], raw["trg_imname"]):
        shutil.copy(src_root / "JPEGImages" / cat / n, dst_root / "JPEGImages" / cat / n)
    return raw


def test_malformed_annotations_are_skipped_with_reason(tmp_path: Path) -> None:
    good = next(iter(SPairDataset(ROOT))).pair_id
    pair_dir = tmp_path / "PairAnnotation" / "test"
    pair_dir.mkdir(parents=True)
    raw = _copy_pair(ROOT, tmp_path, good)
    cat = raw["category"]
    (pair_dir / f"{good}.json").write_text(json.dumps(raw))
    no_trg = dict(raw)
    del no_trg["trg_kps"]
    (pair_dir / f"900001-a-b:{cat}.json").write_text(json.dumps(no_trg))
    uneven = dict(raw, trg_kps=raw["trg_kps"][:-1])
    (pair_dir / f"900002-a-b:{cat}.json").write_text(json.dumps(uneven))
    (pair_dir / f"900003-a-b:{cat}.json").write_text("{not json")
    ghost = dict(raw, src_imname="does_not_exist.jpg")
    (pair_dir / f"900004-a-b:{cat}.json").write_text(json.dumps(ghost))
    ds = SPairDataset(tmp_path)
    assert [r.pair_id for r in ds] == [good]
    reasons = {i.item_id.split("-")[0]: i.reason for i in ds.incomplete()}
    assert "'trg_kps'" in reasons["900001"]
    assert "different lengths" in reasons["900002"]
    assert "not valid JSON" in reasons["900003"]
    assert "does_not_exist.jpg" in reasons["900004"] and "missing" in reasons["900004"]


def test_wrong_layout_names_the_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="PairAnnotation/test"):
        SPairDataset(tmp_path)
    (tmp_path / "PairAnnotation" / "test").mkdir(parents=True)
    with pytest.raises(DatasetError, match="JPEGImages"):
        SPairDataset(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        SPairDataset(tmp_path / "nope")
