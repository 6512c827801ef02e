"""The synthetic-SPair benchmark's extra rows: left/right confusion and KAP per viewpoint bin.

PCK (three aggregations, per category, per viewpoint bin) and KAP come from the SPair pipeline
(:mod:`.keypoints`, :mod:`.result`) unchanged. On top of them:

* **Left/right confusion rate** (metric ``lr_confusion``): among the pair keypoints that have a
  twin visible in the target, the fraction whose prediction lands nearer the twin's ground truth
  than its own (strictly nearer; a missing prediction -- a mutual-NN rejection -- counts as not
  confused). Pooled over keypoints: overall, per category and per viewpoint bin.
* **KAP per viewpoint bin** (metric ``kap``, ``viewpoint`` small / medium / large): the pair
  samples the KAP accumulators already hold, regrouped by the pair's viewpoint bin, then AP per
  category and the mean over categories, exactly as the overall KAP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..datasets import VIEWPOINT_BINS, PairRecord
from ..metrics.kap import kap_from_samples
from .keypoints import KeypointRun
from .result import row


@dataclass(frozen=True)
class Confusion:
    """Counts of one group: ``confused`` of ``eligible`` keypoints (twin visible in the target)."""

    confused: int
    eligible: int

    @property
    def rate(self) -> float:
        return self.confused / self.eligible if self.eligible else float("nan")


def left_right_confused(pred_xy: np.ndarray, gt_xy: np.ndarray, twin_gt_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per keypoint: ``(confused, eligible)`` bool arrays (N,).

    eligible: the twin's ground truth is known (finite); confused: eligible, a finite prediction,
    and ``||pred - twin_gt|| < ||pred - gt||``.
    """
    pred, gt, twin = (np.asarray(x, dtype=np.float64).reshape(-1, 2) for x in (pred_xy, gt_xy, twin_gt_xy))
    eligible = np.isfinite(twin).all(axis=1) & np.isfinite(gt).all(axis=1)
    ok = eligible & np.isfinite(pred).all(axis=1)
    confused = np.zeros(len(pred), dtype=bool)
    d_own = np.linalg.norm(pred[ok] - gt[ok], axis=1)
    d_twin = np.linalg.norm(pred[ok] - twin[ok], axis=1)
    confused[ok] = d_twin < d_own
    return confused, eligible


def confusion_by_group(records: Sequence[PairRecord], preds: Sequence[np.ndarray]) -> dict[tuple[str, str], Confusion]:
    """Confusion counts keyed by (category, viewpoint): ("all", "all"), (cat, "all"), ("all", bin)."""
    acc: dict[tuple[str, str], list[int]] = {}
    for rec, pred in zip(records, preds, strict=True):
        twin = rec.meta.get("twin_trg_kps")
        if twin is None:
            continue
        confused, eligible = left_right_confused(pred, rec.trg_kps, twin)
        vp = rec.viewpoint_bin or "all"
        for key in {("all", "all"), (rec.category, "all"), ("all", vp)}:
            c = acc.setdefault(key, [0, 0])
            c[0] += int(confused.sum())
            c[1] += int(eligible.sum())
    return {k: Confusion(v[0], v[1]) for k, v in acc.items()}


def confusion_rows(records: Sequence[PairRecord], preds: Sequence[np.ndarray]) -> list[dict[str, Any]]:
    rows = []
    for (cat, vp), c in sorted(confusion_by_group(records, preds).items()):
        rows.append(row("lr_confusion", c.rate, aggregation="per_keypoint", category=cat, viewpoint=vp,
                        n_keypoints=c.eligible))
    return rows


def kap_viewpoint_rows(records: Sequence[PairRecord], run: KeypointRun) -> list[dict[str, Any]]:
    """KAP per viewpoint bin from the run's accumulators (pairs regrouped by viewpoint)."""
    if not run.kap:
        return []
    by_id = {r.pair_id: r for r in records}
    # The accumulators hold, per category, one sample set per pair with KAP keypoints, in run order.
    order: dict[str, list[str | None]] = {}
    for o in run.outcomes:
        rec = by_id[o.errors.pair_id]
        if rec.kap_src_kps is not None and rec.kap_trg_kps is not None and rec.trg_bbox is not None \
                and len(rec.kap_src_kps):
            order.setdefault(rec.category, []).append(rec.viewpoint_bin)
    rows = []
    for alpha, accumulator in sorted(run.kap.items()):
        if any(len(parts) != len(order.get(cat, [])) for cat, parts in accumulator.samples.items()):
            return []  # a pair added samples and then failed: the regrouping would be ambiguous
        for vp in VIEWPOINT_BINS:
            samples = {cat: [s for s, v in zip(parts, order.get(cat, []), strict=False) if v == vp]
                       for cat, parts in accumulator.samples.items()}
            n_pairs = sum(len(v) for v in samples.values())
            if n_pairs == 0:
                continue
            r = kap_from_samples(samples, alpha)
            rows.append(row("kap", r.kap, alpha=alpha, norm="bbox", aggregation="macro", viewpoint=vp,
                            n_pairs=n_pairs, n_keypoints=sum(r.n_positive.values())))
    return rows


def synthetic_spair_rows(records: Sequence[PairRecord], run: KeypointRun) -> list[dict[str, Any]]:
    """The extra rows of a synthetic-SPair run (confusion, KAP per viewpoint bin)."""
    by_id = {r.pair_id: r for r in records}
    evaluated = [by_id[o.errors.pair_id] for o in run.outcomes]
    return confusion_rows(evaluated, [o.pred_xy for o in run.outcomes]) + kap_viewpoint_rows(records, run)
