"""KAP@alpha: keypoint average precision (Mariotti et al., "viewpoint-guided spherical maps").

PCK only scores keypoints visible in both images, so a matcher that maps a left part onto the
visible right part is never punished when the left part is hidden. KAP scores every keypoint
visible in the SOURCE, as a binary classification of similarity values:

1. The similarity maps of the pair (one map over the target per source keypoint) are min-max
   normalised to [0, 1]. Scope [``"pair"``]: one min and max over all maps of the pair, so that a
   keypoint whose best target similarity is low stays low. ``"keypoint"`` normalises each map
   alone (then every map's maximum is 1, which makes hidden-keypoint negatives all score 1).
2. Keypoint visible in the target: the maximum of the map within radius r = alpha * max(h, w) of
   the target box around the ground truth is a POSITIVE sample (the cell nearest the ground truth
   always counts as inside); the maximum outside the radius is a NEGATIVE sample.
3. Keypoint not visible in the target: the global maximum of its map is a NEGATIVE sample.
4. Per category, AP = sklearn ``average_precision_score(labels, scores)`` over all samples of its
   pairs; KAP = plain mean over categories (categories without a positive sample are left out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..errors import InputMismatchError

NormScope = Literal["pair", "keypoint", "none"]


def _np(x: Any, dtype: Any = np.float64) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def minmax_normalise(sim: np.ndarray, scope: NormScope = "pair") -> np.ndarray:
    """Min-max normalise (K, H, W) similarity maps to [0, 1] over the pair or per keypoint map."""
    s = _np(sim)
    if scope == "none":
        return s
    if scope == "pair":
        lo, hi = float(s.min()), float(s.max())
        return (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)
    if scope == "keypoint":
        flat = s.reshape(s.shape[0], -1)
        lo, hi = flat.min(axis=1), flat.max(axis=1)
        span = np.where(hi > lo, hi - lo, 1.0)
        return ((flat - lo[:, None]) / span[:, None]).reshape(s.shape)
    raise ValueError(f"unknown normalisation scope {scope!r}; choose 'pair', 'keypoint' or 'none'")


def kap_samples(similarity: np.ndarray, cell_xy: np.ndarray, trg_xy: np.ndarray, radius: float,
                normalise: NormScope = "pair") -> tuple[np.ndarray, np.ndarray]:
    """Positive / negative samples of one pair (steps 1-3 of the module docstring).

    ``similarity`` (K, H, W): map over the target for each of the K source keypoints visible in the
    source. ``cell_xy`` (H, W, 2): target-image pixel (x, y) of each map cell (e.g. patch centres).
    ``trg_xy`` (K, 2): ground truth in the target, NaN rows where not visible there.
    ``radius``: alpha * max(h, w) of the target box. Returns ``scores`` (S,) and ``labels`` (S,) int.
    """
    sim = _np(similarity)
    if sim.ndim == 2:
        sim = sim[None]
    cells = _np(cell_xy).reshape(-1, 2)
    gt = _np(trg_xy).reshape(-1, 2)
    if sim.ndim != 3 or sim.shape[0] != gt.shape[0]:
        raise InputMismatchError(f"similarity {sim.shape} must be (K, H, W) with K = {gt.shape[0]} keypoints")
    if cells.shape[0] != sim.shape[1] * sim.shape[2]:
        raise InputMismatchError(f"cell_xy has {cells.shape[0]} cells, maps have {sim.shape[1]}x{sim.shape[2]}")
    flat = minmax_normalise(sim, normalise).reshape(sim.shape[0], -1)
    scores: list[float] = []
    labels: list[int] = []
    for k in range(gt.shape[0]):
        m = flat[k]
        if not np.all(np.isfinite(gt[k])):
            scores.append(float(m.max()))
            labels.append(0)
            continue
        d = np.linalg.norm(cells - gt[k], axis=1)
        inside = d <= radius
        inside[int(np.argmin(d))] = True
        scores.append(float(m[inside].max()))
        labels.append(1)
        if not inside.all():
            scores.append(float(m[~inside].max()))
            labels.append(0)
    return np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=np.int64)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """scikit-learn average precision; NaN when there is no positive sample."""
    from sklearn.metrics import average_precision_score

    y = _np(labels, np.int64)
    if y.size == 0 or not np.any(y == 1):
        return float("nan")
    return float(average_precision_score(y, _np(scores)))


@dataclass(frozen=True)
class KapResult:
    """Per-category AP and their plain mean (KAP)."""

    alpha: float
    kap: float
    per_category: dict[str, float]
    n_samples: dict[str, int]
    n_positive: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "kap": self.kap, "per_category": dict(self.per_category),
                "n_samples": dict(self.n_samples), "n_positive": dict(self.n_positive),
                "definition": "mean over categories of sklearn average_precision_score"}


def kap_from_samples(samples: Mapping[str, Sequence[tuple[np.ndarray, np.ndarray]]], alpha: float) -> KapResult:
    """KAP from per-category lists of (scores, labels) as returned by :func:`kap_samples`."""
    per_cat: dict[str, float] = {}
    n_s: dict[str, int] = {}
    n_p: dict[str, int] = {}
    for cat in sorted(samples):
        parts = samples[cat]
        s = np.concatenate([_np(p[0]) for p in parts]) if parts else np.zeros(0)
        y = np.concatenate([_np(p[1], np.int64) for p in parts]) if parts else np.zeros(0, np.int64)
        per_cat[cat] = average_precision(s, y)
        n_s[cat], n_p[cat] = int(y.size), int(np.sum(y == 1))
    vals = [v for v in per_cat.values() if np.isfinite(v)]
    return KapResult(float(alpha), float(np.mean(vals)) if vals else float("nan"), per_cat, n_s, n_p)


@dataclass
class KapAccumulator:
    """Collects samples pair by pair, then :meth:`result` gives KAP@alpha."""

    alpha: float
    normalise: NormScope = "pair"
    samples: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)

    def add(self, category: str, similarity: np.ndarray, cell_xy: np.ndarray, trg_xy: np.ndarray,
            bbox_size: float) -> tuple[np.ndarray, np.ndarray]:
        """Add one pair; ``bbox_size`` = max(h, w) of the target box (radius = alpha * bbox_size)."""
        pair = kap_samples(similarity, cell_xy, trg_xy, self.alpha * float(bbox_size), self.normalise)
        self.samples.setdefault(category, []).append(pair)
        return pair

    def result(self) -> KapResult:
        return kap_from_samples(self.samples, self.alpha)
