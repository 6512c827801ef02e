"""Dense grid matcher (VGGT-SC): grid conventions, warping, architecture, checkpoint, read-out, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from corrviz.core.backbones import create_backbone
from corrviz.core.evaluate.dense_grid import confidence_auc, synthetic_dense_error
from corrviz.core.grid_matcher import (
    DenseFlow,
    GridMatcherHead,
    grid_matcher_spec,
    pair_forward,
    predict_flow,
    scaled_taps,
    warp_by_grid,
)
from corrviz.core.heads import AdaptedBackbone
from corrviz.core.transforms import CanvasTransform, grid_to_pixels, identity_grid, pixels_to_grid


def test_grid_pixel_convention_and_round_trip():
    # align_corners=False: -1 / 1 are the outer edges, pixel centre j + 0.5 sits at (2j + 1) / W - 1
    g = identity_grid(2, 4)
    assert torch.allclose(g[0, :, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    assert torch.allclose(g[:, 0, 1], torch.tensor([-0.5, 0.5]))
    px = grid_to_pixels(g, 4, 2)
    assert torch.allclose(px[1, 3], torch.tensor([3.5, 1.5]))
    xy = torch.rand(10, 2, dtype=torch.float64) * torch.tensor([37.0, 11.0], dtype=torch.float64)
    assert torch.allclose(grid_to_pixels(pixels_to_grid(xy, 37, 11), 37, 11), xy, atol=1e-12)
    assert torch.allclose(grid_to_pixels(torch.tensor([-1.0, 1.0]), 8, 6), torch.tensor([0.0, 6.0]))


def test_identity_grid_warps_an_image_to_itself():
    img = torch.rand(1, 3, 5, 7)
    assert torch.allclose(warp_by_grid(img, identity_grid(5, 7)[None]), img, atol=1e-6)


def test_integer_translation_grid_shifts_exactly():
    img = torch.rand(1, 3, 6, 8)
    # target pixel (x, y) shows source pixel (x + 2, y - 1)
    src = grid_to_pixels(identity_grid(6, 8), 8, 6) + torch.tensor([2.0, -1.0])
    out = warp_by_grid(img, pixels_to_grid(src, 8, 6)[None])
    assert torch.allclose(out[..., 1:, :6], img[..., :5, 2:], atol=1e-6)
    assert out[..., 0, :].abs().max() < 1e-6 and out[..., :, 6:].abs().max() < 1e-6  # zeros outside


def test_known_affine_warp_grid_reproduces_the_warped_image():
    """The exact grid of an affine warp reproduces the analytically warped image (< 1e-4) via warp_by_grid."""
    h, w = 40, 48
    coef = np.array([[0.2, 0.011, 0.004], [0.7, -0.006, 0.009], [0.1, 0.003, 0.012]])  # linear colour ramps

    def colour(x, y):  # (H, W) -> (3, H, W): bilinear interpolation is exact on linear functions
        return np.stack([c[0] + c[1] * x + c[2] * y for c in coef])

    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    source = torch.from_numpy(colour(xs, ys)).float()[None]
    ang = np.radians(12.0)
    lin = 0.9 * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    shift = np.array([3.0, -2.0])
    # target pixel p shows source point A^-1 (p - shift)
    tgt = np.stack([xs, ys], -1)
    src = (tgt - shift) @ np.linalg.inv(lin).T
    expected = colour(src[..., 0], src[..., 1])
    grid = pixels_to_grid(torch.from_numpy(src).float(), w, h)
    out = warp_by_grid(source, grid[None])[0].numpy()
    inside = (src[..., 0] > 0.5) & (src[..., 0] < w - 0.5) & (src[..., 1] > 0.5) & (src[..., 1] < h - 0.5)
    assert inside.mean() > 0.6
    assert np.abs(out - expected)[:, inside].max() < 1e-4


def test_scaled_taps():
    assert scaled_taps(24) == [4, 11, 17, 23]
    assert scaled_taps(12) == [2, 5, 8, 11]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    bb = create_backbone("test_dinov2_tiny", pretrained=False)
    spec = grid_matcher_spec(bb, frozen=1, taps=[0, 1, 1, 2], features=16)
    return bb, AdaptedBackbone(bb, [spec], feature={"resolution": 56})


def test_branch_is_initialised_from_the_backbone_and_untrained_head_is_identity(tiny):
    bb, model = tiny
    head = model.heads[0]
    assert isinstance(head, GridMatcherHead) and model.kind == "grid_matcher"
    assert bb.config.depth == 3 and len(head.branch) == 2  # blocks 1..2 duplicated, block 0 frozen and shared
    for k, blk in enumerate(head.branch):
        for (name, p), q in zip(blk.named_parameters(), bb.model.blocks[1 + k].parameters(), strict=True):
            assert torch.equal(p, q) and p.data_ptr() != q.data_ptr(), name
    assert [head.is_global(k) for k in range(2)] == [False, True]
    assert not any("inner" in k for k in model.trainable_state_dict())  # no base weight is stored
    x = torch.rand(2, 3, 56, 56)
    with torch.no_grad():
        g, c, g2, c2 = pair_forward(model, x[:1], x[1:])
    assert torch.allclose(g[0], identity_grid(56, 56), atol=1e-5) and torch.allclose(g2[0], identity_grid(56, 56),
                                                                                        atol=1e-5)
    assert torch.allclose(c, torch.full_like(c, 0.5)) and g.abs().max() < 1


def test_global_attention_mixes_the_two_images(tiny):
    bb, model = tiny
    head = model.heads[0]
    gamma = head.branch[1].ls1.gamma.detach().clone()  # random-init DINOv2 layer scale is 1e-5: make attention count
    seen: list[torch.Tensor] = []
    hook = head.head.register_forward_hook(lambda mod, args, out: seen.append(args[0][-1][:1].clone()))
    try:
        with torch.no_grad():
            head.branch[1].ls1.gamma.fill_(1.0)
        s = torch.rand(1, 3, 56, 56)
        t1, t2 = torch.zeros(1, 3, 56, 56), torch.ones(1, 3, 56, 56)
        with torch.no_grad():
            pair_forward(model, s, t1)
            pair_forward(model, s, t2)
            with pytest.MonkeyPatch.context() as mp:  # a frame-only branch would not see the other image at all
                mp.setattr(GridMatcherHead, "is_global", staticmethod(lambda k: False))
                pair_forward(model, s, t1)
                pair_forward(model, s, t2)
        a, b, c, d = seen  # last tap (output of the global block) of image s
        assert (a - b).abs().max() > 1e-3 * a.abs().max()  # the other image changes s's tokens (0.9 % here)
        assert torch.allclose(c, d, atol=1e-6)
    finally:
        hook.remove()
        with torch.no_grad():
            head.branch[1].ls1.gamma.copy_(gamma)


def test_grid_matcher_checkpoint_round_trip(tiny, tmp_path):
    from corrviz.core.checkpoint import apply_checkpoint, read_checkpoint_metadata, save_checkpoint

    bb, model = tiny
    with torch.no_grad():
        model.heads[0].frame_embed.normal_()
        model.heads[0].head.head[-1].weight.normal_(std=0.05)
    path = save_checkpoint(tmp_path / "gm.safetensors", model, "vggt_sc", git_commit="x", git_dirty=False)
    meta = read_checkpoint_metadata(path)
    assert meta["kind"] == "grid_matcher" and meta["modules"][0]["type"] == "grid_matcher"
    loaded = apply_checkpoint(bb, path)
    img_s = (np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)
    img_t = (np.random.default_rng(1).random((56, 48, 3)) * 255).astype(np.uint8)
    a = predict_flow(model.eval(), img_s, img_t, 56)
    b = predict_flow(loaded, img_s, img_t, 56)
    assert np.allclose(a.st, b.st) and np.allclose(a.conf_ts, b.conf_ts)
    assert a.st.shape == (56, 56, 2) and a.conf_st.shape == (56, 56)
    with pytest.raises(Exception, match="grid_matcher"):
        apply_checkpoint(bb, path, kind="features")


def test_points_are_read_from_the_grid():
    h = w = 8
    t = CanvasTransform.create((w, h), 8, 4, "pad_center")
    centres = grid_to_pixels(identity_grid(h, w, dtype=torch.float64), w, h).numpy()
    st = centres * 2.0 + np.array([1.0, -3.0])  # t position = 2 p + (1, -3): linear, so bilinear is exact
    conf = np.tile(np.linspace(0, 1, w), (h, 1))
    flow = DenseFlow(st, conf, centres.copy(), conf.copy(), t, t)
    xy = np.array([[2.5, 3.5], [4.0, 5.25]])
    got, c = flow.match(xy)
    assert np.allclose(got, xy * 2 + np.array([1.0, -3.0]), atol=1e-5)
    assert np.allclose(c, np.interp(xy[:, 0] - 0.5, np.arange(w), np.linspace(0, 1, w)), atol=1e-6)


def test_confidence_auc_hand_cases():
    # pairs (pos, neg): (.9,.8) 1, (.9,.1) 1, (.3,.8) 0, (.3,.1) 1 -> 3/4
    assert confidence_auc(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 0, 1, 0], bool)) == pytest.approx(0.75)
    assert confidence_auc(np.array([0.5, 0.5]), np.array([True, False])) == pytest.approx(0.5)  # tie = 1/2
    assert confidence_auc(np.array([0.1, 0.9]), np.array([True, False])) == 0.0
    assert np.isnan(confidence_auc(np.array([0.1, 0.9]), np.array([True, True])))


def test_synthetic_dense_error_hand_case():
    source = np.zeros((2, 2, 3), np.float32)
    source[0, 0] = 1.0  # one white pixel
    target = np.zeros((2, 2, 3), np.float32)
    grid = identity_grid(2, 2)
    valid = np.array([[True, True], [False, True]])
    # identity warp: error 1 at (0, 0) (all channels), 0 elsewhere; 3 valid pixels -> 1/3
    assert synthetic_dense_error(target, source, grid, valid) == pytest.approx(1 / 3, abs=1e-6)
    target[0, 0] = 1.0
    assert synthetic_dense_error(target, source, grid, valid) == pytest.approx(0.0, abs=1e-7)


def test_identity_matcher_scores_the_no_motion_error_and_the_cli_writes_it(tiny, tmp_path, capsys):
    """An untrained matcher (identity grid) must score exactly "every pixel stays put"; the CLI pools it."""
    import json

    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.commands.eval import main
    from corrviz.core.evaluate.dense_grid import DenseGridSettings, run_dense_grid
    from corrviz.core.metrics.multiview import normalised_errors
    from corrviz.core.render import render_views
    from corrviz.core.synthetic import make_object

    bb, model = tiny
    with torch.no_grad():  # the untrained state (the shared fixture may have been perturbed by another test)
        model.heads[0].head.head[-1].weight.zero_()
        model.heads[0].head.head[-1].bias.zero_()
    vs = render_views(make_object("mug", 0), n_views=12, resolution=56)
    s = DenseGridSettings(n_pairs=2, n_points=40, max_rotation_deg=90.0)
    run = run_dense_grid([vs], model.eval(), s, None, None, 56)
    assert run.pairs == 2
    rng = np.random.default_rng(s.seed)  # the same draws as run_dense_grid
    cands = vs.view_pairs(s.max_rotation_deg)
    want = []
    for k in sorted(rng.choice(len(cands), size=2, replace=False)):
        a, b = cands[k]
        px = vs.views[a].foreground_pixels()
        gt, ok = vs.correspondence(a, b, px)
        px, gt = px[ok], gt[ok]
        sel = rng.choice(len(px), size=min(40, len(px)), replace=False)
        want.append(normalised_errors(px[sel], gt[sel], (56, 56)))
    assert np.allclose(np.concatenate(run.errors), np.concatenate(want), atol=1e-4)

    path = save_checkpoint(tmp_path / "gm.safetensors", model, "vggt_sc", git_commit="x", git_dirty=False)
    rc = main(["dense-grid", "--backbone", "test_dinov2_tiny", "--checkpoint", str(path), "--views", "12",
               "--pairs", "1", "--points", "30", "--max-rotation", "90", "--out", str(tmp_path / "out"),
               "--tag", "t", "--quiet"])
    assert rc == 0
    res = json.loads((tmp_path / "out" / "t.json").read_text())
    assert set(res["objects"]) == {"mug", "table", "torus", "bowl"} and res["all"]["pairs"] == 4
    assert res["all"]["points"] == 120 and 0 < res["all"]["epe"] < 1 and 0 < res["all"]["nn_epe"] < 1
    assert res["objects"]["mug"]["conf_auc"] == 0.5 or np.isnan(res["objects"]["mug"]["conf_auc"])  # constant 0.5
    assert main(["dense-grid", "--backbone", "test_dinov2_tiny", "--checkpoint", str(tmp_path / "no.safetensors")]) == 2
    assert "no.safetensors: file does not exist" in capsys.readouterr().err


def test_corrviz_match_reads_points_from_a_grid_matcher_checkpoint(tiny, tmp_path):
    """An identity matcher on two images of one size sends every point to itself, confidence sigmoid(0)."""
    import json

    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.commands.match import main
    from corrviz.core.io import save_image

    bb, model = tiny
    with torch.no_grad():
        model.heads[0].head.head[-1].weight.zero_()
        model.heads[0].head.head[-1].bias.zero_()
    path = save_checkpoint(tmp_path / "gm.safetensors", model, "vggt_sc", git_commit="x", git_dirty=False)
    rng = np.random.default_rng(0)
    for name in ("s.png", "t.png"):
        save_image(tmp_path / name, (rng.random((56, 56, 3)) * 255).astype(np.uint8))
    rc = main([str(tmp_path / "s.png"), str(tmp_path / "t.png"), "--backbone", "test_dinov2_tiny",
               "--checkpoint", str(path), "--points", "10,12", "30.5,40", "--json", str(tmp_path / "m.json")])
    assert rc == 0
    out = json.loads((tmp_path / "m.json").read_text())
    assert out["kind"] == "grid_matcher" and out["matcher"] == "grid"
    got = np.array([[m["trg_x"], m["trg_y"]] for m in out["matches"]])
    assert np.allclose(got, [[10, 12], [30.5, 40]], atol=1e-3)
    assert [m["confidence"] for m in out["matches"]] == pytest.approx([0.5, 0.5])


def test_session_matches_and_confidence_overlay_from_a_grid_matcher(tiny, tmp_path, monkeypatch):
    """The app's match job with a grid matcher: points read from the flow, the heatmap is the confidence map."""
    from corrviz.core import session as S
    from corrviz.core.checkpoint import save_checkpoint

    bb, model = tiny
    with torch.no_grad():
        model.heads[0].head.head[-1].weight.zero_()
        model.heads[0].head.head[-1].bias.zero_()
        model.heads[0].head.head[-1].bias[2] = 2.0  # confidence channel: sigmoid(2) everywhere
    path = save_checkpoint(tmp_path / "gm.safetensors", model, "vggt_sc", git_commit="x", git_dirty=False)
    monkeypatch.setattr(S, "grid_model", lambda *_a: model.eval())  # the fixture's model, no rebuild
    rng = np.random.default_rng(0)
    imgs = tuple((rng.random((56, 56, 3)) * 255).astype(np.uint8) for _ in range(2))
    pts = (S.QueryPoint(0, 10.0, 12.0), S.QueryPoint(0, 30.5, 40.0))
    req = S.MatchRequest((None, None), pts, "soft-argmax", 0, grid=("test_dinov2_tiny", None, str(path), 56),
                         images=imgs)
    res = S.compute_matches(req)
    assert res.method == "grid" and len(res.matches) == 2
    assert np.allclose([m.xy for m in res.matches], [[10, 12], [30.5, 40]], atol=1e-3)
    conf = 1 / (1 + np.exp(-2.0))
    assert [m.confidence for m in res.matches] == pytest.approx([conf, conf], abs=1e-5)
    heat = res.heatmaps[1]
    assert heat.shape == (56, 56) and np.allclose(heat, conf, atol=1e-5)  # the confidence overlay on the target


def test_grid_matcher_on_a_keypoint_benchmark_scores_its_own_predictions(tiny, tmp_path, capsys, monkeypatch):
    """corrviz-eval synthetic-spair --checkpoint GRID: an identity matcher predicts "the point stays put", so
    PCK equals the share of keypoints whose source position is already within alpha * bbox of the target's."""
    pytest.importorskip("open3d")
    import json

    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.commands.eval import main
    from corrviz.core.datasets import get_dataset
    from corrviz.core.metrics.pck import bbox_size
    from corrviz.core.synthetic.categories.dataset import SplitSizes, write_synthetic_spair
    from corrviz.core.synthetic.keypoints import RenderSettings

    root = write_synthetic_spair(tmp_path / "synth", ["car"], SplitSizes((0, 0, 2), (0, 0, 4)), RenderSettings(resolution=84))
    bb, model = tiny
    with torch.no_grad():
        model.heads[0].head.head[-1].weight.zero_()
        model.heads[0].head.head[-1].bias.zero_()
    path = save_checkpoint(tmp_path / "gm.safetensors", model, "vggt_sc", git_commit="x", git_dirty=False)
    from corrviz.core.evaluate.cache import FeatureStore

    def no_features(*_a, **_k):  # noqa: ANN002, ANN003
        raise AssertionError("the keypoint pipeline extracted feature maps for a grid matcher (it reads its flow)")

    monkeypatch.setattr(FeatureStore, "prefetch", no_features)
    monkeypatch.setattr(FeatureStore, "get", no_features)
    rc = main(["synthetic-spair", "--data", str(root), "--split", "test", "--backbone", "test_dinov2_tiny",
               "--resolution", "56", "--checkpoint", str(path), "--out", str(tmp_path / "ev"), "--tag", "g",
               "--no-plots", "--quiet", "--no-cache"])
    assert rc == 0
    res = json.loads((tmp_path / "ev" / "g.json").read_text())
    assert res["protocol"]["matcher"]["method"] == "grid"
    got = next(r["value"] for r in res["results"] if r["metric"] == "pck" and r["alpha"] == 0.1 and r["norm"] == "bbox"
               and r["aggregation"] == "per_keypoint" and r["category"] == "all" and r["viewpoint"] == "all")
    right = total = 0
    for rec in get_dataset("synthetic_spair", str(root), split="test").records():
        err = np.linalg.norm(np.asarray(rec.src_kps) - np.asarray(rec.trg_kps), axis=1)
        right += int((err <= 0.1 * bbox_size(rec.trg_bbox)).sum())
        total += len(err)
    assert total > 0 and got == pytest.approx(right / total, abs=1e-9)
    assert not any(r["metric"] == "kap" for r in res["results"])  # KAP is a feature-map property: not reported
    rc = main(["tapvid", "--data", str(root), "--backbone", "test_dinov2_tiny", "--checkpoint", str(path)])
    assert rc == 2 and "dense-grid" in capsys.readouterr().err
