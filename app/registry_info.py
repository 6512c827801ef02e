"""What the backbone picker lists: registry names, weight availability and devices.

Two steps, both in workers, so neither the window nor the list waits for the slow part:
:func:`backbone_entries` lists the registry (importing it loads torch) with the weight state of
networks still unknown, and :func:`probe_weights` then looks for each network's weights (the
weights folder, the hub cache; timm is imported for the hub names), one backbone at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .widgets.options_panel import BackboneEntry

WEIGHT_FREE_NOTE = "weight-free"
TEST_MODEL_NOTE = "random init (test model)"


def backbone_entries() -> list[BackboneEntry]:
    """Registry names, without probing weights (``available`` is ``None`` for networks until probed).

    The tiny random-init ``test_*`` models come last; they run the real code path in seconds (and
    are what a sphere mapper made for a test can be loaded on), and the picker labels them.
    """
    from corrviz.core.backbones import get_config, list_backbones

    out = []
    names = list_backbones()
    for name in names + [n for n in list_backbones(include_test=True) if n not in names]:
        cfg = get_config(name)
        weight_free = cfg.family == "classical"
        available = None if cfg.needs_weights else True
        note = "" if cfg.needs_weights else (WEIGHT_FREE_NOTE if weight_free else TEST_MODEL_NOTE)
        out.append(BackboneEntry(name, available, f"{cfg.description}\n{note}" if note else cfg.description,
                                 cfg.patch_size, cfg.default_resolution, cfg.depth, tuple(cfg.facets),
                                 weight_free=weight_free, default_layer=cfg.default_layer,
                                 default_facet=cfg.default_facet, description=cfg.description))
    return out


def probe_weights(names: list[str], weights_files: dict[str, str] | None = None,
                  on_probed: Callable[[tuple[str, bool, str]], None] | None = None) -> dict[str, tuple[bool, str]]:
    """Whether each backbone's weights are here (never downloads): name -> (found, where or why not).

    ``weights_files`` are files the user chose per backbone in the app (they win over the folder).
    ``on_probed`` gets ``(name, found, detail)`` as each one is known (the worker's partial results).
    """
    from corrviz.core.backbones import weights_available

    out: dict[str, tuple[bool, str]] = {}
    for name in names:
        chosen = (weights_files or {}).get(name)
        if chosen and Path(chosen).is_file():
            out[name] = (True, f"chosen file:{chosen}")
        else:
            ok, detail = weights_available(name)
            if chosen:
                detail = f"the chosen file {chosen} no longer exists; {detail}"
            out[name] = (ok, detail)
        if on_probed is not None:
            on_probed((name, *out[name]))
    return out


def available_devices() -> list[str]:
    import torch

    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
