"""DIY-SC: losses on hand-computed cases, the adapter, pseudo-label chaining / filters / precision, the store, training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from corrviz.core.diy_adapter import DIYAdapter, adapter_spec, group_count, source_features
from corrviz.core.errors import DatasetError
from corrviz.core.transforms import CanvasTransform
from corrviz.training.methods.diy_sc import DIYModel
from corrviz.training.methods.diy_sc_labels import (
    FeatureBank,
    ImageFeatures,
    LabelImage,
    LabelPair,
    Tracks,
    chain_tuple,
    load_labels,
    pairs_from_tracks,
    sample_tuples,
    save_labels,
    stage_precision,
)
from corrviz.training.methods.diy_sc_losses import clip_loss, soft_argmax_loss, soft_argmax_points

TINY = "test_dinov2_tiny"


# --------------------------------------------------------------------------- losses
def test_clip_loss_equals_hand_value():
    s = 1.5
    src = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    trg = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # row 1 normalises to (1, 1) / sqrt 2
    scale = torch.tensor(math.log(s))
    c = 1 / math.sqrt(2)
    # logits = s * [[1, c], [0, c]]; rows: targets 0, 1; columns (logits.T = s * [[1, 0], [c, c]]): targets 0, 1
    row = (-math.log(math.exp(s) / (math.exp(s) + math.exp(s * c))) - math.log(math.exp(s * c) / (1 + math.exp(s * c)))) / 2
    col = (-math.log(math.exp(s) / (math.exp(s) + 1)) + math.log(2)) / 2
    assert float(clip_loss(src, trg, scale)) == pytest.approx((row + col) / 2, abs=1e-6)
    # the paper's initial scale 1/0.07 on perfectly separated features: log(1 + e^-(1/0.07))
    eye = torch.eye(2, dtype=torch.float64)
    assert float(clip_loss(eye, eye, torch.tensor(math.log(1 / 0.07), dtype=torch.float64))) == pytest.approx(
        math.log1p(math.exp(-1 / 0.07)), rel=1e-4)
    with pytest.raises(ValueError):
        clip_loss(eye, torch.ones(3, 2), scale)


def _one_hot_grid(h: int, w: int) -> torch.Tensor:
    return torch.eye(h * w).reshape(h * w, h, w)  # cell k has feature e_k


def test_soft_argmax_loss_zero_noise_equals_hand_value():
    grid = _one_hot_grid(3, 3)
    src = torch.zeros(1, 9)
    src[0, 1 * 3 + 2] = 1.0  # the feature of cell (row 1, col 2)
    uv = soft_argmax_points(src, grid, radius=7, beta=0.02)
    assert uv.tolist()[0] == pytest.approx([2.0, 1.0], abs=1e-9)  # softmax e^50 : e^0, exact to 1e-20
    t = CanvasTransform.create((48, 48), 48, 16)
    pred = DIYModel.grid_to_image(uv, t)
    assert pred.tolist()[0] == pytest.approx([40.0, 24.0])  # (u + 0.5) * 16
    label = torch.tensor([[40.0, 27.0]])
    assert float(soft_argmax_loss(pred, label, 48)) == pytest.approx(3 / 48)
    # noise is added to the label: a noise of (0, -3) makes the loss zero
    assert float(soft_argmax_loss(pred, label, 48, torch.tensor([[0.0, -3.0]]))) == pytest.approx(0.0, abs=1e-6)


def test_soft_argmax_window_excludes_far_cells():
    grid = _one_hot_grid(1, 5)
    src = torch.zeros(1, 5)
    src[0, 0], src[0, 4] = 1.0, 0.9  # two peaks 4 cells apart
    s0, s4 = 1 / math.sqrt(1.81), 0.9 / math.sqrt(1.81)  # cosines of the source feature with cells 0 and 4
    far = soft_argmax_points(src, grid, radius=1, beta=1.0)  # window = cells 0, 1: weights e^s0, e^0
    assert float(far[0, 0]) == pytest.approx(1 / (math.exp(s0) + 1), abs=1e-6)
    wide = soft_argmax_points(src, grid, radius=7, beta=1.0)
    z = math.exp(s0) + 3 + math.exp(s4)
    assert float(wide[0, 0]) == pytest.approx((1 + 2 + 3 + 4 * math.exp(s4)) / z, abs=1e-6)


# --------------------------------------------------------------------------- adapter
def test_adapter_blocks_mixing_and_dropout():
    torch.manual_seed(0)
    a = DIYAdapter([8, 12], 64, dropout=0.2)
    assert group_count(16) == 16 and group_count(64) == 32 and group_count(48) == 24
    assert a.blocks[0].norm1.num_groups == 16 and a.blocks[0].norm3.num_groups == 32
    assert float(a.logit_scale.detach()) == pytest.approx(math.log(1 / 0.07))
    assert a.mixing_weights().tolist() == pytest.approx([0.5, 0.5])
    x = torch.randn(2, 20, 5, 5)
    a.eval()
    out = a(x)
    assert out.shape == (2, 64, 5, 5) and bool((out >= 0).all())  # final ReLU
    expect = 0.5 * a.blocks[0](x[:, :8]) + 0.5 * a.blocks[1](x[:, 8:])
    assert torch.allclose(out, expect, atol=1e-6)
    assert torch.equal(a(x), out)  # eval: no dropout
    a.train()
    assert not torch.equal(a(x), out)  # training: feature-map dropout
    with pytest.raises(ValueError, match="20 input channels"):
        a(torch.randn(1, 19, 5, 5))


def test_multi_source_checkpoint_round_trip(tmp_path):
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import apply_checkpoint, save_checkpoint
    from corrviz.core.heads import AdaptedBackbone

    torch.manual_seed(0)
    bb = create_backbone(TINY, pretrained=False)
    spec = adapter_spec([(1, "prenorm"), (2, "key")], 64)
    model = AdaptedBackbone(bb, [spec], feature={"layer": 2, "facet": "key", "resolution": 56}).eval()
    x = torch.rand(1, 3, 56, 56)
    with torch.no_grad():
        manual = model.heads[0](torch.cat([torch.nn.functional.normalize(bb.forward_features(x, 1, "prenorm"), dim=1),
                                           torch.nn.functional.normalize(bb.forward_features(x, 2, "key"), dim=1)], 1))
        got = model.forward_features(x)
        assert torch.allclose(got, manual, atol=1e-5)
        assert torch.allclose(source_features(bb, x, [(1, "prenorm"), (2, "key")])[:, :32],
                              torch.nn.functional.normalize(bb.forward_features(x, 1, "prenorm"), dim=1), atol=1e-6)
    assert model.feature_dim() == 64
    path = save_checkpoint(tmp_path / "a.safetensors", model, "diy_sc")
    from safetensors.torch import load_file

    stored = load_file(str(path))
    n_params = sum(1 for _ in model.heads.state_dict())
    assert len(stored) == n_params and all(k.startswith("heads.0.") for k in stored)  # adapter only, no base
    loaded = apply_checkpoint(create_backbone(TINY, pretrained=False), path)
    with torch.no_grad():
        assert torch.allclose(loaded.forward_features(x), got, atol=1e-6)


# --------------------------------------------------------------------------- tuples and chaining
def _images(bins_per_instance: dict[str, list[int]]) -> list[LabelImage]:
    out = []
    for inst, bins in bins_per_instance.items():
        for b in bins:
            out.append(LabelImage(Path(f"/x/{inst}-{b}.png"), Path(f"/x/{inst}-{b}_m.png"), "car", inst, b,
                                  (0.0, 0.0, 30.0, 30.0)))
    return out


def test_tuples_walk_adjacent_bins_one_way_with_other_instances():
    imgs = _images({"a": list(range(8)), "b": list(range(8)), "c": list(range(8)), "d": list(range(8))})
    tuples = sample_tuples(imgs, 50, np.random.default_rng(0))
    dirs = set()
    for t in tuples:
        bins = [imgs[k].azimuth for k in t]
        steps = {(bins[k + 1] - bins[k]) % 8 for k in range(3)}
        assert steps in ({1}, {7})  # one bin at a time, one direction
        dirs |= steps
        assert len({imgs[k].instance for k in t}) == 4  # four instances while there are four
    assert dirs == {1, 7}
    with pytest.raises(DatasetError, match="consecutive"):
        sample_tuples(_images({"a": [0, 2, 4, 6]}), 1, np.random.default_rng(0))


def _bank(feats: list[torch.Tensor], spheres: list[torch.Tensor] | None = None) -> tuple[FeatureBank, list[LabelImage]]:
    bank = FeatureBank.__new__(FeatureBank)
    bank.items = {}
    imgs = _images({f"i{k}": [k] for k in range(len(feats))})
    t = CanvasTransform.create((48, 48), 48, 16)
    for k, f in enumerate(feats):
        sph = None if spheres is None else spheres[k]
        bank.items[imgs[k].image] = ImageFeatures(f, torch.ones(3, 3, dtype=torch.bool), t, sph, t)
    return bank, imgs


def _permuted(perm: list[int]) -> torch.Tensor:
    """Features (9, 3, 3) where cell perm[k] carries e_k: the NN of cell k of an identity grid is perm[k]."""
    f = torch.zeros(9, 9)
    for k, cell in enumerate(perm):
        f[k, cell] = 1.0
    return f.reshape(9, 3, 3)


def test_chaining_follows_nearest_neighbours_and_cycle_radius():
    ident = list(range(9))
    shift = [(k + 1) % 9 for k in range(9)]  # image 4: every feature moved one cell on (raster order)
    bank, imgs = _bank([_permuted(ident), _permuted(ident), _permuted(ident), _permuted(shift)])
    tr = chain_tuple(bank, imgs, [0, 1, 2, 3], seed_every=1, r_max=0.0)
    assert tr.cells[:, 3].tolist() == shift  # chained through the NN of every link
    back = list(range(9))  # the NN back from image 4's cell shift[k] is cell k: a perfect cycle
    assert tr.cycle.all() and back == tr.cells[:, 0].tolist()
    # image 1: cell 0 = (e0 + e1) / sqrt 2, cell 2 = e0 (e2 nowhere). Seed 0 chains 0 -> 0 -> 0 -> 0 (first of
    # a tie), and image 4's e0 goes back to cell 2, two cells from the seed; every other seed returns home.
    f1 = torch.eye(9)
    f1[:, 0] = (torch.eye(9)[0] + torch.eye(9)[1]) / math.sqrt(2)
    f1[:, 2] = torch.eye(9)[0]
    bank, imgs = _bank([f1.reshape(9, 3, 3), _permuted(ident), _permuted(ident), _permuted(ident)])
    strict = chain_tuple(bank, imgs, [0, 1, 2, 3], seed_every=1, r_max=1.0)
    assert strict.cells[0].tolist() == [0, 0, 0, 0] and strict.cells[2].tolist() == [2, 0, 0, 0]
    assert strict.cycle.tolist() == [False] + [True] * 8
    assert chain_tuple(bank, imgs, [0, 1, 2, 3], seed_every=1, r_max=2.0).cycle.all()  # the code's radius 2
    tr3 = chain_tuple(bank, imgs, [0, 1, 2, 3], seed_every=3)
    assert tr3.cells[:, 0].tolist() == [0, 3, 6]  # every third foreground cell


def test_spherical_rejection_by_geodesic_angle():
    ident = _permuted(list(range(9)))

    def const(angle: float) -> torch.Tensor:
        v = torch.tensor([math.cos(angle), math.sin(angle), 0.0])
        return v[:, None, None].expand(3, 3, 3).clone()

    bank, imgs = _bank([ident] * 4, [const(0.0), const(0.1 * math.pi), const(0.2 * math.pi), const(0.3 * math.pi)])
    assert chain_tuple(bank, imgs, [0, 1, 2, 3], seed_every=1).sphere.all()  # each link 0.1 pi apart
    bank, imgs = _bank([ident] * 4, [const(0.0), const(0.1 * math.pi), const(0.3 * math.pi), const(0.3 * math.pi)])
    tr = chain_tuple(bank, imgs, [0, 1, 2, 3], seed_every=1)
    assert not tr.sphere.any() and tr.cycle.all()  # the middle link is 0.2 pi > 0.15 pi
    assert tr.keep("cycle").all() and not tr.keep("sphere").any() and tr.keep("raw").all()


def test_pairs_precision_and_store_round_trip(tmp_path):
    ident = _permuted(list(range(9)))
    bank, imgs = _bank([ident] * 4)
    tr = chain_tuple(bank, imgs, [0, 1, 2, 3], seed_every=1)
    pairs = pairs_from_tracks(tr, bank, imgs, "raw", 5, np.random.default_rng(0))
    assert len(pairs) == 12 and all(len(p.src_xy) == 5 for p in pairs)  # ordered pairs, capped
    assert np.allclose(pairs[0].src_xy, pairs[0].trg_xy)  # identity features: every cell to itself
    # precision from per-track verdicts: 2 of 3 tracks kept by the cycle filter, one of them all wrong
    t = Tracks([0, 1, 2, 3], torch.zeros(3, 4, dtype=torch.long), torch.tensor([True, True, False]),
               torch.tensor([True, False, True]))
    right = np.ones((3, 4, 4), dtype=bool)
    right[1] = False
    p = stage_precision([t], [right])
    assert p["raw"]["labels"] == 36 and p["raw"]["precision"] == pytest.approx(2 / 3)
    assert p["cycle"]["precision"] == pytest.approx(0.5) and p["sphere"]["precision"] == pytest.approx(1.0)
    root = tmp_path / "data"
    root.mkdir()
    real = []
    for im in imgs:
        (root / im.image.name).write_bytes(b"")
        (root / im.mask.name).write_bytes(b"")
        real.append(LabelImage(root / im.image.name, root / im.mask.name, im.category, im.instance, im.azimuth, im.bbox))
    store = save_labels(tmp_path / "l.safetensors", real, pairs, {"provenance": {"backbone": "x"}}, root=root)
    back = load_labels(store)
    assert len(back.pairs) == 12 and back.meta["provenance"]["backbone"] == "x"
    assert np.allclose(back.pairs[3].trg_xy, pairs[3].trg_xy, atol=1e-4)
    assert [back.images[p.src].instance for p in back.pairs] == [real[p.src].instance for p in pairs]
    summary = json.loads((tmp_path / "l.json").read_text())
    assert summary["n_pairs"] == 12 and summary["n_labels"] == 60
    bad = tmp_path / "bad.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(bad))
    with pytest.raises(DatasetError, match="not a corrviz DIY-SC label store"):
        load_labels(bad)
    with pytest.raises(DatasetError, match="label store"):
        save_labels(tmp_path / "l.pkl", real, pairs, {})


def test_label_pair_is_plain_data():
    p = LabelPair(0, 1, np.zeros((2, 2)), np.ones((2, 2)))
    assert p.src == 0 and p.trg_xy.sum() == 4


# --------------------------------------------------------------------------- on a tiny synthetic SPair
@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    pytest.importorskip("open3d")
    from corrviz.core.synthetic.categories.dataset import SplitSizes, write_synthetic_spair
    from corrviz.core.synthetic.keypoints import RenderSettings

    root = tmp_path_factory.mktemp("diy_synth")
    return write_synthetic_spair(root, ["car", "chair"], SplitSizes((2, 2, 2), (2, 2, 2)), RenderSettings(resolution=96))


def test_canonical_ground_truth_exact_on_one_instance_and_near_keypoints_across(synth):
    from corrviz.core.datasets.synthetic_spair import SyntheticSPairDataset
    from corrviz.core.synthetic.canonical import CanonicalGroundTruth

    ims = SyntheticSPairDataset(synth, split="train").images("train", ["car"])
    gt = CanonicalGroundTruth()
    a = ims[0]
    b = next(im for im in ims if im.seed == a.seed and im.azimuth_bin == (a.azimuth_bin + 1) % 8)
    ok = a.visible & b.visible
    xy, vis = gt.transfer(a, b, a.kps[ok])
    assert vis.all() and np.abs(xy - b.kps[ok]).max() < 1.0  # the same surface point, re-projected
    xy, vis = gt.transfer(a, a, np.array([[0.5, 0.5]]))  # a background corner: no counterpart
    assert not vis.any() and np.isnan(xy).all()
    other = next(im for im in ims if im.seed != a.seed and im.azimuth_bin == a.azimuth_bin)
    ok = a.visible & other.visible
    xy, vis = gt.transfer(a, other, a.kps[ok])
    side = max(other.bbox[2] - other.bbox[0], other.bbox[3] - other.bbox[1])
    err = np.linalg.norm(xy - other.kps[ok], axis=1)[vis] / side
    assert vis.mean() >= 0.6 and np.mean(err <= 0.1) >= 0.7  # mostly the same named place on another car


def _tiny_models():
    from corrviz.core.backbones import create_backbone

    torch.manual_seed(0)
    return create_backbone(TINY, pretrained=False).eval().requires_grad_(False), None


def test_label_generation_measures_every_stage_and_identity_is_exact(synth, tmp_path):
    from corrviz.training.methods.diy_sc_labels import LabelOptions, generate_labels

    o = LabelOptions(data=str(synth), out=str(tmp_path / "l.safetensors"), backbone=TINY, resolution=112,
                     sources=((2, "prenorm"),), tuples=3, filter="cycle")
    report = generate_labels(o, models=_tiny_models())
    prec = report["precision"]
    assert prec["raw"]["tracks"] >= prec["cycle"]["tracks"] == prec["sphere"]["tracks"] > 0  # no mapper: sphere = cycle
    assert 0.0 <= prec["raw"]["precision"] <= 1.0 and prec["raw"]["labels"] == 12 * prec["raw"]["tracks"]
    store = load_labels(o.out)
    assert store.meta["provenance"]["filter"] == "cycle" and store.meta["report"]["precision"]["raw"]["tracks"] > 0
    assert all(len(p.src_xy) <= 50 for p in store.pairs)
    assert {im.category for im in store.images} == {"car", "chair"}
    assert all(store.images[p.src].category == store.images[p.trg].category for p in store.pairs)


def test_cli_refuses_bad_options_before_work(synth, capsys):
    from corrviz.training.cli import main

    rc = main(["diy_sc", "labels", "--data", str(synth), "--out", "x.safetensors"])
    assert rc == 2 and "--mapper" in capsys.readouterr().err  # cycle+sphere without a mapper
    rc = main(["diy_sc", "labels", "--data", str(synth / "nope"), "--out", "x.safetensors", "--filter", "cycle"])
    assert rc == 2 and "nope" in capsys.readouterr().err
    rc = main(["diy_sc", "labels", "--data", str(synth), "--out", "x.pkl", "--filter", "cycle"])
    assert rc == 2 and ".safetensors" in capsys.readouterr().err


def test_training_on_pseudo_labels_lowers_held_out_loss(synth, tmp_path):
    from corrviz.training.methods.diy_sc_labels import LabelOptions, generate_labels
    from corrviz.training.trainer import train

    models = _tiny_models()
    common = dict(data=str(synth), backbone=TINY, resolution=112, sources=((2, "prenorm"),), filter="none", tuples=4)
    generate_labels(LabelOptions(out=str(tmp_path / "trn.safetensors"), split="train", **common), models=models)
    generate_labels(LabelOptions(out=str(tmp_path / "val.safetensors"), split="val", measure=False, **common),
                    models=models)
    over = [f"model.backbone={TINY}", "model.pretrained=false", "model.resolution=112", "model.sources=[2:prenorm]",
            "model.channels=64", f"data.labels={tmp_path / 'trn.safetensors'}",
            f"eval.labels={tmp_path / 'val.safetensors'}", "train.steps=120", "train.eval_every=120",
            "optim.lr=5e-3", f"run.out_dir={tmp_path / 'runs'}", "run.name=diy", "train.log_every=10"]
    result = train("diy_sc", None, over)
    assert result.status == "finished"
    rows = [json.loads(x) for x in (tmp_path / "runs" / "diy" / "metrics.jsonl").read_text().splitlines() if x]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert evals[0]["step"] == 0 and evals[-1]["step"] == 120
    assert evals[-1]["val_loss"] < 0.95 * evals[0]["val_loss"]  # held-out instances' pseudo-labels
    # the same label store as train and validation is refused before training
    with pytest.raises(DatasetError, match="same file"):
        train("diy_sc", None, over[:-8] + [f"data.labels={tmp_path / 'trn.safetensors'}",
                                            f"eval.labels={tmp_path / 'trn.safetensors'}"])


def test_every_method_lists_its_shipped_configs():
    from corrviz.training.method import get_method, list_methods

    for name in list_methods():
        names = {p.name for p in get_method(name).configs()}
        assert names, f"{name} lists no shipped config"
    assert {"pov_paper.yaml", "pov_vit_tiny_cpu.yaml"} <= {p.name for p in get_method("3dpov").configs()}
    assert {"diy_sc_paper.yaml", "diy_sc_vit_tiny_cpu.yaml"} == {p.name for p in get_method("diy_sc").configs()}
