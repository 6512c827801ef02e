"""AP-10K and mmpose COCO-style fixture loaders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from corrviz.core.datasets import AP10KDataset, CocoKeypointPairs, get_dataset
from corrviz.core.errors import DatasetError

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the checkout
DATA = SHARED_DATA
AP = DATA / "AP-10K"


def test_ap10k_single_pair_is_cross_family() -> None:
    # antelope (Bovidae) and jaguar (Felidae): different families
    assert len(AP10KDataset(AP, kind="intra-species")) == 0
    assert len(AP10KDataset(AP, kind="cross-species")) == 0
    ds = AP10KDataset(AP, kind="cross-family")
    assert len(ds) == 1
    rec = ds[0]
    assert rec.meta["pair_kind"] == "cross-family"
    assert {rec.meta["src_species"], rec.meta["trg_species"]} == {"antelope", "jaguar"}
    assert rec.n_keypoints == 16 and "right_eye" not in rec.kps_names  # unlabeled in both
    assert len(AP10KDataset(AP, kind="cross-family", ordered=True)) == 2


def test_ap10k_values_equal_the_file() -> None:
    rec = get_dataset("ap10k", AP / "ap-10k", kind="all")[0]
    raw = json.loads((AP / "ap-10k" / "annotations" / "test_ap10k.json").read_text())
    ann = {a["id"]: a for a in raw["annotations"]}
    src_id, trg_id = (int(x) for x in rec.pair_id.split("-"))
    kp = np.asarray(ann[src_id]["keypoints"], float).reshape(-1, 3)
    assert rec.src_kps[0].tolist() == kp[0, :2].tolist()
    x, y, w, h = ann[trg_id]["bbox"]
    assert rec.trg_bbox.tolist() == [x, y, x + w, y + h]
    assert rec.kps_names[0] == "left_eye"


def test_mmpose_fixtures() -> None:
    horse = CocoKeypointPairs(DATA / "mmpose_animal_fixtures" / "horse10")
    assert len(horse) == 3 and [r.n_keypoints for r in horse] == [19, 11, 8]
    assert len(get_dataset("mmpose_coco", DATA / "mmpose_animal_fixtures" / "zebra")) == 1


def test_missing_image_and_bad_keypoints(tmp_path: Path) -> None:
    src = DATA / "mmpose_animal_fixtures" / "horse10"
    raw = json.loads((src / "test_horse10.json").read_text())
    raw["annotations"][2]["keypoints"] = raw["annotations"][2]["keypoints"][:-3]
    (tmp_path / "a.json").write_text(json.dumps(raw))
    shutil.copy(src / "0244.png", tmp_path)  # 0292.png missing
    ds = CocoKeypointPairs(tmp_path)
    assert len(ds) == 0
    reasons = " | ".join(i.reason for i in ds.incomplete())
    assert "0292.png missing" in reasons and "keypoints list" in reasons
    with pytest.raises(DatasetError, match="annotations"):
        AP10KDataset(tmp_path)
