"""PCK@alpha (percentage of correct keypoints) with the three aggregations side by side.

A predicted keypoint is correct when ``||pred - gt|| <= alpha * max(h, w)``, where (h, w) is the
TARGET object's bounding box ("bbox") or the target image ("img").

Aggregations (section 0 of the method spec), over pairs grouped by category c, with n_p keypoints
and k_p correct ones in pair p, P_c the pairs of category c:

* per-keypoint: PCK_c = sum_{p in P_c} k_p / sum_{p in P_c} n_p; overall = categories weighted by
  keypoint count = sum_p k_p / sum_p n_p.
* per-image: PCK_c = mean_{p in P_c} (k_p / n_p); overall = categories weighted by pair count =
  mean over all pairs of k_p / n_p.
* macro: plain mean over categories of the per-category per-keypoint value PCK_c.

Pairs without keypoints are counted (``n_empty_pairs``) but left out of every mean.
Breakdowns repeat the three aggregations inside each group (e.g. SPair viewpoint bins).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..errors import InputMismatchError

Norm = Literal["bbox", "img"]
DEFAULT_ALPHAS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.15)
VIEWPOINT_NAMES: tuple[str, ...] = ("small", "medium", "large")


def _np(x: Any, dtype: Any = np.float64) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def bbox_size(bbox: Sequence[float] | np.ndarray) -> float:
    """max(h, w) of a box [x1, y1, x2, y2] (w = x2 - x1, h = y2 - y1)."""
    b = _np(bbox)
    if b.shape != (4,):
        raise InputMismatchError(f"bbox must be [x1, y1, x2, y2], got shape {b.shape}")
    return float(max(b[2] - b[0], b[3] - b[1]))


def keypoint_errors(pred_xy: np.ndarray, gt_xy: np.ndarray) -> np.ndarray:
    """Euclidean pixel errors (N,) between predicted and ground-truth (N, 2) points."""
    p, g = _np(pred_xy), _np(gt_xy)
    if p.shape != g.shape or (p.ndim != 2 and p.size) or (p.ndim == 2 and p.shape[1] != 2):
        raise InputMismatchError(f"predictions {p.shape} and ground truth {g.shape} must both be (N, 2)")
    return np.linalg.norm(p.reshape(-1, 2) - g.reshape(-1, 2), axis=1)


def pck_correct(errors: np.ndarray, size: float, alpha: float) -> np.ndarray:
    """(N,) bool: error <= alpha * size (size = max(h, w) of the target box or image)."""
    return _np(errors) <= alpha * float(size)


@dataclass(frozen=True, eq=False)
class PairErrors:
    """Per-pair keypoint errors plus what any PCK variant needs to threshold them."""

    pair_id: str
    category: str
    errors: np.ndarray
    bbox_size: float | None
    image_size: float | None
    viewpoint_variation: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_keypoints(self) -> int:
        return int(self.errors.shape[0])

    def size(self, norm: Norm) -> float:
        s = self.bbox_size if norm == "bbox" else self.image_size if norm == "img" else None
        if norm not in ("bbox", "img"):
            raise ValueError(f"unknown PCK normalisation {norm!r}; choose 'bbox' or 'img'")
        if s is None:
            raise InputMismatchError(f"pair {self.pair_id}: no {norm} size for {norm}-normalised PCK")
        return float(s)

    def n_correct(self, alpha: float, norm: Norm) -> int:
        return int(np.count_nonzero(pck_correct(self.errors, self.size(norm), alpha)))


def pair_errors(pred_xy: np.ndarray, gt_xy: np.ndarray, *, pair_id: str, category: str,
                trg_bbox: Sequence[float] | np.ndarray | None, trg_image_size: tuple[int, int] | None,
                viewpoint_variation: int | None = None, meta: dict[str, Any] | None = None) -> PairErrors:
    """Build :class:`PairErrors` from predictions and ground truth in target-image pixels.

    ``trg_image_size`` is (W, H); the "img" size is max(W, H).
    """
    return PairErrors(pair_id, category, keypoint_errors(pred_xy, gt_xy),
                      bbox_size(trg_bbox) if trg_bbox is not None else None,
                      float(max(trg_image_size)) if trg_image_size is not None else None,
                      viewpoint_variation, dict(meta or {}))


@dataclass(frozen=True)
class CategoryPck:
    per_keypoint: float
    per_image: float
    n_pairs: int
    n_keypoints: int
    n_correct: int


@dataclass(frozen=True)
class PckSummary:
    """PCK at one alpha and normalisation, all three aggregations, with per-category values."""

    alpha: float
    norm: str
    per_keypoint: float
    per_image: float
    macro: float
    per_category: dict[str, CategoryPck]
    n_pairs: int
    n_keypoints: int
    n_empty_pairs: int

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "norm": self.norm, "per_keypoint": self.per_keypoint,
                "per_image": self.per_image, "macro": self.macro, "n_pairs": self.n_pairs,
                "n_keypoints": self.n_keypoints, "n_empty_pairs": self.n_empty_pairs,
                "macro_definition": "mean over categories of per-category per-keypoint PCK",
                "per_category": {c: vars(v) for c, v in self.per_category.items()}}


def pck_summary(pairs: Iterable[PairErrors], alpha: float, norm: Norm = "bbox") -> PckSummary:
    """PCK@alpha over ``pairs`` with per-keypoint, per-image and macro aggregation (module docstring)."""
    cats: dict[str, list[tuple[int, int]]] = {}
    empty = 0
    for p in pairs:
        if p.n_keypoints == 0:
            empty += 1
            continue
        cats.setdefault(p.category, []).append((p.n_correct(alpha, norm), p.n_keypoints))
    per_cat: dict[str, CategoryPck] = {}
    for c in sorted(cats):
        rows = np.asarray(cats[c], dtype=np.float64)
        per_cat[c] = CategoryPck(float(rows[:, 0].sum() / rows[:, 1].sum()),
                                 float(np.mean(rows[:, 0] / rows[:, 1])), len(rows),
                                 int(rows[:, 1].sum()), int(rows[:, 0].sum()))
    n_kp = sum(v.n_keypoints for v in per_cat.values())
    n_pairs = sum(v.n_pairs for v in per_cat.values())
    nan = float("nan")
    per_kp = sum(v.n_correct for v in per_cat.values()) / n_kp if n_kp else nan
    per_img = sum(v.per_image * v.n_pairs for v in per_cat.values()) / n_pairs if n_pairs else nan
    macro = float(np.mean([v.per_keypoint for v in per_cat.values()])) if per_cat else nan
    return PckSummary(float(alpha), norm, float(per_kp), float(per_img), macro, per_cat, n_pairs, n_kp, empty)


def pck_by(pairs: Sequence[PairErrors], alpha: float, norm: Norm,
           key: Callable[[PairErrors], Hashable]) -> dict[Hashable, PckSummary]:
    """:func:`pck_summary` within each group of ``key(pair)`` (groups in sorted order)."""
    groups: dict[Hashable, list[PairErrors]] = {}
    for p in pairs:
        groups.setdefault(key(p), []).append(p)
    return {k: pck_summary(groups[k], alpha, norm) for k in sorted(groups, key=str)}


def pck_by_category(pairs: Sequence[PairErrors], alpha: float, norm: Norm = "bbox") -> dict[str, CategoryPck]:
    """Per-category per-keypoint and per-image PCK (the breakdown by category)."""
    return pck_summary(pairs, alpha, norm).per_category


def pck_by_viewpoint(pairs: Sequence[PairErrors], alpha: float, norm: Norm = "bbox") -> dict[str, PckSummary]:
    """SPair viewpoint bins: 'small' / 'medium' / 'large' (viewpoint_variation 0 / 1 / 2) and 'all'."""
    out: dict[str, PckSummary] = {}
    for i, name in enumerate(VIEWPOINT_NAMES):
        group = [p for p in pairs if p.viewpoint_variation == i]
        if group:
            out[name] = pck_summary(group, alpha, norm)
    out["all"] = pck_summary(pairs, alpha, norm)
    return out


def pck_table(pairs: Sequence[PairErrors], alphas: Sequence[float] = DEFAULT_ALPHAS,
              norms: Sequence[Norm] = ("bbox",)) -> list[dict[str, Any]]:
    """Rows of (alpha, norm, per_keypoint, per_image, macro, counts) for every combination."""
    rows = []
    for norm in norms:
        for a in alphas:
            s = pck_summary(pairs, a, norm)
            rows.append({"alpha": a, "norm": norm, "per_keypoint": s.per_keypoint, "per_image": s.per_image,
                         "macro": s.macro, "n_pairs": s.n_pairs, "n_keypoints": s.n_keypoints})
    return rows


def pck_curve(pairs: Sequence[PairErrors], alphas: Sequence[float], norm: Norm = "bbox",
              aggregation: Literal["per_keypoint", "per_image", "macro"] = "per_keypoint") -> np.ndarray:
    """PCK for each alpha (a PCK-vs-alpha curve) in one aggregation."""
    return np.array([getattr(pck_summary(pairs, a, norm), aggregation) for a in alphas])
