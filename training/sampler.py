"""Seeded, resumable, rank-aware data order.

The order is a pure function of (seed, epoch, position): epoch ``e`` visits a permutation of the
dataset drawn from ``numpy.random.default_rng([seed, e])``; draw number ``k`` (counted globally
over the run) gets its own generator ``default_rng([seed, 1, k])`` for augmentation and point
sampling. A global batch is ``world_size * batch_size`` consecutive draws; rank ``r`` takes draws
``r * batch_size ... (r + 1) * batch_size - 1`` of it. So one process with batch 2B sees exactly
the items two processes with batch B see together, and the state is two integers.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ResumableSampler:
    def __init__(self, n_items: int, seed: int) -> None:
        if n_items < 1:
            raise ValueError("the training data has no items")
        self.n = int(n_items)
        self.seed = int(seed)
        self.draws = 0  # global draws handed out so far (all ranks)
        self._perm_epoch = -1
        self._perm: np.ndarray | None = None

    def _index(self, draw: int) -> int:
        epoch, pos = divmod(draw, self.n)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._perm_epoch = epoch
        return int(self._perm[pos])

    def next_batch(self, batch_size: int, rank: int = 0, world: int = 1) -> list[tuple[int, np.random.Generator]]:
        """This rank's (index, generator) pairs of the next global batch; advances the state."""
        start = self.draws + rank * batch_size
        out = [(self._index(k), np.random.default_rng([self.seed, 1, k])) for k in range(start, start + batch_size)]
        self.draws += batch_size * world
        return out

    @property
    def epoch(self) -> int:
        return self.draws // self.n

    def state(self) -> dict[str, Any]:
        return {"draws": self.draws, "n_items": self.n, "seed": self.seed}

    def load(self, state: dict[str, Any]) -> None:
        if int(state["n_items"]) != self.n:
            raise ValueError(f"the training data now has {self.n} items, the run was started with {state['n_items']}")
        self.draws = int(state["draws"])
