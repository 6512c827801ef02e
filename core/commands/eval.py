"""``corrviz-eval``: run a benchmark (keypoint transfer or tracking) and write JSON, CSV and plots.

Features are cached on disk (``$CORRVIZ_CACHE/features``) keyed by image content and every
feature setting, so running again with another matcher or metric does not re-extract.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import add_feature_args, check_feature_args, doc_summary, print_backbones, run_cli


def build_parser() -> argparse.ArgumentParser:
    from ..evaluate import BENCHMARKS

    p = argparse.ArgumentParser(prog="corrviz-eval", description=doc_summary(__doc__))
    p.add_argument("benchmark", nargs="?", metavar="BENCHMARK",
                   help="one of: " + ", ".join(f"{k} ({b.description})" for k, b in BENCHMARKS.items())
                   + "; or downstream (pose + BADJA tracking + PF-WILLOW transfer in one table); or dense-grid "
                   "(a grid matcher checkpoint on rendered pairs: EPE, PCDP, confidence AUC, synthetic dense)")
    p.add_argument("--data", help="dataset root (or a folder holding it, e.g. PF-WILLOW/)")
    add_feature_args(p)
    p.add_argument("--matcher", default="nn", choices=("nn", "mnn", "soft-argmax", "combined"))
    p.add_argument("--radius", type=int, default=7, help="soft-argmax window radius in cells [7]")
    p.add_argument("--beta", type=float, default=0.02, help="soft-argmax temperature [0.02]")
    p.add_argument("--sphere-checkpoint", default=None,
                   help="checkpoint giving sphere maps over the same backbone (combined matcher)")
    p.add_argument("--sphere-alpha", type=float, default=0.2, help="weight of the sphere similarity [0.2]")
    p.add_argument("--track-radius", type=float, default=35.0, help="tracking soft-argmax radius in px [35]")
    p.add_argument("--occlusion-threshold", type=float, default=0.5,
                   help="tracking: occluded when the peak similarity is below this [0.5]")
    p.add_argument("--query-mode", default="first", choices=("first", "strided"))
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N pairs / clips")
    p.add_argument("--split", default=None, help="SPair split (trn / val / test)")
    p.add_argument("--category", action="append", default=None, help="restrict to a category (repeatable)")
    p.add_argument("--kind", default=None, help="AP-10K pair kind (intra-species / cross-species / cross-family / all)")
    p.add_argument("--alphas", default=None, help="comma-separated PCK thresholds [0.01,0.05,0.1,0.15,0.2]")
    p.add_argument("--no-kap", action="store_true", help="skip KAP")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the on-disk feature cache")
    p.add_argument("--cache-dir", default=None, help="feature cache folder [$CORRVIZ_CACHE/features]")
    p.add_argument("--out", default="results", help="output folder [results/]")
    p.add_argument("--tag", default=None, help="file name stem of the outputs (default from the protocol)")
    p.add_argument("--views", "--n-views", dest="views", type=int, default=42,
                   help="multiview: views rendered per mesh [42]")
    p.add_argument("--pairs", type=int, default=12, help="multiview: view pairs per object [12]")
    p.add_argument("--points", type=int, default=200, help="multiview: points per view pair [200]")
    p.add_argument("--max-rotation", type=float, default=60.0,
                   help="multiview: largest relative rotation of a view pair in degrees [60]")
    g = p.add_argument_group("pose (corrviz-eval pose)")
    g.add_argument("--references", type=int, default=36, help="pose: reference views on one orbit [36]")
    g.add_argument("--queries", type=int, default=24, help="pose: query views per object [24]")
    g.add_argument("--appearance", default="same", choices=("same", "lighting", "texture", "lighting+texture"),
                   help="pose: change the queries' lighting and/or texture colours [same]")
    g.add_argument("--object-size-cm", type=float, default=20.0,
                   help="pose: object diameter in cm, for the cm errors and n cm - n deg accuracy [20]")
    g.add_argument("--pose-stride", type=int, default=1,
                   help="pose: use every N-th grid cell of references and queries [1; the reference code: 4]")
    g.add_argument("--pnp-threshold", type=float, default=8.0, help="pose: RANSAC reprojection threshold px [8]")
    g.add_argument("--no-refine", action="store_true", help="pose: skip the LM refinement on the inliers")
    g.add_argument("--query-region", default="image", choices=("image", "mask"),
                   help="pose: match the whole query image, or only its ground-truth mask (a perfect detector)")
    g.add_argument("--render-resolution", type=int, default=512, help="pose: rendered image side in px [512]")
    from ..evaluate.downstream_cli import add_downstream_args

    add_downstream_args(p)
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _dataset_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if args.split:
        opts["split"] = args.split
    if args.category:
        opts["categories"] = args.category
    if args.kind:
        opts["kind"] = args.kind
    return opts


def _summary_lines(result: Any) -> list[str]:
    p = result.protocol
    head = (f"{result.benchmark}: {p['backbone']} ({p['weights_source']}), {p['resolution']}px {p['canvas']}, "
            f"layer {p['layer']} {p['facet']}, matcher {p['matcher']['method']}; "
            f"{p.get('n_evaluated', 0)} of {p['subset_size']} evaluated ({p['n_available']} available, "
            f"{p['n_skipped']} skipped)")
    lines = [head]
    if result.task == "keypoints":
        for norm in p.get("norms", []):
            for a in p.get("alphas", []):
                vals = [result.value("pck", a, norm, agg) for agg in ("per_keypoint", "per_image", "macro")]
                lines.append(f"  PCK@{a:<5} ({norm:4s})  per-keypoint {100 * vals[0]:6.2f}  "
                             f"per-image {100 * vals[1]:6.2f}  macro {100 * vals[2]:6.2f}")
        for a in p.get("kap_alphas", []):
            lines.append(f"  KAP@{a:<5} (bbox)  {100 * result.value('kap', a, 'bbox', 'macro'):6.2f} "
                         f"over {p['kap_pairs']} pairs")
        for r in result.rows:  # synthetic SPair: KAP per viewpoint bin, left/right confusion
            if r["metric"] == "kap" and r["viewpoint"] != "all":
                lines.append(f"  KAP@{r['alpha']:<5} (bbox)  {100 * r['value']:6.2f}  viewpoint {r['viewpoint']} "
                             f"({r['n_pairs']} pairs)")
            if r["metric"] == "lr_confusion" and r["category"] == "all":
                lines.append(f"  left/right confusion {100 * r['value']:6.2f}  viewpoint {r['viewpoint']} "
                             f"({r['n_keypoints']} keypoints with a visible twin)")
    elif result.task == "pose":
        from ..evaluate.pose_report import pose_summary_lines

        lines += pose_summary_lines(result)
    else:
        for r in result.rows:
            if r["category"] == "all":
                v = r["value"]
                name = r["metric"] + (f"@{r['alpha']}" if r["alpha"] is not None else "")
                lines.append(f"  {name:20s} {100 * v:6.2f}" if v == v else f"  {name:20s}    n/a")
    for reason, n in p.get("skipped_reasons", {}).items():
        lines.append(f"  skipped {n:4d}: {reason}")
    st = result.stats
    lines.append(f"  {st['items_per_second']:.1f} items/s; features extracted {st['extractions']}, "
                 f"from disk {st['disk_hits']}, from memory {st['memory_hits']}")
    return lines


def _pose_settings(args: argparse.Namespace) -> Any:
    from ..evaluate.pose import PoseSettings

    return PoseSettings(n_references=args.references, n_queries=args.queries, resolution=args.render_resolution,
                        appearance=args.appearance, object_size_cm=args.object_size_cm, stride=args.pose_stride,
                        threshold_px=args.pnp_threshold, refine=not args.no_refine, query_region=args.query_region)


def parse_alphas(text: str) -> tuple[float, ...]:
    """``--alphas 0.05,0.1`` -> (0.05, 0.1); each threshold in (0, 1]."""
    from ..errors import InputMismatchError

    try:
        alphas = tuple(float(a) for a in text.split(","))
    except ValueError:
        raise InputMismatchError(f"--alphas: {text!r} is not a comma-separated list of numbers") from None
    if not all(0.0 < a <= 1.0 for a in alphas):
        raise InputMismatchError(f"--alphas: {text!r}: every threshold must be in (0, 1]")
    return alphas


def check_args(args: argparse.Namespace) -> None:
    """Every check that needs no model or data read, so a bad command line fails at once."""
    from ..errors import InputMismatchError
    from ..evaluate import get_benchmark

    bench = get_benchmark(args.benchmark)
    check_feature_args(args)
    if args.data != "default" and not Path(args.data).exists():
        raise InputMismatchError(f"--data {args.data}: {bench.name} data root does not exist")
    if args.alphas:
        parse_alphas(args.alphas)
    for flag, value in (("--limit", args.limit), ("--views", args.views), ("--pairs", args.pairs),
                        ("--points", args.points), ("--references", args.references), ("--queries", args.queries),
                        ("--pose-stride", args.pose_stride), ("--render-resolution", args.render_resolution)):
        if value is not None and value < 1:
            raise InputMismatchError(f"{flag} must be at least 1, got {value}")
    if args.object_size_cm <= 0 or args.pnp_threshold <= 0:
        raise InputMismatchError("--object-size-cm and --pnp-threshold must be positive")
    if args.matcher == "combined" and not args.sphere_checkpoint:
        raise InputMismatchError("--matcher combined needs --sphere-checkpoint (a checkpoint giving sphere maps)")
    if args.sphere_checkpoint and not Path(args.sphere_checkpoint).is_file():
        raise InputMismatchError(f"--sphere-checkpoint {args.sphere_checkpoint}: file does not exist")


def grid_flow_matcher(args: argparse.Namespace):  # noqa: ANN201
    """A grid-matcher checkpoint on a keypoint benchmark: matches read from its dense flow (other tasks refuse)."""
    from ..backbones import create_backbone
    from ..checkpoint import apply_checkpoint
    from ..errors import InputMismatchError
    from ..evaluate import get_benchmark
    from ..evaluate.spec import GridFlowMatcher

    bench = get_benchmark(args.benchmark)
    if bench.task != "keypoints":
        raise InputMismatchError(f"--checkpoint {args.checkpoint} is a grid matcher (VGGT-SC); {bench.name} is a "
                                 f"{bench.task} benchmark. Score it with corrviz-eval dense-grid, or use it on a "
                                 "keypoint benchmark (spair, synthetic-spair, pfwillow, ...)")
    model = apply_checkpoint(create_backbone(args.backbone, weights=args.weights, device=args.device),
                             args.checkpoint, kind="grid_matcher")
    return GridFlowMatcher(model, args.checkpoint, args.resolution)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputMismatchError
    from ..evaluate import ExtractorSpec, MatcherSpec, evaluate
    from ..evaluate.multiview import MultiviewSettings
    from ..progress import TqdmProgress

    if args.list_backbones:
        print_backbones()
        return 0
    if args.benchmark == "downstream":
        from ..evaluate.downstream_cli import run_downstream_command

        check_feature_args(args)
        return run_downstream_command(args, _pose_settings(args))
    if args.benchmark == "dense-grid":
        from ..evaluate.dense_grid_cli import run_dense_grid_command

        check_feature_args(args)
        return run_dense_grid_command(args)
    missing = [name for name, value in (("BENCHMARK", args.benchmark), ("--data", args.data),
                                        ("--backbone", args.backbone)) if not value]
    if missing:
        raise InputMismatchError(f"the following arguments are required: {', '.join(missing)} "
                                 "(see corrviz-eval --help)")
    check_args(args)
    spec = ExtractorSpec.from_args(args)
    sphere = ExtractorSpec.from_args(args, checkpoint=args.sphere_checkpoint) if args.sphere_checkpoint else None
    matcher: Any = MatcherSpec(args.matcher, args.radius, args.beta, args.sphere_alpha, args.track_radius,
                               args.occlusion_threshold)
    if args.checkpoint:
        from ..checkpoint import read_checkpoint_metadata

        if read_checkpoint_metadata(args.checkpoint).get("kind") == "grid_matcher":
            matcher = grid_flow_matcher(args)  # KAP (a property of feature similarity maps) is not reported
    kwargs: dict[str, Any] = {}
    if args.alphas:
        kwargs["alphas"] = parse_alphas(args.alphas)
    progress = TqdmProgress("evaluating", disable=args.quiet)
    try:
        result = evaluate(args.benchmark, args.data, spec, matcher, args.limit, progress,
                          kap=False if (args.no_kap or not isinstance(matcher, MatcherSpec)) else None, dataset_options=_dataset_options(args),
                          cache_root=args.cache_dir, use_cache=not args.no_cache, query_mode=args.query_mode,
                          sphere=sphere, multiview=MultiviewSettings(args.views, n_pairs=args.pairs,
                                                                     n_points=args.points,
                                                                     max_rotation_deg=args.max_rotation),
                          pose=_pose_settings(args), **kwargs)
    finally:
        progress.close()
    paths = result.save(args.out, args.tag, plots=not args.no_plots)
    for line in _summary_lines(result):
        print(line)
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    print(f"results: {Path(paths['json'])}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), "corrviz-eval")


if __name__ == "__main__":
    raise SystemExit(main())
