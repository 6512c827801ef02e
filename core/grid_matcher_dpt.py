"""DPT-style dense head of the grid matcher: four token taps -> a full-resolution 3-channel map.

Follows the DPT layout (Ranftl et al. 2021) at a configurable width: each tap is layer-normed,
projected by a 1x1 conv and resampled to 4x, 2x, 1x and 1/2x the patch grid ("reassemble"),
brought to a common width by a 3x3 conv, then fused coarse to fine by residual conv units with a
2x upsampling per level; the fused map (4x the patch grid) goes through a 3x3 conv, a 2x
upsampling, conv-ReLU-conv to the output channels, and a final bilinear resize to the canvas.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualConvUnit(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """DPT feature fusion: (skip -> RCU) + path, RCU, 2x bilinear upsampling, 1x1 conv."""

    def __init__(self, c: int, with_skip: bool) -> None:
        super().__init__()
        self.skip_unit = ResidualConvUnit(c) if with_skip else None
        self.unit = ResidualConvUnit(c)
        self.out = nn.Conv2d(c, c, 1)

    def forward(self, path: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None and self.skip_unit is not None:
            if skip.shape[-2:] != path.shape[-2:]:
                path = F.interpolate(path, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            path = path + self.skip_unit(skip)
        path = self.unit(path)
        path = F.interpolate(path, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.out(path)


class DPTHead(nn.Module):
    """Four (B, D, h, w) tap grids -> (B, out_channels, H, W) at the canvas size."""

    def __init__(self, dim: int, features: int = 256, out_channels: int = 3,
                 tap_channels: tuple[int, int, int, int] | None = None) -> None:
        super().__init__()
        chans = tap_channels or (features // 2, features, features * 2, features * 2)
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(4)])
        self.project = nn.ModuleList([nn.Conv2d(dim, c, 1) for c in chans])
        self.resample = nn.ModuleList([
            nn.ConvTranspose2d(chans[0], chans[0], 4, stride=4),
            nn.ConvTranspose2d(chans[1], chans[1], 2, stride=2),
            nn.Identity(),
            nn.Conv2d(chans[3], chans[3], 3, stride=2, padding=1),
        ])
        self.layer_rn = nn.ModuleList([nn.Conv2d(c, features, 3, padding=1, bias=False) for c in chans])
        self.fusion = nn.ModuleList([FusionBlock(features, with_skip=k < 3) for k in range(4)])
        half = max(1, features // 2)
        self.head = nn.Sequential(
            nn.Conv2d(features, half, 3, padding=1),
            nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False),
            nn.Conv2d(half, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, out_channels, 1))

    def forward(self, taps: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        if len(taps) != 4:
            raise ValueError(f"the DPT head takes 4 taps, got {len(taps)}")
        levels = []
        for k, x in enumerate(taps):
            x = self.norms[k](x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            levels.append(self.layer_rn[k](self.resample[k](self.project[k](x))))
        path = self.fusion[3](levels[3])
        for k in (2, 1, 0):
            path = self.fusion[k](path, levels[k])
        out = self.head(path)
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)
