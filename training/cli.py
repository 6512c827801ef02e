"""``corrviz-train``: train a method plug-in from the command line.

::

    corrviz-train METHOD [--config exp.yaml] [key=value ...] [--resume RUN] [--device cuda]
    corrviz-train --list
    corrviz-train diy_sc labels ... / corrviz-train diy_sc ablation ...   (DIY-SC's label and ablation tools)
    torchrun --nproc_per_node 2 $(which corrviz-train) mef --config ... (DDP; gloo on CPU)

Bad input (unknown method, unknown config key, wrong type, data folder in the wrong layout,
resume folder of another method) is one clear line and exit code 2, before any training.
Ctrl-C stops after the current step and writes the last checkpoint (a second Ctrl-C aborts).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from corrviz.core.commands.common import run_cli
from corrviz.core.progress import Progress

from .method import get_method, list_methods


class TrainProgress(Progress):
    """A tqdm bar on a terminal; plain lines (every ``every`` steps) in logs, with loss, rate and ETA."""

    def __init__(self, every: int = 10, stream=None) -> None:  # noqa: ANN001
        super().__init__(self._update)
        self.stream = stream or sys.stderr
        self.every = max(1, int(every))
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None
        self._t0: float | None = None
        self._d0 = 0
        self._started = False

    def _update(self, done: int, total: int, message: str) -> None:
        now = time.time()
        if not self._started:  # start(): setup and the step-0 evaluation follow; the clock starts later
            self._started = True
            return
        if self._t0 is None:  # first step: rates count from here
            self._t0, self._d0 = now, done
            return
        rate = (done - self._d0) / max(1e-9, now - self._t0)
        if self.tty:
            from tqdm import tqdm

            if self._bar is None:
                self._bar = tqdm(total=total, initial=done, desc="training", unit="step", file=self.stream)
            self._bar.n = done
            self._bar.set_postfix_str(message, refresh=False)
            self._bar.refresh()
            return
        if done % self.every == 0 or done == total:
            eta = (total - done) / rate if rate > 0 else float("nan")
            eta_s = f"{int(eta // 60)}m{int(eta % 60):02d}s" if eta == eta else "?"
            print(f"step {done}/{total}  {message}  {rate:.2f} step/s  eta {eta_s}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def print_list() -> None:
    for name in list_methods():
        m = get_method(name)
        print(f"{name:8s} {m.description}")
        configs = m.configs()
        for c in configs:
            first = next((line.strip("# ").strip() for line in c.read_text().splitlines() if line.startswith("#")), "")
            print(f"         --config {c}  {first}")
        if not configs:
            print("         (no shipped configs; defaults only)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="corrviz-train", description="Train a corrviz method (see --list).")
    p.add_argument("method", nargs="?", help="method name (corrviz-train --list)")
    p.add_argument("overrides", nargs="*", help="config overrides key=value (e.g. optim.lr=1e-4 train.steps=100)")
    p.add_argument("--config", default=None, help="experiment YAML on top of the method's defaults")
    p.add_argument("--resume", default=None, metavar="RUN", help="continue the run in this folder from its last checkpoint")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (same as train.device=...)")
    p.add_argument("--list", action="store_true", help="list methods and their shipped configs")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def method_subcommand(raw: list[str]):  # noqa: ANN201
    """``corrviz-train METHOD WORD ...`` where WORD (not an option, not key=value) names one of the method's
    own tools (:meth:`Method.subcommands`): that tool's main, else None (normal training arguments)."""
    if len(raw) < 2 or raw[0].startswith("-") or raw[1].startswith("-") or "=" in raw[1]:
        return None
    if raw[0] not in list_methods():
        return None  # the usual "unknown method" error comes from the training path
    return get_method(raw[0]).subcommands().get(raw[1])


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    tool = method_subcommand(raw)
    if tool is not None:
        return run_cli(lambda: tool(raw[2:]), f"corrviz-train {raw[0]} {raw[1]}")
    args = build_parser().parse_intermixed_args(argv)

    def body() -> int:
        if args.list:
            print_list()
            return 0
        if not args.method:
            print("corrviz-train: error: give a METHOD (corrviz-train --list shows them)", file=sys.stderr)
            return 2
        from .config import to_yaml
        from .trainer import prepare, train

        if args.print_config:
            _, cfg, _ = prepare(args.method, args.config, args.overrides, args.resume, args.device)
            print(to_yaml(cfg))
            return 0
        rank = int(os.environ.get("RANK", "0"))
        progress = None if args.quiet or rank != 0 else TrainProgress()
        try:
            result = train(args.method, args.config, args.overrides, args.resume, args.device, progress,
                           verbose=True)
        finally:
            if isinstance(progress, TrainProgress):
                progress.close()
        if rank == 0:
            print(f"corrviz-train: {result.status} at step {result.step}; run folder {result.run_dir}")
            if result.last_checkpoint is not None:
                print(f"corrviz-train: last checkpoint {result.last_checkpoint / 'model.safetensors'}")
            if result.status == "cancelled":
                print(f"corrviz-train: continue with: corrviz-train {args.method} --resume {result.run_dir}")
        return 0 if result.status == "finished" else 130

    return run_cli(body, "corrviz-train")


if __name__ == "__main__":
    raise SystemExit(main())
