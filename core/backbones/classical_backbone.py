"""Weight-free backbones: dense SIFT (OpenCV) and DAISY (scikit-image) on a regular grid.

They follow the same interface as the networks, so every tool works offline with the classical
baseline the papers compare against. ``patch_size`` is the grid stride (configurable:
``create_backbone("dense_sift", patch_size=4)``); descriptors are centred on the cells.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Backbone
from .registry import BackboneConfig, register_backbone


class ClassicalBackbone(Backbone):
    def __init__(self, config: BackboneConfig) -> None:
        super().__init__(config, "weight-free")

    def feature_dim(self, layer: int | None = None, facet: str | None = None) -> int:
        return self.config.embed_dim

    def resolve_tap(self, layer: int | None, facet: str | None) -> tuple[int, str]:
        return 0, "prenorm"

    def forward_features(self, images: torch.Tensor, layer: int | None = None,
                         facet: str | None = None) -> torch.Tensor:
        from . import classical

        self.check_resolution(images.shape[-2], images.shape[-1])
        rgb = images.detach().float().clamp(0, 1).cpu().numpy()
        gray = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).astype(np.float32)
        fn = classical.dense_sift if self.config.timm_name == "sift" else classical.dense_daisy
        feats = [fn(g, stride=self.config.patch_size) for g in gray]
        return torch.from_numpy(np.stack(feats)).to(images.device)


def _register() -> None:
    for name, kind, dim, desc in (("dense_sift", "sift", 128, "dense SIFT (OpenCV), upright, RootSIFT"),
                                  ("daisy", "daisy", 104, "DAISY (scikit-image) on a dense grid")):
        register_backbone(BackboneConfig(
            name=name, family="classical", timm_name=kind, patch_size=8, embed_dim=dim, depth=1,
            default_layer=0, default_resolution=448, native_resolution=448, pos_interpolation="none",
            facets=("prenorm",), needs_weights=False, description=desc), builder=ClassicalBackbone)


_register()
