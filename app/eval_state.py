"""Evaluation run state -> what the evaluation panel draws. Pure functions (no Qt), tested headless.

While a benchmark runs, each outcome the runner hands over becomes one *score*
``(item, numerator, denominator)``; the plotted running value is the cumulative ratio, which is
exactly the headline number of the finished run:

* keypoints: correct keypoints at PCK@0.1 / keypoints (the per-keypoint PCK@0.1 of the
  benchmark's own normalisation),
* tracking: the clip's main metric (average Jaccard, or PCK@0.2 for BADJA) / 1 (mean over clips),
* multiview: APE x points / points (APE over all points),
* pose: queries within ADD(-S) 0.1 d / queries.

The per-task parts (score, title, headline, table layout) come from the one task registry,
:mod:`corrviz.core.evaluate.tasks`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from corrviz.core.session import EvalRun

if TYPE_CHECKING:  # pragma: no cover  (corrviz.core.evaluate imports torch: loaded when first used)
    from corrviz.core.evaluate.tasks import TaskSpec


def get_task(name: str) -> TaskSpec:
    from corrviz.core.evaluate.tasks import get_task as lookup

    return lookup(name)

@dataclass
class EvalSeries:
    """The panel's plot data: item index, per-item value and the running value after each item."""

    title: str
    x: np.ndarray
    item: np.ndarray
    running: np.ndarray
    labels: list[str]
    percent: bool = True


def task_spec(benchmark: str) -> TaskSpec:
    """The benchmark's task (the one registry, :mod:`corrviz.core.evaluate.tasks`)."""
    from corrviz.core.evaluate import get_benchmark

    return get_task(get_benchmark(benchmark).task)


def task_of(benchmark: str) -> str:
    return task_spec(benchmark).name


def metric_title(benchmark: str, outcome: Any = None) -> str:
    return task_spec(benchmark).running_title(benchmark, outcome)


def outcome_score(benchmark: str, outcome: Any) -> tuple[str, float, float]:
    """One outcome of :func:`corrviz.core.evaluate.evaluate`'s ``on_result`` as (item, num, den)."""
    return task_spec(benchmark).score(benchmark, outcome)


def check_evaluable(benchmark: str, data_root: str) -> None:
    """Fail before any long work when the folder holds nothing this benchmark can evaluate (e.g. the
    folder of another dataset): the loader's own error, or a :class:`DatasetError` naming the folder."""
    from corrviz.core.errors import DatasetError
    from corrviz.core.evaluate import get_benchmark, open_dataset

    bench = get_benchmark(benchmark)
    task = get_task(bench.task)
    if not task.reads_dataset:
        return  # 'default' objects or meshes: the runner checks its own sources
    ds = open_dataset(bench, data_root)
    if not ds.records():
        skipped = ds.incomplete()
        why = (f"; {len(skipped)} item(s) skipped, e.g. {skipped[0].reason}" if skipped else
               f"; expected the {bench.folder} layout there or in a '{bench.folder}' subfolder "
               "(is this another dataset's folder?)")
        raise DatasetError(f"{bench.name}: nothing to evaluate in {data_root}: no {bench.dataset} "
                           f"{task.items} found{why}")


def check_evaluated(result: Any, data_root: str) -> None:
    """Nothing evaluated is an error (as for ``corrviz-eval``), never a NaN headline."""
    from corrviz.core.errors import DatasetError

    p = result.protocol
    if p.get("n_evaluated", p.get("subset_size", 0)) == 0:
        reasons = "; ".join(f"{n} x {r}" for r, n in (p.get("skipped_reasons") or {}).items())
        raise DatasetError(f"{result.benchmark}: nothing was evaluated in {data_root} "
                           f"({p.get('n_skipped', 0)} item(s) skipped{': ' + reasons if reasons else ''})")


def eval_series(run: EvalRun) -> EvalSeries:
    task = task_spec(run.benchmark)
    title = metric_title(run.benchmark, run.outcomes[0] if run.outcomes else None)
    if not run.scores:
        empty = np.zeros(0)
        return EvalSeries(title, empty, empty, empty, [], task.percent)
    num = np.array([s[1] for s in run.scores])
    den = np.array([s[2] for s in run.scores])
    with np.errstate(invalid="ignore", divide="ignore"):
        item = np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)
        running = np.cumsum(num) / np.maximum(np.cumsum(den), 1e-12)
    return EvalSeries(title, np.arange(1, len(num) + 1, dtype=float), item, running,
                      [s[0] for s in run.scores], task.percent)


def headline(result: Any) -> tuple[str, float]:
    """The finished run's main number (the one the running curve ends at) and its label."""
    return get_task(result.task).headline(result)


def table_rows(result: Any) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the final table: the summary numbers (category "all"), in percent unless the
    task shows a metric in its own units."""
    task = get_task(result.task)
    summary = [r for r in result.rows if r["category"] == "all" and r.get("viewpoint", "all") == "all"]
    if task.table_columns:
        header = ["metric", "norm", "alpha", *(a.replace("_", " ") for a in task.table_columns)]
        rows: list[list[str]] = []
        keys = sorted({(r["metric"], r["norm"], r["alpha"]) for r in summary},
                      key=lambda k: (k[0] != "pck", str(k[1]), k[2] or 0.0))
        for metric, norm, alpha in keys:
            vals = {r["aggregation"]: r["value"] for r in summary if (r["metric"], r["norm"], r["alpha"]) == (metric, norm, alpha)}
            rows.append([metric.upper(), str(norm), f"{alpha:g}" if alpha is not None else "",
                         *(_pct(vals.get(a)) for a in task.table_columns)])
        return header, rows
    header = ["metric", "norm", "alpha", "value", "items"]
    rows = [[r["metric"], str(r["norm"]), "" if r["alpha"] is None else f"{r['alpha']:g}",
             _fmt(r["value"], r["metric"] in task.raw_metrics), str(r["n_pairs"] or "")]
            for r in summary]
    return header, rows


def _pct(v: float | None) -> str:
    return "" if v is None or not math.isfinite(v) else f"{100 * v:.2f}"


def _fmt(v: float, raw: bool) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.4f}" if raw else f"{100 * v:.2f}"
