"""VGGT-SC losses (method spec section 4), as plain functions of tensors (hand-checked in the tests).

Shapes: grids (B, H, W, 2) in ``grid_sample`` coordinates of the other image (align_corners=False,
:func:`corrviz.core.transforms.grid_to_pixels`); images (B, C, H, W); masks / confidences (B, H, W).
Every masked mean divides by the mask's sum (at least 1). The choices the spec leaves open are
stated on each function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from corrviz.core.grid_matcher import warp_by_grid
from corrviz.core.transforms import grid_to_pixels, identity_grid, pixels_to_grid


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum().clamp_min(1.0)


def dense_l2(grid: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over valid pixels of the squared distance ||grid - gt||^2 in grid coordinates."""
    return _masked_mean(((grid - gt) ** 2).sum(-1), valid)


def sparse_l2(grid: torch.Tensor, src_xy: torch.Tensor, dst_xy: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean squared PIXEL distance between the grid read at source keypoints and the target keypoints.

    ``src_xy``/``dst_xy`` (B, K, 2) canvas pixels of the source / target image (same canvas size);
    the grid is read bilinearly (align_corners=False, border). Pixels rather than grid units: with
    the spec's weight 0.01 a 10 px error costs 1, against 1e4 x (10 px in grid units)^2 = 8 for the
    dense term at 224 px (stated choice; the spec gives the weight only).
    """
    b, h, w, _ = grid.shape
    at = pixels_to_grid(src_xy, w, h)[:, :, None, :]  # (B, K, 1, 2)
    read = F.grid_sample(grid.permute(0, 3, 1, 2), at, mode="bilinear", padding_mode="border",
                         align_corners=False)[..., 0].permute(0, 2, 1)  # (B, K, 2) grid coords
    pred = grid_to_pixels(read, w, h)
    return _masked_mean(((pred - dst_xy) ** 2).sum(-1), valid)


def smoothness(grid: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Squared differences of horizontally and vertically neighbouring displacements (grid - identity).

    Neighbours count where both pixels are in ``mask``; the mean of the two directions' masked means.
    Displacements, not raw coordinates, so that the identity (and any translation) costs 0.
    """
    _, h, w, _ = grid.shape
    flow = grid - identity_grid(h, w, grid.device, grid.dtype)[None]
    m = mask.to(grid.dtype)
    dx = ((flow[:, :, 1:] - flow[:, :, :-1]) ** 2).sum(-1)
    dy = ((flow[:, 1:] - flow[:, :-1]) ** 2).sum(-1)
    return 0.5 * (_masked_mean(dx, m[:, :, 1:] * m[:, :, :-1]) + _masked_mean(dy, m[:, 1:] * m[:, :-1]))


def matching_loss(feat_t: torch.Tensor, feat_warped: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted mean of ||E(I_t) - E(warp(I_s))||_2 per feature cell, features L2-normalised over channels.

    ``feat_*`` (B, D, h, w); ``weight`` (B, h, w) = confidence x mask on the cells (the caller pools
    them from pixels and detaches the confidence: see :mod:`.vggt_sc`).
    """
    d = (F.normalize(feat_t, dim=1) - F.normalize(feat_warped, dim=1)).norm(dim=1)
    return (d * weight).sum() / weight.sum().clamp_min(1e-6)


def reconstruction_error(image_s: torch.Tensor, grid_st: torch.Tensor, grid_ts: torch.Tensor) -> torch.Tensor:
    """Per-pixel ||I_s - warp(warp(I_s, G_ts), G_st)||_2 over channels, (B, H, W).

    ``warp(I_s, G_ts)`` is I_s brought into t's frame; warping that with ``G_st`` brings it back.
    """
    round_trip = warp_by_grid(warp_by_grid(image_s, grid_ts), grid_st)
    return (image_s - round_trip).norm(dim=1)


def cycle_error(grid_st: torch.Tensor, grid_ts: torch.Tensor) -> torch.Tensor:
    """Per-pixel forward-backward distance ||G_ts(G_st(p)) - p|| in grid units of s, (B, H, W).

    The geometric counterpart of :func:`reconstruction_error` (which compares the COLOURS at p and
    at the round-trip point): ``G_ts`` is read bilinearly at ``G_st(p)``. A pixel whose match lies
    outside t has no round trip: it gets the largest possible distance, 2 sqrt(2).
    """
    b, h, w, _ = grid_st.shape
    back = F.grid_sample(grid_ts.permute(0, 3, 1, 2), grid_st.to(grid_ts.dtype), mode="bilinear",
                         padding_mode="border", align_corners=False).permute(0, 2, 3, 1)
    dist = (back - identity_grid(h, w, grid_st.device, back.dtype)[None]).norm(dim=-1)
    outside = (grid_st.abs() > 1).any(-1)
    return torch.where(outside, torch.full_like(dist, 2.0 * 2.0 ** 0.5), dist)


def reconstruction_loss(error: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted mean of the round-trip error (weight = confidence x mask)."""
    return (error * weight).sum() / weight.sum().clamp_min(1e-6)


def uncertainty_loss(confidence: torch.Tensor, error: torch.Tensor, mask: torch.Tensor,
                     lambda_conf: float = 0.1) -> torch.Tensor:
    """L1(confidence, 1 - minmax(error)) - lambda_conf x mean confidence, masked, per image then averaged.

    min/max are over each image's masked pixels; the error is a target (no gradient). An image
    whose masked errors are all equal gets target 1 everywhere.
    """
    e = error.detach()
    m = mask.to(e.dtype)
    big = torch.finfo(e.dtype).max
    lo = torch.where(m > 0, e, torch.full_like(e, big)).flatten(1).min(1).values[:, None, None]
    hi = torch.where(m > 0, e, torch.full_like(e, -big)).flatten(1).max(1).values[:, None, None]
    span = hi - lo
    norm = torch.where(span > 0, (e - lo) / span.clamp_min(1e-12), torch.zeros_like(e))
    target = 1.0 - norm
    losses = []
    for k in range(confidence.shape[0]):
        if m[k].sum() == 0:
            continue
        losses.append(_masked_mean((confidence[k] - target[k]).abs(), m[k])
                      - lambda_conf * _masked_mean(confidence[k], m[k]))
    return torch.stack(losses).mean() if losses else confidence.sum() * 0.0


def cell_weights(pixel_weight: torch.Tensor, stride: int) -> torch.Tensor:
    """(B, H, W) pixel weights -> (B, H / stride, W / stride) cell means (for the matching loss)."""
    return F.avg_pool2d(pixel_weight[:, None], stride)[:, 0]
