"""torch.distributed set-up for runs started by ``torchrun`` (no launcher of our own).

``torchrun --nproc_per_node N corrviz-train ...`` (or ``python -m torch.distributed.run``) sets
RANK / WORLD_SIZE / LOCAL_RANK; :func:`init` then joins the process group: gloo on CPU, NCCL on
CUDA (each rank on ``cuda:LOCAL_RANK``). Rank 0 does all file I/O; every rank draws its own share
of the global batch from the same seeded order (rank-aware sampling in :mod:`.sampler`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init(device: str) -> tuple[World, torch.device]:
    """Join the process group when started by torchrun; returns the world and this rank's device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), torch.device(device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return World(rank, size, local), dev


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def any_flag(flag: bool, world: World, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any rank (used to agree on cancel)."""
    if not world.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_scalars(values: dict[str, float], world: World, device: torch.device) -> dict[str, float]:
    """Average logged scalars over ranks (same keys on every rank)."""
    if not world.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / world.size for k, v in zip(keys, t.tolist(), strict=True)}


def broadcast_object(obj, world: World):
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
