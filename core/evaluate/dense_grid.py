"""The dense grid matcher's benchmark on rendered view pairs with exact correspondence (VGGT-SC, seed 003).

Per pair (views a -> b of one object, relative rotation <= ``max_rotation_deg``, picked as the
multiview benchmark picks them: seeded, without replacement) and per sampled foreground pixel of
a that is visible in b:

* end-point error e = ||pred - gt|| / min(W, H) of view b (:func:`~corrviz.core.metrics.multiview.normalised_errors`);
  EPE = mean(e), PCDP@delta = mean(e < delta), pooled over the points of all pairs (fractions);
* confidence AUC: probability that a correct point (e < ``auc_delta`` [0.05]) has a higher
  predicted confidence than a wrong one (ties count one half; Mann-Whitney U / (n_pos n_neg));
* "synthetic dense" error (method spec section 4): mean squared colour error (RGB in [0, 1], mean
  over channels) between view b and view a warped by the predicted b -> a grid, over the pixels
  of b whose correspondence in a is known (foreground, visible in a);
* optionally the same EPE / PCDP for nearest-neighbour matching of a plain feature extractor
  (``baseline``: the frozen backbone's features), on the SAME points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..grid_matcher import DenseFlow, predict_flow, warp_by_grid
from ..metrics.multiview import PCDP_DELTAS, normalised_errors
from ..progress import Progress
from ..transforms import pixels_to_grid
from .multiview import pick_view_pairs, sample_visible_points


def confidence_auc(confidence: np.ndarray, correct: np.ndarray) -> float:
    """AUC of ``confidence`` ranking correct above wrong predictions (ties = 1/2); NaN without both kinds."""
    c = np.asarray(confidence, np.float64).ravel()
    ok = np.asarray(correct, bool).ravel()
    n_pos, n_neg = int(ok.sum()), int((~ok).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(c, kind="mergesort")
    ranks = np.empty(len(c), np.float64)
    sorted_c = c[order]
    # average ranks over ties (1-based)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_c)) + 1]
    ends = np.r_[starts[1:], len(c)]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = 0.5 * (s + 1 + e)
    u = ranks[ok].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def synthetic_dense_error(target: np.ndarray, source: np.ndarray, grid_ts: torch.Tensor, valid: np.ndarray) -> float:
    """Mean squared colour error of ``target`` vs ``source`` warped by ``grid_ts`` over ``valid`` target pixels.

    ``target``/``source``: (H, W, 3) uint8 or float in [0, 1]; ``grid_ts`` (Ht, Wt, 2) ``grid_sample``
    coordinates of the source (:func:`~corrviz.core.grid_matcher.warp_by_grid`); ``valid`` (Ht, Wt) bool.
    """
    def as_float(img: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.asarray(img)).float()
        return (x / 255.0 if np.asarray(img).dtype == np.uint8 else x).permute(2, 0, 1)[None]

    warped = warp_by_grid(as_float(source), grid_ts[None].float())[0]
    err = ((warped - as_float(target)[0]) ** 2).mean(0).numpy()
    v = np.asarray(valid, bool)
    return float(err[v].mean()) if v.any() else float("nan")


@dataclass(frozen=True)
class DenseGridSettings:
    n_pairs: int = 3            # per object
    n_points: int = 500         # per pair
    max_rotation_deg: float = 45.0
    seed: int = 0
    deltas: tuple[float, ...] = PCDP_DELTAS
    auc_delta: float = 0.05


@dataclass
class DenseGridRun:
    errors: list[np.ndarray]
    confidence: list[np.ndarray]
    baseline_errors: list[np.ndarray]
    colour_errors: list[float]
    pairs: int = 0

    def metrics(self, s: DenseGridSettings) -> dict[str, float]:
        e = np.concatenate(self.errors) if self.errors else np.zeros(0)
        out: dict[str, float] = {"epe": float(e.mean()) if e.size else float("nan"), "points": float(e.size),
                                 "pairs": float(self.pairs)}
        for d in s.deltas:
            out[f"pcdp@{d:g}"] = float((e < d).mean()) if e.size else float("nan")
        c = np.concatenate(self.confidence) if self.confidence else np.zeros(0)
        out["conf_auc"] = confidence_auc(c, e < s.auc_delta) if e.size else float("nan")
        out["synthetic_dense"] = float(np.nanmean(self.colour_errors)) if self.colour_errors else float("nan")
        if self.baseline_errors:
            b = np.concatenate(self.baseline_errors)
            out["nn_epe"] = float(b.mean()) if b.size else float("nan")
            for d in s.deltas:
                out[f"nn_pcdp@{d:g}"] = float((b < d).mean()) if b.size else float("nan")
        return out


def _reverse_valid(vs, a: int, b: int) -> np.ndarray:
    """(H, W) pixels of view b whose correspondence in view a is known (foreground, visible in a)."""
    vb = vs.views[b]
    px = vb.foreground_pixels()
    _, ok = vs.correspondence(b, a, px)
    valid = np.zeros((vb.height, vb.width), bool)
    cols, rows = np.floor(px[ok]).astype(int).T
    valid[rows, cols] = True
    return valid


def run_dense_grid(view_sets: list, model, s: DenseGridSettings, baseline: Callable | None = None,
                   progress: Progress | None = None, resolution: int | None = None) -> DenseGridRun:
    """Score a grid matcher checkpoint (an AdaptedBackbone with a ``grid_matcher`` module) on view sets.

    ``baseline(rgb_a, rgb_b, xy_a, mask_b) -> xy_b`` predicts the same points by another matcher (NN).
    """
    run = DenseGridRun([], [], [], [])
    if progress is not None:
        progress.start(len(view_sets) * s.n_pairs, "dense grid pairs")
    for vs in view_sets:
        rng = np.random.default_rng(s.seed)
        for a, b in pick_view_pairs(vs, s.max_rotation_deg, s.n_pairs, rng):
            va, vb = vs.views[a], vs.views[b]
            px, gt = sample_visible_points(vs, a, b, s.n_points, rng)
            if len(px):
                flow: DenseFlow = predict_flow(model, va.rgb, vb.rgb, resolution)
                pred, conf = flow.match(px)
                run.errors.append(normalised_errors(pred, gt, (vb.width, vb.height)))
                run.confidence.append(conf)
                ts_img = torch.from_numpy(flow.ts)  # (Hc, Wc, 2) s image pixels; canvas = image for renders
                if flow.ts.shape[:2] == (vb.height, vb.width):
                    grid_ts = pixels_to_grid(ts_img.float(), va.width, va.height)
                    run.colour_errors.append(synthetic_dense_error(vb.rgb, va.rgb, grid_ts, _reverse_valid(vs, a, b)))
                if baseline is not None:
                    run.baseline_errors.append(normalised_errors(baseline(va.rgb, vb.rgb, px, vb.mask), gt,
                                                                 (vb.width, vb.height)))
                run.pairs += 1
            if progress is not None:
                progress.step()
    return run


def nn_baseline(backbone, resolution: int, layer: int | None = None, facet: str | None = None) -> Callable:
    """Nearest-neighbour matching of ``backbone``'s features (restricted to target foreground cells),
    as the multiview benchmark scores it: ``(rgb_a, rgb_b, xy_a, mask_b) -> xy_b``."""
    from ..features import FeatureExtractor, FeatureOptions
    from ..matching import match_points
    from ..transforms import mask_to_grid

    dev = next(iter(backbone.parameters()), torch.zeros(())).device
    extractor = FeatureExtractor(backbone, FeatureOptions(resolution=int(resolution), layer=layer, facet=facet,
                                                          device=str(dev)), cache=None)

    def predict(rgb_a: np.ndarray, rgb_b: np.ndarray, xy_a: np.ndarray, mask_b: np.ndarray) -> np.ndarray:
        fa, fb = extractor.extract(rgb_a), extractor.extract(rgb_b)
        return match_points(fa, fb, xy_a, "nn", trg_mask=mask_to_grid(mask_b, fb.transform, threshold=0.25)).trg_xy

    return predict
