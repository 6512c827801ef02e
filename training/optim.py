"""Optimiser, learning-rate schedule and EMA of the trainable weights.

The schedule is a pure function of the step (no scheduler object to pickle): its state is the
step counter, stored with the trainer state. ``cosine`` and ``constant`` warm up linearly over
``warmup_steps``; ``onecycle`` follows torch's OneCycleLR shape (cosine rise over ``pct_start`` of
the steps from lr/25 to lr, cosine fall to lr/1e4).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from .config import ConfigError

SCHEDULES = ("cosine", "onecycle", "constant")


def build_optimizer(params: Iterable[nn.Parameter] | Iterable[dict], cfg) -> torch.optim.Optimizer:
    """AdamW over ``params``: parameters, or parameter groups ``{"params": [...], "lr_scale": s}``
    (a group's learning rate is ``s`` x the scheduled lr, e.g. 3DPoV's backbone blocks at lr / 10)."""
    o = cfg.optim
    if o.name != "adamw":
        raise ConfigError(f"config key 'optim.name': unknown optimiser {o.name!r}; corrviz-train supports adamw")
    params = list(params)
    if params and isinstance(params[0], dict):
        params = [{"params": list(g["params"]), "lr_scale": float(g.get("lr_scale", 1.0))} for g in params]
        params = [g for g in params if g["params"]]
    if not params:
        raise ConfigError("the method's model has no trainable parameters")
    betas = tuple(float(b) for b in o.betas)
    if len(betas) != 2:
        raise ConfigError(f"config key 'optim.betas' needs two values, got {list(o.betas)}")
    # foreach=False: the single-tensor path gives identical results for any number of processes
    return torch.optim.AdamW(params, lr=float(o.lr), betas=betas, eps=float(o.eps),
                             weight_decay=float(o.weight_decay), foreach=False)


def lr_factor(step: int, cfg) -> float:
    """Multiplier of ``optim.lr`` at ``step`` (0-based, the step about to be taken)."""
    s = cfg.schedule
    total = max(1, int(cfg.train.steps))
    kind = s.kind
    if kind not in SCHEDULES:
        raise ConfigError(f"config key 'schedule.kind': unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
    if kind == "onecycle":
        up = max(1, int(round(float(s.pct_start) * total)))
        lo, floor = 1.0 / 25.0, 1.0 / 25.0 / 1e4
        if step < up:
            return lo + (1.0 - lo) * (1 - math.cos(math.pi * step / up)) / 2
        t = min(1.0, (step - up) / max(1, total - up))
        return floor + (1.0 - floor) * (1 + math.cos(math.pi * t)) / 2
    warm = int(s.warmup_steps)
    if warm > 0 and step < warm:
        return (step + 1) / warm
    if kind == "constant":
        return 1.0
    t = min(1.0, (step - warm) / max(1, total - warm))
    floor = float(s.min_lr_ratio)
    return floor + (1.0 - floor) * (1 + math.cos(math.pi * t)) / 2


def set_lr(opt: torch.optim.Optimizer, step: int, cfg) -> float:
    lr = float(cfg.optim.lr) * lr_factor(step, cfg)
    for g in opt.param_groups:
        g["lr"] = lr * float(g.get("lr_scale", 1.0))
    return lr


class EMA:
    """Exponential moving average of named parameters: ``shadow = m * shadow + (1 - m) * param``.

    A trainer feature: methods that need a teacher (3DPoV) hand the trainer their teacher's tensors
    (:meth:`~corrviz.training.method.TrainModel.ema_target`, keyed by the trainable parameter names);
    the shadow then IS those tensors (initialised from the student, updated in place after every
    step), so the teacher module always holds the EMA without a copy. Otherwise the shadow is a
    private copy (read :attr:`shadow` or :meth:`copy_to` a module). Saved with the trainer state and
    restored on resume.
    """

    def __init__(self, named: Iterable[tuple[str, nn.Parameter]], momentum: float,
                 target: dict[str, torch.Tensor] | None = None) -> None:
        self.momentum = float(momentum)
        named = list(named)
        if target is None:
            self.shadow = {n: p.detach().clone() for n, p in named}
            return
        missing = sorted({n for n, _ in named} ^ set(target))
        if missing:
            raise ValueError(f"EMA target tensors do not match the trainable parameters: {', '.join(missing[:5])}")
        self.shadow = {}
        with torch.no_grad():
            for n, p in named:
                t = target[n]
                if t.shape != p.shape:
                    raise ValueError(f"EMA target {n}: shape {tuple(t.shape)} != parameter {tuple(p.shape)}")
                t.copy_(p.detach())
                self.shadow[n] = t

    @torch.no_grad()
    def update(self, named: Iterable[tuple[str, nn.Parameter]]) -> None:
        for n, p in named:
            self.shadow[n].mul_(self.momentum).add_(p.detach(), alpha=1.0 - self.momentum)

    @torch.no_grad()
    def copy_to(self, module: nn.Module) -> None:
        params = dict(module.named_parameters())
        for n, v in self.shadow.items():
            params[n].copy_(v)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"ema.{n}": v for n, v in self.shadow.items()}

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        for n in self.shadow:
            self.shadow[n].copy_(tensors[f"ema.{n}"])
