"""Choose the spatial support, scales and normalisation of the weight-free descriptors (dense SIFT, DAISY).

    python scripts/sweep_classical.py --write docs/sweep_classical.md

Every setting is scored on the CHOOSING data only: PF-WILLOW PCK@0.1 (bbox, per-image, NN) on the
``--choose`` classes (every ``--every``-th pair) and PCDP@0.1 on corrviz's default procedural
objects (multiview benchmark: ``--mv-pairs`` view pairs x ``--mv-points`` points per object). The
score is the mean of the two. Each support is tried with every scale set (``--sift-scales`` /
``--daisy-scales``: sets separated by ``;``, e.g. ``1;1,2,4``; a multi-scale descriptor concatenates the
descriptors at support x each factor). The proposed default is the SMALLEST support whose score is within
``--tolerance`` points of the best (the more local descriptor keeps sharper, sub-cell matches and more
mutual matches on a known warp, tests/core/test_behaviour_classical.py, and costs less). Then the
previous default and the chosen setting are checked on the HELD-OUT PF-WILLOW classes
(``--holdout``, every pair), which the choice never saw. All runs go through ``evaluate`` and its
on-disk feature cache (``--cache-dir``), so a re-run only matches.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The ten classes in sorted order, alternately: even positions choose, odd positions check.
CHOOSE = ("car(G)", "car(S)", "motorbike(G)", "motorbike(S)", "winebottle(wC)")
HOLDOUT = ("car(M)", "duck(S)", "motorbike(M)", "winebottle(M)", "winebottle(woC)")
# The defaults before this sweep: a 16 px SIFT window (2 x stride 8) and a 15 px DAISY radius, L1.
PREVIOUS = {"dense_sift": {"support_px": 16.0, "normalisation": "rootsift", "scales": (1.0,)},
            "daisy": {"support_px": 15.0, "normalisation": "l1", "scales": (1.0,)}}
SUPPORTS = {"dense_sift": "0.125,0.25,0.375,0.5", "daisy": "0.0625,0.125,0.1875,0.25"}
NORMS = {"dense_sift": "rootsift,l2", "daisy": "l1"}
SCALES = {"dense_sift": "1", "daisy": "1"}


@dataclass
class Setting:
    backbone: str
    descriptor: dict[str, Any]
    previous: bool = False
    scores: dict[str, float] = field(default_factory=dict)

    def support_text(self, resolution: int) -> str:
        d = self.descriptor
        if d.get("support_px") is not None:
            text = f"{d['support_px']:g} px ({d['support_px'] / resolution:.3f})"
        else:
            text = f"{d['support_frac']:g} ({d['support_frac'] * resolution:.0f} px)"
        scales = tuple(d.get("scales", (1.0,)))
        return text + (" x " + "/".join(f"{v:g}" for v in scales) if scales != (1.0,) else "")

    @property
    def score(self) -> float:
        vals = [self.scores[k] for k in ("willow", "multiview") if k in self.scores]
        return sum(vals) / len(vals) if vals else float("nan")


def _floats(text: str, what: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"sweep_classical: {what} must be comma-separated numbers, got {text!r}") from None
    if not vals or any(not 0 < v <= 1 for v in vals):
        raise SystemExit(f"sweep_classical: {what} are fractions of the canvas side in (0, 1], got {text!r}")
    return vals


def _scale_sets(text: str, what: str) -> list[tuple[float, ...]]:
    try:
        sets = [tuple(float(v) for v in part.split(",") if v.strip()) for part in text.split(";") if part.strip()]
    except ValueError:
        raise SystemExit(f"sweep_classical: {what} must be ';'-separated sets of comma-separated numbers, got {text!r}") from None
    if not sets or any(not st or any(v <= 0 for v in st) for st in sets):
        raise SystemExit(f"sweep_classical: {what} must be non-empty sets of positive factors, got {text!r}")
    return sets


def _extractor(setting: Setting, resolution: int) -> Any:
    from corrviz.core.backbones import create_backbone
    from corrviz.core.features import FeatureExtractor, FeatureOptions

    backbone = create_backbone(setting.backbone, descriptor=setting.descriptor)
    return FeatureExtractor(backbone, FeatureOptions(resolution=resolution), cache=None)


def willow_pck(setting: Setting, data: Path, classes: tuple[str, ...], every: int, resolution: int,
               alphas: tuple[float, ...], cache: Path) -> dict[float, float]:
    """PCK (bbox, per-image, NN) in percent on every ``every``-th pair of ``classes``."""
    from corrviz.core.evaluate import FeatureStore, MatcherSpec, get_benchmark, open_dataset
    from corrviz.core.evaluate.keypoints import run_pairs
    from corrviz.core.metrics.pck import pck_summary

    ds = open_dataset(get_benchmark("pfwillow"), data, {"categories": list(classes)})
    records = ds.records()[::every]
    if not records:
        raise SystemExit(f"sweep_classical: no PF-WILLOW pairs of {', '.join(classes)} under {data}")
    run = run_pairs(records, FeatureStore(_extractor(setting, resolution), cache), MatcherSpec("nn"), with_kap=False)
    if run.skipped:
        raise SystemExit(f"sweep_classical: {len(run.skipped)} PF-WILLOW pairs failed, first: {run.skipped[0].reason}")
    pairs = [o.errors for o in run.outcomes]
    return {a: 100.0 * pck_summary(pairs, a, "bbox").per_image for a in alphas}


def multiview_pcdp(setting: Setting, mv: Any, resolution: int, cache: Path) -> float:
    """PCDP@0.1 in percent on the default procedural objects."""
    from corrviz.core.evaluate import evaluate

    res = evaluate("multiview", "default", _extractor(setting, resolution), "nn", multiview=mv, cache_root=cache)
    if res.protocol["n_evaluated"] == 0:
        raise SystemExit("sweep_classical: no default object could be evaluated")
    return 100.0 * res.value("pcdp", 0.1, aggregation="mean over points")


def settings_for(backbone: str, supports: list[float], norms: list[str],
                 scale_sets: list[tuple[float, ...]] | None = None) -> list[Setting]:
    out = [Setting(backbone, dict(PREVIOUS[backbone]), previous=True)]
    out += [Setting(backbone, {"support_frac": s, "normalisation": n, "scales": sc})
            for sc in (scale_sets or [(1.0,)]) for s in supports for n in norms]
    return out


def choose_setting(settings: list[Setting], tolerance: float) -> Setting:
    """The smallest-support setting (first normalisation and scale set listed on ties) within ``tolerance`` of
    the best score; the support of a multi-scale setting counts as its largest (support x largest factor)."""
    best = max(s.score for s in settings)
    near = [s for s in settings if not s.previous and s.score >= best - tolerance] or [max(settings, key=lambda s: s.score)]
    return min(near, key=lambda s: (s.descriptor.get("support_frac") or 0.0) * max(s.descriptor.get("scales", (1.0,))))


def _table(settings: list[Setting], resolution: int, with_mv: bool, tolerance: float) -> list[str]:
    head = ["backbone", "support (fraction of canvas side)", "normalisation",
            "PF-WILLOW choose PCK@0.1", *(["default objects PCDP@0.1"] if with_mv else []), "score"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    chosen = {b: choose_setting([s for s in settings if s.backbone == b], tolerance) for b in {s.backbone for s in settings}}
    for s in settings:
        mark = " (previous)" if s.previous else (" **chosen**" if chosen[s.backbone] is s else "")
        cells = [s.backbone, s.support_text(resolution) + mark, s.descriptor["normalisation"],
                 f"{s.scores['willow']:.1f}", *([f"{s.scores['multiview']:.1f}"] if with_mv else []), f"{s.score:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "PF-WILLOW",
                   help="PF-WILLOW root [../shared/data/PF-WILLOW]")
    p.add_argument("--backbones", default="dense_sift,daisy")
    p.add_argument("--sift-supports", default=SUPPORTS["dense_sift"], help="SIFT window side, fractions of the canvas")
    p.add_argument("--daisy-supports", default=SUPPORTS["daisy"], help="DAISY outer radius, fractions of the canvas")
    p.add_argument("--sift-norms", default=NORMS["dense_sift"])
    p.add_argument("--daisy-norms", default=NORMS["daisy"])
    p.add_argument("--sift-scales", default=SCALES["dense_sift"], help="SIFT scale sets, e.g. '1;1,2,4' [1]")
    p.add_argument("--daisy-scales", default=SCALES["daisy"], help="DAISY scale sets, e.g. '1;1,2,4' [1]")
    p.add_argument("--choose", default=",".join(CHOOSE), help="PF-WILLOW classes used for choosing")
    p.add_argument("--holdout", default=",".join(HOLDOUT), help="PF-WILLOW classes held out for checking")
    p.add_argument("--tolerance", type=float, default=3.0,
                   help="choose the smallest support within this many points of the best score [3]")
    p.add_argument("--every", type=int, default=2, help="use every N-th pair of the choosing classes [2]")
    p.add_argument("--resolution", type=int, default=448)
    p.add_argument("--mv-objects", type=int, default=4, help="default objects [4]; 0 skips the multiview score")
    p.add_argument("--mv-views", type=int, default=42)
    p.add_argument("--mv-render", type=int, default=512, help="render size of the default objects [512]")
    p.add_argument("--mv-pairs", type=int, default=3)
    p.add_argument("--mv-points", type=int, default=100)
    p.add_argument("--cache-dir", type=Path, default=None, help="feature cache [$CORRVIZ_CACHE/features]")
    p.add_argument("--write", type=Path, default=None, help="also write the tables as markdown to this file")
    args = p.parse_args(argv)

    from corrviz.core.backbones import get_config
    from corrviz.core.evaluate import default_feature_cache_dir
    from corrviz.core.evaluate.multiview import MultiviewSettings
    from corrviz.core.io import atomic_write

    backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    unknown = [b for b in backbones if b not in PREVIOUS]
    if unknown or not backbones:
        p.error(f"--backbones: choose from {', '.join(PREVIOUS)}, got {args.backbones!r}")
    if args.every < 1:
        p.error("--every must be >= 1")
    if not (args.data / "PF-dataset-WILLOW").is_dir() and not args.data.is_dir():
        p.error(f"--data: PF-WILLOW root {args.data} does not exist")
    choose = tuple(c for c in args.choose.split(",") if c)
    holdout = tuple(c for c in args.holdout.split(",") if c)
    if set(choose) & set(holdout):
        p.error(f"classes both chosen on and held out: {', '.join(sorted(set(choose) & set(holdout)))}")
    cache = args.cache_dir or default_feature_cache_dir()
    mv = MultiviewSettings(n_views=args.mv_views, resolution=args.mv_render, n_pairs=args.mv_pairs,
                           n_points=args.mv_points, n_default_objects=max(args.mv_objects, 1))
    settings: list[Setting] = []
    for b in backbones:
        key = "sift" if b == "dense_sift" else "daisy"
        settings += settings_for(b, _floats(getattr(args, f"{key}_supports"), f"--{key}-supports"),
                                 [n for n in getattr(args, f"{key}_norms").split(",") if n],
                                 _scale_sets(getattr(args, f"{key}_scales"), f"--{key}-scales"))

    t0 = time.perf_counter()
    for k, s in enumerate(settings, 1):
        s.scores["willow"] = willow_pck(s, args.data, choose, args.every, args.resolution, (0.1,), cache)[0.1]
        if args.mv_objects > 0:
            s.scores["multiview"] = multiview_pcdp(s, mv, args.resolution, cache)
        print(f"[{k}/{len(settings)}] {s.backbone} {s.support_text(args.resolution)} {s.descriptor['normalisation']}: "
              + ", ".join(f"{n} {v:.1f}" for n, v in s.scores.items()) + f"  ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr, flush=True)

    alphas = (0.05, 0.1, 0.15)
    check_lines = ["| backbone | setting | PCK@0.05 | PCK@0.1 | PCK@0.15 |", "|---|---|---|---|---|"]
    chosen: dict[str, Setting] = {}
    for b in backbones:
        mine = [s for s in settings if s.backbone == b]
        chosen[b] = choose_setting(mine, args.tolerance)
        for s in (mine[0], chosen[b]):
            pck = willow_pck(s, args.data, holdout, 1, args.resolution, alphas, cache)
            label = ("previous " if s.previous else "chosen ") + f"{s.support_text(args.resolution)}, {s.descriptor['normalisation']}"
            check_lines.append(f"| {b} | {label} | " + " | ".join(f"{pck[a]:.1f}" for a in alphas) + " |")

    registered = []
    for b in backbones:
        reg = get_config(b).descriptor
        same = all(reg.get(k) == chosen[b].descriptor.get(k) for k in ("support_frac", "support_px", "normalisation", "scales"))
        registered.append(f"- {b}: registered default {reg}; this sweep chooses {chosen[b].descriptor}"
                          + ("" if same else "  **(differs: update classical_backbone.py)**"))
    command = "python scripts/sweep_classical.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    out = [f"Choosing data: PF-WILLOW {', '.join(choose)} (every {args.every}. pair, NN, {args.resolution} px, "
           "PCK@0.1 bbox per-image)" + (f" + {args.mv_objects} default objects ({args.mv_pairs} view pairs x "
                                        f"{args.mv_points} points each, PCDP@0.1)" if args.mv_objects > 0 else "")
           + f"; score = mean of the two; chosen = smallest support within {args.tolerance:g} points of the best score.",
           "", *_table(settings, args.resolution, args.mv_objects > 0, args.tolerance), "",
           f"Held out (never used for choosing): PF-WILLOW {', '.join(holdout)}, every pair, NN, {args.resolution} px, "
           "PCK bbox per-image:", "", *check_lines, "", *registered, "",
           f"{time.perf_counter() - t0:.0f} s; command: `{command}`"]
    print("\n".join(out))
    if args.write is not None:
        doc = ["# Support and normalisation of the weight-free descriptors", "",
               "Produced by `scripts/sweep_classical.py` (see its docstring for the protocol). The support is the",
               "side of the SIFT window / the radius of DAISY's outer ring, as a fraction of the canvas side",
               f"(pixels at {args.resolution} px in brackets).", "", *out, ""]
        with atomic_write(args.write, "w") as fh:
            fh.write("\n".join(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
