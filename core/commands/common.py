"""Shared command-line pieces: backbone/feature options and one-line error reporting."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..errors import CorrvizError
from ..transforms import CANVAS_MODES


def add_feature_args(p: argparse.ArgumentParser, default_backbone: str | None = None) -> None:
    g = p.add_argument_group("features")
    g.add_argument("--backbone", default=default_backbone,
                   help="backbone name (see --list-backbones)" + (f"; default {default_backbone}" if default_backbone else ""))
    g.add_argument("--weights", default=None, help="explicit backbone weights file (.safetensors or .pth)")
    g.add_argument("--checkpoint", default=None, help="corrviz finetuned checkpoint (.safetensors)")
    g.add_argument("--resolution", type=int, default=None, help="canvas side in pixels (multiple of the patch size)")
    g.add_argument("--canvas", choices=CANVAS_MODES, default="pad_center", help="canvas mode")
    g.add_argument("--layer", type=int, default=None, help="block index (negative counts from the end)")
    g.add_argument("--facet", default=None, choices=("prenorm", "norm", "key", "query", "value"))
    g.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    g.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16"))
    g.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--list-backbones", action="store_true", help="list backbone names and weight availability")


def doc_summary(doc: str | None) -> str:
    """The first paragraph of a module docstring as plain text for ``--help`` (no reST backticks)."""
    return (doc or "").split("\n\n")[0].replace("``", "").replace("\n", " ").strip()


def check_feature_args(args: argparse.Namespace) -> None:
    """Checks of the feature options that need no model, so they fail before anything is loaded.

    Unknown backbone, ``--resolution`` not a positive multiple of the backbone's patch size,
    ``--batch-size`` below 1, ``--weights`` / ``--checkpoint`` files that do not exist.
    """
    from pathlib import Path

    from ..backbones import get_config
    from ..errors import InputMismatchError

    if args.batch_size < 1:
        raise InputMismatchError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.resolution is not None and args.resolution < 1:
        raise InputMismatchError(f"--resolution must be a positive number of pixels, got {args.resolution}")
    for flag, value in (("--weights", args.weights), ("--checkpoint", args.checkpoint)):
        if value is not None and not Path(value).is_file():
            raise InputMismatchError(f"{flag} {value}: file does not exist")
    if args.backbone is None:
        return
    cfg = get_config(args.backbone)  # unknown names raise with close-match suggestions
    p = cfg.patch_size
    if args.resolution is not None and args.resolution % p:
        lo, hi = (args.resolution // p) * p, (args.resolution // p + 1) * p
        near = f"{lo} or {hi}" if lo else str(hi)
        raise InputMismatchError(f"--resolution {args.resolution} is not a multiple of {args.backbone}'s patch size "
                                 f"{p} (try {near})")


def print_backbones() -> None:
    from ..backbones import get_config, list_backbones, weights_available

    rows = []
    for name in list_backbones():
        ok, where = weights_available(name)
        rows.append((name, get_config(name).description, where if ok else "weights not found"))
    w_name = max(len(r[0]) for r in rows)
    w_desc = max(len(r[1]) for r in rows)
    print(f"{len(rows)} backbones")
    for name, desc, state in rows:
        print(f"{name:{w_name}s}  {desc:{w_desc}s}  {state}")


def run_cli(fn: Callable[[], int], prog: str = "corrviz") -> int:
    """Run a command body; corrviz errors print as one clear line with exit code 2."""
    try:
        return fn()
    except CorrvizError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
