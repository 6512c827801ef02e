"""``corrviz-data``: write rendered datasets with exact ground truth (nothing to download).

Subcommands::

    corrviz-data list                                   procedural objects
    corrviz-data objects OUT [--objects chair,mug] [--views 42] [--resolution 512] [--seed 0]
    corrviz-data mesh MESH [MESH ...] --out OUT [--views 42] [--resolution 512]
    corrviz-data video OBJECT_OR_MESH OUT [--path orbit|arc|handheld] [--frames 24] [--grid 16]
    corrviz-data default [--n-objects 4] [--views 42] [--resolution 512]   build/cache, print path

``--views`` is the flag of ``corrviz-eval multiview`` too; ``--n-views`` is accepted as an alias.
    corrviz-data demo                                   build/cache the demo pair, print its folder
    corrviz-data synthetic-spair OUT [--categories all] [--instances 16,4,8] [--pairs 300,60,120]
                 [--holdout lamp] [--resolution 256]    semantic categories with exact keypoints, SPair layout

Folder layouts: :mod:`corrviz.core.render.storage` (one view set) and
:mod:`corrviz.core.synthetic.dataset` (several objects).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..progress import TqdmProgress
from .common import doc_summary, run_cli


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="corrviz-data", description=doc_summary(__doc__))
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the procedural objects")

    def render_opts(q: argparse.ArgumentParser, views: int = 42) -> None:
        q.add_argument("--views", "--n-views", dest="n_views", type=int, default=views, metavar="N",
                       help="views per object [%(default)s]")
        q.add_argument("--resolution", type=int, default=512, help="image side in pixels [%(default)s]")
        q.add_argument("--distance", type=float, default=2.0, help="camera distance [%(default)s]")
        q.add_argument("--focal", type=float, default=560.0, help="focal in px at 512 px [%(default)s]")
        q.add_argument("--quiet", action="store_true", help="no progress bar")

    q = sub.add_parser("objects", help="render procedural objects into a dataset folder")
    q.add_argument("out", type=Path)
    q.add_argument("--objects", default="chair,mug,car,table",
                   help="comma-separated names, 'all', or a number N: the first N default objects "
                        "(chair, mug, car, table, box, cylinder, torus, bowl) [%(default)s]")
    q.add_argument("--seed", type=int, default=0)
    render_opts(q)

    q = sub.add_parser("mesh", help="render mesh files into a dataset folder")
    q.add_argument("meshes", type=Path, nargs="+")
    q.add_argument("--out", type=Path, required=True)
    render_opts(q)

    q = sub.add_parser("video", help="render a camera path with ground-truth point tracks")
    q.add_argument("source", help="procedural object name or mesh file")
    q.add_argument("out", type=Path)
    q.add_argument("--path", choices=("orbit", "arc", "handheld"), default="orbit")
    q.add_argument("--frames", type=int, default=24)
    q.add_argument("--grid", type=int, default=16, help="track a grid x grid lattice [%(default)s]")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--resolution", type=int, default=512)
    q.add_argument("--distance", type=float, default=2.0)
    q.add_argument("--quiet", action="store_true")

    q = sub.add_parser("default", help="build (or find) the cached default dataset and print its folder")
    q.add_argument("--n-objects", type=int, default=4)
    q.add_argument("--views", "--n-views", dest="n_views", type=int, default=42, metavar="N",
                   help="views per object [42]")
    q.add_argument("--resolution", type=int, default=512)
    q.add_argument("--quiet", action="store_true")

    sub.add_parser("demo", help="build (or find) the cached demo pair and print its folder")

    q = sub.add_parser("synthetic-spair", help="render semantic categories with exact keypoints in the SPair layout")
    q.add_argument("out", type=Path)
    q.add_argument("--categories", default="all", help="comma-separated categories or 'all' [%(default)s]")
    q.add_argument("--instances", default="16,4,8", help="instances per category in train,val,test [%(default)s]")
    q.add_argument("--pairs", default="300,60,120", help="pairs per category in train,val,test [%(default)s]")
    q.add_argument("--holdout", default="", help="comma-separated categories held out whole (test split only)")
    q.add_argument("--resolution", type=int, default=256)
    q.add_argument("--background", choices=("texture", "black"), default="texture")
    q.add_argument("--seed", type=int, default=0, help="seed of the pair sampling [%(default)s]")
    q.add_argument("--quiet", action="store_true")
    return p


def _three_counts(flag: str, text: str) -> tuple[int, int, int]:
    from ..errors import InputMismatchError

    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 0:
        raise InputMismatchError(f"{flag} {text!r}: give three non-negative counts train,val,test (e.g. 16,4,8)")
    return values  # type: ignore[return-value]


def _synthetic_spair(args: argparse.Namespace, progress: TqdmProgress | None) -> None:
    from ..errors import InputMismatchError, suggest
    from ..synthetic.categories import list_categories
    from ..synthetic.categories.dataset import SplitSizes, write_synthetic_spair
    from ..synthetic.keypoints import RenderSettings

    known = list_categories()
    cats = known if args.categories == "all" else [c.strip() for c in args.categories.split(",") if c.strip()]
    holdout = [c.strip() for c in args.holdout.split(",") if c.strip()]
    for c in cats + holdout:
        if c not in known:
            raise InputMismatchError(f"unknown category {c!r}.{suggest(c, known)} Available: {', '.join(known)}")
    if args.resolution < 32:
        raise InputMismatchError(f"--resolution {args.resolution}: at least 32 px")
    sizes = SplitSizes(_three_counts("--instances", args.instances), _three_counts("--pairs", args.pairs))
    root = write_synthetic_spair(args.out, cats, sizes, RenderSettings(resolution=args.resolution,
                                 background=args.background), holdout=holdout, seed=args.seed, progress=progress)
    print(f"wrote synthetic SPair ({len(cats)} categories, instances {args.instances}, pairs {args.pairs}"
          f"{', held out ' + ', '.join(holdout) if holdout else ''}) to {root}")


def object_names(spec: str) -> list[str]:
    """``--objects``: 'all', a count N (the first N default objects) or comma-separated names."""
    from .. import synthetic
    from ..errors import InputMismatchError, suggest

    known = synthetic.list_objects()
    if spec == "all":
        return list(known)
    if spec.strip().isdigit():
        n = int(spec)
        if not 1 <= n <= len(synthetic.DEFAULT_OBJECTS):
            raise InputMismatchError(f"--objects {spec}: a count must be 1 to {len(synthetic.DEFAULT_OBJECTS)} "
                                     "(or give names, or 'all')")
        return list(synthetic.DEFAULT_OBJECTS[:n])
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        hint = suggest(unknown[0], known) if unknown else ""
        raise InputMismatchError(f"--objects {spec!r}: unknown object(s) {', '.join(unknown) or '(none given)'}; "
                                 f"choose from {', '.join(known)}, 'all' or a count.{hint}")
    return names


def _run(args: argparse.Namespace) -> int:
    from .. import synthetic
    from ..render import camera_path, load_mesh, render_poses, write_point_tracks, write_view_set

    if args.command == "list":
        for kind in ("geons", "composed"):
            print(f"{kind}: {', '.join(synthetic.list_objects(kind))}")
        return 0
    progress = None if getattr(args, "quiet", True) else TqdmProgress("rendering")
    try:
        if args.command == "objects":
            names = object_names(args.objects)
            ds = synthetic.write_dataset(args.out, names, n_views=args.n_views, resolution=args.resolution,
                                         distance=args.distance, focal=args.focal, seed=args.seed,
                                         progress=progress)
            print(f"wrote {len(ds)} objects x {args.n_views} views to {ds.root}")
        elif args.command == "mesh":
            meshes = [load_mesh(m) for m in args.meshes]
            ds = synthetic.write_dataset(args.out, meshes, n_views=args.n_views, resolution=args.resolution,
                                         distance=args.distance, focal=args.focal, progress=progress)
            print(f"wrote {len(ds)} meshes x {args.n_views} views to {ds.root}")
        elif args.command == "video":
            src = Path(args.source)
            mesh = load_mesh(src) if src.suffix else synthetic.make_object(args.source, args.seed)
            poses = camera_path(args.path, args.frames, args.distance, seed=args.seed)
            viewset = render_poses(mesh, poses, resolution=args.resolution, progress=progress)
            write_view_set(viewset, args.out)
            tracks = viewset.point_tracks(0, grid=args.grid)
            write_point_tracks(tracks, args.out / "tracks.npz")
            print(f"wrote {args.frames} frames ({args.path}) and {len(tracks.query_xy)} tracks to {args.out}")
        elif args.command == "default":
            ds = synthetic.default_dataset(n_objects=args.n_objects, n_views=args.n_views,
                                           resolution=args.resolution, progress=progress)
            print(ds.root)
        elif args.command == "synthetic-spair":
            _synthetic_spair(args, progress)
        elif args.command == "demo":
            synthetic.demo_pair()
            print(synthetic.demo_pair_folder())
    finally:
        if isinstance(progress, TqdmProgress):
            progress.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``corrviz-data``; returns the exit status."""
    args = _parser().parse_args(argv)
    return run_cli(lambda: _run(args), "corrviz-data")


if __name__ == "__main__":
    sys.exit(main())
