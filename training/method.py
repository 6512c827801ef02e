"""The method plug-in interface and the method registry.

A method is small: its model parts, its data, its loss, its default config and its evaluation.
The trainer (:mod:`corrviz.training.trainer`) owns everything else: optimiser, schedule, AMP,
logging, checkpoints, resume, DDP and cancel. A plug-in subclasses :class:`Method` and registers
itself with :func:`register_method`::

    @register_method
    class MyMethod(Method):
        name = "mine"
        def default_config(self): ...
        def build_model(self, cfg, device): ...     # -> TrainModel
        def build_data(self, cfg): ...              # -> TrainData
        def evaluate(self, model, cfg, progress): ...  # -> {"metric": value}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from corrviz.core.errors import CorrvizError, suggest
from corrviz.core.heads import AdaptedBackbone
from corrviz.core.progress import Progress

from .config import CONFIG_DIR


class UnknownMethodError(CorrvizError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass
class StepOutput:
    """What a model's forward returns: the loss to minimise and scalars to log."""

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)


class TrainModel(nn.Module):
    """A method's trainable model. ``forward(batch)`` returns a :class:`StepOutput`.

    ``adapted`` is the :class:`~corrviz.core.heads.AdaptedBackbone` that checkpoints save (its
    trainable modules only) and that inference tools load unchanged; ``feature`` is the tap and
    resolution the modules expect (recorded in the checkpoint header).
    """

    adapted: AdaptedBackbone
    feature: dict[str, Any]

    def forward(self, batch: Any) -> StepOutput:  # pragma: no cover - interface
        raise NotImplementedError

    def trainable_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        for name, p in self.named_parameters():
            if p.requires_grad:
                yield name, p

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimiser groups ``{"params": [...], "lr_scale": s}`` (default: one group at the full lr)."""
        return [{"params": [p for _, p in self.trainable_parameters()], "lr_scale": 1.0}]

    def ema_target(self) -> dict[str, torch.Tensor] | None:
        """Tensors (keyed like :meth:`trainable_parameters`) that the trainer's EMA (``train.ema``)
        writes into, e.g. a teacher's parameters; None = the EMA keeps its own copy."""
        return None


class TrainData:
    """Index-addressable training data: ``sample(index, rng)`` builds one item deterministically.

    ``len`` is the number of distinct items per epoch; the trainer's sampler draws a permutation per
    epoch and hands every draw its own numpy generator (augmentation, point sampling), so the data
    order is a pure function of (seed, epoch, position): resumable and identical across process counts.
    """

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def sample(self, index: int, rng: np.random.Generator) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def collate(self, items: list[Any]) -> Any:
        return items


class Method:
    """Base class of method plug-ins (see the module docstring)."""

    name: str = ""
    description: str = ""
    best_metric: str = ""  # eval metric choosing the best checkpoint when train.best_metric is ""
    best_mode: str = "max"

    def default_config(self) -> dict[str, Any]:
        return {}

    def validate(self, cfg: Any) -> None:
        """Check inputs (data folders, weights) before any work: raise a CorrvizError naming the problem."""

    def build_model(self, cfg: Any, device: torch.device) -> TrainModel:  # pragma: no cover - interface
        raise NotImplementedError

    def build_data(self, cfg: Any) -> TrainData:  # pragma: no cover - interface
        raise NotImplementedError

    def evaluate(self, model: TrainModel, cfg: Any, progress: Progress | None = None) -> dict[str, float]:
        return {}

    config_prefix: str = ""  # shipped configs are configs/<config_prefix or name>_*.yaml

    def subcommands(self) -> dict[str, Any]:
        """The method's own tools, ``corrviz-train NAME SUBCOMMAND ...``: {name: main(argv) -> exit code}."""
        return {}

    def configs(self) -> list[Path]:
        """Experiment configs shipped for this method (``configs/<config_prefix or name>_*.yaml``)."""
        return sorted(CONFIG_DIR.glob(f"{self.config_prefix or self.name}_*.yaml"))


METHODS: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in METHODS and METHODS[cls.name] is not cls:
        raise ValueError(f"training method {cls.name!r} is already registered")
    METHODS[cls.name] = cls
    return cls


def check_model_weights(m: Any, backbone: Any, method: str) -> None:
    """The backbone weights a method's ``model`` section asks for can be found, before any work.

    Pretrained weights (``model.pretrained``) of a backbone that needs them must be found (weights file,
    ``CORRVIZ_WEIGHTS`` or the hub cache), else :class:`WeightsNotFoundError` says where corrviz looked;
    an explicit ``model.weights`` file must exist.
    """
    from pathlib import Path as _Path

    from corrviz.core.backbones import weights_available
    from corrviz.core.errors import WeightsNotFoundError

    if m.pretrained and backbone.needs_weights and not m.weights:
        ok, where = weights_available(backbone.name)
        if not ok:
            raise WeightsNotFoundError(f"{method} needs pretrained {backbone.name} weights: {where} (set "
                                       "CORRVIZ_WEIGHTS, model.weights=FILE, or model.pretrained=false for a "
                                       "random-init speed test)")
    if m.weights and not _Path(str(m.weights)).is_file():
        raise WeightsNotFoundError(f"config key 'model.weights': {m.weights} does not exist")


def _load_builtin() -> None:
    from . import methods  # noqa: F401 - registers the built-in methods


def list_methods() -> list[str]:
    _load_builtin()
    return sorted(METHODS)


def get_method(name: str) -> Method:
    """An instance of a registered method; unknown names raise with close-match suggestions."""
    _load_builtin()
    if name not in METHODS:
        raise UnknownMethodError(f"unknown training method {name!r}.{suggest(name, METHODS)} "
                                 f"Available: {', '.join(sorted(METHODS))} (corrviz-train --list)")
    return METHODS[name]()
