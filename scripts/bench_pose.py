"""Benchmark one-shot pose: onboarding time for ``--references`` views (default 42) and per-query pose time.

Renders a procedural object (``--object``, default mug) on one orbit and ``--queries`` other views,
then times, with a fresh feature cache: onboarding (feature extraction + database of object cells),
loading the cached database, and per query: feature extraction, dense mutual-NN matching against
the database, EPnP-RANSAC + LM refinement, and the whole :func:`estimate_pose`. Prints one table
(median over queries; seconds on this machine, which the table's header names).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="dense_sift")
    p.add_argument("--resolution", type=int, default=None, help="feature canvas side [backbone default]")
    p.add_argument("--weights", default=None)
    p.add_argument("--references", type=int, default=42)
    p.add_argument("--queries", type=int, default=5)
    p.add_argument("--render-resolution", type=int, default=512)
    p.add_argument("--object", default="mug")
    p.add_argument("--stride", type=int, default=1, help="grid stride of database and query cells [1]")
    args = p.parse_args(argv)

    import torch

    from corrviz.core.evaluate import ExtractorSpec, FeatureStore, build_extractor
    from corrviz.core.evaluate.pose import PoseSettings, query_poses
    from corrviz.core.pose import (
        PoseOptions,
        build_database,
        estimate_pose,
        mutual_nn,
        reference_views,
        solve_pnp,
    )
    from corrviz.core.pose.estimate import query_cells
    from corrviz.core.render import orbit_poses, render_poses
    from corrviz.core.synthetic import make_object

    mesh = make_object(args.object)
    refs = render_poses(mesh, orbit_poses(args.references, 2.0, 20.0), resolution=args.render_resolution)
    settings = PoseSettings(n_queries=args.queries, resolution=args.render_resolution)
    queries = render_poses(mesh, query_poses(args.object, settings), resolution=args.render_resolution)
    ex = build_extractor(ExtractorSpec(args.backbone, args.resolution, weights=args.weights))
    opts = PoseOptions(stride=args.stride)
    with tempfile.TemporaryDirectory(prefix="bench-pose-") as tmp:
        store = FeatureStore(ex, Path(tmp) / "features", memory_entries=0)
        t0 = time.perf_counter()
        db = build_database(reference_views(refs), store, args.stride, cache_root=Path(tmp) / "db")
        onboard_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cached = build_database(reference_views(refs), store, args.stride, cache_root=Path(tmp) / "db")
        cached_s = time.perf_counter() - t0
        assert cached.from_cache
        extract, match, pnp, total, found = [], [], [], [], 0
        for view in queries.views:
            t0 = time.perf_counter()
            fm = ex.extract(view.rgb)
            extract.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            xy, feats = query_cells(fm, args.stride)
            qi, dj, _ = mutual_nn(feats, db.features)
            match.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            solve_pnp(db.points[dj], xy[qi], view.K, opts)
            pnp.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            est = estimate_pose(fm, db, view.K, opts)
            total.append(time.perf_counter() - t0 + extract[-1])
            found += int(est.found)
    n_ref = args.references
    print(f"bench_pose: {args.backbone} ({ex.backbone.weights_source}), {ex.options.resolution} px features, "
          f"{args.render_resolution} px renders of {args.object}, stride {args.stride}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"database: {len(db)} points of {n_ref} views ({len(db) / n_ref:.0f} per view), {db.dim} dims")
    print(f"{'stage':42s} {'seconds':>10s} {'per item':>12s}")
    print(f"{f'onboarding {n_ref} reference views (extract + build)':42s} {onboard_s:10.2f} "
          f"{onboard_s / n_ref * 1000:9.0f} ms")
    print(f"{'load cached database':42s} {cached_s:10.3f}")
    for label, vals in (("query: feature extraction", extract), ("query: dense mutual-NN", match),
                        ("query: EPnP-RANSAC + LM", pnp), ("query: pose total (extract + estimate)", total)):
        print(f"{label:42s} {_median(vals):10.3f} {'median':>12s}")
    print(f"queries with a pose: {found} of {len(queries.views)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
