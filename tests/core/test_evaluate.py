"""The evaluation runner on real data: oracle PCK 1.0, the feature cache, the protocol, skipped inputs."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from corrviz.core.errors import Cancelled, DatasetError
from corrviz.core.evaluate import (
    EvalResult,
    ExtractorSpec,
    MatcherSpec,
    OracleMatcher,
    build_extractor,
    evaluate,
    weights_digest,
)
from corrviz.core.progress import Progress

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the checkout
DATA = SHARED_DATA
WILLOW = DATA / "PF-WILLOW"
SPAIR = DATA / "SPair-71k"
PROTOCOL_FIELDS = ("backbone", "weights_source", "checkpoint", "resolution", "facet", "layer", "canvas",
                   "matcher", "subset_size", "n_skipped", "skipped_reasons", "data_root", "corrviz_version",
                   "aggregations", "norms", "alphas")

pytestmark = pytest.mark.skipif(not WILLOW.is_dir(), reason="shared data not available")


def test_oracle_scores_one_through_the_whole_runner(tmp_path: Path) -> None:
    res = evaluate("pfwillow", WILLOW, "dense_sift", OracleMatcher(), limit=12, cache_root=tmp_path)
    for norm in ("bbox", "img"):
        for a in (0.01, 0.05, 0.1, 0.15):
            for agg in ("per_keypoint", "per_image", "macro"):
                assert res.value("pck", a, norm, agg) == 1.0
    assert res.protocol["subset_size"] == 12 and res.protocol["n_evaluated"] == 12
    assert res.curves["bbox"]["per_keypoint"] == [1.0] * 20


class ShiftMatcher:
    """Predicts the ground truth moved right by ``frac`` x (bbox side + image side) / 2 of the target.

    With frac = 0.1 every error lies between 0.1 x max side of the box and 0.1 x max side of the
    image, so PCK@0.1 is 0 with bbox normalisation and 1 with image normalisation: a run that
    mixed up the two (or thresholded with < instead of <=, or by the source size) cannot pass.
    """

    name = "shift"

    def __init__(self, frac: float) -> None:
        self.frac = frac
        self.shifts: list[float] = []

    def __call__(self, src, trg, src_xy, record):  # type: ignore[no-untyped-def]
        from corrviz.core.metrics import bbox_size

        b, i = bbox_size(record.trg_bbox), float(max(record.trg_size))
        assert b < i  # PF-WILLOW boxes are tight around the keypoints, inside the image
        self.shifts.append(self.frac * (b + i) / 2)
        return np.asarray(record.trg_kps, np.float64) + [self.shifts[-1], 0.0]


def test_bbox_and_image_normalisation_are_told_apart(tmp_path: Path) -> None:
    res = evaluate("pfwillow", WILLOW, "dense_sift", ShiftMatcher(0.1), limit=12, cache_root=tmp_path,
                   norms=("bbox", "img"), alphas=(0.1, 0.15))
    for agg in ("per_keypoint", "per_image", "macro"):
        assert res.value("pck", 0.1, "bbox", agg) == 0.0
        assert res.value("pck", 0.1, "img", agg) == 1.0
    # at alpha 0.15 a pair is all correct (bbox) iff its shift 0.05 (b + i) <= 0.15 b, i.e. b >= i / 2
    from corrviz.core.evaluate.runner import get_benchmark, open_dataset
    from corrviz.core.metrics import bbox_size

    recs = open_dataset(get_benchmark("pfwillow"), WILLOW).records()[:12]
    exact = [bbox_size(r.trg_bbox) >= float(max(r.trg_size)) / 2 for r in recs]
    assert 0 < sum(exact) < len(exact)  # both kinds of pair are present, so the value is informative
    assert res.value("pck", 0.15, "bbox", "per_image") == pytest.approx(np.mean(exact))  # 7 of 12
    assert res.value("pck", 0.15, "img", "per_image") == 1.0


def test_oracle_on_spair_scores_one_and_reports_missing_images(tmp_path: Path) -> None:
    res = evaluate("spair", SPAIR, "test_dinov2_tiny", OracleMatcher(), limit=8, cache_root=tmp_path)
    assert res.value("pck", 0.1, "bbox", "per_keypoint") == 1.0
    assert res.value("pck", 0.1, "bbox", "macro", viewpoint="small") == 1.0
    assert res.protocol["n_skipped"] == 76  # pairs whose images are not in the shared sample
    assert all(s["stage"] == "loader" and "missing" in s["reason"] for s in res.skipped)


def test_second_run_with_another_matcher_does_not_extract(tmp_path: Path) -> None:
    first = build_extractor(ExtractorSpec("dense_sift", resolution=224))
    r1 = evaluate("pfwillow", WILLOW, first, "nn", limit=20, cache_root=tmp_path)
    assert first.extractions == 10  # the 10 images of car(G), each once
    assert r1.stats["extractions"] == 10 and r1.stats["written"] == 10
    second = build_extractor(ExtractorSpec("dense_sift", resolution=224))
    r2 = evaluate("pfwillow", WILLOW, second, "soft-argmax", limit=20, cache_root=tmp_path)
    assert second.extractions == 0
    assert r2.stats["disk_hits"] == 10 and r2.stats["extractions"] == 0
    assert r2.protocol["matcher"]["method"] == "soft-argmax"
    # the cached features are exactly the extracted ones: same matcher, same numbers
    r3 = evaluate("pfwillow", WILLOW, build_extractor(ExtractorSpec("dense_sift", resolution=224)), "nn",
                  limit=20, cache_root=tmp_path)
    assert [r["value"] for r in r3.rows] == [r["value"] for r in r1.rows]
    # another resolution is another cache entry
    third = build_extractor(ExtractorSpec("dense_sift", resolution=160))
    evaluate("pfwillow", WILLOW, third, "nn", limit=20, cache_root=tmp_path)
    assert third.extractions == 10


def test_random_init_is_reproducible_and_keyed_by_its_weights(tmp_path: Path) -> None:
    a = build_extractor(ExtractorSpec("test_dinov2_tiny"))
    b = build_extractor(ExtractorSpec("test_dinov2_tiny"))
    c = build_extractor(ExtractorSpec("test_dinov2_tiny"))
    with torch.no_grad():
        c.backbone.model.pos_embed.add_(0.01)  # same name and weights source, other weights
    assert weights_digest(a) == weights_digest(b) != weights_digest(c)
    evaluate("pfwillow", WILLOW, a, "nn", limit=9, cache_root=tmp_path)
    evaluate("pfwillow", WILLOW, b, "nn", limit=9, cache_root=tmp_path)
    evaluate("pfwillow", WILLOW, c, "nn", limit=9, cache_root=tmp_path)
    assert (a.extractions, b.extractions, c.extractions) == (10, 0, 10)


def test_weights_digest_is_computed_once_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from corrviz.core.evaluate import cache, spec

    calls: list[str] = []
    real = spec.weights_digest

    def counting(ex):  # type: ignore[no-untyped-def]
        calls.append(ex.name)
        return real(ex)

    monkeypatch.setattr(spec, "weights_digest", counting)
    monkeypatch.setattr(cache, "weights_digest", counting)
    ex = build_extractor(ExtractorSpec("test_dinov2_tiny"))
    res = evaluate("pfwillow", WILLOW, ex, "nn", limit=2, cache_root=tmp_path)
    assert calls == ["test_dinov2_tiny"]
    assert res.protocol["weights_digest"] == real(ex) != ""


def test_results_json_and_csv_carry_the_protocol(tmp_path: Path) -> None:
    res = evaluate("pfwillow", WILLOW, ExtractorSpec("daisy", resolution=224), MatcherSpec("soft-argmax"),
                   limit=10, cache_root=tmp_path / "cache")
    paths = res.save(tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    for f in PROTOCOL_FIELDS:
        assert f in data["protocol"], f
    assert data["protocol"]["resolution"] == 224 and data["protocol"]["weights_source"] == "weight-free"
    assert data["protocol"]["matcher"]["beta"] == 0.02 and data["protocol"]["subset_size"] == 10
    assert data["n_skipped"] == 0
    aggs = {r["aggregation"] for r in data["results"] if r["category"] == "all"}
    assert aggs == {"per_keypoint", "per_image", "macro"}
    for r in data["results"]:
        assert {"metric", "alpha", "norm", "aggregation", "value"} <= set(r)
        assert r["protocol"]["backbone"] == "daisy" and r["protocol"]["canvas"] == "pad_center"
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert len(rows) == len(data["results"])
    assert {"backbone", "resolution", "facet", "layer", "matcher", "subset_size", "n_skipped", "data_root",
            "corrviz_version", "aggregation", "alpha", "norm"} <= set(rows[0])
    assert rows[0]["matcher"] == "soft-argmax" and rows[0]["data_root"].endswith("PF-WILLOW")
    for kind in ("categories", "pck_vs_alpha"):
        for ext in ("png", "svg"):
            assert paths[f"{kind}_{ext}"].stat().st_size > 1000


def _broken_spair(root: Path) -> Path:
    """A copy of 3 real SPair pairs plus 4 broken ones (SPair layout)."""
    names = ["007652-2007_006151-2007_006866:horse", "007676-2007_006866-2007_006151:horse",
             "006333-2007_004081-2007_006761:cow"]
    pdir = root / "PairAnnotation" / "test"
    pdir.mkdir(parents=True)
    for n in names:
        ann = json.loads((SPAIR / "PairAnnotation" / "test" / f"{n}.json").read_text())
        (pdir / f"{n}.json").write_text(json.dumps(ann))
        for key in ("src_imname", "trg_imname"):
            dst = root / "JPEGImages" / ann["category"] / ann[key]
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(SPAIR / "JPEGImages" / ann["category"] / ann[key], dst)
    good = json.loads((pdir / f"{names[0]}.json").read_text())
    no_trg = {k: v for k, v in good.items() if k != "trg_kps"}
    (pdir / "900001-a-b:horse.json").write_text(json.dumps(no_trg))
    uneven = dict(good, src_kps=good["src_kps"] + [[10.0, 10.0]])
    (pdir / "900002-a-b:horse.json").write_text(json.dumps(uneven))
    (pdir / "900003-a-b:horse.json").write_text(json.dumps(dict(good, trg_imname="does_not_exist.jpg")))
    (root / "JPEGImages" / "horse" / "corrupt.jpg").write_bytes(b"not a jpeg at all")
    (pdir / "900004-a-b:horse.json").write_text(json.dumps(dict(good, src_imname="corrupt.jpg")))
    return root


def test_malformed_inputs_are_skipped_with_reasons_and_counted(tmp_path: Path) -> None:
    root = _broken_spair(tmp_path / "spair")
    res = evaluate("spair", root, "dense_sift", "nn", cache_root=tmp_path / "cache")
    assert res.protocol["n_evaluated"] == 3
    assert res.n_skipped == 4 and res.protocol["n_skipped"] == 4
    reasons = {s["item_id"]: s["reason"] for s in res.skipped}
    assert "trg_kps" in reasons["900001-a-b:horse"]
    assert "different lengths" in reasons["900002-a-b:horse"]
    assert "does_not_exist.jpg" in reasons["900003-a-b:horse"] and "missing" in reasons["900003-a-b:horse"]
    assert "corrupt.jpg" in reasons["900004-a-b:horse"]
    assert {s["stage"] for s in res.skipped} == {"loader", "runtime"}
    data = res.to_dict()
    assert data["n_skipped"] == 4 and sum(data["protocol"]["skipped_reasons"].values()) == 4
    # skipped pairs count neither as hits nor as misses: the numbers are those of the 3 good pairs alone
    clean = tmp_path / "clean"
    (clean / "PairAnnotation" / "test").mkdir(parents=True)
    shutil.copytree(root / "JPEGImages", clean / "JPEGImages")
    for f in (root / "PairAnnotation" / "test").glob("*.json"):
        if not f.name.startswith("9000"):
            shutil.copy(f, clean / "PairAnnotation" / "test" / f.name)
    ref = evaluate("spair", clean, "dense_sift", "nn", cache_root=tmp_path / "cache")
    assert ref.n_skipped == 0 and ref.protocol["n_evaluated"] == 3
    for agg in ("per_keypoint", "per_image", "macro"):
        assert res.value("pck", 0.1, "bbox", agg) == ref.value("pck", 0.1, "bbox", agg)
    n_kp = sum(len(json.loads(f.read_text())["trg_kps"]) for f in (clean / "PairAnnotation" / "test").glob("*.json"))
    assert res.protocol["n_keypoints"] == ref.protocol["n_keypoints"] == n_kp


def test_on_result_streams_pairs_and_cancel_stops(tmp_path: Path) -> None:
    seen: list[str] = []
    evaluate("pfwillow", WILLOW, "dense_sift", "nn", limit=5, cache_root=tmp_path,
             on_result=lambda o: seen.append(o.errors.pair_id))
    assert len(seen) == 5
    prog = Progress()

    def stop_after_two(outcome: object) -> None:
        if len(seen) >= 7:
            prog.cancel()
        seen.append("x")

    with pytest.raises(Cancelled):
        evaluate("pfwillow", WILLOW, "dense_sift", "nn", limit=20, cache_root=tmp_path, progress=prog,
                 on_result=stop_after_two)


def test_mnn_rejections_count_as_misses_and_unknown_inputs_fail_clearly(tmp_path: Path) -> None:
    res = evaluate("pfwillow", WILLOW, "dense_sift", "mnn", limit=10, cache_root=tmp_path)
    nn = evaluate("pfwillow", WILLOW, "dense_sift", "nn", limit=10, cache_root=tmp_path)
    assert res.protocol["mnn_rejected"] > 0
    assert res.value("pck", 0.1, "bbox", "per_keypoint") <= nn.value("pck", 0.1, "bbox", "per_keypoint")
    with pytest.raises(DatasetError, match="unknown benchmark"):
        evaluate("pf-wilow", WILLOW, "dense_sift")
    with pytest.raises(DatasetError, match="combined matcher needs sphere"):
        evaluate("pfwillow", WILLOW, "dense_sift", "combined")
    with pytest.raises(DatasetError, match="does not exist"):
        evaluate("pfwillow", tmp_path / "nowhere", "dense_sift")


def test_result_lookup_names_missing_rows() -> None:
    r = EvalResult("x", "keypoints", {})
    with pytest.raises(KeyError, match="no pck row"):
        r.value("pck", 0.1)


def test_pck_curves_that_coincide_share_one_legend_entry() -> None:
    from corrviz.core.evaluate.plots import coincident_groups, curve_figure

    same = [0.2, 0.5, 0.9]
    res = EvalResult("pfwillow", "keypoints", {"backbone": "x", "matcher": {"method": "nn"}})
    res.curves = {"bbox": {"alpha": [0.05, 0.1, 0.15], "per_keypoint": same, "per_image": list(same),
                           "macro": [0.2, 0.5, 0.8]},
                  "img": {"alpha": [0.05, 0.1, 0.15], "per_keypoint": same, "per_image": same, "macro": same}}
    labels = [t.get_text() for t in curve_figure(res).axes[0].get_legend().get_texts()]
    assert labels == ["per-kp = per-img (bbox)", "macro (bbox)", "per-kp = per-img = macro (img)"]
    assert coincident_groups({"a": [0.1, float("nan")], "b": [0.1, float("nan")], "c": [0.1, 0.2]}) == [["a", "b"], ["c"]]
