"""How well could a confidence trained on the round-trip error rank correct matches? (VGGT-SC diagnostic)

On the same held-out pairs and points as the method's evaluation, compares the confidence AUC of the
checkpoint's predicted confidence with that of the errors the uncertainty loss can teach it to follow
(``loss.uncert_target``): the colour round-trip error |I_s(p) - I_s(p')| (the spec's ``recon``) and the
geometric one ||p' - p|| (``cycle``), where p -> grid s->t -> grid t->s -> p'.

    CORRVIZ_WEIGHTS=../shared/weights python scripts/vggt_sc_confidence_check.py --checkpoint RUN
"""

from __future__ import annotations

import argparse

import numpy as np


def _bilinear(rgb: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image at pixel points (N, 2) (x, y; centres at +0.5), bilinear, edge-clamped -> (N, 3)."""
    h, w = rgb.shape[:2]
    x = np.clip(xy[:, 0] - 0.5, 0, w - 1)
    y = np.clip(xy[:, 1] - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    im = rgb.astype(np.float64) / 255.0
    top = im[y0, x0] * (1 - fx) + im[y0, x1] * fx
    bottom = im[y1, x0] * (1 - fx) + im[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def main() -> None:
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import apply_checkpoint
    from corrviz.core.evaluate.dense_grid import DenseGridSettings, confidence_auc
    from corrviz.core.evaluate.multiview import pick_view_pairs, sample_visible_points
    from corrviz.core.grid_matcher import predict_flow
    from corrviz.core.metrics.multiview import normalised_errors
    from corrviz.training.methods.mef_data import VAL_SEED, cached_view_set
    from corrviz.training.trainer import init_checkpoint_file

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="grid-matcher checkpoint or run folder")
    p.add_argument("--backbone", default="vit_tiny_patch16_224")
    p.add_argument("--objects", default="mug,torus,chair,car")
    p.add_argument("--resolution", type=int, default=224)
    a = p.parse_args()
    model = apply_checkpoint(create_backbone(a.backbone), init_checkpoint_file(a.checkpoint), kind="grid_matcher")
    s = DenseGridSettings(n_pairs=3, n_points=500, max_rotation_deg=45.0)
    errs, conf, cyc, col = [], [], [], []
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
            col.append(np.linalg.norm(_bilinear(va.rgb, px) - _bilinear(va.rgb, back), axis=1))
    e, c, r, k = (np.concatenate(v) for v in (errs, conf, cyc, col))
    ok = e < s.auc_delta
    print(f"{len(e)} points, {ok.mean() * 100:.1f} % correct (< {s.auc_delta} of the side)")
    print(f"AUC predicted confidence: {confidence_auc(c, ok):.3f}")
    print(f"AUC -colour round trip (recon): {confidence_auc(-k, ok):.3f}")
    print(f"AUC -geometric round trip (cycle): {confidence_auc(-r, ok):.3f}")
    print(f"confidence spread: min {c.min():.3f} median {np.median(c):.3f} max {c.max():.3f}")


if __name__ == "__main__":
    main()
