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


def print_backbones() -> None:
    from ..backbones import get_config, list_backbones, weights_available

    for name in list_backbones():
        ok, where = weights_available(name)
        cfg = get_config(name)
        state = where if ok else "weights not found"
        print(f"{name:22s} {cfg.description:48s} {state}")


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
