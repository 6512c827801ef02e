"""The run folder: resolved config, provenance, metrics log, TensorBoard, README line.

Layout::

    <out_dir>/<name>/
      config.yaml        the resolved config (package <- method <- experiment <- overrides)
      run.json           method, command, git commit + dirty flag, environment, world size, created
      README.md          one line per start / resume with the exact command
      metrics.jsonl      one JSON object per logged step and per evaluation ({"step", "kind", ...})
      tensorboard/       event files when tensorboard is installed
      checkpoints/       see :mod:`corrviz.training.checkpoints`
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from corrviz.core import __version__
from corrviz.core.checkpoint import git_state
from corrviz.core.errors import CorrvizError
from corrviz.core.io import atomic_write, read_json, write_json

from .config import to_yaml


class RunFolderError(CorrvizError, ValueError):
    """A run folder is missing, incomplete, or belongs to another method."""


def git_info() -> dict[str, Any]:
    """The commit of the corrviz source tree and whether it has uncommitted changes (None outside git)."""
    commit, dirty = git_state()
    return {"commit": commit, "dirty": dirty}


def environment(device: torch.device, world_size: int) -> dict[str, Any]:
    env = {"python": platform.python_version(), "torch": torch.__version__, "corrviz": __version__,
           "platform": platform.platform(), "device": str(device), "world_size": world_size,
           "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    if device.type == "cuda":
        env["cuda"] = torch.version.cuda
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def command_line(method: str, config: str | os.PathLike | None = None, overrides: Sequence[str] = (),
                 resume: str | os.PathLike | None = None, device: str | None = None) -> str:
    """The ``corrviz-train`` command equivalent to a run (the torchrun prefix under DDP)."""
    parts = [method]
    if config is not None:
        parts += ["--config", str(config)]
    if resume is not None:
        parts += ["--resume", str(resume)]
    if device:
        parts += ["--device", device]
    parts += list(overrides)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    prefix = f"torchrun --nproc_per_node {world} $(which corrviz-train)" if world > 1 else "corrviz-train"
    return " ".join([prefix, *map(shlex.quote, parts)])


def timestamp() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")


def new_run_folder(cfg: Any, method: str, device: torch.device, world_size: int, command: str) -> Path:
    """Create the folder of a new run and write its config and provenance (rank 0 only)."""
    name = cfg.run.name or f"{method}-{timestamp()}"
    folder = Path(cfg.run.out_dir) / name
    if (folder / "run.json").exists():
        raise RunFolderError(f"{folder}: a run already exists there; continue it with --resume {folder} "
                             "or choose another run.name")
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / "config.yaml", "w") as fh:
        fh.write(to_yaml(cfg))
    write_json(folder / "run.json", {"method": method, "command": command, "git": git_info(),
                                     "environment": environment(device, world_size),
                                     "created": timestamp()})
    append_readme(folder, f"Started {timestamp()} UTC with: `{command}`")
    return folder


def append_readme(folder: Path, line: str) -> None:
    path = folder / "README.md"
    old = path.read_text() if path.exists() else f"# Training run {folder.name}\n\n"
    with atomic_write(path, "w") as fh:
        fh.write(old + line + "\n\n")


def read_run(folder: str | os.PathLike) -> dict[str, Any]:
    p = Path(folder)
    if not p.is_dir():
        raise RunFolderError(f"{p}: run folder does not exist")
    return read_json(p / "run.json", RunFolderError, "run.json (not a corrviz-train run folder?)")


class MetricsLog:
    """Appends JSON lines to ``metrics.jsonl`` and mirrors scalars to TensorBoard when installed."""

    def __init__(self, folder: Path, enabled: bool = True) -> None:
        self.path = folder / "metrics.jsonl"
        self.enabled = enabled
        self.tensorboard = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tensorboard = SummaryWriter(str(folder / "tensorboard"))
            except ImportError:  # tensorboard is optional
                self.tensorboard = None

    def truncate_after(self, step: int) -> None:
        """On resume: drop entries the interrupted run logged after the checkpoint it resumes from."""
        if not self.enabled or not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        with atomic_write(self.path, "w") as fh:
            fh.write("".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.tensorboard is not None:
            step = int(record.get("step", 0))
            for k, v in record.items():
                if k not in ("step", "kind", "time") and isinstance(v, (int, float)):
                    self.tensorboard.add_scalar(f"{record.get('kind', 'train')}/{k}", v, step)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_metrics(folder: str | os.PathLike, kind: str | None = None) -> list[dict[str, Any]]:
    path = Path(folder) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if kind is None or r.get("kind") == kind]
