"""Synthetic SPair: on-disk layout, loader, benchmark (PCK / KAP per viewpoint / left/right confusion)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("open3d")

from corrviz.core.commands import data as data_cli  # noqa: E402
from corrviz.core.datasets import PairRecord, SPairDataset, get_dataset  # noqa: E402
from corrviz.core.errors import DatasetError  # noqa: E402
from corrviz.core.evaluate import OracleMatcher, evaluate  # noqa: E402
from corrviz.core.evaluate.synthetic_spair import confusion_by_group, left_right_confused  # noqa: E402
from corrviz.core.synthetic.categories.dataset import (  # noqa: E402
    SplitSizes,
    bin_distance,
    viewpoint_variation,
    write_synthetic_spair,
)
from corrviz.core.synthetic.keypoints import RenderSettings  # noqa: E402

TINY = "test_dinov2_tiny"  # random-init tiny ViT: the real pipeline in seconds


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("features")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic_spair")
    return write_synthetic_spair(root, ["car", "chair", "mug"], SplitSizes((2, 0, 3), (6, 0, 12)),
                                 RenderSettings(resolution=80), holdout=["mug"])


def test_layout_is_spair_and_pairs_are_consistent(tiny):
    ds = get_dataset("synthetic-spair", tiny, split="test")
    plain = SPairDataset(tiny, split="test")  # the SPair loader reads the same files
    assert len(ds) == len(plain) == 36 and ds.category_counts() == {"car": 12, "chair": 12, "mug": 12}
    assert ds.viewpoint_counts() == {"small": 12, "medium": 12, "large": 12}
    index = json.loads((tiny / "synthetic_spair.json").read_text())
    for rec in ds.records():
        src = json.loads((tiny / "ImageAnnotation" / rec.category / f"{rec.src_image.stem}.json").read_text())
        trg = json.loads((tiny / "ImageAnnotation" / rec.category / f"{rec.trg_image.stem}.json").read_text())
        assert rec.meta["src_instance"] != rec.meta["trg_instance"]  # semantic pairs: two instances
        assert rec.viewpoint_variation == viewpoint_variation(src["azimuth_id"], trg["azimuth_id"])
        for row, kid in enumerate(rec.kps_ids):
            np.testing.assert_allclose(rec.src_kps[row], src["kps"][kid])
            np.testing.assert_allclose(rec.trg_kps[row], trg["kps"][kid])
            assert rec.kps_names[row] == index["categories"][rec.category]["keypoints"][int(kid)]
            twin = rec.meta["twins"].get(kid)
            if twin is not None and trg["kps"][twin] is not None:
                np.testing.assert_allclose(rec.meta["twin_trg_kps"][row], trg["kps"][twin])
            else:
                assert np.isnan(rec.meta["twin_trg_kps"][row]).all()
        # KAP keypoints: every source-visible keypoint, NaN where hidden in the target
        assert len(rec.kap_ids) == sum(v is not None for v in src["kps"].values())


def test_splits_by_instance_and_heldout_category(tiny):
    ds = get_dataset("synthetic_spair", tiny, split="train")
    train = ds.images("train")
    test = ds.images("test")
    assert {i.category for i in train} == {"car", "chair"}  # the held-out mug has no training image
    assert {i.instance_id for i in train}.isdisjoint({i.instance_id for i in test})
    assert all(i.seed >= 1000 for i in train) and all(i.seed < 500 for i in test)
    assert len(test) == 3 * 3 * 8 and {i.azimuth_bin for i in test} == set(range(8))
    img = test[0]
    assert img.image.is_file() and img.mask.is_file() and img.depth.is_file()
    depth = np.load(img.depth)
    from PIL import Image

    mask = np.asarray(Image.open(img.mask)) > 0
    assert ((depth > 0) == mask).all()
    vis = img.kps[img.visible]
    assert mask[vis[:, 1].astype(int), vis[:, 0].astype(int)].all()
    assert {r.category for r in ds.records()} == {"car", "chair"}


def test_viewpoint_rule():
    assert [bin_distance(0, b) for b in range(8)] == [0, 1, 2, 3, 4, 3, 2, 1]
    assert [viewpoint_variation(0, b) for b in range(8)] == [0, 1, 1, 2, 2, 2, 1, 1]


def test_confusion_rate_hand_built():
    gt = np.array([[10.0, 10.0], [50.0, 10.0], [30.0, 30.0], [70.0, 70.0], [0.0, 0.0]])
    twin = np.array([[50.0, 10.0], [10.0, 10.0], [np.nan, np.nan], [90.0, 70.0], [20.0, 0.0]])
    pred = np.array([[45.0, 12.0],   # lands on its twin: confused
                     [48.0, 10.0],   # right next to its own ground truth: fine
                     [50.0, 50.0],   # no twin: not eligible
                     [80.0, 70.0],   # exactly half-way: not strictly nearer the twin
                     [np.nan, np.nan]])  # no prediction (mutual-NN rejection): eligible, not confused
    confused, eligible = left_right_confused(pred, gt, twin)
    assert confused.tolist() == [True, False, False, False, False]
    assert eligible.tolist() == [True, True, False, True, True]

    def rec(pid: str, cat: str, vp: int) -> PairRecord:
        return PairRecord(pid, "synthetic_spair", cat, Path("a"), Path("b"), gt, gt, tuple("01234"), tuple("01234"),
                          (100, 100), (100, 100), viewpoint_variation=vp, meta={"twin_trg_kps": twin})

    groups = confusion_by_group([rec("p1", "car", 0), rec("p2", "mug", 2)], [pred, gt])
    assert (groups["all", "all"].confused, groups["all", "all"].eligible) == (1, 8)
    assert groups["car", "all"].rate == pytest.approx(0.25) and groups["mug", "all"].rate == 0.0
    assert groups["all", "small"].rate == pytest.approx(0.25)


class TwinMatcher:
    """Predicts each keypoint's twin position where the twin is visible (else the truth)."""

    name = "twin"

    def __call__(self, src, trg, src_xy, record):
        twin = record.meta["twin_trg_kps"]
        return np.where(np.isfinite(twin), twin, record.trg_kps)


def test_benchmark_rows_oracle_and_twin_swap(tiny, cache):
    res = evaluate("synthetic-spair", tiny, TINY, OracleMatcher(), cache_root=cache)
    assert res.value("pck", 0.1, "bbox", "per_keypoint") == 1.0
    assert res.value("lr_confusion", aggregation="per_keypoint") == 0.0
    swapped = evaluate("synthetic-spair", tiny, TINY, TwinMatcher(), cache_root=cache, kap=False)
    rows = [r for r in swapped.rows if r["metric"] == "lr_confusion" and r["category"] == "all" and r["viewpoint"] == "all"]
    assert rows[0]["n_keypoints"] > 0 and rows[0]["value"] == 1.0
    assert swapped.value("pck", 0.01, "bbox", "per_keypoint") < 1.0


def test_kap_per_viewpoint_equals_kap_on_that_bin_alone(tiny, cache):
    full = evaluate("synthetic-spair", tiny, TINY, "nn", cache_root=cache, norms=["bbox"])
    for vp in ("small", "large"):
        alone = evaluate("synthetic-spair", tiny, TINY, "nn", cache_root=cache, norms=["bbox"],
                         dataset_options={"viewpoint": vp})
        assert full.value("kap", 0.1, "bbox", "macro", viewpoint=vp) == pytest.approx(
            alone.value("kap", 0.1, "bbox", "macro"), abs=1e-12)
        assert full.value("pck", 0.1, "bbox", "per_keypoint", viewpoint=vp) == pytest.approx(
            alone.value("pck", 0.1, "bbox", "per_keypoint"))


def test_cli_writes_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "s"
    assert data_cli.main(["synthetic-spair", str(out), "--categories", "table,lamp", "--instances", "1,1,2",
                          "--pairs", "2,2,3", "--resolution", "48", "--quiet"]) == 0
    assert len(list((out / "PairAnnotation" / "test").glob("*.json"))) == 6
    assert len(list((out / "PairAnnotation" / "val").glob("*.json"))) == 0  # one val instance: no pair
    assert data_cli.main(["synthetic-spair", str(tmp_path / "x"), "--categories", "tabel"]) != 0
    assert "tabel" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before any work
    with pytest.raises(DatasetError, match="synthetic_spair.json"):
        get_dataset("synthetic_spair", tmp_path)
