"""Finding and loading backbone weights, in the order users expect.

1. an explicit file path;
2. the weights directory: ``$CORRVIZ_WEIGHTS`` or the ``weights_dir`` setting, a folder of
   ``<backbone-name>.safetensors`` files (fp16 or fp32, optional ``<backbone-name>.json`` metadata);
3. the Hugging Face hub through timm's repository for the model (``timm/<arch>.<tag>``): the local
   hub cache first, then a download unless ``HF_HUB_OFFLINE`` is set;
4. otherwise :class:`WeightsNotFoundError` listing every place looked at.

Files are read without executing code: safetensors, or ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, WeightsNotFoundError
from .registry import BackboneConfig

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


@dataclass(frozen=True)
class WeightsLocation:
    path: Path
    source: str  # "path", "weights_dir", "hub"

    def describe(self) -> str:
        return f"{self.source}:{self.path}"


def weights_dir() -> Path | None:
    env = os.environ.get("CORRVIZ_WEIGHTS")
    if env:
        return Path(env)
    from ..settings import Settings

    wd = Settings.load().weights_dir
    return Path(wd) if wd else None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_repo(cfg: BackboneConfig) -> str | None:
    """The Hugging Face repository timm uses for this backbone's pretrained weights: ``timm/<arch>.<tag>``.

    Derived from the config alone (no timm import, so the app's start-up weight probe stays fast);
    a test checks it equals timm's ``hf_hub_id`` for every registered backbone.
    """
    return f"timm/{cfg.timm_id}" if cfg.pretrained_tag else None


def find_weights(cfg: BackboneConfig, path: str | os.PathLike | None = None,
                 allow_download: bool = True) -> WeightsLocation:
    """Locate weights for ``cfg`` or raise :class:`WeightsNotFoundError` saying where it looked."""
    looked: list[str] = []
    if path is not None:
        p = Path(path)
        if p.is_file():
            return WeightsLocation(p, "path")
        raise WeightsNotFoundError(f"{cfg.name}: weights file {p} does not exist")
    looked.append("explicit path: none given")

    wd = weights_dir()
    if wd is None:
        looked.append("weights directory: not set (set CORRVIZ_WEIGHTS or the weights_dir setting)")
    else:
        for suffix in WEIGHT_SUFFIXES:
            cand = wd / f"{cfg.name}{suffix}"
            if cand.is_file():
                return WeightsLocation(cand, "weights_dir")
        looked.append(f"weights directory: {wd / (cfg.name + '.safetensors')} not found")

    repo = hub_repo(cfg)
    if repo is None:
        looked.append("Hugging Face hub: this backbone has no published weights")
    else:
        found, why = _from_hub(repo, allow_download)
        if found is not None:
            return WeightsLocation(found, "hub")
        looked.append(f"Hugging Face hub {repo}: {why}")
    raise WeightsNotFoundError(
        f"no weights found for backbone {cfg.name!r}. Looked at:\n  - " + "\n  - ".join(looked)
        + f"\nPut the file at <weights dir>/{cfg.name}.safetensors, pass an explicit path, or go online.")


def _from_hub(repo: str, allow_download: bool) -> tuple[Path | None, str]:
    try:
        import huggingface_hub as hfh
    except ImportError:
        return None, "huggingface_hub is not installed"
    cache = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None)
    for filename in ("model.safetensors", "pytorch_model.bin"):
        try:
            hit = hfh.try_to_load_from_cache(repo, filename, cache_dir=cache)
        except Exception:  # noqa: BLE001
            hit = None
        if isinstance(hit, str) and Path(hit).is_file():
            return Path(hit), ""
    where = cache or "the default Hugging Face cache"
    if _offline():
        return None, f"not in the local cache ({where}) and HF_HUB_OFFLINE is set"
    if not allow_download:
        return None, f"not in the local cache ({where}); download not attempted"
    reachable, why = hub_reachable()
    if not reachable:
        return None, f"not in the local cache ({where}) and the hub is unreachable ({why})"
    try:
        got = hfh.hf_hub_download(repo, "model.safetensors", cache_dir=cache)
        return Path(got), ""
    except Exception as exc:  # noqa: BLE001 - network errors come in many types
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"not in the local cache ({where}) and the download failed ({msg[:160]})"


def hub_reachable(timeout: float = 3.0) -> tuple[bool, str]:
    """Quick TCP probe of the hub endpoint, so an offline machine fails in seconds, not after retries."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError as exc:
        return False, f"{host}:{port}: {exc.strerror or exc}"


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a weights file into a flat ``{name: tensor}`` dict on the CPU (never runs code)."""
    p = Path(path)
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(p), device="cpu")
        else:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
            sd = _unwrap(obj)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{p}: cannot read weights ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{p}: not a state dict of tensors")
    return sd


def _unwrap(obj: object) -> dict:
    """Accept the common wrappers: {"model": sd}, {"state_dict": sd}, {"teacher": sd} (DINO)."""
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "teacher", "module"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
        prefixes = ("module.", "backbone.")
        out = {}
        for k, v in obj.items():
            for pre in prefixes:
                if k.startswith(pre):
                    k = k[len(pre):]
            out[k] = v
        return out
    raise CheckpointError("weights file does not hold a dict")


def read_metadata(path: str | os.PathLike) -> dict:
    """Metadata of a weights file: the ``<stem>.json`` beside it, then the safetensors header."""
    p = Path(path)
    side = p.with_suffix(".json")
    meta: dict = {}
    if p.suffix == ".safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(p), framework="pt") as fh:
                meta.update(fh.metadata() or {})
        except Exception:  # noqa: BLE001
            pass
    if side.is_file():
        try:
            meta.update(json.loads(side.read_text()))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{side}: invalid JSON metadata ({exc})") from None
    return meta
