"""Differentiable feature extraction for training: torch canvases, tensor point sampling, several taps.

:class:`FeatureExtractor` is the inference path (numpy canvases, ``inference_mode``, a cache, CPU
feature maps). Training needs the same numbers with gradients, on the training device, for a
batch: :class:`TrainFeatures` renders canvases with :func:`~corrviz.core.transforms.render_canvas_torch`
(the torch twin of the numpy canvas, equal to float precision), runs the model WITHOUT inference
mode or caching, and samples point features with :func:`sample_points` (bilinear on the patch
grid, patch-centre convention, ``align_corners=False``: the same numbers as
:meth:`FeatureMap.sample`). Mixed precision is the caller's ``torch.autocast`` context.

Stable API (used by :mod:`corrviz.training`): ``TrainFeatures(model, resolution, canvas, layer,
facet)``, ``.transform_for(size)``, ``.canvases(images)``, ``.features(images)`` -> (grid,
transform), ``.taps(images, taps)``, and ``sample_points(grid, xy, transform)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .backbones.base import Backbone
from .transforms import CANVAS_MODES, CanvasTransform, image_to_normalized_torch, render_canvas_torch


def sample_points(grid: torch.Tensor, xy: torch.Tensor, transform: CanvasTransform) -> torch.Tensor:
    """Features at image points: grid (B, D, h, w), xy (B, N, 2) image pixels -> (B, N, D).

    Bilinear on the patch grid with the patch-centre convention (``align_corners=False``, border
    padding), exactly as :meth:`corrviz.core.features.FeatureMap.sample`; differentiable with respect
    to the grid (and the points).
    """
    if grid.dim() != 4 or xy.dim() != 3 or xy.shape[-1] != 2 or xy.shape[0] != grid.shape[0]:
        raise ValueError(f"expected grid (B, D, h, w) and points (B, N, 2), got {tuple(grid.shape)} and "
                         f"{tuple(xy.shape)}")
    if tuple(grid.shape[-2:]) != transform.grid_shape:
        raise ValueError(f"feature grid {tuple(grid.shape[-2:])} does not match the transform's grid "
                         f"{transform.grid_shape}")
    norm = image_to_normalized_torch(transform, xy.to(grid.dtype))
    out = F.grid_sample(grid, norm[:, None], mode="bilinear", padding_mode="border", align_corners=False)
    return out[:, :, 0].transpose(1, 2)


class TrainFeatures:
    """Batched, differentiable features of one model at one tap and canvas, on the model's device."""

    def __init__(self, model: Backbone, resolution: int | tuple[int, int], canvas: str = "pad_center",
                 layer: int | None = None, facet: str | None = None) -> None:
        if canvas not in CANVAS_MODES:
            raise ValueError(f"unknown canvas mode {canvas!r}; choose one of {', '.join(CANVAS_MODES)}")
        self.model = model
        self.resolution = tuple(resolution) if isinstance(resolution, (list, tuple)) else int(resolution)
        self.canvas = canvas
        self.layer, self.facet = model.resolve_tap(layer, facet)

    @property
    def device(self) -> torch.device:
        p = next(iter(self.model.parameters()), None)
        return p.device if p is not None else torch.device("cpu")

    def transform_for(self, image_size: tuple[int, int]) -> CanvasTransform:
        """The canvas transform of an image of ``image_size = (W, H)``."""
        return CanvasTransform.create(image_size, self.resolution, self.model.feature_stride(self.layer), self.canvas)

    def canvases(self, images: torch.Tensor) -> tuple[torch.Tensor, CanvasTransform]:
        """(B, 3, H, W) float in [0, 1] or uint8 -> canvases (B, 3, ch, cw) on the model's device, and the transform."""
        t = self.transform_for((int(images.shape[-1]), int(images.shape[-2])))
        return render_canvas_torch(images.to(self.device), t), t

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, CanvasTransform]:
        """Feature grid (B, D, h, w) at the tap, with gradients, and the canvas transform."""
        canvas, t = self.canvases(images)
        return self.model.forward_features(canvas, self.layer, self.facet), t

    def taps(self, images: torch.Tensor, taps: Sequence[tuple[int | None, str | None]]
             ) -> tuple[list[torch.Tensor], CanvasTransform]:
        """Several (layer, facet) grids from one forward (ViT backbones), and the canvas transform."""
        canvas, t = self.canvases(images)
        forward_taps = getattr(self.model, "forward_taps", None)
        if forward_taps is None:
            raise ValueError(f"{self.model.name}: several taps from one forward need a ViT backbone")
        return forward_taps(canvas, list(taps)), t

    def point_features(self, images: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
        """Features (B, N, D) at image points xy (B, N, 2) of the images (B, 3, H, W)."""
        grid, t = self.features(images)
        return sample_points(grid, xy.to(grid.device), t)
