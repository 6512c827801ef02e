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

import numpy as np

from ..errors import InputMismatchError, WeightsNotFoundError
from .common import add_feature_args, print_backbones, run_cli


def parse_points(values: list[str] | None) -> np.ndarray | None:
    if not values:
        return None
    pts = []
    for v in values:
        try:
            x, y = (float(s) for s in v.split(","))
        except ValueError:
            raise InputMismatchError(f"--points: {v!r} is not of the form x,y") from None
        pts.append((x, y))
    return np.asarray(pts, dtype=np.float64)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="corrviz-match", description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="*", metavar="SRC TRG", help="source and target images (default: demo pair)")
    add_feature_args(p)
    p.add_argument("--points", nargs="+", metavar="x,y", help="source points in pixels (default: a foreground grid)")
    p.add_argument("--matcher", default="soft-argmax", choices=("nn", "mnn", "soft-argmax"))
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
    from ..features import FeatureExtractor, FeatureOptions
    from ..figures import match_figure, save_figure
    from ..io import load_image, write_json
    from ..matching import grid_points, match_points
    from ..pca import joint_pca_rgb, upsample_rgb

    if args.list_backbones:
        print_backbones()
        return 0
    if len(args.images) not in (0, 2):
        raise InputMismatchError(f"give two images (SRC TRG) or none for the demo pair, got {len(args.images)}")
    demo = None
    if args.images:
        src, trg = load_image(args.images[0]), load_image(args.images[1])
        names = tuple(args.images)
    else:
        demo = demo_pair()
        src, trg, names = demo.src, demo.trg, ("demo source", "demo target")
    backbone = choose_backbone(args.backbone, args.weights, args.device)
    opts = FeatureOptions(resolution=args.resolution, canvas=args.canvas, layer=args.layer, facet=args.facet,
                          device=args.device, dtype=args.dtype, batch_size=args.batch_size)
    ex = FeatureExtractor(backbone, opts, checkpoint=args.checkpoint)
    t0 = time.perf_counter()
    fs, ft = ex.extract_many([src, trg])
    t_extract = time.perf_counter() - t0
    pts = parse_points(args.points)
    if pts is None:
        step = args.grid_step or max(1, round(max(fs.grid_shape) / 12))
        pts = grid_points(fs, step)
    t0 = time.perf_counter()
    matches = match_points(fs, ft, pts, args.matcher)
    t_match = time.perf_counter() - t0

    console = Console()
    correct = None
    if demo is not None:
        gt = demo.ground_truth(pts)
        inside = demo.inside_target(gt)
        err = np.linalg.norm(matches.trg_xy - gt, axis=1)
        thr = max(trg.shape[:2])
        correct = err <= 0.1 * thr
        res = {a: float((err[inside] <= a * thr).mean()) for a in (0.05, 0.1)}
        console.print(f"demo pair: {demo.description}")
        console.print(f"PCK@0.05 (image) = {res[0.05]:.3f}   PCK@0.1 (image) = {res[0.1]:.3f}   "
                      f"over {int(inside.sum())} grid points whose true match is inside the target")

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
                               "matches": matches.to_records()})
        console.print(f"wrote {args.json}")
    if args.out:
        pca = joint_pca_rgb([fs, ft])
        fig = match_figure(src, trg, matches, (upsample_rgb(pca[0], fs), upsample_rgb(pca[1], ft)), correct,
                           title=f"{ex.name} | {args.matcher} | {ex.options.resolution}px")
        save_figure(fig, args.out, dpi=args.dpi)
        console.print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), "corrviz-match")


if __name__ == "__main__":
    raise SystemExit(main())
