"""Checkpoints of a run: last / best / every N steps, each a folder of two atomically written files.

::

    checkpoints/
      step_0000500/model.safetensors     module checkpoint (corrviz.core.checkpoint): loads unchanged in
                                         corrviz-match / corrviz-eval / the app (--checkpoint)
      step_0000500/trainer.safetensors   optimiser, schedule, sampler, EMA and RNG state (no pickles)
      last -> step_0000500               symlinks, replaced atomically (os.replace)
      best -> step_0000400

A step folder is complete once its trainer state exists (written last; it records the SHA-1 of
the module file it belongs to). The ``last`` / ``best`` links only ever point at complete folders,
so a write killed at any moment leaves the previous checkpoint loadable. Folders that are neither
linked nor periodic are removed after a newer one is linked.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from corrviz.core.checkpoint import save_checkpoint
from corrviz.core.errors import CheckpointError
from corrviz.core.io import file_sha1

from .state import read_state, write_state

MODEL_FILE = "model.safetensors"
STATE_FILE = "trainer.safetensors"
STEP_DIR = re.compile(r"^step_(\d{7})$")


def step_dir_name(step: int) -> str:
    return f"step_{step:07d}"


def _relink(link: Path, target_name: str) -> None:
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target_name, tmp)
    os.replace(tmp, link)


class CheckpointManager:
    def __init__(self, run_dir: Path, every: int = 0) -> None:
        self.root = Path(run_dir) / "checkpoints"
        self.every = int(every)

    def save(self, step: int, adapted, method: str, cfg: dict, feature: dict, metrics: dict,
             state_tensors: dict[str, torch.Tensor], state_meta: dict[str, Any], git: dict[str, Any] | None = None,
             best: bool = False) -> Path:
        """Write the step folder (module first, trainer state last), then move the links."""
        folder = self.root / step_dir_name(step)
        folder.mkdir(parents=True, exist_ok=True)
        git = git or {}
        save_checkpoint(folder / MODEL_FILE, adapted, method, config=cfg, feature=feature, metrics=metrics, step=step,
                        git_commit=git.get("commit"), git_dirty=git.get("dirty"))
        meta = dict(state_meta, step=step, method=method, module_sha1=file_sha1(folder / MODEL_FILE))
        write_state(folder / STATE_FILE, state_tensors, meta)
        _relink(self.root / "last", folder.name)
        if best:
            _relink(self.root / "best", folder.name)
        self.prune()
        return folder

    def link_target(self, name: str) -> str | None:
        link = self.root / name
        return os.readlink(link) if link.is_symlink() else None

    def prune(self) -> None:
        keep = {self.link_target("last"), self.link_target("best")}
        for d in self.root.iterdir():
            m = STEP_DIR.match(d.name)
            if not m or d.name in keep:
                continue
            if self.every and int(m.group(1)) % self.every == 0:
                continue
            shutil.rmtree(d, ignore_errors=True)

    def last(self) -> Path | None:
        link = self.root / "last"
        return link.resolve() if link.exists() else None


def load_checkpoint_folder(folder: Path) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]]:
    """The module file, trainer tensors and trainer metadata of a checkpoint folder (verified pair)."""
    model, state = folder / MODEL_FILE, folder / STATE_FILE
    if not model.is_file() or not state.is_file():
        raise CheckpointError(f"{folder}: incomplete checkpoint (needs {MODEL_FILE} and {STATE_FILE})")
    tensors, meta = read_state(state)
    if meta.get("module_sha1") != file_sha1(model):
        raise CheckpointError(f"{folder}: {MODEL_FILE} does not belong to this trainer state "
                              "(it was changed after the checkpoint was written)")
    return model, tensors, meta
