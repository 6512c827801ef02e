"""Benchmark tasks, one registry: adding a task is one :class:`TaskSpec` here (plus its pipeline module).

A task says how its benchmarks run (``run``: the pipeline behind :func:`corrviz.core.evaluate.evaluate`),
which plots a result gets, its headline number, and how one outcome scores while a run is going
(``score``: ``(item, numerator, denominator)``; the cumulative ratio is exactly the headline of the
finished run, so the app's running curve ends at the number in the table). The runner, the plots,
``corrviz-eval`` and the app's evaluation panel all look tasks up here; none dispatches on a task name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InputMismatchError

RUNNING_ALPHA = 0.1  # the PCK threshold of the keypoint headline and running curve
PRIMARY_NORM = {"pfpascal": "img"}  # the PCK normalisation each keypoint benchmark reports first (else bbox)
TRACK_METRICS = ("badja_pck", "average_jaccard", "delta_avg", "occlusion_accuracy")
POSE_HEADLINE = ("add(-s)", 0.1)  # ADD(-S) within 0.1 object diameters (the one-shot pose standard)


@dataclass(frozen=True)
class TaskSpec:
    """What corrviz needs to know about one kind of benchmark."""

    name: str
    items: str  # what one evaluated item is called, plural ("pairs", "clips", "objects", "queries")
    run: Callable[[Any], Any]  # RunCall -> EvalResult (corrviz.core.evaluate.runner)
    plots: Callable[[Any], dict[str, Any]]  # EvalResult -> {kind: matplotlib Figure or None}
    headline: Callable[[Any], tuple[str, float]]  # EvalResult -> (label, value)
    score: Callable[[str, Any], tuple[str, float, float]]  # (benchmark, outcome) -> (item, num, den)
    running_title: Callable[[str, Any], str]  # (benchmark, first outcome or None) -> the running curve's title
    percent: bool = True  # the headline and table are shown in percent
    reads_dataset: bool = True  # False: the task finds its own sources (meshes, 'default' objects)
    matchers: tuple[str, ...] | None = None  # the MatcherSpec methods it supports (None: all)
    table_columns: tuple[str, ...] = ()  # aggregations shown as columns of the summary table (else one value each)
    raw_metrics: tuple[str, ...] = ()  # metrics shown as they are, not in percent (errors in their own units)


TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    TASKS[spec.name] = spec
    return spec


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise InputMismatchError(f"unknown benchmark task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


# -- keypoints ------------------------------------------------------------------------------------
def primary_norm(benchmark: str) -> str:
    return PRIMARY_NORM.get(benchmark, "bbox")


def _keypoint_headline(result: Any) -> tuple[str, float]:
    norm = result.protocol.get("threshold_norm") or "bbox"
    return (f"PCK@{RUNNING_ALPHA} ({norm}, per keypoint)",
            result.value("pck", RUNNING_ALPHA, norm=norm, aggregation="per_keypoint"))


def _keypoint_score(benchmark: str, outcome: Any) -> tuple[str, float, float]:
    e = outcome.errors
    return str(e.pair_id), float(e.n_correct(RUNNING_ALPHA, primary_norm(benchmark))), float(e.n_keypoints)


# -- tracking -------------------------------------------------------------------------------------
def track_metric(outcome: Any) -> str:
    metrics = getattr(outcome, "metrics", {}) or {}
    return next((m for m in TRACK_METRICS if m in metrics), next(iter(metrics), "metric"))


def _tracking_headline(result: Any) -> tuple[str, float]:
    names = [r["metric"] for r in result.rows if r["aggregation"] == "mean over clips"]
    name = next((m for m in TRACK_METRICS if m in names), names[0] if names else "")
    return name.replace("_", " "), result.value(name, aggregation="mean over clips") if name else math.nan


def _tracking_score(_benchmark: str, outcome: Any) -> tuple[str, float, float]:
    v = float(outcome.metrics.get(track_metric(outcome), math.nan))
    return str(outcome.clip_id), (v if math.isfinite(v) else 0.0), (1.0 if math.isfinite(v) else 0.0)


# -- multiview and pose ---------------------------------------------------------------------------
def _pose_headline(result: Any) -> tuple[str, float]:
    kind, alpha = POSE_HEADLINE
    return f"ADD(-S)@{alpha}d (fraction of queries)", result.value(kind, alpha, aggregation="fraction of queries")


def _pose_score(_benchmark: str, outcome: Any) -> tuple[str, float, float]:
    kind, alpha = POSE_HEADLINE
    return f"{outcome.object}#{outcome.query}", float(outcome.errors.add_correct(kind, alpha)), 1.0


# -- the pipelines and plots (imported when used: the runner imports this module) --------------------
def _run(name: str) -> Callable[[Any], Any]:
    def run(call: Any) -> Any:
        from . import runner

        return getattr(runner, name)(call)
    return run


def _figures(*kinds: tuple[str, str]) -> Callable[[Any], dict[str, Any]]:
    """A plots function: ``(kind, name of a figure function in corrviz.core.evaluate.plots)`` pairs."""
    def plots(result: Any) -> dict[str, Any]:
        from . import plots as p

        return {kind: getattr(p, name)(result) for kind, name in kinds}
    return plots


def _pose_plots(result: Any) -> dict[str, Any]:
    from .pose_report import pose_figures

    return pose_figures(result)


register_task(TaskSpec(
    "keypoints", "pairs", _run("run_keypoints"),
    _figures(("categories", "category_figure"), ("viewpoints", "viewpoint_figure"), ("pck_vs_alpha", "curve_figure")),
    _keypoint_headline, _keypoint_score, lambda b, _o: f"PCK@{RUNNING_ALPHA} ({primary_norm(b)}, per keypoint)",
    table_columns=("per_keypoint", "per_image", "macro")))
register_task(TaskSpec(
    "tracking", "clips", _run("run_tracking"), _figures(("clips", "clip_figure")), _tracking_headline,
    _tracking_score, lambda _b, o: track_metric(o).replace("_", " ") if o is not None else "tracking metric",
    matchers=("nn", "soft-argmax")))
register_task(TaskSpec(
    "multiview", "objects", _run("run_multiview_task"), _figures(("objects", "object_figure")),
    lambda r: ("APE (min(W,H))", r.value("ape", aggregation="mean over points")),
    lambda _b, o: (str(o.name), float(o.ape) * o.n_points, float(o.n_points)),
    lambda _b, _o: "APE (fraction of min(W, H); lower is better)", percent=False, reads_dataset=False,
    raw_metrics=("ape",)))
register_task(TaskSpec(
    "pose", "queries", _run("run_pose_task"), _pose_plots, _pose_headline, _pose_score,
    lambda _b, _o: f"ADD(-S)@{POSE_HEADLINE[1]}d (fraction of queries)", reads_dataset=False,
    raw_metrics=("rotation_error_deg", "translation_error")))
