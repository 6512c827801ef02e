"""Benchmark evaluation: the runner behind ``corrviz-eval`` and the app's evaluation panel.

* :func:`evaluate` -- one run (benchmark, data root, extractor, matcher, limit) -> :class:`EvalResult`.
* :class:`FeatureStore` -- on-disk feature cache (``$CORRVIZ_CACHE/features``) keyed by image
  content and every feature setting, so re-running with another matcher never re-extracts.
* Pipelines: keypoint transfer (:mod:`.keypoints`) and tracking (:mod:`.tracking`).
"""

from __future__ import annotations

from .cache import CacheStats, FeatureStore, default_feature_cache_dir
from .keypoints import PairOutcome, Skip
from .result import EvalResult
from .runner import BENCHMARKS, CURVE_ALPHAS, EVAL_ALPHAS, Benchmark, evaluate, get_benchmark, open_dataset
from .spec import (
    ExtractorSpec,
    KeypointMatcher,
    MatcherSpec,
    OracleMatcher,
    TrackMatcher,
    build_extractor,
    weights_digest,
)
from .tracking import ClipOutcome

__all__ = [
    "BENCHMARKS", "CURVE_ALPHAS", "EVAL_ALPHAS", "Benchmark", "CacheStats", "ClipOutcome", "EvalResult",
    "ExtractorSpec", "FeatureStore", "KeypointMatcher", "MatcherSpec", "OracleMatcher", "PairOutcome", "Skip",
    "TrackMatcher", "build_extractor", "default_feature_cache_dir", "evaluate", "get_benchmark", "open_dataset",
    "weights_digest",
]
