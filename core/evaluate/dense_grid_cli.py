"""``corrviz-eval dense-grid``: score a grid matcher checkpoint (VGGT-SC) on rendered view pairs.

Data: ``default`` (the held-out procedural categories, seed 0: never trained by any corrviz
method), a mesh file, or a folder of meshes. Each object is rendered at the checkpoint's
resolution from ``--views`` viewpoints; pairs within ``--max-rotation`` degrees are scored by
:func:`~corrviz.core.evaluate.dense_grid.run_dense_grid` (EPE, PCDP, confidence AUC, synthetic
dense colour error) beside nearest-neighbour matching of the frozen backbone's features on the same
points. Writes ``{tag}.json`` (protocol, per-object and pooled metrics) and ``{tag}.csv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .dense_grid import DenseGridRun, DenseGridSettings, nn_baseline, run_dense_grid
from .pose import HELD_OUT_OBJECTS, pose_sources


def _check(args: argparse.Namespace) -> None:
    from ..errors import InputMismatchError

    if not args.backbone or not args.checkpoint:
        raise InputMismatchError("corrviz-eval dense-grid needs --backbone and --checkpoint (a grid matcher "
                                 "checkpoint, e.g. from corrviz-train vggt_sc)")
    if not Path(args.checkpoint).is_file():
        raise InputMismatchError(f"--checkpoint {args.checkpoint}: file does not exist")
    data = args.data or "default"
    if data != "default" and not Path(data).exists():
        raise InputMismatchError(f"--data {data}: give 'default', a mesh file or a folder of meshes")
    for flag, value in (("--views", args.views), ("--pairs", args.pairs), ("--points", args.points)):
        if value < 1:
            raise InputMismatchError(f"{flag} must be at least 1, got {value}")


def run_dense_grid_command(args: argparse.Namespace) -> int:
    """Check the inputs, load the checkpoint (kind ``grid_matcher`` enforced), score, write, print."""
    from ..backbones import create_backbone
    from ..checkpoint import apply_checkpoint
    from ..errors import DatasetError
    from ..io import atomic_write, write_json
    from ..progress import TqdmProgress
    from ..render import render_views
    from ..synthetic import make_object

    _check(args)
    data = args.data or "default"
    backbone = create_backbone(args.backbone, weights=args.weights, device=args.device)
    model = apply_checkpoint(backbone, args.checkpoint, kind="grid_matcher").eval()
    res = int(args.resolution or model.feature.get("resolution") or model.config.default_resolution)
    if data == "default":
        sources = [(n, lambda n=n: make_object(n, 0)) for n in HELD_OUT_OBJECTS]
    else:
        sources = [(s.name, s.load) for s in pose_sources(data)]
    s = DenseGridSettings(n_pairs=args.pairs, n_points=args.points, max_rotation_deg=args.max_rotation)
    baseline = None if args.no_baseline else nn_baseline(backbone, res, args.layer, args.facet)
    progress = TqdmProgress("dense grid", disable=args.quiet)
    per_object: dict[str, dict[str, float]] = {}
    pooled = DenseGridRun([], [], [], [])
    try:
        for name, load in sources:
            vs = render_views(load(), n_views=args.views, resolution=res)
            run = run_dense_grid([vs], model, s, baseline, progress, res)
            if run.pairs:
                per_object[name] = run.metrics(s)
                for field in ("errors", "confidence", "baseline_errors", "colour_errors"):
                    getattr(pooled, field).extend(getattr(run, field))
                pooled.pairs += run.pairs
    finally:
        progress.close()
    if not pooled.pairs:
        raise DatasetError(f"dense-grid: no view pair within {args.max_rotation} degrees scored on {data}; raise "
                           "--max-rotation or --views")
    total = pooled.metrics(s)
    protocol: dict[str, Any] = {"benchmark": "dense-grid", "data": str(data), "backbone": args.backbone,
                                "checkpoint": str(args.checkpoint), "resolution": res, "views": args.views,
                                "pairs_per_object": args.pairs, "points_per_pair": args.points,
                                "max_rotation_deg": args.max_rotation, "seed": s.seed,
                                "epe_unit": "fraction of min(W, H)", "auc_delta": s.auc_delta}
    out = Path(args.out)
    tag = args.tag or f"dense_grid_{args.backbone}_{res}_{Path(args.checkpoint).parent.name}"
    write_json(out / f"{tag}.json", {"protocol": protocol, "objects": per_object, "all": total})
    keys = list(total)
    with atomic_write(out / f"{tag}.csv", "w") as fh:
        fh.write("object," + ",".join(keys) + "\n")
        for name, m in [*per_object.items(), ("all", total)]:
            fh.write(name + "," + ",".join("" if not np.isfinite(m.get(k, np.nan)) else f"{m[k]:.6g}"
                                           for k in keys) + "\n")
    cols = ["epe", "pcdp@0.05", "pcdp@0.1", "conf_auc", "synthetic_dense"] + (["nn_epe", "nn_pcdp@0.05"]
                                                                                if baseline else [])
    print("| object | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, m in [*per_object.items(), ("all", total)]:
        print(f"| {name} | " + " | ".join(f"{m.get(c, float('nan')):.4f}" for c in cols) + " |")
    print(f"wrote {out / f'{tag}.json'}, {out / f'{tag}.csv'}", file=sys.stderr)
    print(f"results: {out / f'{tag}.json'}")
    return 0
