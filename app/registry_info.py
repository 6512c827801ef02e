"""What the backbone picker lists: registry names, weight availability and devices.

Run in a worker: importing the registry loads torch, which the first window does not wait for.
"""

from __future__ import annotations

from .widgets.options_panel import BackboneEntry


def backbone_entries() -> list[BackboneEntry]:
    """Registry names with weight availability (runs in a worker: importing the registry loads torch).

    The tiny random-init ``test_*`` models come last; they run the real code path in seconds (and
    are what a sphere mapper made for a test can be loaded on), and the picker labels them.
    """
    from corrviz.core.backbones import get_config, list_backbones, weights_available

    out = []
    names = list_backbones()
    for name in names + [n for n in list_backbones(include_test=True) if n not in names]:
        cfg = get_config(name)
        ok, detail = weights_available(name)
        out.append(BackboneEntry(name, ok, f"{cfg.description}\n{detail}", cfg.patch_size, cfg.default_resolution,
                                 cfg.depth, tuple(cfg.facets)))
    return out


def available_devices() -> list[str]:
    import torch

    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
