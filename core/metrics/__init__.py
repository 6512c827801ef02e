"""Benchmark metrics as pure functions on numpy arrays (torch tensors are accepted and converted).

* :mod:`.pck` -- PCK@alpha (bbox / img), per-keypoint, per-image and macro, by category and bin.
* :mod:`.kap` -- KAP@alpha (keypoint average precision).
* :mod:`.multiview` -- APE and PCDP@{0.05, 0.1, 0.2} on multi-view renders.
* :mod:`.tapvid` -- TAP-Vid OA / delta_avg / AJ and BADJA PCK.
"""

from __future__ import annotations

from .kap import KapAccumulator, KapResult, kap_from_samples, kap_samples, minmax_normalise
from .multiview import MultiviewScores, ape, multiview_metrics, multiview_summary, pcdp
from .pck import (
    PairErrors,
    PckSummary,
    bbox_size,
    keypoint_errors,
    pair_errors,
    pck_by,
    pck_by_category,
    pck_by_viewpoint,
    pck_correct,
    pck_curve,
    pck_summary,
    pck_table,
)
from .tapvid import (
    BadjaScores,
    QuerySet,
    TapVidScores,
    badja_pck,
    evaluation_mask,
    mean_over_videos,
    rescale_to_256,
    sample_queries,
    tapvid_metrics,
)

__all__ = [
    "BadjaScores", "KapAccumulator", "KapResult", "MultiviewScores", "PairErrors", "PckSummary", "QuerySet",
    "TapVidScores", "ape", "badja_pck", "bbox_size", "evaluation_mask", "kap_from_samples", "kap_samples",
    "keypoint_errors", "mean_over_videos", "minmax_normalise", "multiview_metrics", "multiview_summary",
    "pair_errors", "pcdp", "pck_by", "pck_by_category", "pck_by_viewpoint", "pck_correct", "pck_curve",
    "pck_summary", "pck_table", "rescale_to_256", "sample_queries", "tapvid_metrics",
]
