"""The evaluation runner: one library call per benchmark run, usable from a worker thread.

``evaluate(benchmark, data_root, extractor, matcher, limit, progress, on_result)`` opens the
dataset, extracts (or loads cached) features, runs the keypoint-transfer or tracking pipeline and
returns an :class:`EvalResult` whose numbers each carry the full protocol. ``progress`` reports and
cancels (``Progress.cancel`` stops the run at the next pair); ``on_result`` is called with each
pair's / clip's outcome as soon as it exists, so a GUI can plot while the run goes on.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..datasets import get_dataset
from ..datasets.base import BaseDataset
from ..errors import DatasetError, InputMismatchError
from ..features import FeatureExtractor
from ..metrics import pck_curve
from ..progress import Progress
from .cache import FeatureStore, describe_cache
from .keypoints import KAP_ALPHAS, Skip, run_pairs
from .multiview import MultiviewSettings, multiview_rows, multiview_sources, run_multiview
from .result import EvalResult, kap_rows, pck_rows, row
from .spec import (
    ExtractorSpec,
    MatcherSpec,
    as_matcher,
    build_extractor,
    extractor_protocol,
    matcher_protocol,
)
from .tasks import get_task
from .tracking import run_clips

EVAL_ALPHAS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.15, 0.2)
CURVE_ALPHAS: tuple[float, ...] = tuple(round(0.01 * k, 2) for k in range(1, 21))


@dataclass(frozen=True)
class Benchmark:
    """How a benchmark name maps onto a loader and a pipeline."""

    name: str
    dataset: str
    task: str  # a task of corrviz.core.evaluate.tasks.TASKS (keypoints, tracking, multiview, pose)
    folder: str  # folder name under a shared data root
    full_size: int | None  # size of the standard evaluation set (for the subset-size note)
    default_options: tuple[tuple[str, Any], ...] = ()
    kap_default: bool = False
    description: str = ""


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("spair", "spair", "keypoints", "SPair-71k", 12234, (("split", "test"),), True,
              "SPair-71k test pairs, PCK (bbox) + KAP where ImageAnnotation is present"),
    Benchmark("synthetic-spair", "synthetic_spair", "keypoints", "synthetic-spair", None, (("split", "test"),), True,
              "synthetic SPair (corrviz-data synthetic-spair): PCK, KAP per viewpoint bin, left/right confusion"),
    Benchmark("pfpascal", "pfpascal", "keypoints", "PF-PASCAL", 299, (), False,
              "PF-PASCAL test pairs, PCK (img)"),
    Benchmark("pfwillow", "pfwillow", "keypoints", "PF-WILLOW", 900, (), False,
              "PF-WILLOW 900 ordered pairs, PCK (bbox of the target keypoints)"),
    Benchmark("ap10k", "ap10k", "keypoints", "AP-10K", None, (("kind", "all"),), False,
              "AP-10K pairs (kind: intra-species / cross-species / cross-family / all)"),
    Benchmark("tapvid_davis", "tapvid_davis", "tracking", "tapvid_davis", 30, (), False,
              "TAP-Vid DAVIS pickle: OA, delta_avg, AJ at 256x256"),
    Benchmark("tapvid_folder", "tapvid_folder", "tracking", "tapvid", None, (), False,
              "folder of frames + tracks.npz: OA, delta_avg, AJ at 256x256"),
    Benchmark("badja", "badja", "tracking", "BADJA", None, (), False,
              "BADJA joints over DAVIS frames: PCK@0.2 with sqrt(mask area)"),
    Benchmark("multiview", "multiview", "multiview", "meshes", None, (), False,
              "APE / PCDP on renders with exact ground truth: --data default | meshes | view sets"),
    Benchmark("pose", "pose", "pose", "meshes", None, (), False,
              "one-shot 6-DoF pose (mutual-NN + PnP-RANSAC): --data default | mesh | folder of meshes"),
)}
_ALIASES = {"synthetic_spair": "synthetic-spair", "spair71k": "spair", "spair-71k": "spair", "pf-pascal": "pfpascal", "pf-willow": "pfwillow",
            "ap-10k": "ap10k", "tapvid": "tapvid_davis", "davis": "badja"}


def get_benchmark(name: str) -> Benchmark:
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in BENCHMARKS:
        from ..errors import suggest

        raise DatasetError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}."
                           + suggest(name, list(BENCHMARKS) + list(_ALIASES)))
    return BENCHMARKS[key]


def open_dataset(bench: Benchmark, data_root: str | Path, options: dict[str, Any] | None = None
                 ) -> BaseDataset[Any]:
    """The benchmark's loader over ``data_root``, which may also be the folder holding the
    dataset's usual folder (e.g. the shared data root holding ``PF-WILLOW``)."""
    root = Path(data_root)
    if not root.exists():
        raise DatasetError(f"{bench.name}: data root {root} does not exist")
    if (root / bench.folder).is_dir() and bench.dataset not in ("badja",):
        root = root / bench.folder
    opts = dict(bench.default_options)
    opts.update(options or {})
    return get_dataset(bench.dataset, root, **opts)


def _extractor(extractor: ExtractorSpec | FeatureExtractor | str) -> tuple[FeatureExtractor, ExtractorSpec | None]:
    if isinstance(extractor, FeatureExtractor):
        return extractor, None
    spec = ExtractorSpec(extractor) if isinstance(extractor, str) else extractor
    return build_extractor(spec), spec


def evaluate(benchmark: str, data_root: str | Path, extractor: ExtractorSpec | FeatureExtractor | str,
             matcher: str | MatcherSpec | Any = "nn", limit: int | None = None,
             progress: Progress | None = None, on_result: Callable[[Any], None] | None = None, *,
             alphas: Sequence[float] = EVAL_ALPHAS, norms: Sequence[str] | None = None,
             kap: bool | None = None, kap_alphas: Sequence[float] = KAP_ALPHAS,
             dataset_options: dict[str, Any] | None = None, cache_root: str | Path | None = None,
             use_cache: bool = True, memory_entries: int = 128, query_mode: str = "first",
             sphere: ExtractorSpec | FeatureExtractor | None = None,
             multiview: MultiviewSettings | None = None, pose: Any = None) -> EvalResult:
    """Run one benchmark and return its :class:`EvalResult` (see the module docstring).

    ``extractor``: a backbone name, an :class:`ExtractorSpec` or a ready :class:`FeatureExtractor`
    (whose ``extractions`` counter then shows what this run extracted). ``matcher``: nn / mnn /
    soft-argmax / combined, a :class:`MatcherSpec`, or a custom matcher (e.g. :class:`OracleMatcher`).
    ``limit``: evaluate only the first N records (pairs or clips) in the loader's order.
    ``norms``: PCK normalisations to report (default: every one the pairs support, bbox first).
    ``kap``: KAP on pairs listing every source-visible keypoint (default: on for SPair).
    ``use_cache=False`` skips the disk cache; ``memory_entries=0`` turns the in-memory LRU off.
    ``sphere``: feature source of the sphere maps for the ``combined`` matcher.
    ``multiview``: sampling settings of the ``multiview`` benchmark (views, pairs, points per pair).
    ``pose``: a :class:`~corrviz.core.evaluate.pose.PoseSettings` for the ``pose`` benchmark.
    """
    call = RunCall(get_benchmark(benchmark), data_root, extractor, as_matcher(matcher), limit, progress, on_result,
                   alphas, norms, kap, kap_alphas, dataset_options, cache_root, use_cache, memory_entries, query_mode,
                   sphere, multiview, pose, time.perf_counter())
    task, m = get_task(call.bench.task), call.matcher
    if isinstance(m, MatcherSpec) and m.method == "combined" and sphere is None:
        raise DatasetError("the combined matcher needs sphere maps: pass sphere= (e.g. a checkpoint whose "
                           "head maps features to the sphere); use nn, mnn or soft-argmax otherwise")
    if task.matchers is not None and isinstance(m, MatcherSpec) and m.method not in task.matchers:
        raise InputMismatchError(f"{task.name} supports the {' and '.join(task.matchers)} matchers, not {m.method!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    return task.run(call)


@dataclass
class RunCall:
    """The arguments of one :func:`evaluate` call, handed to the task's pipeline (:mod:`.tasks`)."""

    bench: Benchmark
    data_root: str | Path
    extractor: ExtractorSpec | FeatureExtractor | str
    matcher: Any
    limit: int | None
    progress: Progress | None
    on_result: Callable[[Any], None] | None
    alphas: Sequence[float]
    norms: Sequence[str] | None
    kap: bool | None
    kap_alphas: Sequence[float]
    dataset_options: dict[str, Any] | None
    cache_root: str | Path | None
    use_cache: bool
    memory_entries: int
    query_mode: str
    sphere: ExtractorSpec | FeatureExtractor | None
    multiview: MultiviewSettings | None
    pose: Any
    t_start: float


def run_multiview_task(c: RunCall) -> EvalResult:
    return _evaluate_multiview(c.bench, c.data_root, c.extractor, c.matcher, c.limit, c.progress, c.on_result,
                               c.multiview or MultiviewSettings(), c.cache_root, c.use_cache, c.memory_entries,
                               c.t_start)


def run_pose_task(c: RunCall) -> EvalResult:
    from .pose import PoseSettings
    from .pose_report import evaluate_pose

    return evaluate_pose(c.bench, c.data_root, c.extractor, c.matcher, c.limit, c.progress, c.on_result,
                         c.pose or PoseSettings(), c.cache_root, c.use_cache, c.memory_entries, c.t_start)


@dataclass
class DatasetRun:
    """What a dataset-backed pipeline (keypoints, tracking) works on."""

    call: RunCall
    ds: BaseDataset[Any]
    records: list[Any]
    store: FeatureStore
    sphere_store: FeatureStore | None
    result: EvalResult
    skipped: list[Skip]


def _run_dataset(c: RunCall, pipeline: Callable[[DatasetRun], int]) -> EvalResult:
    """Open the dataset, build the extractor and its store, run ``pipeline`` (-> items done), finish the result."""
    bench = c.bench
    ds = open_dataset(bench, c.data_root, c.dataset_options)
    records = ds.records()
    n_available = len(records)
    if not records:  # before any model is built or feature extracted
        raise DatasetError(nothing_evaluable(bench.name, ds.root, [Skip(i.item_id, i.reason, "loader")
                                                                   for i in ds.incomplete()], c.dataset_options))
    if c.limit is not None:
        records = records[:c.limit]
    skipped: list[Skip] = [Skip(i.item_id, i.reason, "loader") for i in ds.incomplete()]
    ex, _ = _extractor(c.extractor)
    n_extract_before = ex.extractions
    store = FeatureStore(ex, c.cache_root, c.memory_entries, use_disk=c.use_cache)
    sphere_store = None
    if c.sphere is not None:
        sphere_ex, _ = _extractor(c.sphere)
        sphere_store = FeatureStore(sphere_ex, c.cache_root, c.memory_entries, use_disk=c.use_cache)
    proto = _protocol(bench, ds, ex, store.setting["weights_digest"], c.matcher, n_available, c.limit, len(records))
    result = EvalResult(bench.name, bench.task, proto)
    t_eval = time.perf_counter()
    run = DatasetRun(c, ds, records, store, sphere_store, result, skipped)
    n_done = pipeline(run)
    if n_done == 0:
        raise DatasetError(nothing_evaluable(bench.name, ds.root, skipped))
    result.skipped = [s.to_dict() for s in skipped]
    proto["n_skipped"] = len(skipped)
    proto["skipped_reasons"] = _reason_counts(skipped)
    elapsed = time.perf_counter() - c.t_start
    result.stats = {"seconds_total": elapsed, "seconds_evaluation": time.perf_counter() - t_eval,
                    "items_per_second": n_done / max(time.perf_counter() - t_eval, 1e-9),
                    "extractions": ex.extractions - n_extract_before, **describe_cache(store)}
    return result


def _keypoint_pipeline(r: DatasetRun) -> int:
    c, result, proto = r.call, r.result, r.result.protocol
    first = r.records[0]
    proto["threshold_norm"] = getattr(first, "threshold_norm", None)
    with_kap = c.bench.kap_default if c.kap is None else c.kap
    krun = run_pairs(r.records, r.store, c.matcher, with_kap=with_kap, kap_alphas=tuple(c.kap_alphas),
                     sphere_store=r.sphere_store, progress=c.progress, on_result=c.on_result)
    r.skipped += krun.skipped
    pairs = [o.errors for o in krun.outcomes]
    use_norms = list(c.norms) if c.norms is not None else _norms(pairs, r.ds)
    result.rows = pck_rows(pairs, c.alphas, use_norms)
    if krun.kap:
        result.rows += kap_rows(krun.kap, krun.kap_pairs)
    if c.bench.name == "synthetic-spair":
        from .synthetic_spair import synthetic_spair_rows

        result.rows += synthetic_spair_rows(r.records, krun)
    result.curves = {n: {"alpha": list(CURVE_ALPHAS),
                         **{agg: pck_curve(pairs, CURVE_ALPHAS, n, agg).tolist()  # type: ignore[arg-type]
                            for agg in ("per_keypoint", "per_image", "macro")}}
                     for n in use_norms} if pairs else {}
    result.items = [o.to_dict() for o in krun.outcomes]
    proto.update(norms=use_norms, alphas=list(c.alphas), kap_pairs=krun.kap_pairs,
                 kap_alphas=list(c.kap_alphas) if krun.kap else [],
                 kap_definition="min-max over the pair's maps; positive = max within alpha*bbox of the "
                                "ground truth, negatives = max outside / global max when hidden; "
                                "sklearn AP per category, mean over categories",
                 n_evaluated=len(krun.outcomes), n_keypoints=int(sum(p.n_keypoints for p in pairs)),
                 mnn_rejected=int(sum(o.n_rejected for o in krun.outcomes)))
    return len(krun.outcomes)


def _tracking_pipeline(r: DatasetRun) -> int:
    c, result, proto = r.call, r.result, r.result.protocol
    proto["threshold_norm"] = getattr(r.records[0], "threshold", None)
    proto["query_mode"] = c.query_mode
    proto["tracking"] = ("nearest neighbour from the query frame into every frame, soft-argmax within "
                         "track_radius_px of the argmax (image pixels), occluded when the peak cosine "
                         "similarity < occlusion_threshold")
    trun = run_clips(r.records, r.store, c.matcher, query_mode=c.query_mode, progress=c.progress,
                     on_result=c.on_result)
    r.skipped += trun.skipped
    result.items = [o.to_dict() for o in trun.outcomes]
    result.rows = _tracking_rows(trun.outcomes)
    proto.update(n_evaluated=len(trun.outcomes), n_queries=int(sum(o.n_queries for o in trun.outcomes)))
    return len(trun.outcomes)


def run_keypoints(c: RunCall) -> EvalResult:
    return _run_dataset(c, _keypoint_pipeline)


def run_tracking(c: RunCall) -> EvalResult:
    return _run_dataset(c, _tracking_pipeline)


def _evaluate_multiview(bench: Benchmark, data_root: str | Path, extractor: ExtractorSpec | FeatureExtractor | str,
                        matcher: Any, limit: int | None, progress: Progress | None,
                        on_result: Callable[[Any], None] | None, settings: MultiviewSettings,
                        cache_root: str | Path | None, use_cache: bool, memory_entries: int,
                        t_start: float) -> EvalResult:
    sources, ex, store, proto = object_run_setup(bench, data_root, multiview_sources(data_root, settings), extractor,
                                                 matcher, limit, cache_root, use_cache, memory_entries)
    n_extract_before = ex.extractions
    proto["multiview"] = settings.to_dict()
    result = EvalResult(bench.name, bench.task, proto)
    t_eval = time.perf_counter()
    run = run_multiview(sources, store, matcher, settings, progress, on_result)
    if not run.outcomes:
        raise DatasetError(nothing_evaluable(bench.name, data_root, run.skipped))
    result.rows = multiview_rows(run, settings)
    result.items = [o.to_dict() for o in run.outcomes]
    result.skipped = [s.to_dict() for s in run.skipped]
    proto.update(n_evaluated=len(run.outcomes), n_points=int(sum(o.n_points for o in run.outcomes)),
                 n_skipped=len(run.skipped), skipped_reasons=_reason_counts(run.skipped))
    elapsed = time.perf_counter() - t_eval
    result.stats = {"seconds_total": time.perf_counter() - t_start, "seconds_evaluation": elapsed,
                    "items_per_second": sum(o.n_pairs for o in run.outcomes) / max(elapsed, 1e-9),
                    "extractions": ex.extractions - n_extract_before, **describe_cache(store)}
    return result


def object_run_setup(bench: Benchmark, data_root: str | Path, sources: list[Any],
                     extractor: ExtractorSpec | FeatureExtractor | str, matcher: Any, limit: int | None,
                     cache_root: str | Path | None, use_cache: bool, memory_entries: int
                     ) -> tuple[list[Any], FeatureExtractor, FeatureStore, dict[str, Any]]:
    """Shared start of the per-object benchmarks (multiview, pose): the first ``limit`` sources, the
    extractor, its feature store and the protocol's common part."""
    n_available = len(sources)
    if limit is not None:
        sources = sources[:limit]
    ex, _ = _extractor(extractor)
    store = FeatureStore(ex, cache_root, memory_entries, use_disk=use_cache)
    proto: dict[str, Any] = {
        "benchmark": bench.name, "task": bench.task, "data_root": str(data_root),
        **extractor_protocol(ex, store.setting["weights_digest"]),
        "matcher": matcher_protocol(matcher),
        "subset_size": len(sources), "n_available": n_available, "limit": limit, "full_set_size": None,
        "objects": [s.name for s in sources], "corrviz_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    return sources, ex, store, proto


def nothing_evaluable(benchmark: str, root: str | Path, skipped: Sequence[Skip],
                      options: dict[str, Any] | None = None, n_reasons: int = 3) -> str:
    """The error of a run with no evaluable item: the root, the filters and the first few reasons."""
    head = f"{benchmark}: {root} yields no evaluable item"
    if options:
        head += " with " + ", ".join(f"{k}={v}" for k, v in options.items())
    if not skipped:
        return f"{head} ({'check the filter values' if options else 'is it the dataset root folder?'})"
    reasons = "; ".join(f"{s.item_id}: {s.reason}" for s in skipped[:n_reasons])
    more = f" (and {len(skipped) - n_reasons} more)" if len(skipped) > n_reasons else ""
    return f"{head}; {len(skipped)} skipped, first: {reasons}{more}"


def _norms(pairs: list[Any], ds: BaseDataset[Any]) -> list[str]:
    prim = next((r.threshold_norm for r in ds.records()), "bbox")
    out = [prim]
    other = "img" if prim == "bbox" else "bbox"
    attr = "image_size" if other == "img" else "bbox_size"
    if pairs and all(getattr(p, attr) is not None for p in pairs):
        out.append(other)
    return out


def _reason_counts(skipped: list[Skip]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in skipped:
        key = f"{s.stage}: {_reason_kind(s.reason)}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _reason_kind(reason: str) -> str:
    for pattern, label in (("image", "image missing or unreadable"), ("missing field", "missing field"),
                           ("different lengths", "keypoint lists of different lengths"),
                           ("frames missing", "frames missing"), ("no keypoint", "no keypoints")):
        if pattern in reason:
            return label
    return "other"


def _tracking_rows(outcomes: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if not outcomes:
        return rows
    names = [k for k in outcomes[0].metrics if not k.startswith("badja_n_")]
    for name in names:
        vals = np.asarray([o.metrics.get(name, np.nan) for o in outcomes], dtype=np.float64)
        finite = vals[np.isfinite(vals)]
        norm = "sqrt_mask_area" if name == "badja_pck" else "256px"
        alpha = 0.2 if name == "badja_pck" else None
        rows.append(row(name, float(finite.mean()) if finite.size else float("nan"), alpha=alpha, norm=norm,
                        aggregation="mean over clips", n_pairs=len(outcomes)))
        for o in outcomes:
            rows.append(row(name, o.metrics.get(name, float("nan")), alpha=alpha, norm=norm,
                            aggregation="clip", category=o.clip_id, n_pairs=o.n_queries))
    return rows


def _protocol(bench: Benchmark, ds: BaseDataset[Any], ex: FeatureExtractor, digest: str, matcher: Any,
              n_available: int, limit: int | None, n_used: int) -> dict[str, Any]:
    """The protocol's common part; each task's pipeline adds its own (threshold, query mode, ...)."""
    first = ds.records()[0] if len(ds) else None
    proto: dict[str, Any] = {
        "benchmark": bench.name, "task": bench.task, "dataset": ds.summary(), "data_root": str(ds.root),
        **extractor_protocol(ex, digest),
        "matcher": matcher_protocol(matcher),
        "threshold_norm": None,
        "bbox_source": getattr(first, "bbox_source", None),
        "aggregations": {"per_keypoint": "pool keypoints per category, categories weighted by keypoint count",
                         "per_image": "mean of per-pair accuracy, categories weighted by pair count",
                         "macro": "plain mean over categories of per-category per-keypoint PCK"},
        "subset_size": n_used, "n_available": n_available, "limit": limit,
        "full_set_size": bench.full_size,
        "dataset_options": dict(bench.default_options) | {k: v for k, v in getattr(ds, "__dict__", {}).items()
                                                          if k in ("split", "kind", "resolution")},
        "corrviz_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return proto
