"""Keypoint-transfer pipeline (SPair-71k, PF-PASCAL, PF-WILLOW, AP-10K).

For each pair: features of both images (through the :class:`FeatureStore`), the source keypoints
matched into the target (nearest neighbour, mutual NN, window soft-argmax or combined), pixel
errors against the target keypoints -> :class:`PairErrors`; and, where the pair lists every
source-visible keypoint (SPair with ImageAnnotation), the KAP samples of its similarity maps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..datasets import PairRecord
from ..errors import CorrvizError
from ..features import FeatureMap
from ..matching import combine_similarity, match_points, similarity_map
from ..metrics import KapAccumulator, PairErrors, pair_errors
from ..progress import Progress
from .cache import FeatureStore
from .spec import MatcherSpec

KAP_ALPHAS: tuple[float, ...] = (0.05, 0.1, 0.15)


@dataclass(frozen=True)
class PairOutcome:
    """One evaluated pair: its errors plus the predictions (target pixels), and the pair itself
    (images and ground-truth keypoints, so that a viewer can open it with its predictions)."""

    errors: PairErrors
    pred_xy: np.ndarray
    n_rejected: int = 0
    record: PairRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        e = self.errors
        return {"pair_id": e.pair_id, "category": e.category, "viewpoint_variation": e.viewpoint_variation,
                "n_keypoints": e.n_keypoints, "bbox_size": e.bbox_size, "image_size": e.image_size,
                "errors_px": [float(v) if np.isfinite(v) else None for v in e.errors], "n_rejected": self.n_rejected,
                **{k: v for k, v in e.meta.items() if k in ("pair_kind",)}}


@dataclass
class Skip:
    """An item left out of the evaluation, and why."""

    item_id: str
    reason: str
    stage: str  # "loader" or "runtime"

    def to_dict(self) -> dict[str, str]:
        return {"item_id": self.item_id, "reason": self.reason, "stage": self.stage}


@dataclass
class KeypointRun:
    outcomes: list[PairOutcome] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    kap: dict[float, KapAccumulator] = field(default_factory=dict)
    kap_pairs: int = 0


def _restrict(sim: torch.Tensor, fm: FeatureMap) -> torch.Tensor:
    """Set padding cells to the minimum over image cells (they can neither match nor win KAP)."""
    content = torch.from_numpy(fm.transform.content_mask())
    if bool(content.all()):
        return sim
    low = sim[:, content].min()
    return sim.masked_fill(~content[None], float(low))


def predict(matcher: Any, src: FeatureMap, trg: FeatureMap, record: PairRecord,
            sphere: tuple[FeatureMap, FeatureMap] | None) -> tuple[np.ndarray, int]:
    """Predicted target points (N, 2) for the pair's source keypoints; and how many were rejected
    (mutual-NN failures, which score as misses: they are moved to NaN)."""
    pts = np.asarray(record.src_kps, dtype=np.float64)
    if not isinstance(matcher, MatcherSpec):
        pred = np.asarray(matcher(src, trg, pts, record), dtype=np.float64)
        if pred.shape != pts.shape:
            raise CorrvizError(f"matcher {getattr(matcher, 'name', matcher)!r} returned {pred.shape} "
                               f"for {pts.shape} points")
        return pred, 0
    mask = trg.transform.content_mask() if matcher.restrict_to_image else None
    m = match_points(src, trg, pts, method=matcher.method, radius=matcher.radius, beta=matcher.beta,
                     trg_mask=mask, sphere=sphere, alpha=matcher.alpha)
    pred = m.trg_xy.copy()
    rejected = 0
    if matcher.method == "mnn":
        bad = ~m.valid
        pred[bad] = np.nan
        rejected = int(bad.sum())
    return pred, rejected


def kap_add(acc: dict[float, KapAccumulator], src: FeatureMap, trg: FeatureMap, record: PairRecord,
            sphere: tuple[FeatureMap, FeatureMap] | None = None, alpha: float = 0.2) -> bool:
    """Add the pair's KAP samples at every alpha; False when the pair has no KAP keypoints.

    With ``sphere`` (the combined matcher) the maps scored are the combined similarity
    ``(1 - alpha) cos(feat) + alpha cos(sphere)``, the maps that matcher matches on.
    """
    if record.kap_src_kps is None or record.kap_trg_kps is None or record.trg_bbox is None:
        return False
    if len(record.kap_src_kps) == 0:
        return False
    sim = similarity_map(src, record.kap_src_kps, trg)
    if sphere is not None:
        sim = combine_similarity(sim, similarity_map(sphere[0], record.kap_src_kps, sphere[1]), alpha)
    sim = _restrict(sim, trg).numpy()
    size = record.threshold_size("bbox")
    cells = trg.cell_centers()
    for accumulator in acc.values():
        accumulator.add(record.category, sim, cells, record.kap_trg_kps, size)
    return True


def run_pairs(records: list[PairRecord], store: FeatureStore, matcher: Any, *, with_kap: bool,
              kap_alphas: tuple[float, ...] = KAP_ALPHAS, sphere_store: FeatureStore | None = None,
              progress: Progress | None = None,
              on_result: Callable[[PairOutcome], None] | None = None) -> KeypointRun:
    """Evaluate keypoint transfer on ``records``; bad images are skipped with the reason."""
    from ..errors import ImageLoadError

    run = KeypointRun()
    if with_kap:
        run.kap = {a: KapAccumulator(a, "pair") for a in kap_alphas}
    images = sorted({str(p) for r in records for p in (r.src_image, r.trg_image)})
    bad_images: dict[str, str] = {}
    if getattr(matcher, "needs_features", True):  # a grid matcher reads its own flow: no feature pass at all
        bad = store.prefetch([Path(p) for p in images], progress)
        bad_images = {images[i]: reason for i, reason in bad.items()}
    if sphere_store is not None:
        sphere_store.prefetch([Path(p) for p in images], progress)
    if progress is not None:
        progress.start(len(records), "matching pairs")
    for rec in records:
        reason = next((bad_images[str(p)] for p in (rec.src_image, rec.trg_image) if str(p) in bad_images), None)
        if reason is None:
            try:
                outcome = _one_pair(rec, store, matcher, run, sphere_store)
            except (ImageLoadError, OSError) as exc:
                reason = str(exc)
            except CorrvizError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                run.outcomes.append(outcome)
                if on_result is not None:
                    on_result(outcome)
        if reason is not None:
            run.skipped.append(Skip(rec.pair_id, reason, "runtime"))
        if progress is not None:
            progress.step()
    return run


def _one_pair(rec: PairRecord, store: FeatureStore, matcher: Any, run: KeypointRun,
              sphere_store: FeatureStore | None) -> PairOutcome:
    if rec.n_keypoints == 0:
        raise CorrvizError("no keypoint visible in both images")
    if not getattr(matcher, "needs_features", True):
        return _flow_pair(rec, matcher)
    src, trg = store.get(rec.src_image), store.get(rec.trg_image)
    sphere = None
    if sphere_store is not None:
        sphere = (sphere_store.get(rec.src_image), sphere_store.get(rec.trg_image))
    pred, rejected = predict(matcher, src, trg, rec, sphere)
    combined = isinstance(matcher, MatcherSpec) and matcher.method == "combined"
    if run.kap and kap_add(run.kap, src, trg, rec, sphere if combined else None,
                           matcher.alpha if combined else 0.2):
        run.kap_pairs += 1
    err_pred = np.where(np.isfinite(pred), pred, np.inf)
    trg_size = rec.trg_size if rec.trg_size is not None else trg.image_size
    errs = pair_errors(err_pred, rec.trg_kps, pair_id=rec.pair_id, category=rec.category,
                       trg_bbox=rec.trg_bbox, trg_image_size=trg_size,
                       viewpoint_variation=rec.viewpoint_variation, meta=dict(rec.meta))
    return PairOutcome(errs, pred, rejected, rec)


def _flow_pair(rec: PairRecord, matcher: Any) -> PairOutcome:
    """A pair scored by a matcher that predicts from the images themselves (no feature maps, no KAP)."""
    pred, _ = predict(matcher, None, None, rec, None)
    trg_size = rec.trg_size if rec.trg_size is not None else matcher.image_size(rec.trg_image)
    errs = pair_errors(np.where(np.isfinite(pred), pred, np.inf), rec.trg_kps, pair_id=rec.pair_id,
                       category=rec.category, trg_bbox=rec.trg_bbox, trg_image_size=trg_size,
                       viewpoint_variation=rec.viewpoint_variation, meta=dict(rec.meta))
    return PairOutcome(errs, pred, 0, rec)
