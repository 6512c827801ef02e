"""Multi-view render metrics (multiview-equivariance finetuning, seed 000).

For ground-truth correspondences x1 -> x2 between two rendered views and predictions x2_pred, with
e = ||x2 - x2_pred|| / min(W, H) the error normalised by the shorter image side:

* APE = mean(e)                         (average pixel error, as a fraction of min(W, H))
* PCDP@delta = mean(e < delta)          (fraction of correct dense points), delta in {0.05, 0.1, 0.2}.

Values are fractions, like every other corrviz metric (PCK, KAP, AJ); tables and plots multiply by
100 to print the percentages the paper reports. The multiview benchmark
(:mod:`corrviz.core.evaluate.multiview`) scores with these functions.

Points whose ground truth is invalid (background, occluded in the target) are left out via ``valid``.
Several view pairs are pooled point by point (:func:`multiview_summary`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputMismatchError

PCDP_DELTAS: tuple[float, ...] = (0.05, 0.1, 0.2)

# Viewpoint bins of a view pair's relative camera rotation (degrees, [lo, hi)); 3DPoV is judged per
# bin (SPair's small / medium / large viewpoint variation). Pairs beyond 120 degrees fall in no bin.
VIEWPOINT_BINS: tuple[tuple[str, float, float], ...] = (
    ("small", 0.0, 30.0), ("medium", 30.0, 60.0), ("large", 60.0, 90.0), ("xlarge", 90.0, 120.0))


def viewpoint_bin(rotation_deg: float, bins: Sequence[tuple[str, float, float]] = VIEWPOINT_BINS) -> str | None:
    """Name of the bin holding a relative rotation (lo <= r < hi; the last bin includes its upper edge)."""
    for k, (name, lo, hi) in enumerate(bins):
        if lo <= rotation_deg < hi or (k == len(bins) - 1 and rotation_deg == hi):
            return name
    return None


def scores_by_viewpoint(errors: np.ndarray, rotation_deg: np.ndarray, deltas: Sequence[float] = PCDP_DELTAS,
                        bins: Sequence[tuple[str, float, float]] = VIEWPOINT_BINS) -> dict[str, MultiviewScores]:
    """APE / PCDP of the points of each viewpoint bin (points carry their pair's rotation); empty bins left out."""
    e, r = _np(errors).reshape(-1), _np(rotation_deg).reshape(-1)
    if e.shape != r.shape:
        raise InputMismatchError(f"errors {e.shape} and rotations {r.shape} must have the same length")
    names = np.array([viewpoint_bin(float(x), bins) or "" for x in r])
    return {name: scores_from_errors(e[names == name], deltas) for name, _, _ in bins if np.any(names == name)}


def _np(x: Any, dtype: Any = np.float64) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def normalised_errors(pred_xy: np.ndarray, gt_xy: np.ndarray, image_size: tuple[int, int],
                      valid: np.ndarray | None = None) -> np.ndarray:
    """Errors ||gt - pred|| / min(W, H) of the valid points; ``image_size`` is (W, H) of view 2."""
    p, g = _np(pred_xy), _np(gt_xy)
    if p.shape != g.shape or p.ndim != 2 or p.shape[1] != 2:
        raise InputMismatchError(f"predictions {p.shape} and ground truth {g.shape} must both be (N, 2)")
    e = np.linalg.norm(p - g, axis=1) / float(min(image_size))
    if valid is not None:
        v = _np(valid, bool)
        if v.shape != (p.shape[0],):
            raise InputMismatchError(f"valid {v.shape} must be (N,) with N = {p.shape[0]}")
        e = e[v]
    return e


@dataclass(frozen=True)
class MultiviewScores:
    """APE (fraction of min(W, H)) and PCDP (fraction of points), over ``n_points`` evaluated points."""

    ape: float
    pcdp: dict[float, float]
    n_points: int

    def to_dict(self) -> dict[str, Any]:
        return {"ape": self.ape, "pcdp": {str(k): v for k, v in self.pcdp.items()}, "n_points": self.n_points,
                "units": "fraction of min(W, H) (APE) / fraction of points (PCDP); x100 for percent"}


def scores_from_errors(errors: np.ndarray, deltas: Sequence[float] = PCDP_DELTAS) -> MultiviewScores:
    """APE / PCDP from normalised errors (N,)."""
    e = _np(errors).reshape(-1)
    if e.size == 0:
        return MultiviewScores(float("nan"), {float(d): float("nan") for d in deltas}, 0)
    return MultiviewScores(float(e.mean()), {float(d): float(np.mean(e < d)) for d in deltas}, int(e.size))


def ape(pred_xy: np.ndarray, gt_xy: np.ndarray, image_size: tuple[int, int],
        valid: np.ndarray | None = None) -> float:
    """APE as a fraction: mean ||x2 - x2_pred|| / min(W, H)."""
    return scores_from_errors(normalised_errors(pred_xy, gt_xy, image_size, valid)).ape


def pcdp(pred_xy: np.ndarray, gt_xy: np.ndarray, image_size: tuple[int, int], delta: float,
         valid: np.ndarray | None = None) -> float:
    """PCDP@delta: fraction of points with normalised error < delta."""
    return scores_from_errors(normalised_errors(pred_xy, gt_xy, image_size, valid), (delta,)).pcdp[float(delta)]


def multiview_metrics(pred_xy: np.ndarray, gt_xy: np.ndarray, image_size: tuple[int, int],
                      valid: np.ndarray | None = None, deltas: Sequence[float] = PCDP_DELTAS) -> MultiviewScores:
    """APE and PCDP@deltas of one view pair."""
    return scores_from_errors(normalised_errors(pred_xy, gt_xy, image_size, valid), deltas)


def multiview_summary(view_pairs: Iterable[tuple[np.ndarray, np.ndarray, tuple[int, int], np.ndarray | None]],
                      deltas: Sequence[float] = PCDP_DELTAS) -> MultiviewScores:
    """Pool (pred, gt, image_size, valid) of several view pairs point by point."""
    errs = [normalised_errors(p, g, s, v) for p, g, s, v in view_pairs]
    return scores_from_errors(np.concatenate(errs) if errs else np.zeros(0), deltas)
