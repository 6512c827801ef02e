"""The one training loop: every method plugs into :func:`train`.

The trainer owns the optimiser (AdamW) and schedule, gradient clipping, AMP (bf16 autocast on
CUDA only), the EMA of the trainable weights, logging (``metrics.jsonl``, TensorBoard when
installed), periodic evaluation through the method's ``evaluate`` (which uses corrviz's eval
runner), checkpoints (last / best / every N; :mod:`.checkpoints`), bit-exact resume, cancel
(through a :class:`~corrviz.core.progress.Progress` or SIGINT: the run stops after the current
step and writes its last checkpoint) and DDP under ``torchrun`` (rank-0 I/O, rank-aware sampling).

It is a plain synchronous function taking an optional Progress, as every long job in corrviz.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corrviz.core.checkpoint import read_checkpoint
from corrviz.core.errors import Cancelled, CheckpointError, CorrvizError
from corrviz.core.progress import Progress

from . import distributed as dist_
from .checkpoints import CheckpointManager, load_checkpoint_folder
from .config import ConfigError, compose, to_dict
from .method import Method, StepOutput, TrainModel, get_method
from .optim import EMA, build_optimizer, lr_factor, set_lr
from .run import (
    MetricsLog,
    RunFolderError,
    append_readme,
    command_line,
    git_info,
    new_run_folder,
    read_run,
    timestamp,
)
from .sampler import ResumableSampler
from .state import load_optimizer_state, optimizer_state, rng_state, set_rng_state


@dataclass
class TrainResult:
    run_dir: Path | None
    step: int
    status: str  # "finished" | "cancelled"
    last_checkpoint: Path | None = None
    eval_metrics: dict[str, float] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)


def prepare(method_name: str, config: str | Path | None = None, overrides: Sequence[str] = (),
            resume: str | Path | None = None, device: str | None = None) -> tuple[Method, Any, Path | None]:
    """Resolve method, config and resume folder; every bad input raises here, before any work."""
    method = get_method(method_name)
    resume_dir = None
    if resume is not None:
        resume_dir = Path(resume)
        run = read_run(resume_dir)
        if run.get("method") != method.name:
            raise RunFolderError(f"{resume_dir}: this is a run of method {run.get('method')!r}, "
                                 f"it cannot be resumed as {method.name!r}")
        if config is not None:
            raise ConfigError("--resume continues a run with its own config.yaml; give key=value overrides "
                              "(e.g. train.steps=...) instead of --config")
        config = resume_dir / "config.yaml"
        if not (resume_dir / "checkpoints" / "last").exists():
            raise RunFolderError(f"{resume_dir}: has no last checkpoint to resume from")
    extra = list(overrides) + ([f"train.device={device}"] if device else [])
    cfg = compose(method.name, method.default_config(), config, extra)
    dev = str(cfg.train.device)
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"config key 'train.device' is {dev!r}, but no CUDA device is available")
    if not dev.startswith(("cpu", "cuda")):
        raise ConfigError(f"config key 'train.device': {dev!r} is not cpu, cuda or cuda:N")
    if cfg.train.amp not in ("off", "bf16"):
        raise ConfigError(f"config key 'train.amp': {cfg.train.amp!r}; choose off or bf16")
    if cfg.train.amp == "bf16" and not dev.startswith("cuda"):
        raise ConfigError("config key 'train.amp': bf16 autocast is used on CUDA only; use train.amp=off on the CPU")
    if cfg.train.best_mode not in ("max", "min"):
        raise ConfigError(f"config key 'train.best_mode': {cfg.train.best_mode!r}; choose max or min")
    if int(cfg.train.steps) < 1 or int(cfg.train.batch_size) < 1:
        raise ConfigError("train.steps and train.batch_size must be at least 1")
    lr_factor(0, cfg)  # validates schedule.kind
    method.validate(cfg)
    if str(cfg.init.checkpoint) and resume_dir is None:
        init_checkpoint_file(str(cfg.init.checkpoint), method.name)  # readable, right method: before any work
    return method, cfg, resume_dir


def init_checkpoint_file(where: str, method: str | None = None) -> Path:
    """The module file named by ``init.checkpoint``: a checkpoint file, or a run folder's best (else last)."""
    p = Path(where)
    if p.is_dir():
        for which in ("best", "last"):
            if (p / "checkpoints" / which / "model.safetensors").exists():
                p = (p / "checkpoints" / which / "model.safetensors").resolve()
                break
        else:
            raise CheckpointError(f"config key 'init.checkpoint': {where} is a folder without checkpoints/best or "
                                  "checkpoints/last")
    try:
        _, meta = read_checkpoint(p)  # missing / unreadable / not corrviz: CheckpointError naming the file
    except CheckpointError as exc:
        raise CheckpointError(f"config key 'init.checkpoint': {exc}") from None
    if method is not None and meta.get("method") not in (None, "", method):
        raise CheckpointError(f"config key 'init.checkpoint': {p} is a {meta.get('method')!r} checkpoint, "
                              f"not {method!r}")
    return p


def load_init_checkpoint(model: TrainModel, where: str) -> Path:
    """Start ``model``'s trainable modules from a checkpoint (same backbone and module specs required)."""
    p = init_checkpoint_file(where)
    tensors, meta = read_checkpoint(p)
    adapted = model.adapted
    if meta.get("backbone") != adapted.name or list(meta.get("modules", [])) != adapted.specs:
        raise CheckpointError(f"config key 'init.checkpoint': {p} holds {meta.get('backbone')} modules "
                              f"{meta.get('modules')}, this run builds {adapted.name} modules {adapted.specs}")
    try:
        adapted.load_trainable_state_dict(tensors)
    except ValueError as exc:
        raise CheckpointError(f"config key 'init.checkpoint': {p}: {exc}") from None
    return p


@contextlib.contextmanager
def _preserved_rng() -> Iterator[None]:
    """Evaluation must not change the training trajectory: restore every RNG afterwards."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []):
        yield
    np.random.set_state(np_state)
    random.setstate(py_state)


class _Interrupt:
    """First SIGINT: stop after the current step and save; second: abort at once."""

    def __init__(self, verbose: bool) -> None:
        self.flag = False
        self.verbose = verbose
        self._old = None

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:  # noqa: ANN001
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True
        if self.verbose:
            import sys

            print("corrviz-train: interrupted; stopping after this step and saving the last checkpoint "
                  "(Ctrl-C again to abort)", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))
    random.seed(seed)


def train_step(module: torch.nn.Module, opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], batch: Any,
               clip_grad: float, dev: torch.device, amp: bool) -> tuple[StepOutput, torch.Tensor]:
    """One optimisation step: forward (bf16 autocast when ``amp``), backward, clipping, AdamW step."""
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
        out = module(batch)
    opt.zero_grad(set_to_none=True)
    out.loss.float().backward()
    gnorm = torch.nn.utils.clip_grad_norm_(params, clip_grad) if clip_grad > 0 else torch.zeros(())
    opt.step()
    return out, gnorm


def train(method_name: str, config: str | Path | None = None, overrides: Sequence[str] = (),
          resume: str | Path | None = None, device: str | None = None, progress: Progress | None = None,
          verbose: bool = False) -> TrainResult:
    """Train ``method_name``; returns where the run is and how it ended (see the module docstring)."""
    method, cfg, resume_dir = prepare(method_name, config, overrides, resume, device)
    world, dev = dist_.init(str(cfg.train.device))
    try:
        command = command_line(method.name, config, overrides, resume, device)
        return _train(method, cfg, resume_dir, world, dev, progress, command, verbose)
    finally:
        dist_.shutdown()


def _train(method: Method, cfg: Any, resume_dir: Path | None, world: dist_.World, dev: torch.device,
           progress: Progress | None, command: str, verbose: bool) -> TrainResult:
    t = cfg.train
    if int(t.threads) > 0:
        torch.set_num_threads(int(t.threads))
    if bool(t.deterministic):
        torch.use_deterministic_algorithms(True, warn_only=True)
    _seed_everything(int(cfg.run.seed))
    model: TrainModel = method.build_model(cfg, dev)
    if str(cfg.init.checkpoint) and resume_dir is None:
        load_init_checkpoint(model, str(cfg.init.checkpoint))  # a resumed run restores its own modules below
    if world.distributed and not world.is_main:
        torch.distributed.barrier()  # rank 0 renders / caches the data first; the others then read it
    data = method.build_data(cfg)
    if world.distributed and world.is_main:
        torch.distributed.barrier()
    sampler = ResumableSampler(len(data), int(cfg.run.seed))
    named = list(model.trainable_parameters())
    params = [p for _, p in named]
    opt = build_optimizer(model.param_groups(), cfg)
    ema = EMA(named, float(t.ema), target=model.ema_target()) if float(t.ema) > 0 else None
    step, best, best_step = 0, None, None
    if resume_dir is not None:
        folder = (resume_dir / "checkpoints" / "last").resolve()
        model_file, tensors, meta = load_checkpoint_folder(folder)
        if int(meta.get("world_size", 1)) * int(meta.get("batch_size", t.batch_size)) != world.size * int(t.batch_size):
            raise ConfigError(f"{resume_dir}: the run used a global batch of "
                              f"{int(meta.get('world_size', 1)) * int(meta.get('batch_size', 1))}; resume with the same "
                              "world size x train.batch_size")
        module_tensors, _ = read_checkpoint(model_file)
        state = {k[len("heads."):]: v for k, v in module_tensors.items() if k.startswith("heads.")}
        model.adapted.heads.load_state_dict(state, strict=True)
        load_optimizer_state(opt, tensors, meta["optimizer"])
        sampler.load(meta["sampler"])
        if ema is not None:
            ema.load(tensors)
        step, best, best_step = int(meta["step"]), meta.get("best"), meta.get("best_step")
    run_dir = resume_dir
    if world.is_main:
        if run_dir is None:
            run_dir = new_run_folder(cfg, method.name, dev, world.size, command)
        else:
            append_readme(run_dir, f"Resumed {timestamp()} UTC at step {step} with: `{command}`")
    run_dir = Path(dist_.broadcast_object(str(run_dir) if run_dir else "", world))
    log = MetricsLog(run_dir, enabled=world.is_main)
    if resume_dir is not None:
        log.truncate_after(step)
    ckpts = CheckpointManager(run_dir, int(t.ckpt_every))
    git = git_info() if world.is_main else {}
    best_metric = str(t.best_metric) or method.best_metric
    cfg_dict = to_dict(cfg)

    train_module: torch.nn.Module = model
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_module = DDP(model, device_ids=[dev] if dev.type == "cuda" else None)

    eval_metrics: dict[str, float] = {}

    def evaluate(at: int) -> bool:
        """Evaluate on rank 0 (RNG untouched); True when this is the best checkpoint so far."""
        nonlocal eval_metrics, best, best_step
        if world.is_main:
            model.eval()
            with _preserved_rng(), torch.no_grad():
                eval_metrics = {k: float(v) for k, v in method.evaluate(model, cfg, None).items()}
            model.train()
            log.write({"step": at, "kind": "eval", "time": time.time(), **eval_metrics})
        if at == 0 or not (best_metric and best_metric in eval_metrics):
            return False  # step 0 is the base model: "best" is chosen among trained checkpoints
        value = eval_metrics[best_metric]
        if not np.isfinite(value):
            return False
        if best is None or (value > best if t.best_mode == "max" else value < best):
            best, best_step = value, at
            return True
        return False

    def save(at: int, is_best: bool = False) -> Path | None:
        if not world.is_main:
            return None
        o_tensors, o_meta = optimizer_state(opt)
        r_tensors, r_meta = rng_state()
        tensors = {**o_tensors, **r_tensors, **(ema.tensors() if ema is not None else {})}
        meta = {"optimizer": o_meta, "rng": r_meta, "sampler": sampler.state(),
                "schedule": {"kind": str(cfg.schedule.kind), "step": at}, "best": best, "best_step": best_step,
                "best_metric": best_metric, "world_size": world.size, "batch_size": int(t.batch_size)}
        return ckpts.save(at, model.adapted, method.name, cfg_dict, dict(model.feature), eval_metrics, tensors,
                          meta, git=git, best=is_best)

    total = int(t.steps)
    if progress is not None:
        progress.start(total, "training")
        progress.done = step
    if step == 0 and bool(t.eval_at_start):
        evaluate(0)
    if resume_dir is not None:
        set_rng_state(tensors, meta["rng"])  # last: nothing above may consume random numbers after it
    amp = t.amp == "bf16" and dev.type == "cuda"
    losses: list[float] = []
    status = "finished"
    t0, s0 = time.time(), step
    model.train()
    with _Interrupt(verbose and world.is_main) as interrupt:
        while step < total:
            lr = set_lr(opt, step, cfg)
            items = sampler.next_batch(int(t.batch_size), world.rank, world.size)
            batch = data.collate([data.sample(i, rng) for i, rng in items])
            out, gnorm = train_step(train_module, opt, params, batch, float(cfg.optim.clip_grad), dev, amp)
            if ema is not None:
                ema.update(named)
            step += 1
            logs = dist_.mean_scalars({"loss": float(out.loss.detach()), **out.logs}, world, dev)
            losses.append(logs["loss"])
            rate = (step - s0) / max(1e-9, time.time() - t0)
            if step % max(1, int(t.log_every)) == 0 or step == total:
                log.write({"step": step, "kind": "train", "time": time.time(), "lr": lr,
                           "grad_norm": float(gnorm), "steps_per_s": rate, **logs})
            stop = interrupt.flag
            if progress is not None:
                try:
                    progress.step(1, f"loss {logs['loss']:.4f} lr {lr:.2e}")
                except Cancelled:
                    stop = True
            stop = dist_.any_flag(stop, world, dev)
            if stop and step < total:
                status = "cancelled"
                break
            if step == total:
                break
            is_best = int(t.eval_every) > 0 and step % int(t.eval_every) == 0 and evaluate(step)
            if is_best or (int(t.ckpt_every) > 0 and step % int(t.ckpt_every) == 0) or (
                    int(t.save_last_every) > 0 and step % int(t.save_last_every) == 0):
                save(step, is_best=is_best)
        last = save(step)  # first: a failing final evaluation must not cost the checkpoint
        if status == "finished" and evaluate(step):
            last = save(step, is_best=True)
    if world.is_main:
        line = f"{status.capitalize()} {timestamp()} UTC at step {step}"
        if eval_metrics:
            line += ": " + ", ".join(f"{k} {v:.4g}" for k, v in eval_metrics.items())
        append_readme(run_dir, line)
    log.close()
    if world.distributed:
        torch.distributed.barrier()
    return TrainResult(run_dir, step, status, last, eval_metrics, losses)


def load_trained(run_dir: str | Path, which: str = "last") -> Path:
    """The module checkpoint file of a run's ``last`` / ``best`` checkpoint (for corrviz-match etc.)."""
    folder = Path(run_dir) / "checkpoints" / which
    if not folder.exists():
        raise CheckpointError(f"{run_dir}: no {which!r} checkpoint")
    return folder.resolve() / "model.safetensors"


__all__ = ["TrainResult", "load_trained", "prepare", "train", "CorrvizError"]
