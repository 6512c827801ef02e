"""Evaluation results: metric rows that each carry their full protocol, written as JSON + CSV.

A row is one number: ``metric`` (pck, kap, badja_pck, average_jaccard, ...), ``alpha``, ``norm``
(bbox / img / sqrt_mask_area / 256px), ``aggregation`` (per_keypoint / per_image / macro / ...),
``category`` ("all" or a category / clip), ``viewpoint`` ("all" or small / medium / large),
``value`` and its counts. On disk every row also holds the run's protocol (backbone, weights,
checkpoint, resolution, facet, layer, canvas, matcher, subset size, skipped count, data root,
corrviz version), so a number copied out of the file still says how it was made.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import atomic_write, write_json
from ..metrics import PairErrors, pck_by_viewpoint, pck_summary
from ..metrics.kap import KapAccumulator

ROW_KEYS = ("metric", "alpha", "norm", "aggregation", "category", "viewpoint", "value", "n_pairs", "n_keypoints")
PROTOCOL_COLUMNS = ("benchmark", "backbone", "weights_source", "weights_digest", "checkpoint", "resolution",
                    "canvas", "layer", "facet", "dtype", "position_interpolation", "matcher", "subset_size",
                    "n_available", "limit", "n_skipped", "data_root", "corrviz_version")


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def row(metric: str, value: float, *, alpha: float | None = None, norm: str | None = None,
        aggregation: str | None = None, category: str = "all", viewpoint: str = "all",
        n_pairs: int | None = None, n_keypoints: int | None = None) -> dict[str, Any]:
    return {"metric": metric, "alpha": alpha, "norm": norm, "aggregation": aggregation, "category": category,
            "viewpoint": viewpoint, "value": float(value), "n_pairs": n_pairs, "n_keypoints": n_keypoints}


def pck_rows(pairs: Sequence[PairErrors], alphas: Sequence[float], norms: Sequence[str]) -> list[dict[str, Any]]:
    """PCK in all three aggregations, per category, and per SPair viewpoint bin when known."""
    rows: list[dict[str, Any]] = []
    has_vp = any(p.viewpoint_variation is not None for p in pairs)
    for norm in norms:
        for a in alphas:
            s = pck_summary(pairs, a, norm)  # type: ignore[arg-type]
            for agg in ("per_keypoint", "per_image", "macro"):
                rows.append(row("pck", getattr(s, agg), alpha=a, norm=norm, aggregation=agg,
                                n_pairs=s.n_pairs, n_keypoints=s.n_keypoints))
            for cat, c in s.per_category.items():
                for agg in ("per_keypoint", "per_image"):
                    rows.append(row("pck", getattr(c, agg), alpha=a, norm=norm, aggregation=agg, category=cat,
                                    n_pairs=c.n_pairs, n_keypoints=c.n_keypoints))
            if has_vp:
                for vp, vs in pck_by_viewpoint(pairs, a, norm).items():  # type: ignore[arg-type]
                    if vp == "all":
                        continue
                    for agg in ("per_keypoint", "per_image", "macro"):
                        rows.append(row("pck", getattr(vs, agg), alpha=a, norm=norm, aggregation=agg,
                                        viewpoint=vp, n_pairs=vs.n_pairs, n_keypoints=vs.n_keypoints))
    return rows


def kap_rows(acc: dict[float, KapAccumulator], n_pairs: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for a, accumulator in sorted(acc.items()):
        r = accumulator.result()
        rows.append(row("kap", r.kap, alpha=a, norm="bbox", aggregation="macro", n_pairs=n_pairs,
                        n_keypoints=sum(r.n_positive.values())))
        for cat, ap in r.per_category.items():
            rows.append(row("kap", ap, alpha=a, norm="bbox", aggregation="average_precision", category=cat,
                            n_keypoints=r.n_positive[cat]))
    return rows


@dataclass
class EvalResult:
    """Everything one run produced. ``rows`` are the numbers; ``protocol`` applies to each of them."""

    benchmark: str
    task: str  # "keypoints" or "tracking"
    protocol: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ lookup
    def value(self, metric: str = "pck", alpha: float | None = None, norm: str | None = None,
              aggregation: str | None = None, category: str = "all", viewpoint: str = "all") -> float:
        """The one number matching the filters; KeyError naming the filters when absent."""
        for r in self.rows:
            if (r["metric"] == metric and r["category"] == category and r["viewpoint"] == viewpoint
                    and (alpha is None or (r["alpha"] is not None and abs(r["alpha"] - alpha) < 1e-9))
                    and (norm is None or r["norm"] == norm)
                    and (aggregation is None or r["aggregation"] == aggregation)):
                return float(r["value"])
        raise KeyError(f"no {metric} row with alpha={alpha} norm={norm} aggregation={aggregation} "
                       f"category={category} viewpoint={viewpoint}")

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def flat_protocol(self) -> dict[str, Any]:
        """Protocol columns for the CSV (the matcher as its method name)."""
        p = self.protocol
        out = {k: p.get(k) for k in PROTOCOL_COLUMNS}
        out["matcher"] = (p.get("matcher") or {}).get("method")
        return out

    def full_rows(self) -> list[dict[str, Any]]:
        """Every row merged with the protocol columns (what the CSV holds)."""
        flat = self.flat_protocol()
        return [{**r, **flat} for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        proto = self.protocol
        return _clean({"benchmark": self.benchmark, "task": self.task, "protocol": proto,
                       "results": [{**r, "protocol": proto} for r in self.rows], "curves": self.curves,
                       "skipped": self.skipped, "n_skipped": self.n_skipped, "items": self.items,
                       "stats": self.stats})

    def csv_text(self) -> str:
        buf = io.StringIO()
        cols = list(ROW_KEYS) + [c for c in PROTOCOL_COLUMNS if c not in ROW_KEYS]
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.full_rows():
            w.writerow({k: ("" if v is None else v) for k, v in _clean(r).items()})
        return buf.getvalue()

    def save(self, out_dir: str | Path, tag: str | None = None, plots: bool = True) -> dict[str, Path]:
        """Write ``{tag}.json``, ``{tag}.csv`` and the plots (PNG + SVG) into ``out_dir``."""
        out = Path(out_dir)
        tag = tag or self.default_tag()
        paths = {"json": out / f"{tag}.json", "csv": out / f"{tag}.csv"}
        write_json(paths["json"], self.to_dict())
        with atomic_write(paths["csv"], "w") as fh:
            fh.write(self.csv_text())
        if plots:
            from .plots import save_plots

            paths.update(save_plots(self, out, tag))
        return paths

    def default_tag(self) -> str:
        p = self.protocol
        method = (p.get("matcher") or {}).get("method", "matcher")
        res = p.get("resolution")
        res_s = "x".join(str(v) for v in res) if isinstance(res, list) else str(res)
        tag = f"{self.benchmark}_{p.get('backbone')}_{res_s}_{method}"
        return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in tag)
