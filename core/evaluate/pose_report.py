"""The pose benchmark's run, result rows, command-line summary and plots.

Rows (each with the full protocol on disk), for all queries, per object (``category``) and per
viewpoint bin (``viewpoint``): ``pose_found`` (fraction of queries with a pose),
``rotation_error_deg`` and ``translation_error`` (norm ``diameter`` / ``cm``) as medians over
all queries (a query without a pose has infinite error, so the median is finite only while at
least half the queries have a pose), ``cm_deg_accuracy`` at alpha 1 / 3 / 5, ``add(-s)``, ``add``
and ``add_s`` at alpha 0.1 (norm ``diameter``), and ``inlier_ratio`` (mean; 0 without a pose).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from .pose import VIEWPOINT_BINS, PoseRun, PoseSettings, QueryOutcome, pose_sources, run_pose
from .result import EvalResult, row

if TYPE_CHECKING:  # pragma: no cover
    from ..progress import Progress

CM_DEG = (1.0, 3.0, 5.0)
CURVE_CM_DEG = tuple(float(k) for k in range(1, 11))
CURVE_ROT_DEG = tuple(float(k) for k in range(1, 31))


def _finite(v: float) -> float:
    return float(v) if np.isfinite(v) else float("nan")


def group_rows(outcomes: Sequence[QueryOutcome], category: str = "all", viewpoint: str = "all") -> list[dict[str, Any]]:
    """The pose rows of one group of queries (see the module docstring)."""
    errs = [o.errors for o in outcomes]
    n = len(errs)
    if n == 0:
        return []
    kw: dict[str, Any] = {"category": category, "viewpoint": viewpoint, "n_pairs": n}
    frac = "fraction of queries"
    rows = [row("pose_found", float(np.mean([e.found for e in errs])), aggregation=frac, **kw),
            row("rotation_error_deg", _finite(np.median([e.rotation_deg for e in errs])), aggregation="median", **kw),
            row("translation_error", _finite(np.median([e.translation_diam for e in errs])), norm="diameter",
                aggregation="median", **kw),
            row("translation_error", _finite(np.median([e.translation_cm for e in errs])), norm="cm",
                aggregation="median", **kw)]
    rows += [row("cm_deg_accuracy", float(np.mean([e.cm_deg_correct(t) for e in errs])), alpha=t, norm="cm-deg",
                 aggregation=frac, **kw) for t in CM_DEG]
    rows += [row(kind, float(np.mean([e.add_correct(kind) for e in errs])), alpha=0.1, norm="diameter",
                 aggregation=frac, **kw) for kind in ("add(-s)", "add", "add_s")]
    rows.append(row("inlier_ratio", float(np.mean([o.estimate["inlier_ratio"] for o in outcomes])),
                    aggregation="mean over queries", **kw))
    return rows


def pose_rows(outcomes: Sequence[QueryOutcome]) -> list[dict[str, Any]]:
    rows = group_rows(outcomes)
    for name in dict.fromkeys(o.object for o in outcomes):
        rows += group_rows([o for o in outcomes if o.object == name], category=name)
    for name, _, _ in VIEWPOINT_BINS:
        rows += group_rows([o for o in outcomes if o.viewpoint == name], viewpoint=name)
    return rows


def pose_curves(outcomes: Sequence[QueryOutcome]) -> dict[str, dict[str, list[float]]]:
    errs = [o.errors for o in outcomes]
    return {"cm_deg": {"threshold": list(CURVE_CM_DEG),
                       "accuracy": [float(np.mean([e.cm_deg_correct(t) for e in errs])) for t in CURVE_CM_DEG]},
            "rotation": {"threshold_deg": list(CURVE_ROT_DEG),
                         "accuracy": [float(np.mean([e.rotation_deg < t for e in errs])) for t in CURVE_ROT_DEG]}}


def evaluate_pose(bench: Any, data_root: str | Path, extractor: Any, matcher: Any, limit: int | None,
                  progress: Progress | None, on_result: Callable[[Any], None] | None, settings: PoseSettings,
                  cache_root: str | Path | None, use_cache: bool, memory_entries: int, t_start: float) -> EvalResult:
    """The ``pose`` branch of :func:`corrviz.core.evaluate.evaluate`."""
    from ..errors import DatasetError, InputMismatchError
    from .cache import describe_cache
    from .runner import _reason_counts, nothing_evaluable, object_run_setup
    from .spec import MatcherSpec

    if isinstance(matcher, MatcherSpec):
        if matcher.method not in ("nn", "mnn"):
            raise InputMismatchError(f"pose matches densely by mutual nearest neighbours; --matcher {matcher.method} "
                                     "does not apply (use the default, or mnn)")
        matcher = MatcherSpec("mnn")
    sources, ex, store, proto = object_run_setup(bench, data_root, pose_sources(data_root), extractor, matcher,
                                                 limit, cache_root, use_cache, memory_entries)
    n_extract_before = ex.extractions
    proto["pose"] = settings.to_dict()
    if proto["matcher"].get("method") == "mnn":
        proto["matcher"] = {"method": "mnn", "rule": "dense mutual nearest neighbours between the query cells and "
                            "every database point (cosine similarity)"}
    result = EvalResult(bench.name, bench.task, proto)
    t_eval = time.perf_counter()
    run: PoseRun = run_pose(sources, store, matcher, settings, progress, on_result, use_cache=use_cache)
    if not run.outcomes:
        raise DatasetError(nothing_evaluable(bench.name, data_root, run.skipped))
    result.rows = pose_rows(run.outcomes)
    result.curves = pose_curves(run.outcomes)
    result.items = [o.to_dict() for o in run.outcomes]
    result.skipped = [s.to_dict() for s in run.skipped]
    n_q = len(run.outcomes)
    proto.update(n_evaluated=len({o.object for o in run.outcomes}), n_queries=n_q, databases=run.databases,
                 n_skipped=len(run.skipped), skipped_reasons=_reason_counts(run.skipped),
                 no_pose_reasons=_no_pose_reasons(run.outcomes))
    elapsed = time.perf_counter() - t_eval
    query_s = [o.estimate["seconds"] for o in run.outcomes]
    result.stats = {"seconds_total": time.perf_counter() - t_start, "seconds_evaluation": elapsed,
                    "items_per_second": n_q / max(elapsed, 1e-9), "seconds_onboarding": run.onboarding_seconds,
                    "seconds_per_query_pose": float(np.mean(query_s)),
                    "extractions": ex.extractions - n_extract_before, **describe_cache(store)}
    return result


NO_POSE_KINDS = (("2D-3D matches", "too few matches"), ("RANSAC found", "too few RANSAC inliers"),
                 ("under the final pose", "too few inliers after refinement"),
                 ("informative cell", "no informative query cell"), ("behind the camera", "object behind the camera"),
                 ("PnP failed", "PnP failed"))


def _no_pose_reasons(outcomes: Sequence[QueryOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        if not o.estimate["found"]:
            reason = o.estimate["reason"]
            key = next((label for pattern, label in NO_POSE_KINDS if pattern in reason), "other")
            counts[key] = counts.get(key, 0) + 1
    return counts


# ------------------------------------------------------------------------------- summary ---
def _line(result: EvalResult, label: str, viewpoint: str = "all", category: str = "all") -> str:
    def v(metric: str, **kw: Any) -> float:
        return result.value(metric, category=category, viewpoint=viewpoint, **kw)

    acc = "  ".join(f"{t:g}cm-{t:g}deg {100 * v('cm_deg_accuracy', alpha=t):5.1f}" for t in CM_DEG)
    rot, tcm = v("rotation_error_deg"), v("translation_error", norm="cm")
    n = next(r["n_pairs"] for r in result.rows if r["metric"] == "pose_found" and r["viewpoint"] == viewpoint
             and r["category"] == category)
    return (f"  {label:14s} n={n:<4d} pose {100 * v('pose_found'):5.1f}%  median rot {rot:6.2f} deg  "
            f"t {tcm:6.2f} cm  {acc}  ADD(-S)@0.1d {100 * v('add(-s)', alpha=0.1):5.1f}")


def pose_summary_lines(result: EvalResult) -> list[str]:
    """One line for all queries, then one per viewpoint bin and per object (percent)."""
    lines = [_line(result, "all")]
    bins = {r["viewpoint"] for r in result.rows if r["metric"] == "pose_found"}
    lines += [_line(result, f"viewpoint {b}", viewpoint=b) for b, _, _ in VIEWPOINT_BINS if b in bins]
    lines += [_line(result, str(name)[:14], category=name) for name in result.protocol.get("objects", [])
              if any(r["category"] == name for r in result.rows)]
    reasons = result.protocol.get("no_pose_reasons") or {}
    lines += [f"  no pose {n:4d}: {k}" for k, n in reasons.items()]
    return lines


# --------------------------------------------------------------------------------- plots ---
def _accuracy_groups(result: EvalResult, labels: list[str], key: str) -> dict[str, list[float]]:
    def get(metric: str, label: str, **kw: Any) -> float:
        where = {"viewpoint": label} if key == "viewpoint" else {"category": label}
        return result.value(metric, **where, **kw)

    groups = {f"{t:g}cm-{t:g}deg": [get("cm_deg_accuracy", lab, alpha=t) for lab in labels] for t in CM_DEG}
    groups["ADD(-S)@0.1d"] = [get("add(-s)", lab, alpha=0.1) for lab in labels]
    return groups


def pose_figures(result: EvalResult) -> dict[str, Figure | None]:
    from .plots import _item_figure, _title, finish_percent_axes

    bins = [b for b, _, _ in VIEWPOINT_BINS if any(r["viewpoint"] == b for r in result.rows)]
    vp = ["all", *bins]
    objs = [o for o in result.protocol.get("objects", []) if any(r["category"] == o for r in result.rows)]
    figs: dict[str, Figure | None] = {
        "viewpoints": _item_figure(result, vp, _accuracy_groups(result, vp, "viewpoint"), "accuracy %"),
        "objects": _item_figure(result, objs, _accuracy_groups(result, objs, "category"), "accuracy %") if objs
        else None}
    c = result.curves.get("cm_deg")
    if c:
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.subplots()
        ax.plot(c["threshold"], [100 * a for a in c["accuracy"]], marker=".", label="n cm - n deg")
        r = result.curves["rotation"]
        ax.plot(r["threshold_deg"][:10], [100 * a for a in r["accuracy"][:10]], marker=".", label="rotation < n deg")
        finish_percent_axes(ax, "n", "accuracy %", _title(result))
        figs["accuracy_curve"] = fig
    return figs
