"""Trainer state without pickles: tensors in safetensors, everything else as JSON in its header.

What a bit-exact resume needs beyond the module weights (which the module checkpoint holds): the
optimiser state (moments and step counts as tensors, param groups as JSON), the schedule and step,
the data-order (sampler) state, the EMA weights, and the torch / CUDA / numpy / python RNG states.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corrviz.core.errors import CheckpointError
from corrviz.core.io import atomic_path

STATE_FORMAT = "corrviz-trainer-state"
STATE_VERSION = 1


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy.keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    py = random.getstate()
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [py[0], list(py[1]), py[2]]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["rng.numpy.keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for pid, entry in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(entry)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})


def write_state(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Atomically write trainer state (``meta`` must be JSON-serialisable)."""
    from safetensors.torch import save_file

    header = {"format": STATE_FORMAT, "version": STATE_VERSION, **meta}
    target = Path(path)
    with atomic_path(target) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata={"corrviz-trainer": json.dumps(header)})
    return target


def read_state(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from corrviz.core.io import read_safetensors_json

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: trainer state file does not exist")
    try:
        tensors, meta = read_safetensors_json(p, "corrviz-trainer")
    except ValueError as exc:
        raise CheckpointError(f"{p}: unreadable trainer state ({exc})") from None
    if meta.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{p}: not a corrviz trainer state (format {meta.get('format')!r})")
    return tensors, meta
