"""Tracking pipeline for TAP-Vid and BADJA (seed 000 A.10).

Every query point is matched from its query frame's features into every frame independently:
the nearest-neighbour cell of the cosine similarity gives the peak, a soft-argmax restricted to
cells within ``track_radius_px`` [35] image pixels of the peak refines it (softmax(sim / beta)
weighted cell centres), and the point is predicted occluded where the peak similarity is below
``occlusion_threshold``. In its own query frame a point sits at the query, visible.

Scores: TAP-Vid OA / delta_avg / AJ in the 256 x 256 raster (evaluated only where ground truth
exists); BADJA additionally PCK@0.2 with the threshold 0.2 * sqrt(mask area) of each frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..datasets import ClipRecord
from ..features import FeatureMap
from ..metrics import QuerySet, badja_pck, rescale_to_256, tapvid_metrics
from ..progress import Progress
from ..tracking import track_features
from .cache import FeatureStore, ImageRef
from .keypoints import Skip
from .spec import MatcherSpec

BADJA_ALPHA = 0.2


@dataclass(frozen=True)
class ClipOutcome:
    """Scores of one clip (fractions in [0, 1])."""

    clip_id: str
    n_queries: int
    n_frames: int
    metrics: dict[str, float]
    query_mode: str

    def to_dict(self) -> dict[str, Any]:
        return {"clip_id": self.clip_id, "n_queries": self.n_queries, "n_frames": self.n_frames,
                "query_mode": self.query_mode, **self.metrics}


@dataclass
class TrackingRun:
    outcomes: list[ClipOutcome] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


def track_queries(maps: list[FeatureMap], queries: QuerySet, matcher: MatcherSpec
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Tracks (Q, T, 2) in frame pixels and predicted occlusion (Q, T) for ``queries``.

    ``nn``: the argmax cell centre; ``soft-argmax`` (the seed 000 A.10 recipe): soft-argmax within
    ``track_radius_px`` of the argmax. ``mnn`` and ``combined`` are not tracking matchers.
    """
    pred = np.zeros((len(queries), len(maps), 2))
    score = np.zeros((len(queries), len(maps)))
    frames = np.asarray(queries.frame, dtype=np.int64)
    for qf in np.unique(frames):
        sel = np.flatnonzero(frames == qf)
        pred[sel], score[sel] = track_features(maps[int(qf)].sample(queries.xy[sel]), maps, matcher.method,
                                               matcher.track_radius_px, matcher.beta, matcher.restrict_to_image)
        pred[sel, int(qf)] = queries.xy[sel]
        score[sel, int(qf)] = 1.0
    return pred, score < matcher.occlusion_threshold


def score_clip(clip: ClipRecord, queries: QuerySet, pred: np.ndarray, pred_occ: np.ndarray,
               query_mode: str) -> dict[str, float]:
    """TAP-Vid metrics (and BADJA PCK for mask-area clips) of one clip's predictions."""
    idx = np.asarray(queries.point_index, dtype=np.int64)
    gt = clip.points[idx].astype(np.float64)
    gocc = clip.occluded[idx]
    valid = clip.annotated[idx]
    tv = tapvid_metrics(queries.frame, rescale_to_256(gt, clip.image_size), gocc,
                        rescale_to_256(pred, clip.image_size), pred_occ, query_mode,  # type: ignore[arg-type]
                        valid=valid)
    out: dict[str, float] = {"occlusion_accuracy": tv.occlusion_accuracy, "delta_avg": tv.average_pts_within,
                             "average_jaccard": tv.average_jaccard}
    for d, v in tv.pts_within.items():
        out[f"pts_within_{d}"] = v
    if clip.threshold == "sqrt_mask_area" and clip.mask_area is not None:
        b = badja_pck(queries.frame, gt, gocc, pred, clip.mask_area, valid=valid, alpha=BADJA_ALPHA)
        out.update(badja_pck=b.pck, badja_n_correct=float(b.n_correct), badja_n_evaluated=float(b.n_evaluated))
    return out


def clip_frames(clip: ClipRecord) -> list[ImageRef]:
    if clip.frame_paths is not None:
        return list(clip.frame_paths)
    if clip.video is not None:
        return [np.ascontiguousarray(clip.video[t]) for t in range(clip.video.shape[0])]
    return []


def run_clips(clips: list[ClipRecord], store: FeatureStore, matcher: Any, *, query_mode: str = "first",
              progress: Progress | None = None,
              on_result: Callable[[ClipOutcome], None] | None = None) -> TrackingRun:
    """Track and score every clip; a clip whose frames cannot be read is skipped with the reason."""
    from ..errors import CorrvizError

    run = TrackingRun()
    for clip in clips:
        frames = clip_frames(clip)
        if not frames:
            run.skipped.append(Skip(clip.clip_id, "clip has no frames", "runtime"))
            continue
        bad = store.prefetch(frames, progress)
        if bad:
            i, reason = next(iter(bad.items()))
            run.skipped.append(Skip(clip.clip_id, f"frame {i}: {reason}", "runtime"))
            continue
        queries = clip.queries(query_mode)  # type: ignore[arg-type]
        if len(queries) == 0:
            run.skipped.append(Skip(clip.clip_id, "no visible annotated point to query", "runtime"))
            continue
        try:
            if progress is not None:
                progress.start(len(frames), f"tracking {clip.clip_id}")
            maps = []
            for f in frames:
                maps.append(store.get(f))
                if progress is not None:
                    progress.step()
            if isinstance(matcher, MatcherSpec):
                pred, pred_occ = track_queries(maps, queries, matcher)
            else:
                pred, pred_occ = matcher.track(maps, queries, clip)
            metrics = score_clip(clip, queries, pred, pred_occ, query_mode)
        except (CorrvizError, OSError) as exc:
            run.skipped.append(Skip(clip.clip_id, f"{type(exc).__name__}: {exc}", "runtime"))
            continue
        outcome = ClipOutcome(clip.clip_id, len(queries), len(frames), metrics, query_mode)
        run.outcomes.append(outcome)
        if on_result is not None:
            on_result(outcome)
    return run
