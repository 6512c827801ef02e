"""The interface every backbone implements: images in, a patch-feature grid out."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ResolutionError
from .registry import BackboneConfig


class Backbone(nn.Module):
    """A frozen feature extractor. ``forward_features`` maps (B, 3, H, W) RGB in [0, 1] to (B, D, H/s, W/s)."""

    config: BackboneConfig
    weights_source: str

    def __init__(self, config: BackboneConfig, weights_source: str = "random init") -> None:
        super().__init__()
        self.config = config
        self.weights_source = weights_source

    @property
    def name(self) -> str:
        return self.config.name

    def feature_stride(self, layer: int | None = None) -> int:
        """Canvas pixels per feature cell for the given layer."""
        return self.config.patch_size

    def resolve_tap(self, layer: int | None, facet: str | None) -> tuple[int, str]:
        """Fill in defaults and validate the (layer, facet) feature tap; layer is returned non-negative."""
        layer = self.config.default_layer if layer is None else int(layer)
        facet = self.config.default_facet if facet is None else facet
        depth = max(self.config.depth, 1)
        idx = layer + depth if layer < 0 else layer
        if not 0 <= idx < depth:
            raise ValueError(f"{self.name}: layer {layer} out of range for {depth} blocks")
        if facet not in self.config.facets:
            raise ValueError(f"{self.name}: unknown facet {facet!r}; choose one of {', '.join(self.config.facets)}")
        return idx, facet

    def check_resolution(self, h: int, w: int, layer: int | None = None) -> None:
        s = self.feature_stride(layer)
        if h % s or w % s:
            raise ResolutionError(
                f"{self.name}: input {w}x{h} is not a multiple of the patch size {s}; "
                f"use e.g. {max(s, round(w / s) * s)}x{max(s, round(h / s) * s)}")

    def feature_dim(self, layer: int | None = None, facet: str | None = None) -> int:
        return self.config.embed_dim

    def forward_features(self, images: torch.Tensor, layer: int | None = None,
                         facet: str | None = None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # nn.Module protocol
        return self.forward_features(images)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.config.mean, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.config.std, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        return (images - mean) / std
