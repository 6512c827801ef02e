"""corrviz checkpoints: safetensors weights with a JSON header, never pickles.

The header (safetensors ``__metadata__`` key ``corrviz``) holds: ``format`` ("corrviz-checkpoint"),
``format_version``, ``corrviz_version``, ``backbone`` (registry name), ``method`` (e.g. "mef",
"sph", "diy-sc"), ``modules`` (list of module specs, see :mod:`corrviz.core.heads`), ``config``
(the method's resolved config), ``feature`` (the layer/facet/resolution the modules expect) and
``metrics``. Only the trainable modules' tensors are stored, keyed ``heads.<i>.<param>``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .backbones.base import Backbone
from .errors import CheckpointError, CheckpointMismatchError
from .heads import AdaptedBackbone
from .io import atomic_path, file_sha1

FORMAT = "corrviz-checkpoint"
FORMAT_VERSION = 1


file_digest = file_sha1  # SHA-1 of the checkpoint file (one helper: corrviz.core.io.file_sha1)


def save_checkpoint(path: str | os.PathLike, model: AdaptedBackbone, method: str, config: dict | None = None,
                    feature: dict | None = None, metrics: dict | None = None) -> Path:
    """Atomically write the trainable modules of ``model`` with their metadata."""
    from safetensors.torch import save_file

    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "corrviz_version": __version__,
            "backbone": model.name, "method": method, "modules": model.specs, "config": config or {},
            "feature": feature or {}, "metrics": metrics or {}}
    tensors = {f"heads.{k}": v.detach().cpu().contiguous() for k, v in model.heads.state_dict().items()}
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


def apply_checkpoint(backbone: Backbone, path: str | os.PathLike) -> AdaptedBackbone:
    """Wrap ``backbone`` with the modules of a corrviz checkpoint (rejects other backbones)."""
    tensors, meta = read_checkpoint(path)
    if meta.get("backbone") != backbone.name:
        raise CheckpointMismatchError(
            f"{path}: checkpoint was trained on backbone {meta.get('backbone')!r}, "
            f"but the current backbone is {backbone.name!r}")
    model = AdaptedBackbone(backbone, list(meta.get("modules", [])))
    state = {k[len("heads."):]: v for k, v in tensors.items() if k.startswith("heads.")}
    try:
        model.heads.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointMismatchError(f"{path}: weights do not fit the modules it declares ({str(exc)[:200]})") from None
    model.eval().requires_grad_(False)
    return model
