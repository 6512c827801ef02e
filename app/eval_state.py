"""Evaluation run state -> what the evaluation panel draws. Pure functions (no Qt), tested headless.

While a benchmark runs, each outcome the runner hands over becomes one *score*
``(item, numerator, denominator)``; the plotted running value is the cumulative ratio, which is
exactly the headline number of the finished run:

* keypoints: correct keypoints at PCK@0.1 / keypoints (the per-keypoint PCK@0.1 of the
  benchmark's own normalisation),
* tracking: the clip's main metric (average Jaccard, or PCK@0.2 for BADJA) / 1 (mean over clips),
* multiview: APE x points / points (APE over all points).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from corrviz.core.session import EvalRun

RUNNING_ALPHA = 0.1
# The PCK normalisation each keypoint benchmark reports first (its loader's threshold_norm).
PRIMARY_NORM = {"pfpascal": "img"}
TRACK_METRICS = ("badja_pck", "average_jaccard", "delta_avg", "occlusion_accuracy")


@dataclass
class EvalSeries:
    """The panel's plot data: item index, per-item value and the running value after each item."""

    title: str
    x: np.ndarray
    item: np.ndarray
    running: np.ndarray
    labels: list[str]
    percent: bool = True


def primary_norm(benchmark: str) -> str:
    return PRIMARY_NORM.get(benchmark, "bbox")


def metric_title(task: str, benchmark: str, outcome: Any = None) -> str:
    if task == "keypoints":
        return f"PCK@{RUNNING_ALPHA} ({primary_norm(benchmark)}, per keypoint)"
    if task == "multiview":
        return "APE (fraction of min(W, H); lower is better)"
    return _track_metric(outcome).replace("_", " ") if outcome is not None else "tracking metric"


def _track_metric(outcome: Any) -> str:
    metrics = getattr(outcome, "metrics", {}) or {}
    return next((m for m in TRACK_METRICS if m in metrics), next(iter(metrics), "metric"))


def outcome_score(task: str, benchmark: str, outcome: Any) -> tuple[str, float, float]:
    """One outcome of :func:`corrviz.core.evaluate.evaluate`'s ``on_result`` as (item, num, den)."""
    if task == "keypoints":
        e = outcome.errors
        return str(e.pair_id), float(e.n_correct(RUNNING_ALPHA, primary_norm(benchmark))), float(e.n_keypoints)
    if task == "multiview":
        return str(outcome.name), float(outcome.ape) * outcome.n_points, float(outcome.n_points)
    v = float(outcome.metrics.get(_track_metric(outcome), math.nan))
    return str(outcome.clip_id), (v if math.isfinite(v) else 0.0), (1.0 if math.isfinite(v) else 0.0)


def task_of(benchmark: str) -> str:
    from corrviz.core.evaluate import get_benchmark

    return get_benchmark(benchmark).task


def check_evaluable(benchmark: str, data_root: str) -> None:
    """Fail before any long work when the folder holds nothing this benchmark can evaluate (e.g. the
    folder of another dataset): the loader's own error, or a :class:`DatasetError` naming the folder."""
    from corrviz.core.errors import DatasetError
    from corrviz.core.evaluate import get_benchmark, open_dataset

    bench = get_benchmark(benchmark)
    if bench.task == "multiview":
        return  # 'default' objects or meshes: the runner checks its own sources
    ds = open_dataset(bench, data_root)
    if not ds.records():
        skipped = ds.incomplete()
        why = (f"; {len(skipped)} item(s) skipped, e.g. {skipped[0].reason}" if skipped else
               f"; expected the {bench.folder} layout there or in a '{bench.folder}' subfolder "
               "(is this another dataset's folder?)")
        raise DatasetError(f"{bench.name}: nothing to evaluate in {data_root}: no {bench.dataset} "
                           f"{'clips' if bench.task == 'tracking' else 'pairs'} found{why}")


def check_evaluated(result: Any, data_root: str) -> None:
    """Nothing evaluated is an error (as for ``corrviz-eval``), never a NaN headline."""
    from corrviz.core.errors import DatasetError

    p = result.protocol
    if p.get("n_evaluated", p.get("subset_size", 0)) == 0:
        reasons = "; ".join(f"{n} x {r}" for r, n in (p.get("skipped_reasons") or {}).items())
        raise DatasetError(f"{result.benchmark}: nothing was evaluated in {data_root} "
                           f"({p.get('n_skipped', 0)} item(s) skipped{': ' + reasons if reasons else ''})")


def eval_series(run: EvalRun) -> EvalSeries:
    task = task_of(run.benchmark)
    title = metric_title(task, run.benchmark, run.outcomes[0] if run.outcomes else None)
    if not run.scores:
        empty = np.zeros(0)
        return EvalSeries(title, empty, empty, empty, [], task != "multiview")
    num = np.array([s[1] for s in run.scores])
    den = np.array([s[2] for s in run.scores])
    with np.errstate(invalid="ignore", divide="ignore"):
        item = np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)
        running = np.cumsum(num) / np.maximum(np.cumsum(den), 1e-12)
    return EvalSeries(title, np.arange(1, len(num) + 1, dtype=float), item, running,
                      [s[0] for s in run.scores], task != "multiview")


def headline(result: Any) -> tuple[str, float]:
    """The finished run's main number (the one the running curve ends at) and its label."""
    if result.task == "keypoints":
        norm = result.protocol.get("threshold_norm") or "bbox"
        return (f"PCK@{RUNNING_ALPHA} ({norm}, per keypoint)",
                result.value("pck", RUNNING_ALPHA, norm=norm, aggregation="per_keypoint"))
    if result.task == "multiview":
        return "APE (min(W,H))", result.value("ape", aggregation="mean over points")
    names = [r["metric"] for r in result.rows if r["aggregation"] == "mean over clips"]
    name = next((m for m in TRACK_METRICS if m in names), names[0] if names else "")
    return name.replace("_", " "), result.value(name, aggregation="mean over clips") if name else math.nan


def table_rows(result: Any) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the final table: the summary numbers (category "all"), in percent."""
    if result.task == "keypoints":
        header = ["metric", "norm", "alpha", "per keypoint", "per image", "macro"]
        rows: list[list[str]] = []
        keys = sorted({(r["metric"], r["norm"], r["alpha"]) for r in result.rows
                       if r["category"] == "all" and r["viewpoint"] == "all"},
                      key=lambda k: (k[0] != "pck", str(k[1]), k[2] or 0.0))
        for metric, norm, alpha in keys:
            vals = {r["aggregation"]: r["value"] for r in result.rows if r["category"] == "all"
                    and r["viewpoint"] == "all" and (r["metric"], r["norm"], r["alpha"]) == (metric, norm, alpha)}
            rows.append([metric.upper(), str(norm), f"{alpha:g}" if alpha is not None else "",
                         *(_pct(vals.get(a)) for a in ("per_keypoint", "per_image", "macro"))])
        return header, rows
    header = ["metric", "norm", "alpha", "value", "items"]
    rows = [[r["metric"], str(r["norm"]), "" if r["alpha"] is None else f"{r['alpha']:g}",
             _fmt(r["metric"], r["value"]), str(r["n_pairs"] or "")]
            for r in result.rows if r["category"] == "all"]
    return header, rows


def _pct(v: float | None) -> str:
    return "" if v is None or not math.isfinite(v) else f"{100 * v:.2f}"


def _fmt(metric: str, v: float) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.4f}" if metric == "ape" else f"{100 * v:.2f}"
