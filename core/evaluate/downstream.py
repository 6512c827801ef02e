"""Downstream report (``corrviz-eval downstream``): the three tasks seed 000 judges features by.

Seed 000 (its appendix A.10, ../shared/specs/methods.md section 1) judges a backbone, and a finetuned
checkpoint of it, by three downstream tasks with no trained head:

* **pose**: one-shot object pose (:mod:`.pose`) on corrviz's held-out procedural objects
  (``default``) and the real meshes (``<data>/meshes``): n cm - n deg accuracy (1 / 3 / 5),
  ADD(-S) at 0.1 diameter, median rotation error, fraction of queries with a pose;
* **tracking**: BADJA over DAVIS frames (``badja`` at ``<data>``), soft-argmax within 35 px,
  A.10's absolute occlusion rule: PCK@0.2 sqrt(mask area), delta_avg, AJ, OA;
* **transfer**: semantic keypoint transfer on PF-WILLOW (``<data>/PF-WILLOW``), NN matcher:
  PCK@0.05 / 0.1 / 0.15 bbox, per image.

Each part is one run of the ordinary runner (:func:`~corrviz.core.evaluate.evaluate`) through one
feature extractor and the shared feature cache, so a part evaluated before (e.g. by
``corrviz-eval pose``) is not extracted again. With a checkpoint the table has a column for the
plain backbone ("base"), one for the checkpoint and their difference (unless ``baseline=False``).
Every source is checked before any model is built: a missing folder or one with nothing to
evaluate fails at once, naming it; a part that evaluated nothing is an error, never a blank cell.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import CorrvizError, DatasetError, InputMismatchError
from ..progress import Progress
from .result import EvalResult
from .spec import ExtractorSpec, MatcherSpec

PARTS = ("pose", "tracking", "transfer")


@dataclass(frozen=True)
class Headline:
    """One table row of a benchmark: the :meth:`EvalResult.value` filters and how to print it."""

    label: str
    metric: str
    alpha: float | None = None
    norm: str | None = None
    aggregation: str | None = None
    unit: str = "%"  # "%" (a fraction shown x100) or "deg"
    higher_is_better: bool = True


HEADLINES: dict[str, tuple[Headline, ...]] = {
    "pose": (Headline("1cm-1deg", "cm_deg_accuracy", 1.0, "cm-deg"),
             Headline("3cm-3deg", "cm_deg_accuracy", 3.0, "cm-deg"),
             Headline("5cm-5deg", "cm_deg_accuracy", 5.0, "cm-deg"),
             Headline("ADD(-S)@0.1d", "add(-s)", 0.1, "diameter"),
             Headline("median rotation error", "rotation_error_deg", unit="deg", higher_is_better=False),
             Headline("queries with a pose", "pose_found")),
    "badja": (Headline("PCK@0.2 sqrt(area)", "badja_pck", 0.2, "sqrt_mask_area"),
              Headline("delta_avg", "delta_avg"),
              Headline("AJ", "average_jaccard"),
              Headline("OA", "occlusion_accuracy")),
    "pfwillow": (Headline("PCK@0.05 bbox", "pck", 0.05, "bbox", "per_image"),
                 Headline("PCK@0.1 bbox", "pck", 0.1, "bbox", "per_image"),
                 Headline("PCK@0.15 bbox", "pck", 0.15, "bbox", "per_image")),
}


@dataclass(frozen=True)
class DownstreamPart:
    """One benchmark run of the report."""

    part: str  # pose | tracking | transfer
    benchmark: str  # pose | badja | pfwillow
    data_root: str
    label: str
    matcher: MatcherSpec
    limit: int | None = None

    @property
    def key(self) -> str:
        return f"{self.part}:{self.label}"

    def to_dict(self) -> dict[str, Any]:
        m = self.matcher
        return {"part": self.part, "benchmark": self.benchmark, "data_root": self.data_root, "label": self.label,
                "matcher": {"method": m.method, "radius": m.radius, "beta": m.beta, "track_radius_px": m.track_radius_px,
                            "occlusion_threshold": m.occlusion_threshold}, "limit": self.limit}


def downstream_parts(data: str | Path | None = None, parts: Sequence[str] = PARTS, *,
                     pose_data: Sequence[str] | None = None, tracking_data: str | None = None,
                     transfer_data: str | None = None, pose_limit: int | None = None,
                     tracking_limit: int | None = None, transfer_limit: int | None = None,
                     track_radius: float = 35.0, occlusion_threshold: float = 0.5) -> list[DownstreamPart]:
    """The runs of the report. ``data``: a folder holding ``meshes/``, ``PF-WILLOW/`` and the BADJA +
    DAVIS folders (e.g. ../shared/data); the ``*_data`` arguments override single parts."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise InputMismatchError(f"downstream parts must be among {', '.join(PARTS)}, got {', '.join(parts) or 'none'}")
    for name, value in (("pose", pose_limit), ("tracking", tracking_limit), ("transfer", transfer_limit)):
        if value is not None and value < 1:
            raise InputMismatchError(f"the {name} limit must be at least 1, got {value}")
    root = Path(data) if data is not None else None

    def need(what: str) -> Path:
        if root is None:
            raise InputMismatchError(f"downstream {what}: give --data (a folder holding meshes/, PF-WILLOW/, "
                                     f"BADJA/ and DAVIS/) or the part's own data option")
        return root

    out: list[DownstreamPart] = []
    if "pose" in parts:
        sources = list(pose_data) if pose_data else ["default", str(need("pose") / "meshes")]
        for src in sources:
            label = "held-out objects" if src == "default" else Path(src).name
            out.append(DownstreamPart("pose", "pose", src, label, MatcherSpec("mnn"), pose_limit))
    if "tracking" in parts:
        out.append(DownstreamPart("tracking", "badja", tracking_data or str(need("tracking")), "BADJA (DAVIS)",
                                  MatcherSpec("soft-argmax", track_radius_px=track_radius,
                                              occlusion_threshold=occlusion_threshold), tracking_limit))
    if "transfer" in parts:
        out.append(DownstreamPart("transfer", "pfwillow", transfer_data or str(need("transfer") / "PF-WILLOW"),
                                  "PF-WILLOW", MatcherSpec("nn"), transfer_limit))
    return out


def check_parts(parts: Sequence[DownstreamPart]) -> None:
    """Fail before any model is built: every source exists and holds something to evaluate."""
    from .pose import pose_sources
    from .runner import get_benchmark, open_dataset

    for p in parts:
        where = f"downstream {p.part} ({p.benchmark}, {p.data_root})"
        if p.benchmark == "pose":
            try:
                pose_sources(p.data_root)
            except CorrvizError as exc:
                raise DatasetError(f"{where}: {exc}") from None
            continue
        if not Path(p.data_root).exists():
            raise DatasetError(f"{where}: the folder does not exist")
        try:
            ds = open_dataset(get_benchmark(p.benchmark), p.data_root)
            records = ds.records()
        except CorrvizError as exc:
            raise DatasetError(f"{where}: {exc}") from None
        if not records:
            raise DatasetError(f"{where}: nothing to evaluate there")


@dataclass
class DownstreamResult:
    """The table (``rows``), the protocol and each part's full :class:`EvalResult` per variant."""

    protocol: dict[str, Any]
    variants: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, dict[str, EvalResult]] = field(default_factory=dict)  # variant -> part key -> result

    def value(self, part_label: str, label: str, variant: str | None = None) -> float:
        """The number in one cell: part label (e.g. "PF-WILLOW"), row label, variant (default: last)."""
        v = variant or self.variants[-1]
        for r in self.rows:
            if r["dataset"] == part_label and r["metric"] == label:
                return float(r["values"][v])
        raise KeyError(f"no downstream row {part_label!r} / {label!r}")

    def to_dict(self) -> dict[str, Any]:
        from .result import _clean

        return _clean({"report": "downstream", "protocol": self.protocol, "variants": self.variants,
                       "rows": self.rows,
                       "parts": {v: {k: {"protocol": r.protocol, "results": r.rows, "stats": r.stats}
                                     for k, r in res.items()} for v, res in self.results.items()}})

    def csv_text(self) -> str:
        import csv
        import io

        buf = io.StringIO()
        cols = ["part", "dataset", "benchmark", "metric", "unit", "higher_is_better", "n_evaluated",
                *[f"value_{v}" for v in self.variants], *(["change"] if len(self.variants) > 1 else []),
                "backbone", "checkpoint", "resolution", "layer", "facet"]
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        p = self.protocol
        for r in self.rows:
            rec = {k: r[k] for k in ("part", "dataset", "benchmark", "metric", "unit", "higher_is_better",
                                     "n_evaluated")}
            rec.update({f"value_{v}": _cell(r["values"][v]) for v in self.variants})
            if len(self.variants) > 1:
                rec["change"] = _cell(r["change"])
            rec.update({"backbone": p["backbone"], "checkpoint": p.get("checkpoint") or "",
                        "resolution": p["resolution"], "layer": p["layer"], "facet": p["facet"]})
            w.writerow(rec)
        return buf.getvalue()

    def markdown(self) -> str:
        """The table in Markdown (values in % or degrees, one decimal), protocol line above it."""
        p = self.protocol
        head = (f"{p['backbone']} ({p['weights_source']}), {p['resolution']} px, layer {p['layer']} {p['facet']}"
                + (f", checkpoint {p['checkpoint']}" if p.get("checkpoint") else ""))
        cols = ["task", "dataset (n)", "metric", *self.variants] + (["change"] if len(self.variants) > 1 else [])
        lines = [head, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in self.rows:
            scale = 100.0 if r["unit"] == "%" else 1.0
            cells = [r["part"], f"{r['dataset']} ({r['n_evaluated']})",
                     r["metric"] + (" (deg, lower is better)" if r["unit"] == "deg" else "")]
            cells += [_fmt(r["values"][v], scale) for v in self.variants]
            if len(self.variants) > 1:
                cells.append(_fmt(r["change"], scale, signed=True))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def save(self, out_dir: str | Path, tag: str | None = None, plots: bool = True) -> dict[str, Path]:
        """``{tag}.json`` / ``.csv`` / ``.md`` and each part's own files under ``{tag}_parts/``."""
        from ..io import atomic_write, write_json

        out = Path(out_dir)
        tag = tag or self.default_tag()
        paths = {"json": out / f"{tag}.json", "csv": out / f"{tag}.csv", "markdown": out / f"{tag}.md"}
        for variant, res in self.results.items():
            for key, r in res.items():
                part, label = key.split(":", 1)
                r.save(out / f"{tag}_parts", f"{variant}_{part}_{_slug(label)}", plots=plots)
        write_json(paths["json"], self.to_dict())
        with atomic_write(paths["csv"], "w") as fh:
            fh.write(self.csv_text())
        with atomic_write(paths["markdown"], "w") as fh:
            fh.write(self.markdown())
        return paths

    def default_tag(self) -> str:
        p = self.protocol
        ck = "_" + Path(p["checkpoint"]).parent.name if p.get("checkpoint") else ""
        return f"downstream_{p['backbone']}_{p['resolution']}{ck}"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def _cell(v: float | None) -> str:
    return "" if v is None or v != v else f"{v:.6g}"


def _fmt(v: float | None, scale: float, signed: bool = False) -> str:
    if v is None or v != v:
        return "n/a"
    x = round(v * scale, 1) + 0.0  # no "-0.0"
    return f"{x:+.1f}" if signed else f"{x:.1f}"


def _headline_value(result: EvalResult, h: Headline) -> float:
    try:
        return result.value(h.metric, h.alpha, h.norm, h.aggregation)
    except KeyError:
        return float("nan")


def _evaluated(result: EvalResult, part: DownstreamPart) -> int:
    """Items evaluated (pose queries, clips, pairs); an error when there are none."""
    p = result.protocol
    n = int(p.get("n_evaluated", p.get("subset_size", 0)) or 0)
    if part.benchmark == "pose" and n:
        n = int(p.get("n_queries", 0) or 0)
    if n == 0:
        reasons = "; ".join(f"{k} x {r}" for r, k in (p.get("skipped_reasons") or {}).items())
        raise DatasetError(f"downstream {part.part} ({part.benchmark}, {part.data_root}): nothing was evaluated"
                           + (f" ({reasons})" if reasons else ""))
    return n


def run_downstream(spec: ExtractorSpec, parts: Sequence[DownstreamPart], pose: Any = None,
                   progress: Progress | None = None, cache_root: str | Path | None = None,
                   use_cache: bool = True, baseline: bool = True) -> DownstreamResult:
    """Run every part for the backbone of ``spec`` (and, with a checkpoint, its base first)."""
    from .pose import PoseSettings
    from .runner import evaluate
    from .spec import build_extractor

    check_parts(parts)
    pose = pose or PoseSettings()
    specs: list[tuple[str, ExtractorSpec]] = []
    if spec.checkpoint and baseline:
        specs.append(("base", replace(spec, checkpoint=None)))
    specs.append(("checkpoint" if spec.checkpoint else "base", spec))
    t0 = time.perf_counter()
    results: dict[str, dict[str, EvalResult]] = {}
    ex = None
    for variant, sp in specs:
        if progress is not None:
            progress.check()
        ex = build_extractor(sp)
        results[variant] = {}
        for part in parts:
            if progress is not None:
                progress.start(0, f"{variant}: {part.part} on {part.label}")
            res = evaluate(part.benchmark, part.data_root, ex, part.matcher, part.limit, progress,
                           cache_root=cache_root, use_cache=use_cache, pose=pose)
            _evaluated(res, part)
            results[variant][part.key] = res
    variants = [v for v, _ in specs]
    first = next(iter(results[variants[-1]].values())).protocol
    protocol = {k: first.get(k) for k in ("backbone", "weights_source", "weights_digest", "checkpoint",
                                          "checkpoint_digest", "resolution", "canvas", "layer", "facet", "dtype")}
    protocol.update({"report": "seed 000 A.10 downstream tasks (no trained head)",
                     "parts": [p.to_dict() for p in parts], "pose_settings": pose.to_dict(),
                     "variants": {v: {"checkpoint": sp.checkpoint} for v, sp in specs},
                     "seconds_total": time.perf_counter() - t0,
                     "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    out = DownstreamResult(protocol, variants, results=results)
    for part in parts:
        for h in HEADLINES[part.benchmark]:
            values = {v: _headline_value(results[v][part.key], h) for v in variants}
            change = values[variants[-1]] - values[variants[0]] if len(variants) > 1 else None
            out.rows.append({"part": part.part, "dataset": part.label, "benchmark": part.benchmark,
                             "metric": h.label, "unit": h.unit, "higher_is_better": h.higher_is_better,
                             "n_evaluated": _evaluated(results[variants[-1]][part.key], part),
                             "values": values, "change": change,
                             "filters": {"metric": h.metric, "alpha": h.alpha, "norm": h.norm,
                                         "aggregation": h.aggregation}})
    return out
