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
class EvalRequestValues:
    """What the user picked: benchmark, data folder (or ``default``), matcher and limit (0 = all)."""

    benchmark: str
    data_root: str
    method: str
    limit: int | None


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


# -- evaluated pairs, worst first (the Evaluation tab's list; opened in the 2-D view) ----------------
CORRECT_RGB, WRONG_RGB, TRUTH_RGB = (60, 220, 90), (240, 60, 60), (255, 255, 255)


@dataclass(frozen=True)
class EvalItem:
    """One evaluated keypoint pair: its index in the run's outcomes, its score and a list label."""

    index: int
    pair_id: str
    score: float  # PCK@RUNNING_ALPHA of this pair (its share of correct keypoints)
    label: str


def worst_first(run: EvalRun) -> list[EvalItem]:
    """The run's keypoint pairs that a viewer can open, lowest PCK first (ties: larger mean error first)."""
    from corrviz.core.evaluate.tasks import RUNNING_ALPHA, primary_norm

    items = []
    norm = primary_norm(run.benchmark)
    for k, o in enumerate(run.outcomes):
        if getattr(o, "record", None) is None:
            continue
        e = o.errors
        n = max(e.n_keypoints, 1)
        score = e.n_correct(RUNNING_ALPHA, norm) / n
        err = np.where(np.isfinite(e.errors), e.errors, np.nan) / max(e.size(norm), 1e-9)
        mean = float(np.nanmean(err)) if np.isfinite(err).any() else math.inf
        label = (f"{100 * score:5.1f} %  {e.pair_id} ({e.category}, {e.n_keypoints} keypoints, mean error "
                 f"{mean:.2f} x {norm} size)")
        items.append((score, -mean, k, EvalItem(k, str(e.pair_id), score, label)))
    items.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in items]


@dataclass(frozen=True)
class PairAnnotation:
    """What the 2-D view draws over an evaluated pair: lines from each source keypoint to its prediction
    (green within the threshold, red not), the keypoints (white) and predictions (the line's colour) as
    marks, a status text and the two image titles."""

    lines: list
    marks: list
    text: str
    title: str  # the target image's title (it stays on screen when the status bar moves on)
    source_title: str = ""


def pair_annotation(benchmark: str, outcome: Any) -> PairAnnotation:
    from corrviz.core.evaluate.tasks import RUNNING_ALPHA, primary_norm

    from .render_state import DrawLine, DrawPoint

    rec, e = outcome.record, outcome.errors
    norm = primary_norm(benchmark)
    radius = RUNNING_ALPHA * e.size(norm)
    lines, marks, n_ok = [], [], 0
    for k in range(rec.n_keypoints):
        (sx, sy), (tx, ty), (px, py) = rec.src_kps[k], rec.trg_kps[k], outcome.pred_xy[k]
        marks.append(DrawPoint(1, float(tx), float(ty), TRUTH_RGB))
        marks.append(DrawPoint(0, float(sx), float(sy), TRUTH_RGB))
        if not (np.isfinite(px) and np.isfinite(py)):
            continue  # no prediction (rejected): only the truth is drawn
        ok = bool(e.errors[k] <= radius)
        n_ok += ok
        rgb = CORRECT_RGB if ok else WRONG_RGB
        lines.append(DrawLine(0, float(sx), float(sy), 1, float(px), float(py), rgb))
        marks.append(DrawPoint(1, float(px), float(py), rgb))
    text = (f"{benchmark} pair {rec.pair_id} ({rec.category}): {n_ok} of {rec.n_keypoints} keypoints within "
            f"{RUNNING_ALPHA} x {norm} size ({radius:.1f} px); green / red: source keypoint -> prediction, "
            "white: ground truth")
    title = f"predictions: {n_ok}/{rec.n_keypoints} within PCK@{RUNNING_ALPHA} {norm} (green; red: not)"
    source_title = f"{rec.pair_id}: keypoints in white"
    return PairAnnotation(lines, marks, text, title, source_title)
