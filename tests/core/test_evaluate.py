"""The evaluation runner on real data: oracle PCK 1.0, the feature cache, the protocol, skipped inputs."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

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
    assert 0.0 <= res.value("pck", 0.1, "bbox", "per_keypoint") <= 1.0


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
