"""``corrviz-eval downstream``: one table of pose, tracking and transfer whose cells are the runners'
numbers (hand-checked from the per-item errors), before / after a checkpoint, bad input before work."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from corrviz.core.evaluate import ExtractorSpec, evaluate
from corrviz.core.evaluate import downstream as ds
from corrviz.core.evaluate.pose import PoseSettings

TINY_POSE = PoseSettings(n_references=4, n_queries=3, resolution=96)


def _parts(shared_data, parts=("pose", "transfer"), **kw):
    return ds.downstream_parts(shared_data, parts, pose_data=["default"], pose_limit=1, transfer_limit=10, **kw)


def test_cells_are_the_runner_values_and_match_hand_counts(shared_data):
    spec = ExtractorSpec("dense_sift", 96)
    res = ds.run_downstream(spec, _parts(shared_data), TINY_POSE)
    assert res.variants == ["base"]
    assert [(r["part"], r["metric"]) for r in res.rows][:1] == [("pose", "1cm-1deg")]
    # transfer: PCK@0.1 bbox per image, counted by hand from the per-pair errors
    willow = res.results["base"]["transfer:PF-WILLOW"]
    assert len(willow.items) == 10
    hand = np.mean([np.mean(np.asarray(it["errors_px"]) <= 0.1 * it["bbox_size"]) for it in willow.items])
    assert res.value("PF-WILLOW", "PCK@0.1 bbox") == pytest.approx(hand)
    assert res.value("PF-WILLOW", "PCK@0.05 bbox") < hand < res.value("PF-WILLOW", "PCK@0.15 bbox")
    alone = evaluate("pfwillow", shared_data / "PF-WILLOW", spec, "nn", 10)
    for a in (0.05, 0.1, 0.15):
        assert res.value("PF-WILLOW", f"PCK@{a:g} bbox") == pytest.approx(alone.value("pck", a, "bbox", "per_image"))
    # pose: 5cm-5deg and the fraction with a pose, from the per-query errors
    pose = res.results["base"]["pose:held-out objects"]
    items = pose.items
    assert len(items) == 3 and res.rows[0]["n_evaluated"] == 3
    hand5 = np.mean([it["found"] and it["rotation_error_deg"] < 5 and it["translation_error_cm"] < 5 for it in items])
    assert res.value("held-out objects", "5cm-5deg") == pytest.approx(hand5)
    assert res.value("held-out objects", "queries with a pose") == pytest.approx(np.mean([it["found"] for it in items]))
    md = res.markdown()
    assert f"| transfer | PF-WILLOW (10) | PCK@0.1 bbox | {100 * hand:.1f} |" in md


def _checkpoint(tmp_path, perturb: bool):
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.heads import AdaptedBackbone

    model = AdaptedBackbone(create_backbone("test_dinov2_tiny"), [{"type": "lora", "rank": 2, "last_blocks": 2}])
    if perturb:
        with torch.no_grad():
            for p in model.heads.parameters():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(0)) * 0.5)
    return str(save_checkpoint(tmp_path / ("moved" if perturb else "identity") / "model.safetensors", model, "mef",
                               feature={"layer": -1, "facet": "prenorm"}))


def test_checkpoint_gives_before_after_and_change(shared_data, tmp_path):
    parts = ds.downstream_parts(shared_data, ["transfer"], transfer_limit=6)
    same = ds.run_downstream(ExtractorSpec("test_dinov2_tiny", 112, checkpoint=_checkpoint(tmp_path, False)), parts)
    assert same.variants == ["base", "checkpoint"]
    assert all(r["change"] == 0.0 for r in same.rows)  # zero-initialised LoRA: the base model exactly
    ck = _checkpoint(tmp_path, True)
    moved = ds.run_downstream(ExtractorSpec("test_dinov2_tiny", 112, checkpoint=ck), parts)
    before = evaluate("pfwillow", shared_data / "PF-WILLOW", ExtractorSpec("test_dinov2_tiny", 112), "nn", 6)
    after = evaluate("pfwillow", shared_data / "PF-WILLOW", ExtractorSpec("test_dinov2_tiny", 112, checkpoint=ck),
                     "nn", 6)
    for a in (0.05, 0.1, 0.15):
        b, c = before.value("pck", a, "bbox", "per_image"), after.value("pck", a, "bbox", "per_image")
        label = f"PCK@{a:g} bbox"
        assert moved.value("PF-WILLOW", label, "base") == pytest.approx(b)
        assert moved.value("PF-WILLOW", label, "checkpoint") == pytest.approx(c)
        row = next(r for r in moved.rows if r["metric"] == label)
        assert row["change"] == pytest.approx(c - b)
    errs = {v: [e for it in moved.results[v]["transfer:PF-WILLOW"].items for e in it["errors_px"]]
            for v in moved.variants}
    assert errs["base"] != errs["checkpoint"]  # the checkpoint column was made with the moved adapter
    only = ds.run_downstream(ExtractorSpec("test_dinov2_tiny", 112, checkpoint=ck), parts, baseline=False)
    assert only.variants == ["checkpoint"]


def test_bad_input_fails_before_any_model_is_built(shared_data, tmp_path, monkeypatch):
    from corrviz.core.errors import CorrvizError
    from corrviz.core.evaluate import spec as spec_mod

    def no_model(_spec):
        raise AssertionError("a model was built before the input was checked")

    monkeypatch.setattr(spec_mod, "build_extractor", no_model)
    with pytest.raises(CorrvizError, match="PF-WILLOW.*does not exist"):
        ds.run_downstream(ExtractorSpec("dense_sift"), ds.downstream_parts(tmp_path, ["transfer"]))
    (tmp_path / "meshes").mkdir()
    with pytest.raises(CorrvizError, match="holds no meshes"):
        ds.run_downstream(ExtractorSpec("dense_sift"), ds.downstream_parts(tmp_path, ["pose"]))
    with pytest.raises(CorrvizError, match="downstream tracking"):
        ds.run_downstream(ExtractorSpec("dense_sift"),
                          ds.downstream_parts(None, ["tracking"], tracking_data=str(tmp_path)))
    with pytest.raises(CorrvizError, match="parts must be among"):
        ds.downstream_parts(shared_data, ["pose", "segmentation"])
    with pytest.raises(CorrvizError, match="give --data"):
        ds.downstream_parts(None, ["transfer"])


@pytest.mark.slow
def test_command_writes_one_table_of_all_three_parts(shared_data, tmp_path, capsys):
    from corrviz.core.commands.eval import main

    code = main(["downstream", "--data", str(shared_data), "--backbone", "test_dinov2_tiny", "--resolution", "112",
                 "--pose-data", "default", "--pose-limit", "1", "--references", "4", "--queries", "3",
                 "--render-resolution", "96", "--transfer-limit", "4", "--tracking-limit", "1",
                 "--out", str(tmp_path), "--tag", "ds", "--quiet", "--no-plots"])
    assert code == 0
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "ds.json").read_text())
    assert [p["benchmark"] for p in doc["protocol"]["parts"]] == ["pose", "badja", "pfwillow"]
    assert doc["protocol"]["pose_settings"]["references"]["n_views"] == 4
    track = {r["metric"]: r for r in doc["rows"] if r["part"] == "tracking"}
    badja = json.loads((tmp_path / "ds_parts" / "base_tracking_badja__davis.json").read_text())
    want = next(r["value"] for r in badja["results"] if r["metric"] == "average_jaccard" and r["category"] == "all")
    assert track["AJ"]["values"]["base"] == pytest.approx(want)
    assert f"| tracking | BADJA (DAVIS) (1) | AJ | {100 * want:.1f} |" in out
    csv_lines = (tmp_path / "ds.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(doc["rows"]) and csv_lines[0].startswith("part,dataset,benchmark,metric")
    assert (tmp_path / "ds.md").read_text() in out
