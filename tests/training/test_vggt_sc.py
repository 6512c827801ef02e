"""VGGT-SC: every loss against its hand-computed value on 2 x 2 / 2 x 3 cases with gradient checks,
the step's total = the weighted sum of the loss module's terms, a tiny run that learns, and the
staged schedule (a stage starts from the previous stage's best checkpoint)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from corrviz.core.errors import CorrvizError
from corrviz.core.transforms import identity_grid
from corrviz.training.methods import vggt_sc_losses as L
from corrviz.training.methods.vggt_sc import VGGTSC
from corrviz.training.trainer import prepare, train

D = torch.float64


def test_dense_l2_hand_case():
    gt = identity_grid(2, 2, dtype=D)[None]  # (+-0.5, +-0.5)
    grid = torch.zeros(1, 2, 2, 2, dtype=D)
    grid[0, 0, 0] = gt[0, 0, 0]  # exact at (0, 0): 0; 0.25 + 0.25 at the others
    valid = torch.tensor([[[1, 1], [1, 0]]], dtype=torch.bool)
    assert float(L.dense_l2(grid, gt, valid)) == pytest.approx((0 + 0.5 + 0.5) / 3)
    g = torch.rand(1, 2, 2, 2, dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: L.dense_l2(x, gt, valid), (g,))


def test_sparse_l2_reads_the_grid_at_the_keypoints_in_pixels():
    # a 2 x 2 grid shifted by +0.5 grid units in x = +0.5 px (x = (g + 1) W / 2 with W = 2)
    grid = (identity_grid(2, 2, dtype=D) + torch.tensor([0.5, 0.0], dtype=D))[None]
    src = torch.tensor([[[0.5, 0.5], [1.5, 1.5], [1.0, 0.5], [0.5, 1.5]]], dtype=D)
    # predictions: (1.0, 0.5), (2.0, 1.5), (1.5, 0.5) (halfway between two centres, linear), (1.0, 1.5)
    dst = torch.tensor([[[1.0, 1.5], [0.0, 0.0], [1.5, 0.5], [50.0, 50.0]]], dtype=D)
    valid = torch.tensor([[True, True, True, False]])
    assert float(L.sparse_l2(grid, src, dst, valid)) == pytest.approx((1.0 + (4.0 + 2.25) + 0.0) / 3)
    g = grid.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: L.sparse_l2(x, src, dst, valid), (g,))


def test_smoothness_hand_case_and_translation_costs_nothing():
    h, w = 2, 3
    ident = identity_grid(h, w, dtype=D)[None]
    flow = torch.zeros(1, h, w, 2, dtype=D)
    flow[0, 0, :, 0] = torch.tensor([0.0, 1.0, 3.0])
    mask = torch.ones(1, h, w)
    mask[0, 1, 2] = 0
    # dx: row 0 (1-0)^2 + (3-1)^2, row 1 only the pair (0, 1): 0 -> 5 / 3; dy: columns 0, 1 (column 2 masked): 0, 1 -> 1 / 2
    assert float(L.smoothness(ident + flow, mask)) == pytest.approx(0.5 * (5 / 3 + 1 / 2))
    assert float(L.smoothness(ident + 0.3, mask)) == pytest.approx(0.0, abs=1e-12)
    g = (ident + 0.1 * torch.rand(1, h, w, 2, dtype=D)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: L.smoothness(x, mask), (g,))


def test_matching_loss_hand_case():
    feat_t = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=D).T.reshape(1, 2, 1, 2)  # cells (1, 0), (0, 2)
    warped = torch.tensor([[0.0, 3.0], [0.0, 1.0]], dtype=D).T.reshape(1, 2, 1, 2)  # cells (0, 3), (0, 1)
    weight = torch.tensor([[[0.5, 1.0]]], dtype=D)
    # unit vectors: cell 0 (1, 0) vs (0, 1): sqrt 2; cell 1 (0, 1) vs (0, 1): 0
    assert float(L.matching_loss(feat_t, warped, weight)) == pytest.approx(0.5 * math.sqrt(2) / 1.5)
    x = (warped + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: L.matching_loss(feat_t, f, weight), (x,))


def test_reconstruction_error_round_trip_hand_case():
    img = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float32)
    image = torch.stack([img, 2 * img])[None]  # 2 channels, the second twice the first
    ident = identity_grid(2, 2)[None]
    mirror = ident.clone()
    mirror[..., 0] = -mirror[..., 0]  # each pixel maps to its horizontal mirror
    # one mirror: the round trip is the mirrored image, |I - mirror(I)| = 1 in channel 0 and 2 in channel 1
    err = L.reconstruction_error(image, ident, mirror)
    assert torch.allclose(err, torch.full((1, 2, 2), math.sqrt(5.0)), atol=1e-6)
    assert torch.allclose(L.reconstruction_error(image, mirror, mirror), torch.zeros(1, 2, 2), atol=1e-6)
    assert torch.allclose(L.reconstruction_error(image, ident, ident), torch.zeros(1, 2, 2), atol=1e-6)
    w = torch.tensor([[[1.0, 0.0], [0.0, 3.0]]])
    assert float(L.reconstruction_loss(torch.tensor([[[2.0, 9.0], [9.0, 6.0]]]), w)) == pytest.approx(20 / 4)
    # gradient reaches both grids through grid_sample (interior, off-centre points)
    gs = (0.6 * torch.rand(1, 2, 2, 2, dtype=D) - 0.3).requires_grad_(True)
    gt = (0.6 * torch.rand(1, 2, 2, 2, dtype=D) - 0.3).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: L.reconstruction_error(image.to(D), a, b), (gs, gt))


def test_uncertainty_loss_hand_case():
    error = torch.tensor([[[0.0, 1.0], [2.0, 4.0]], [[3.0, 3.0], [3.0, 3.0]]], dtype=D)
    conf = torch.tensor([[[0.5, 0.6], [0.5, 0.9]], [[0.8, 0.8], [0.8, 0.8]]], dtype=D)
    mask = torch.tensor([[[1, 1], [1, 0]], [[1, 1], [1, 1]]], dtype=D)
    # image 0: masked errors 0, 1, 2 -> min-max 0, .5, 1 -> targets 1, .5, 0; L1 (.5 + .1 + .5) / 3; mean conf 1.6 / 3
    # image 1: all errors equal -> target 1; L1 0.2, mean conf 0.8
    img0 = 1.1 / 3 - 0.1 * 1.6 / 3
    img1 = 0.2 - 0.1 * 0.8
    assert float(L.uncertainty_loss(conf, error, mask, 0.1)) == pytest.approx((img0 + img1) / 2)
    c = conf.clone().requires_grad_(True)
    e = error.clone().requires_grad_(True)
    L.uncertainty_loss(c, e, mask).backward()
    assert e.grad is None or float(e.grad.abs().sum()) == 0.0  # the error is a target
    assert torch.autograd.gradcheck(lambda x: L.uncertainty_loss(x, error, mask), (conf.clone().requires_grad_(True),))


def test_cycle_error_hand_case():
    """3 x 3 image; G_st moves every pixel one column right (2/3 in grid units)."""
    ident = identity_grid(3, 3, dtype=D)[None]
    shift = torch.tensor([2.0 / 3.0, 0.0], dtype=D)
    st = ident + shift
    # G_ts = identity: the round trip of columns 0, 1 ends one column off (2/3); column 2 lands outside t
    want = torch.tensor([2.0 / 3.0, 2.0 / 3.0, 8.0 ** 0.5], dtype=D).expand(1, 3, 3)
    assert torch.allclose(L.cycle_error(st, ident), want, atol=1e-9)
    # G_ts moves back one column: columns 0 and 1 come home exactly
    assert torch.allclose(L.cycle_error(st, ident - shift)[..., :2], torch.zeros(1, 3, 2, dtype=D), atol=1e-9)
    assert torch.allclose(L.cycle_error(ident, ident), torch.zeros(1, 3, 3, dtype=D), atol=1e-9)


@pytest.mark.parametrize("target", ["cycle", "dense"])
def test_uncertainty_target_variants_use_their_error(tmp_path, target):
    path = _config(tmp_path, f"u_{target}", all_terms=True)
    cfg = prepare("vggt_sc", path, [f"loss.uncert_target={target}"])[1]
    torch.manual_seed(0)
    model = VGGTSC().build_model(cfg, torch.device("cpu"))
    data = VGGTSC().build_data(cfg)
    batch = data.collate([data.sample(i, np.random.default_rng(i)) for i in range(2)])
    with torch.no_grad():
        model.head.head.head[-1].weight.normal_(std=0.05)  # a non-identity grid and a varying confidence
        grid, conf = model.predict(batch["images"])
    other = torch.cat([grid[2:], grid[:2]])
    if target == "cycle":
        want = L.uncertainty_loss(conf, L.cycle_error(grid, other), batch["masks"])
    else:
        want = L.uncertainty_loss(conf, (grid - batch["gt"]).norm(dim=-1), batch["valid"])
    assert model(batch).logs["uncert"] == pytest.approx(float(want), rel=1e-5)
    with pytest.raises(CorrvizError, match="loss.uncert_target"):
        VGGTSC().validate(prepare("vggt_sc", path, ["loss.uncert_target=epe"])[1])


TINY = """
method: vggt_sc
run: {{out_dir: {out}, seed: 0, name: {name}}}
optim: {{lr: {lr}}}
train: {{steps: {steps}, batch_size: 2, log_every: 1, eval_every: {eval_every}, eval_at_start: true, save_last_every: 0}}
model: {{backbone: test_dinov2_tiny, pretrained: false, resolution: 56, frozen: 1, taps: [0, 1, 1, 2], features: 16}}
loss: {{w_dense: 1.0e4, w_sparse: {w_sparse}, w_smooth: {w_smooth}, w_match: {w_match}, w_recon: {w_recon},
        w_uncert: {w_uncert}}}
data: {{objects: [box], seeds: 1, n_views: 42, render_resolution: 56, max_rotation_deg: 45.0, keypoints: 8}}
eval: {{objects: [box], seed: 0, n_views: 16, n_pairs: 2, n_points: 60, max_rotation_deg: 90.0, baseline: false}}
{init}
"""


def _config(tmp_path: Path, name: str, steps: int = 2, lr: float = 1e-3, eval_every: int = 0, init: str = "",
            all_terms: bool = False) -> Path:
    w = dict(w_sparse=0.01, w_smooth=1000.0, w_match=1.0, w_recon=1.0, w_uncert=1.0) if all_terms else \
        dict(w_sparse=0.0, w_smooth=0.0, w_match=0.0, w_recon=0.0, w_uncert=0.0)
    p = tmp_path / f"{name}.yaml"
    p.write_text(TINY.format(out=tmp_path / "runs", name=name, steps=steps, lr=lr, eval_every=eval_every,
                             init=f"init: {{checkpoint: {init}}}" if init else "", **w))
    return p


def test_step_total_is_the_weighted_sum_of_the_loss_terms(tmp_path):
    cfg = prepare("vggt_sc", _config(tmp_path, "terms", all_terms=True))[1]
    method = VGGTSC()
    torch.manual_seed(0)
    model = method.build_model(cfg, torch.device("cpu"))
    data = method.build_data(cfg)
    batch = data.collate([data.sample(i, np.random.default_rng(i)) for i in range(2)])
    assert batch["images"].shape == (4, 3, 56, 56) and batch["gt"].shape == (4, 56, 56, 2)
    out = model(batch)
    t = out.logs
    assert set(t) >= {"dense", "sparse", "smooth", "match", "recon", "uncert"}
    want = 1e4 * t["dense"] + 0.01 * t["sparse"] + 1000 * t["smooth"] + t["match"] + t["recon"] + t["uncert"]
    assert float(out.loss.detach()) == pytest.approx(want, rel=1e-5)
    # the untrained matcher is the identity: its dense term is the exact gt's distance from the identity
    ident = identity_grid(56, 56)[None]
    assert t["dense"] == pytest.approx(float(L.dense_l2(ident.expand_as(batch["gt"]), batch["gt"], batch["valid"])),
                                       rel=1e-4)
    out.loss.backward()
    head = model.head
    last = head.head.head[-1]
    assert last.weight.grad.abs().sum() > 0  # the zero output layer learns first ...
    with torch.no_grad():
        last.weight.normal_(std=0.05)  # ... after which the gradient reaches the branch (as from step 2 on)
    model.zero_grad()
    model(batch).loss.backward()
    assert head.frame_embed.grad.abs().sum() > 0 and head.branch[0].attn.qkv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.adapted.inner.parameters())  # the backbone stays frozen


def test_the_matcher_fits_a_fixed_batch(tmp_path):
    """The gradient path works end to end: Adam on one fixed batch cuts its dense error by more than half.

    (A random-init 3-block ViT has nothing to generalise from; held-out gains are measured with
    the pretrained ViT-Tiny CPU configs, docs/results_training.md.)"""
    cfg = prepare("vggt_sc", _config(tmp_path, "fit"))[1]
    method = VGGTSC()
    torch.manual_seed(0)
    model = method.build_model(cfg, torch.device("cpu"))
    data = method.build_data(cfg)
    batch = data.collate([data.sample(i, np.random.default_rng(i)) for i in range(2)])
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(40):
        out = model(batch)
        first = out.logs["dense"] if first is None else first
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert model(batch).logs["dense"] < 0.5 * first


def test_the_next_stage_starts_from_the_previous_stage_best(tmp_path):
    res = train("vggt_sc", _config(tmp_path, "stage1", steps=3, lr=3e-3, eval_every=3))
    assert res.status == "finished"
    best = load_file(str(res.run_dir / "checkpoints" / "best" / "model.safetensors"))
    assert any(float(v.abs().sum()) > 0 for k, v in best.items() if k.endswith("head.head.4.weight"))

    # stage 2 from the stage-1 run folder: its step-0 modules are stage 1's best, bit for bit (lr 0)
    cfg2 = _config(tmp_path, "stage2", steps=1, lr=0.0, init=str(res.run_dir), all_terms=True)
    res2 = train("vggt_sc", cfg2)
    after = load_file(str(res2.last_checkpoint / "model.safetensors"))
    assert best.keys() == after.keys() and all(torch.equal(best[k], after[k]) for k in best)

    # a missing checkpoint, or one of another method, is refused before any work
    with pytest.raises(CorrvizError, match="init.checkpoint"):
        prepare("vggt_sc", _config(tmp_path, "bad", init=str(tmp_path / "nowhere")))
