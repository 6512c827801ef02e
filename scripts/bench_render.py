"""Benchmark the ray-cast renderer and ground-truth correspondence queries.

Prints the time to render ``--views`` views (default 42) of a ~``--triangles`` triangle textured
mesh (default 10k, a procedural torus; or ``--mesh PATH``) at ``--resolution`` px (default 512),
and the throughput of ``ViewSet.correspondence`` (exact, ray-cast) and of the map-based variant.
Target on a 2-core CPU: 42 views x 10k triangles x 512 px in under 20 s.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def torus_mesh(triangles: int):
    """A checker-textured torus with about ``triangles`` triangles."""
    from corrviz.core.render import normalize_mesh
    from corrviz.core.synthetic import geons
    from corrviz.core.synthetic.objects import assemble
    from corrviz.core.synthetic.textures import checker

    n_tube = max(int(round(np.sqrt(triangles / 4.0))), 3)
    n_around = max(int(round(triangles / (2.0 * n_tube))), 3)
    rng = np.random.default_rng(0)
    mesh = assemble([(geons.torus(0.3, 0.2, n_around, n_tube), checker(rng, cells=8))], name="torus")
    return normalize_mesh(mesh)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--views", type=int, default=42)
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--triangles", type=int, default=10_000)
    p.add_argument("--mesh", default=None, help="render this mesh file instead of the torus")
    p.add_argument("--queries", type=int, default=100_000, help="correspondence queries per pair")
    p.add_argument("--pairs", type=int, default=10)
    args = p.parse_args(argv)

    from corrviz.core.render import load_mesh, render_views

    mesh = load_mesh(args.mesh) if args.mesh else torus_mesh(args.triangles)
    import open3d as o3d  # noqa: F401  (import cost kept out of the timing)

    t0 = time.perf_counter()
    viewset = render_views(mesh, n_views=args.views, resolution=args.resolution)
    render_s = time.perf_counter() - t0
    print(f"render: {args.views} views of {mesh.n_faces} triangles at {args.resolution} px: "
          f"{render_s:.2f} s ({render_s / args.views * 1000:.0f} ms/view)")

    rng = np.random.default_rng(0)
    n_pairs = min(args.pairs, max(args.views - 1, 1))
    for exact in (True, False):
        total, valid, elapsed = 0, 0, 0.0
        for k in range(n_pairs):
            a, b = k % args.views, (k + 1) % args.views
            fg = viewset.views[a].foreground_pixels()
            if len(fg) == 0:
                continue
            xy = fg[rng.integers(0, len(fg), args.queries)] + rng.uniform(-0.5, 0.5, (args.queries, 2))
            t0 = time.perf_counter()
            _, ok = viewset.correspondence(a, b, xy, exact=exact)
            elapsed += time.perf_counter() - t0
            total += len(xy)
            valid += int(ok.sum())
        rate = total / max(elapsed, 1e-9)
        label = "exact (ray cast)" if exact else "maps (nearest pixel)"
        print(f"correspondence {label}: {total} queries in {elapsed:.3f} s = {rate / 1e6:.2f} M queries/s "
              f"({valid / max(total, 1):.0%} valid)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
