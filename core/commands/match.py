"""``corrviz-match``: extract features, match points between two images, draw and print the matches.

Without images it runs on the built-in demo pair (known affine transform) and prints the PCK it
achieves. The default backbone is the first of ``dinov2_vits14``, ``vit_tiny_patch16_224``
(ImageNet-supervised, not DINOv2) whose weights can be found or downloaded; otherwise corrviz says
so in one line and uses the weight-free ``dense_sift``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import numpy as np

from ..errors import InputMismatchError, WeightsNotFoundError
from .common import add_feature_args, check_feature_args, doc_summary, print_backbones, run_cli


def parse_points(values: list[str] | None) -> np.ndarray | None:
    if not values:
        return None
    pts = []
    for v in values:
        try:
            x, y = (float(s) for s in v.split(","))
        except ValueError:
            raise InputMismatchError(f"--points: {v!r} is not of the form x,y") from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise InputMismatchError(f"--points: {v!r} is not a finite pixel position")
        pts.append((x, y))
    return np.asarray(pts, dtype=np.float64)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="corrviz-match", description=doc_summary(__doc__))
    p.add_argument("images", nargs="*", metavar="SRC TRG", help="source and target images (default: demo pair)")
    add_feature_args(p)
    p.add_argument("--points", nargs="+", metavar="x,y", help="source points in pixels (default: a foreground grid)")
    p.add_argument("--matcher", default="soft-argmax", choices=("nn", "mnn", "soft-argmax", "combined"))
    p.add_argument("--sphere-checkpoint", default=None,
                   help="sphere-mapper checkpoint over the same backbone (corrviz-train sph) for --matcher combined")
    p.add_argument("--sphere-alpha", type=float, default=0.2, help="weight of the sphere similarity [0.2]")
    p.add_argument("--grid-step", type=int, default=0, help="grid step in cells for default points (0: auto)")
    p.add_argument("--out", default=None, help="figure file (.png, .svg, .pdf)")
    p.add_argument("--json", default=None, help="write matches as JSON")
    p.add_argument("--dpi", type=int, default=150)
    return p


def choose_backbone(name: str | None, weights: str | None, device: str):
    """Build the requested backbone, or the first of the default order whose weights are found."""
    from ..backbones import DEFAULT_BACKBONE_ORDER, create_backbone, fallback_note

    if name is not None:
        return create_backbone(name, weights=weights, device=device)
    if weights is not None:  # an explicit file is meant for the first choice; a wrong one is an error
        return create_backbone(DEFAULT_BACKBONE_ORDER[0], weights=weights, device=device)
    passed: list[str] = []
    for cand in DEFAULT_BACKBONE_ORDER:
        try:
            backbone = create_backbone(cand, device=device)
        except WeightsNotFoundError:
            passed.append(cand)
            continue
        if passed:
            print(fallback_note(cand, passed), file=sys.stderr)
        return backbone
    raise WeightsNotFoundError(f"no weights for any of {', '.join(DEFAULT_BACKBONE_ORDER)}")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from ..demo import demo_pair
    from ..feature_spec import FeatureSpec
    from ..features import FeatureExtractor
    from ..figures import check_figure_path, match_figure, pca_panels, save_figure
    from ..io import load_image, write_json
    from ..matching import grid_points, match_points

    if args.list_backbones:
        print_backbones()
        return 0
    if len(args.images) not in (0, 2):
        raise InputMismatchError(f"give two images (SRC TRG) or none for the demo pair, got {len(args.images)}")
    check_feature_args(args)  # every argument check runs before any model is loaded
    pts = parse_points(args.points)
    if args.out:
        check_figure_path(args.out)
    demo = None
    if args.images:
        src, trg = load_image(args.images[0]), load_image(args.images[1])
        names = tuple(args.images)
    else:
        demo = demo_pair()
        src, trg, names = demo.src, demo.trg, ("demo source", "demo target")
    if pts is not None:
        h, w = src.shape[:2]
        outside = [f"{x:g},{y:g}" for x, y in pts if not (0 <= x <= w and 0 <= y <= h)]
        if outside:
            raise InputMismatchError(f"--points {' '.join(outside)}: outside the source image ({w} x {h} px)")
    if args.matcher == "combined" and not args.sphere_checkpoint:
        raise InputMismatchError("--matcher combined needs --sphere-checkpoint (a sphere mapper: corrviz-train sph)")
    if not 0.0 <= args.sphere_alpha <= 1.0:
        raise InputMismatchError(f"--sphere-alpha {args.sphere_alpha}: a weight between 0 and 1")
    backbone = choose_backbone(args.backbone, args.weights, args.device)
    if args.checkpoint and checkpoint_kind(args.checkpoint) == "grid_matcher":
        return run_grid_matcher(args, backbone, src, trg, names, pts, demo)
    if args.sphere_checkpoint:
        from ..session_3d import check_sphere_checkpoint

        check_sphere_checkpoint(args.sphere_checkpoint, backbone.name)  # a clear error before any extraction
    opts = FeatureSpec.from_args(args, backbone=backbone.name).feature_options()
    ex = FeatureExtractor(backbone, opts, checkpoint=args.checkpoint)
    t0 = time.perf_counter()
    fs, ft = ex.extract_many([src, trg])
    sphere = None
    if args.sphere_checkpoint:  # the mapper's own tap (prenorm); the same canvas and resolution as the features
        sphere_ex = FeatureExtractor(backbone, replace(opts, layer=None, facet=None), checkpoint=args.sphere_checkpoint)
        sphere = tuple(sphere_ex.extract_many([src, trg]))
    t_extract = time.perf_counter() - t0
    if pts is None:
        step = args.grid_step or max(1, round(max(fs.grid_shape) / 12))
        pts = grid_points(fs, step)
    t0 = time.perf_counter()
    matches = match_points(fs, ft, pts, args.matcher, sphere=sphere if args.matcher == "combined" else None,
                           alpha=args.sphere_alpha)
    t_match = time.perf_counter() - t0

    console = Console()
    score = None
    if demo is not None:
        score = demo.score(pts, matches.trg_xy)  # PCK through corrviz.core.metrics.pck
        console.print(f"demo pair: {demo.description}")
        console.print(score.line())

    table = Table(title=f"{len(matches)} matches, {ex.name} ({backbone.weights_source}), {args.matcher}, "
                        f"{ex.options.resolution}px {ex.options.canvas}")
    for col in ("#", "src x", "src y", "trg x", "trg y", "similarity", "valid"):
        table.add_column(col, justify="right")
    max_rows = 60
    for i, r in enumerate(matches.to_records()[:max_rows]):
        table.add_row(str(i), f"{r['src_x']:.1f}", f"{r['src_y']:.1f}", f"{r['trg_x']:.1f}", f"{r['trg_y']:.1f}",
                      f"{r['score']:.3f}", "yes" if r["valid"] else "no")
    console.print(table)
    if len(matches) > max_rows:
        console.print(f"... {len(matches) - max_rows} more matches (all of them with --json)")
    console.print(f"features: {t_extract * 1000:.0f} ms for 2 images; matching: {t_match * 1000:.1f} ms")

    if args.json:
        write_json(args.json, {"source": names[0], "target": names[1], "backbone": ex.name,
                               "weights": backbone.weights_source, "checkpoint": args.checkpoint,
                               "position_interpolation": backbone.config.pos_interpolation,
                               "options": ex.options.to_dict(), "matcher": args.matcher,
                               **({"sphere_checkpoint": args.sphere_checkpoint, "sphere_alpha": args.sphere_alpha}
                                  if args.matcher == "combined" else {}),
                               "matches": matches.to_records(),
                               **({"demo_pck_img": {str(a): v for a, v in score.pck.items()},
                                   "demo_pck_points": score.n_points} if score is not None else {})})
        console.print(f"wrote {args.json}")
    if args.out:
        content = (None, demo.target_content()) if demo is not None else (None, None)
        pca = pca_panels([fs, ft], content)
        fig = match_figure(src, trg, matches, pca, None if score is None else score.correct,
                           title=f"{ex.name} | {args.matcher} | {ex.options.resolution}px",
                           note=None if score is None else score.line(),
                           alpha=None if score is None else score.alpha_correct)
        save_figure(fig, args.out, dpi=args.dpi)
        console.print(f"wrote {args.out}")
    return 0


def checkpoint_kind(path: str) -> str:
    from ..checkpoint import read_checkpoint_metadata

    return str(read_checkpoint_metadata(path).get("kind") or "features")


def grid_matches(model, src: np.ndarray, trg: np.ndarray, pts: np.ndarray, resolution: int | None = None):  # noqa: ANN001
    """Matches read from a grid matcher's dense flow (confidence per point; score = confidence)."""
    from ..grid_matcher import flow_matches, predict_flow

    flow = predict_flow(model, src, trg, resolution)
    return flow_matches(flow, pts, (trg.shape[1], trg.shape[0])), flow


def run_grid_matcher(args: argparse.Namespace, backbone, src: np.ndarray, trg: np.ndarray, names: tuple,  # noqa: ANN001
                     pts: np.ndarray | None, demo) -> int:  # noqa: ANN001
    """corrviz-match with a VGGT-SC grid-matcher checkpoint: points read from the predicted grid (``--matcher``
    does not apply: the checkpoint predicts the matches), confidence in the table and the JSON."""
    from rich.console import Console
    from rich.table import Table

    from ..checkpoint import apply_checkpoint
    from ..figures import match_figure, save_figure
    from ..io import write_json

    model = apply_checkpoint(backbone, args.checkpoint, kind="grid_matcher")
    res = args.resolution or model.feature.get("resolution")
    if pts is None:
        h, w = src.shape[:2]
        step = max(1.0, max(h, w) / 12)
        ys, xs = np.meshgrid(np.arange(step / 2, h, step), np.arange(step / 2, w, step), indexing="ij")
        pts = np.stack([xs.ravel(), ys.ravel()], axis=1)
    t0 = time.perf_counter()
    matches, _ = grid_matches(model, src, trg, pts, res)
    t = time.perf_counter() - t0
    console = Console()
    score = None
    if demo is not None:
        score = demo.score(pts, matches.trg_xy)
        console.print(f"demo pair: {demo.description}")
        console.print(score.line())
    table = Table(title=f"{len(matches)} matches, grid matcher {args.checkpoint} on {backbone.name}, {res}px")
    for col in ("#", "src x", "src y", "trg x", "trg y", "confidence", "inside"):
        table.add_column(col, justify="right")
    for i, r in enumerate(matches.to_records()[:60]):
        table.add_row(str(i), f"{r['src_x']:.1f}", f"{r['src_y']:.1f}", f"{r['trg_x']:.1f}", f"{r['trg_y']:.1f}",
                      f"{r['confidence']:.3f}", "yes" if r["valid"] else "no")
    console.print(table)
    console.print(f"dense flow (both directions) + reading: {t * 1000:.0f} ms")
    if args.json:
        write_json(args.json, {"source": names[0], "target": names[1], "backbone": backbone.name,
                               "weights": backbone.weights_source, "checkpoint": args.checkpoint,
                               "kind": "grid_matcher", "resolution": res, "matcher": "grid",
                               "matches": matches.to_records(),
                               **({"demo_pck_img": {str(a): v for a, v in score.pck.items()}}
                                  if score is not None else {})})
        console.print(f"wrote {args.json}")
    if args.out:
        fig = match_figure(src, trg, matches, None, None if score is None else score.correct,
                           title=f"grid matcher | {backbone.name} | {res}px", note=None if score is None else score.line(),
                           alpha=None if score is None else score.alpha_correct)
        save_figure(fig, args.out, dpi=args.dpi)
        console.print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), "corrviz-match")


if __name__ == "__main__":
    raise SystemExit(main())
