"""Build a backbone by name and load its weights (``create_backbone``)."""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Any

import torch

from ..errors import CheckpointMismatchError
from .base import Backbone
from .registry import _REGISTRY, DEFAULT_BACKBONE_ORDER, BackboneConfig, get_builder, get_config
from .weights import find_weights, load_state_dict, read_metadata

_INIT_LOCK = threading.Lock()


def _build_timm(cfg: BackboneConfig) -> torch.nn.Module:
    import timm

    kwargs: dict[str, Any] = {"pretrained": False, "num_classes": 0}
    kwargs.update(cfg.timm_kwargs)
    # Random init is reproducible (seed 0) and leaves the global RNG alone. The lock keeps two threads
    # (e.g. the app's workers) from building models at once: torch's RNG is process-wide, and interleaved
    # inits would each draw from the other's seed (measured: a checkpoint's base digest then differed).
    with _INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return timm.create_model(cfg.timm_name, **kwargs)


def architecture_signature(state_dict: dict[str, torch.Tensor]) -> dict[str, int | str]:
    """What a state dict looks like: family, embed dim, depth, patch size, registers."""
    sig: dict[str, int | str] = {}
    pw = state_dict.get("patch_embed.proj.weight")
    if pw is not None:
        sig["family"] = "vit"
        sig["embed_dim"] = int(pw.shape[0])
        sig["patch_size"] = int(pw.shape[-1])
        sig["depth"] = 1 + max((int(k.split(".")[1]) for k in state_dict if k.startswith("blocks.")), default=-1)
        reg = state_dict.get("reg_token", state_dict.get("register_tokens"))
        sig["num_registers"] = int(reg.shape[1]) if reg is not None else 0
    elif "stem.0.weight" in state_dict:
        sig["family"] = "convnext"
        sig["embed_dim"] = int(state_dict["stem.0.weight"].shape[0])
        sig["depth"] = 1 + max((int(k.split(".")[1]) for k in state_dict if k.startswith("stages.")), default=-1)
    return sig


def _config_signature(cfg: BackboneConfig, model: torch.nn.Module) -> dict[str, int | str]:
    return architecture_signature({k: v for k, v in model.state_dict().items()})


def _describe(sig: dict) -> str:
    if sig.get("family") == "vit":
        return (f"ViT with embed dim {sig['embed_dim']}, {sig['depth']} blocks, patch {sig['patch_size']}"
                f", {sig['num_registers']} registers")
    if sig.get("family") == "convnext":
        return f"ConvNeXt with stem width {sig['embed_dim']}"
    return "unrecognised architecture"


def matching_backbones(sig: dict) -> list[str]:
    """Registered (non-test) names whose architecture matches a signature."""
    out = []
    for name, cfg in _REGISTRY.items():
        if name.startswith("test_") or cfg.family != sig.get("family"):
            continue
        if cfg.family == "vit" and (cfg.embed_dim, cfg.depth, cfg.patch_size, cfg.num_registers) == (
                sig.get("embed_dim"), sig.get("depth"), sig.get("patch_size"), sig.get("num_registers")):
            out.append(name)
    return out


def load_weights_into(model: torch.nn.Module, cfg: BackboneConfig, path: str | os.PathLike) -> None:
    """Load a weights file into a freshly built timm model, converting foreign layouts, rejecting others."""
    meta = read_metadata(path)
    named = meta.get("backbone")
    if named and named != cfg.name and named in _REGISTRY:
        raise CheckpointMismatchError(
            f"{path}: weights are for backbone {named!r}, but {cfg.name!r} was requested")
    sd = load_state_dict(path)
    if cfg.family == "vit" and ("register_tokens" in sd or "mask_token" in sd or "cls_token" in sd):
        from timm.models.vision_transformer import checkpoint_filter_fn

        sd = checkpoint_filter_fn(sd, model)  # official DINO/DINOv2 layouts -> timm layout
    want, got = _config_signature(cfg, model), architecture_signature(sd)
    if got != want:
        others = matching_backbones(got)
        hint = f" (that matches {', '.join(others)})" if others else ""
        raise CheckpointMismatchError(
            f"{path}: checkpoint is a {_describe(got)}{hint}, but backbone {cfg.name!r} is a {_describe(want)}")
    target = model.state_dict()
    sd = {k: v for k, v in sd.items() if k in target or not k.startswith(("head.", "fc_norm."))}
    missing = [k for k in target if k not in sd]
    unexpected = [k for k in sd if k not in target]
    bad = [k for k in target if k in sd and tuple(sd[k].shape) != tuple(target[k].shape)]
    if missing or unexpected or bad:
        detail = "; ".join(filter(None, [
            f"missing {missing[:4]}" if missing else "", f"unexpected {unexpected[:4]}" if unexpected else "",
            f"wrong shape {bad[:4]}" if bad else ""]))
        raise CheckpointMismatchError(f"{path}: does not fit backbone {cfg.name!r}: {detail}")
    model.load_state_dict({k: v.to(target[k].dtype) for k, v in sd.items()}, strict=True)


def create_backbone(name: str, pretrained: bool = True, weights: str | os.PathLike | None = None,
                    device: str | torch.device = "cpu", allow_download: bool = True,
                    **overrides: Any) -> Backbone:
    """Build a registered backbone and load its weights.

    ``pretrained=False`` gives a random-init model (for speed tests and unit tests only; the
    returned backbone says so in ``weights_source``). ``weights`` is an explicit weights file.
    ``overrides`` replace config fields (e.g. ``patch_size=4`` for the classical descriptors).
    """
    cfg = get_config(name)
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    builder = get_builder(name)
    if builder is not None:
        backbone = builder(cfg)
    else:
        from .vit import ConvNeXtBackbone, ViTBackbone

        model = _build_timm(cfg)
        source = "random init"
        if cfg.needs_weights and (pretrained or weights is not None):
            loc = find_weights(cfg, weights, allow_download=allow_download)
            load_weights_into(model, cfg, loc.path)
            source = loc.describe()
        cls = ViTBackbone if cfg.family == "vit" else ConvNeXtBackbone
        backbone = cls(cfg, model, source)
    backbone.eval().requires_grad_(False)
    return backbone.to(device)


def weights_available(name: str) -> tuple[bool, str]:
    """Whether ``name`` can be built with real weights without downloading; and from where or why not."""
    cfg = get_config(name)
    if not cfg.needs_weights:
        return True, "weight-free" if cfg.family == "classical" else "random init (test model)"
    try:
        loc = find_weights(cfg, allow_download=False)
    except Exception as exc:  # noqa: BLE001
        return False, str(exc)
    return True, loc.describe()


def default_backbone() -> tuple[str, list[str]]:
    """The default backbone: the first of ``DEFAULT_BACKBONE_ORDER`` whose weights are here (no download).

    Returns the name and the names passed over for lack of weights (for the one-line note a tool
    prints when it is not the first choice).
    """
    passed: list[str] = []
    for name in DEFAULT_BACKBONE_ORDER:
        if weights_available(name)[0]:
            return name, passed
        passed.append(name)
    raise RuntimeError("the last entry of DEFAULT_BACKBONE_ORDER must need no weights")


def fallback_note(chosen: str, passed: list[str]) -> str:
    """One line saying which backbones had no weights and what is used instead."""
    names = " or ".join(passed)
    return (f"note: no weights for {names} here (run with --backbone {passed[0]} to see where corrviz looked); "
            f"using {chosen} ({get_config(chosen).description}) instead")
