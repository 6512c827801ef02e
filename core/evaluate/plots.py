"""Result plots (matplotlib ``Figure``, never pyplot): per-category bars, viewpoint-bin bars and
PCK-vs-alpha curves for keypoint benchmarks; per-clip bars for tracking. Saved as PNG and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from ..figures import save_figure

if TYPE_CHECKING:  # pragma: no cover
    from .result import EvalResult

AGGREGATIONS = ("per_keypoint", "per_image", "macro")
PLOT_ALPHA = 0.1


SHORT_NAMES = {"per_keypoint": "per-kp", "per_image": "per-img", "macro": "macro"}


def coincident_groups(curves: dict[str, list[float]], tol: float = 1e-9) -> list[list[str]]:
    """Aggregations grouped by identical curves, in order: one legend entry per visible line.

    With one category of equal-sized pairs (or an oracle) per-keypoint, per-image and macro PCK are
    the same numbers; six legend entries over two lines would hide that, "per-kp = per-img = macro"
    says it.
    """
    groups: list[list[str]] = []
    for name, vals in curves.items():
        v = np.asarray(vals, dtype=np.float64)
        for g in groups:
            w = np.asarray(curves[g[0]], dtype=np.float64)
            if v.shape == w.shape and np.allclose(v, w, rtol=0.0, atol=tol, equal_nan=True):
                g.append(name)
                break
        else:
            groups.append([name])
    return groups


def _title(result: EvalResult) -> str:
    p = result.protocol
    m = (p.get("matcher") or {}).get("method")
    return (f"{result.benchmark} | {p.get('backbone')} ({p.get('weights_source')}) | {p.get('resolution')}px "
            f"{p.get('facet')} L{p.get('layer')} | {m} | n={p.get('subset_size')}")


def _primary_norm(result: EvalResult) -> str:
    norms = [r["norm"] for r in result.rows if r["metric"] == "pck"]
    prim = result.protocol.get("threshold_norm")
    return prim if prim in norms else (norms[0] if norms else "bbox")


def _bars(ax, labels: list[str], groups: dict[str, list[float]]) -> None:  # type: ignore[no-untyped-def]
    x = np.arange(len(labels))
    width = 0.8 / max(len(groups), 1)
    for k, (name, vals) in enumerate(groups.items()):
        ax.bar(x + (k - (len(groups) - 1) / 2) * width, [100 * v for v in vals], width, label=name)
    ax.set_xticks(x, labels, rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def category_figure(result: EvalResult, alpha: float = PLOT_ALPHA) -> Figure | None:
    norm = _primary_norm(result)
    rows = [r for r in result.rows if r["metric"] == "pck" and r["norm"] == norm and r["category"] != "all"
            and r["alpha"] is not None and abs(r["alpha"] - alpha) < 1e-9]
    cats = sorted({r["category"] for r in rows})
    if not cats:
        return None
    groups = {agg: [next(r["value"] for r in rows if r["category"] == c and r["aggregation"] == agg) for c in cats]
              for agg in ("per_keypoint", "per_image")}
    fig = Figure(figsize=(max(6, 0.7 * len(cats) + 2), 4), layout="constrained")
    ax = fig.subplots()
    _bars(ax, cats, groups)
    ax.set_ylabel(f"PCK@{alpha} ({norm}) %")
    ax.set_title(_title(result), fontsize=8)
    return fig


def viewpoint_figure(result: EvalResult, alpha: float = PLOT_ALPHA) -> Figure | None:
    norm = _primary_norm(result)
    rows = [r for r in result.rows if r["metric"] == "pck" and r["norm"] == norm and r["category"] == "all"
            and r["alpha"] is not None and abs(r["alpha"] - alpha) < 1e-9]
    bins = [b for b in ("small", "medium", "large") if any(r["viewpoint"] == b for r in rows)]
    if not bins:
        return None
    labels = [*bins, "all"]
    groups = {agg: [next(r["value"] for r in rows if r["viewpoint"] == b and r["aggregation"] == agg)
                    for b in labels] for agg in AGGREGATIONS}
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    _bars(ax, labels, groups)
    ax.set_xlabel("viewpoint variation")
    ax.set_ylabel(f"PCK@{alpha} ({norm}) %")
    ax.set_title(_title(result), fontsize=8)
    return fig


def curve_figure(result: EvalResult) -> Figure | None:
    if not result.curves:
        return None
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for norm, curves in result.curves.items():
        alphas = curves.get("alpha", [])
        for group in coincident_groups({agg: curves[agg] for agg in AGGREGATIONS if agg in curves}):
            label = " = ".join(SHORT_NAMES[a] for a in group)
            ax.plot(alphas, [100 * v for v in curves[group[0]]], marker=".", label=f"{label} ({norm})")
    finish_percent_axes(ax, "alpha", "PCK %", _title(result))
    return fig


def finish_percent_axes(ax, xlabel: str, ylabel: str, title: str) -> None:
    """Labels, a 0-100 % y range, a light grid, a small legend and title: every curve plot's frame."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=8)


def _item_figure(result: EvalResult, labels: list[str], groups: dict[str, list[float]], ylabel: str) -> Figure:
    fig = Figure(figsize=(max(6, 1.2 * len(labels) + 2), 4), layout="constrained")
    ax = fig.subplots()
    _bars(ax, labels, groups)
    ax.set_ylabel(ylabel)
    ax.set_title(_title(result), fontsize=8)
    return fig


def clip_figure(result: EvalResult) -> Figure | None:
    """Tracking: the scores of each clip (percent)."""
    if not result.items:
        return None
    metrics = [m for m in ("badja_pck", "average_jaccard", "delta_avg", "occlusion_accuracy")
               if all(m in it and it[m] is not None for it in result.items)]
    labels = [str(it["clip_id"]) for it in result.items]
    return _item_figure(result, labels, {m: [100 * float(it[m]) for it in result.items] for m in metrics}, "%")


def object_figure(result: EvalResult) -> Figure | None:
    """Multiview: APE and PCDP@delta per object (percent)."""
    if not result.items:
        return None
    labels = [str(it["object"]) for it in result.items]
    keys = ["ape"] + sorted(k for k in result.items[0] if k.startswith("pcdp@"))
    return _item_figure(result, labels, {k: [100 * float(it[k]) for it in result.items] for k in keys},
                        "% (APE: of min(W, H))")


def save_plots(result: EvalResult, out_dir: Path, tag: str) -> dict[str, Path]:
    """Write every plot that applies as ``{tag}_{kind}.png`` and ``.svg``."""
    from .tasks import get_task

    figs = get_task(result.task).plots(result)
    out: dict[str, Path] = {}
    for kind, fig in figs.items():
        if fig is None:
            continue
        for ext in ("png", "svg"):
            out[f"{kind}_{ext}"] = save_figure(fig, Path(out_dir) / f"{tag}_{kind}.{ext}", dpi=120)
    return out
