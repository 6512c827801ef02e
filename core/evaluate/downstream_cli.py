"""The ``corrviz-eval downstream`` options and run (see :mod:`.downstream`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .downstream import PARTS


def add_downstream_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("downstream (corrviz-eval downstream: pose + tracking + transfer in one table)")
    g.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated subset of {', '.join(PARTS)} [all]")
    g.add_argument("--pose-data", action="append", default=None,
                   help="pose sources (repeatable) [default and DATA/meshes]")
    g.add_argument("--tracking-data", default=None, help="BADJA + DAVIS root [DATA]")
    g.add_argument("--transfer-data", default=None, help="PF-WILLOW folder [DATA/PF-WILLOW]")
    g.add_argument("--pose-limit", type=int, default=None, help="objects per pose source [all]")
    g.add_argument("--tracking-limit", type=int, default=None, help="BADJA clips [all]")
    g.add_argument("--transfer-limit", type=int, default=None, help="PF-WILLOW pairs [all 900]")
    g.add_argument("--no-baseline", action="store_true",
                   help="with --checkpoint: skip the plain-backbone column (before / after)")


def run_downstream_command(args: argparse.Namespace, pose_settings: Any) -> int:
    """Check everything, run the report, write JSON / CSV / Markdown, print the table."""
    from ..errors import InputMismatchError
    from ..progress import TqdmProgress
    from .downstream import downstream_parts, run_downstream
    from .spec import ExtractorSpec

    if not args.backbone:
        raise InputMismatchError("corrviz-eval downstream needs --backbone (see corrviz-eval --help)")
    if args.data and args.data != "default" and not Path(args.data).exists():
        raise InputMismatchError(f"--data {args.data}: the downstream data root does not exist")
    if args.checkpoint and not Path(args.checkpoint).is_file():
        raise InputMismatchError(f"--checkpoint {args.checkpoint}: file does not exist")
    parts = downstream_parts(args.data, [s.strip() for s in args.parts.split(",") if s.strip()],
                             pose_data=args.pose_data, tracking_data=args.tracking_data,
                             transfer_data=args.transfer_data, pose_limit=args.pose_limit,
                             tracking_limit=args.tracking_limit, transfer_limit=args.transfer_limit,
                             track_radius=args.track_radius, occlusion_threshold=args.occlusion_threshold)
    spec = ExtractorSpec.from_args(args)
    progress = TqdmProgress("downstream", disable=args.quiet)
    try:
        result = run_downstream(spec, parts, pose_settings, progress, cache_root=args.cache_dir,
                                use_cache=not args.no_cache, baseline=not args.no_baseline)
    finally:
        progress.close()
    paths = result.save(args.out, args.tag, plots=not args.no_plots)
    print(result.markdown(), end="")
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    print(f"results: {paths['json']}")
    return 0
