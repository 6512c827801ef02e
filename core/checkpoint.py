"""corrviz checkpoints: safetensors weights with a JSON header, never pickles.

The header (safetensors ``__metadata__`` key ``corrviz``) holds: ``format`` ("corrviz-checkpoint"),
``format_version``, ``corrviz_version``, ``kind`` (what the output is: ``features`` or
``sphere_mapper``, see :data:`corrviz.core.heads.KINDS`), ``backbone`` (registry name),
``base_digest`` (:func:`state_digest` of the frozen backbone weights it was trained on),
``method`` (e.g. "mef", "sph", "diy-sc"), ``modules`` (list of module specs, see
:mod:`corrviz.core.heads`), ``config`` (the method's resolved config), ``feature`` (the
layer/facet/resolution the modules expect), ``step`` (training step, or null), ``git_commit`` and
``git_dirty`` (the source the run used) and ``metrics``.

Only the trainable modules' tensors are stored, keyed ``heads.<i>.<param>``
(:meth:`AdaptedBackbone.trainable_state_dict`); never the frozen base weights. Loading
(:func:`apply_checkpoint`) refuses another backbone (both names) or other base weights (both
digests; ``strict_base=False`` only warns) and enforces the feature tap. Format 1 files (no
``base_digest``, LoRA files that also carried the frozen qkv weights) still load: the base tensors
are ignored, never written into the backbone.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import warnings
import weakref
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import __version__
from .backbones.base import Backbone
from .errors import CheckpointError, CheckpointMismatchError
from .heads import KINDS, AdaptedBackbone
from .io import atomic_path, file_sha1

FORMAT = "corrviz-checkpoint"
FORMAT_VERSION = 2


file_digest = file_sha1  # SHA-1 of the checkpoint file (one helper: corrviz.core.io.file_sha1)

_DIGESTS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, str]] = weakref.WeakKeyDictionary()


def state_digest(module: nn.Module) -> str:
    """SHA-1 over a module's parameters and buffers (sorted name, shape, dtype, bytes); '' if it has none.

    Memoised per module until any tensor is replaced or changed in place (tensor version counters),
    so asking again for an unchanged model is cheap, and an optimiser step gives a new digest.
    """
    state = module.state_dict()
    signature = tuple((k, t.data_ptr(), t._version, str(t.device), t.dtype, tuple(t.shape))
                      for k, t in state.items())
    memo = _DIGESTS.get(module)
    if memo is not None and memo[0] == signature:
        return memo[1]
    h = hashlib.sha1()
    for name, tensor in sorted(state.items()):
        t = tensor.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")  # 0-d too
    digest = h.hexdigest() if state else ""
    _DIGESTS[module] = (signature, digest)
    return digest


def git_state(folder: str | os.PathLike | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout holding ``folder`` (default: corrviz's source); (None, None) outside git."""
    where = str(folder or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


def save_checkpoint(path: str | os.PathLike, model: AdaptedBackbone, method: str, config: dict | None = None,
                    feature: dict | None = None, metrics: dict | None = None, step: int | None = None,
                    git_commit: str | None = None, git_dirty: bool | None = None) -> Path:
    """Atomically write the trainable modules of ``model`` (only those) with their metadata.

    ``feature`` defaults to the model's own tap (``model.feature``); ``git_commit``/``git_dirty``
    default to the state of corrviz's checkout (:func:`git_state`).
    """
    from safetensors.torch import save_file

    if git_commit is None:
        git_commit, git_dirty = git_state()
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "corrviz_version": __version__,
            "kind": model.kind, "backbone": model.name, "base_digest": state_digest(model.inner),
            "method": method, "modules": model.specs, "config": config or {},
            "feature": dict(feature if feature is not None else model.feature),
            "step": None if step is None else int(step), "git_commit": git_commit, "git_dirty": git_dirty,
            "metrics": metrics or {}}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.trainable_state_dict().items()}
    target = Path(path)
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata={"corrviz": json.dumps(meta)})
    return target


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and metadata of a corrviz checkpoint; clear errors for anything else."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint file does not exist")
    if p.suffix != ".safetensors":
        raise CheckpointError(f"{p}: corrviz checkpoints are .safetensors files")
    try:
        with safe_open(str(p), framework="pt") as fh:
            header = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{p}: not a readable safetensors file ({str(exc)[:160]})") from None
    if "corrviz" not in header:
        raise CheckpointError(f"{p}: no corrviz metadata; is this backbone weights rather than a corrviz checkpoint?")
    try:
        meta = json.loads(header["corrviz"])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{p}: corrupt corrviz metadata ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{p}: unknown checkpoint format {meta.get('format')!r}")
    return tensors, meta


def read_checkpoint_metadata(path: str | os.PathLike) -> dict[str, Any]:
    return read_checkpoint(path)[1]


def _legacy_base_keys(tensors: dict[str, torch.Tensor], specs: list[dict]) -> list[str]:
    """Format-1 LoRA files stored the frozen qkv Linear as ``heads.<i>.adapters.<b>.base.*``."""
    lora = {str(i) for i, s in enumerate(specs) if s.get("type") == "lora"}
    return [k for k in tensors if k.split(".")[1:2] and k.split(".")[1] in lora and ".base." in k]


def apply_checkpoint(backbone: Backbone, path: str | os.PathLike, strict_base: bool = True,
                     kind: str | None = None) -> AdaptedBackbone:
    """Wrap ``backbone`` with the modules of a corrviz checkpoint; ``backbone`` itself is not modified.

    Refuses (:class:`CheckpointMismatchError`) a checkpoint for another backbone (both names), for
    other base weights (both digests; with ``strict_base=False`` a warning instead), or of another
    ``kind`` than asked for. The returned model defaults to, and enforces, the checkpoint's tap.
    """
    tensors, meta = read_checkpoint(path)
    name = Path(path).name
    if meta.get("backbone") != backbone.name:
        raise CheckpointMismatchError(
            f"{path}: checkpoint was trained on backbone {meta.get('backbone')!r}, "
            f"but the current backbone is {backbone.name!r}")
    specs = list(meta.get("modules", []))
    got_kind = meta.get("kind") or ("sphere_mapper" if specs and specs[-1].get("type") == "sphere_mapper"
                                    else "features")
    if got_kind not in KINDS:
        raise CheckpointError(f"{path}: unknown checkpoint kind {got_kind!r}; known: {', '.join(KINDS)}")
    if kind is not None and got_kind != kind:
        raise CheckpointMismatchError(f"{name} is a '{got_kind}' checkpoint, but a '{kind}' checkpoint is needed")
    want = meta.get("base_digest")
    if want:
        have = state_digest(backbone)
        if have != want:
            msg = (f"{path}: checkpoint was trained on {backbone.name} weights with digest {want}, but the "
                   f"loaded weights ({backbone.weights_source}) have digest {have}")
            if strict_base:
                raise CheckpointMismatchError(msg + "; load the weights it was trained on")
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
    try:
        model = AdaptedBackbone(backbone, specs, feature=meta.get("feature") or {})
    except ValueError as exc:
        raise CheckpointMismatchError(f"{path}: {exc}") from None
    legacy = _legacy_base_keys(tensors, specs)
    if legacy:
        warnings.warn(f"{path}: old-format checkpoint also stores {len(legacy)} frozen base tensors; they are "
                      "ignored (the backbone keeps its own weights)", RuntimeWarning, stacklevel=2)
    try:
        model.load_trainable_state_dict({k: v for k, v in tensors.items() if k not in legacy})
    except ValueError as exc:
        raise CheckpointMismatchError(f"{path}: weights do not fit the modules it declares ({exc})") from None
    model.eval().requires_grad_(False)
    return model
