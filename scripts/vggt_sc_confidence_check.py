"""How well could a confidence trained on the round-trip error rank correct matches? (VGGT-SC diagnostic)

On the same held-out pairs and points as the method's evaluation, compares the confidence AUC of the
checkpoint's predicted confidence with that of the errors the uncertainty loss can teach it to follow
(``loss.uncert_target``): the colour round-trip error |I_s(p) - I_s(p')| (the spec's ``recon``) and the
geometric one ||p' - p|| (``cycle``), where p -> grid s->t -> grid t->s -> p'.

``--probe N`` also fits the best case of a confidence read out from the checkpoint: logistic regression
and a small MLP (binary cross-entropy on the TRUE correctness, from the renders' exact dense
correspondence) on the 32 channels that the DPT head's last layer reads, plus the geometric round-trip
error, over 1000 valid pixels of each of N training pairs; scored on the held-out points. A confidence
learnt by the uncertainty loss from the same features cannot be expected to rank better than that.

``--grad-norms N`` prints, on N training batches, the gradient norm of the stage-4 loss without its
uncertainty term and of the uncertainty term alone at weight 1 (the trainer clips their sum to norm 1).

    CORRVIZ_WEIGHTS=../shared/weights python scripts/vggt_sc_confidence_check.py --checkpoint RUN [--probe 60] [--grad-norms 3]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F


def _colour_at(rgb: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image at pixel points (N, 2), bilinear and edge-clamped as the losses warp -> (N, 3)."""
    from corrviz.core.transforms import pixels_to_grid

    h, w = rgb.shape[:2]
    img = torch.from_numpy(rgb).permute(2, 0, 1).double()[None] / 255.0
    at = pixels_to_grid(torch.from_numpy(np.asarray(xy, np.float64)), w, h)[None, None]
    return F.grid_sample(img, at, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0].T.numpy()


class _LastLayerInput:
    """Forward hook: the (2B, 32, H, W) input of the grid matcher's output layer, with the geometric round
    trip of the s rows appended as one more channel -> ``features(rows)`` (P, 33) at pixel (row, col)s."""

    def __init__(self, head) -> None:  # noqa: ANN001
        self.value: torch.Tensor | None = None
        head.head.head[-1].register_forward_hook(self._keep)

    def _keep(self, module, inputs, output) -> None:  # noqa: ANN001
        self.value = inputs[0].detach()

    def features(self, grid_st: torch.Tensor, grid_ts: torch.Tensor, ys: np.ndarray, xs: np.ndarray) -> torch.Tensor:
        """Of the first pair of the last forward; grids (1, H, W, 2)."""
        from corrviz.training.methods.vggt_sc_losses import cycle_error

        h = torch.cat([self.value[0], cycle_error(grid_st, grid_ts)])
        return h[:, torch.as_tensor(ys), torch.as_tensor(xs)].T


CUE_NAMES = ("cosine of the frozen features at the prediction", "-distance of the prediction to the NN match",
             "cosine at the prediction - best cosine (NN)")


def _feature_cues(fa, fb, px: np.ndarray, pred: np.ndarray, mask_b: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """(N, 3) cues from the FROZEN backbone's features (they need no training, so cannot overfit objects)."""
    from corrviz.core.matching import match_points
    from corrviz.core.transforms import mask_to_grid

    sa = F.normalize(fa.sample(px).float(), dim=-1)
    sb = F.normalize(fb.sample(pred).float(), dim=-1)
    cos_pred = (sa * sb).sum(-1).numpy()
    m = match_points(fa, fb, px, "nn", trg_mask=mask_to_grid(mask_b, fb.transform, threshold=0.25))
    nn_xy = np.asarray(m.trg_xy)
    cos_nn = (sa * F.normalize(fb.sample(nn_xy).float(), dim=-1)).sum(-1).numpy()
    side = min(mask_b.shape)
    return np.stack([cos_pred, -np.linalg.norm(nn_xy - pred, axis=1) / side, cos_pred - cos_nn], axis=1)


def _probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: np.ndarray) -> dict:
    from corrviz.core.evaluate.dense_grid import confidence_auc

    torch.manual_seed(0)
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
    d = train_x.shape[1]
    out = {}
    for name, net in (("linear", torch.nn.Linear(d, 1)),
                      ("MLP 64", torch.nn.Sequential(torch.nn.Linear(d, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)))):
        opt = torch.optim.Adam(net.parameters(), 1e-2)
        pos_weight = (1 - train_y.mean()) / train_y.mean().clamp_min(1e-6)
        for _ in range(600):
            logits = net((train_x - mu) / sd)[:, 0]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, train_y, pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            out[name] = (confidence_auc(net((train_x - mu) / sd)[:, 0].numpy(), train_y.numpy() > 0),
                         confidence_auc(net((test_x - mu) / sd)[:, 0].numpy(), test_y))
    return out


def _training_features(model, hook: _LastLayerInput, n_pairs: int) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """Features and true correctness (< 0.05 of the side) at 1000 valid s pixels of ``n_pairs`` training pairs."""
    from corrviz.core.grid_matcher import pair_forward
    from corrviz.training.methods.vggt_sc import VGGTSC
    from corrviz.training.trainer import prepare

    cfg = prepare("vggt_sc", "training/configs/vggt_sc_tiny_stage1.yaml")[1]
    data = VGGTSC().build_data(cfg)
    rng = np.random.default_rng(0)
    xs_all, ys_all = [], []
    with torch.no_grad():
        for _ in range(n_pairs):
            idx = int(rng.integers(len(data.items)))
            b = data.collate([data.sample(idx, np.random.default_rng(idx))])
            g_st, _, g_ts, _ = pair_forward(model, b["images"][:1], b["images"][1:])
            err = (g_st[0] - b["gt"][0]).norm(dim=-1) / 2.0  # grid units -> fraction of the side
            ys, xs = np.nonzero(b["valid"][0].numpy())
            pick = rng.permutation(len(ys))[:1000]
            xs_all.append(hook.features(g_st, g_ts, ys[pick], xs[pick]))
            ys_all.append(torch.from_numpy((err.numpy()[ys[pick], xs[pick]] < 0.05).astype(np.float32)))
    return torch.cat(xs_all), torch.cat(ys_all)


def _grad_norms(run: str, n_batches: int) -> None:
    """Gradient norms of the stage-4 terms on ``n_batches`` training batches, starting from checkpoint ``run``."""
    from corrviz.training.methods.vggt_sc import VGGTSC
    from corrviz.training.trainer import load_init_checkpoint, prepare

    cfg = prepare("vggt_sc", "training/configs/vggt_sc_tiny_stage4.yaml", ["init.checkpoint=" + run])[1]
    method = VGGTSC()
    model = method.build_model(cfg, torch.device("cpu"))
    load_init_checkpoint(model, run)
    data = method.build_data(cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    weights = dict(model.weights)

    def norm(w: dict) -> float:
        model.weights = w
        model.zero_grad()
        model(batch).loss.backward()
        return float(torch.cat([p.grad.flatten() for p in params if p.grad is not None]).norm())

    for i in range(n_batches):
        batch = data.collate([data.sample(i, np.random.default_rng(i))])
        rest = norm(dict(weights, uncert=0.0))
        alone = norm({k: float(k == "uncert") for k in weights})
        print(f"batch {i}: gradient norm of the other terms {rest:.1f}, of the uncertainty term at weight 1 {alone:.3f}")


def main() -> None:
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import apply_checkpoint
    from corrviz.core.evaluate.dense_grid import DenseGridSettings, confidence_auc
    from corrviz.core.evaluate.multiview import pick_view_pairs, sample_visible_points
    from corrviz.core.features import FeatureExtractor, FeatureOptions
    from corrviz.core.grid_matcher import find_grid_matcher, predict_flow
    from corrviz.core.metrics.multiview import normalised_errors
    from corrviz.core.transforms import pixels_to_grid
    from corrviz.training.methods.mef_data import VAL_SEED, cached_view_set
    from corrviz.training.trainer import init_checkpoint_file

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="grid-matcher checkpoint or run folder")
    p.add_argument("--backbone", default="vit_tiny_patch16_224")
    p.add_argument("--objects", default="mug,torus,chair,car")
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--probe", type=int, default=0, metavar="N",
                   help="also fit read-out probes on N training pairs (needs the tiny CPU configs' 224 px renders)")
    p.add_argument("--grad-norms", type=int, default=0, metavar="N", help="gradient norms of the loss terms")
    a = p.parse_args()
    if a.grad_norms:
        _grad_norms(a.checkpoint, a.grad_norms)
    model = apply_checkpoint(create_backbone(a.backbone), init_checkpoint_file(a.checkpoint), kind="grid_matcher")
    hook = _LastLayerInput(find_grid_matcher(model)) if a.probe else None
    s = DenseGridSettings(n_pairs=3, n_points=500, max_rotation_deg=45.0)
    errs, conf, cyc, col, feats, cues = [], [], [], [], [], []
    extractor = FeatureExtractor(create_backbone(a.backbone), FeatureOptions(resolution=a.resolution), cache=None)
    for obj in a.objects.split(","):
        vs = cached_view_set(obj, VAL_SEED, 42, a.resolution)
        rng = np.random.default_rng(s.seed)
        for i, j in pick_view_pairs(vs, s.max_rotation_deg, s.n_pairs, rng):
            va, vb = vs.views[i], vs.views[j]
            px, gt = sample_visible_points(vs, i, j, s.n_points, rng)
            flow = predict_flow(model, va.rgb, vb.rgb, a.resolution)
            pred, c = flow.match(px)
            back, _ = flow.match(pred, reverse=True)
            errs.append(normalised_errors(pred, gt, (vb.width, vb.height)))
            conf.append(c)
            cyc.append(np.linalg.norm(back - px, axis=1) / min(va.width, va.height))
            col.append(np.linalg.norm(_colour_at(va.rgb, px) - _colour_at(va.rgb, back), axis=1))
            cues.append(_feature_cues(extractor.extract(va.rgb), extractor.extract(vb.rgb), px, pred, vb.mask))
            if hook is not None:  # the hook holds predict_flow's forward; renders at the model size: canvas = image
                g_st, g_ts = (pixels_to_grid(torch.from_numpy(f).float(), va.width, va.height)[None]
                              for f in (flow.st, flow.ts))
                ij = np.floor(px).astype(int)
                feats.append(hook.features(g_st, g_ts, ij[:, 1], ij[:, 0]))
    e, c, r, k = (np.concatenate(v) for v in (errs, conf, cyc, col))
    ok = e < s.auc_delta
    print(f"{len(e)} points, {ok.mean() * 100:.1f} % correct (< {s.auc_delta} of the side)")
    print(f"AUC predicted confidence: {confidence_auc(c, ok):.3f}")
    print(f"AUC -colour round trip (recon): {confidence_auc(-k, ok):.3f}")
    print(f"AUC -geometric round trip (cycle): {confidence_auc(-r, ok):.3f}")
    fc = np.concatenate(cues)
    for k_, name in enumerate(CUE_NAMES):
        print(f"AUC {name}: {confidence_auc(fc[:, k_], ok):.3f}")
    print(f"confidence spread: min {c.min():.3f} median {np.median(c):.3f} max {c.max():.3f}")
    if hook is not None:
        tx, ty = _training_features(model, hook, a.probe)
        print(f"probes on {len(ty)} training pixels ({float(ty.mean()) * 100:.1f} % correct), true correctness, BCE:")
        for name, (auc_train, auc_test) in _probe(tx, ty, torch.cat(feats), ok).items():
            print(f"  {name}: AUC training pixels {auc_train:.3f}, held-out points {auc_test:.3f}")


if __name__ == "__main__":
    main()
