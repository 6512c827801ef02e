"""Vision Transformers from timm with corrviz's feature taps and each release's position rule.

The blocks, attention and weights are timm's; corrviz only runs the token pipeline itself so that
(1) any resolution that is a multiple of the patch size works, with the patch position embeddings
resized exactly as the backbone's official code does (``BackboneConfig.pos_interpolation``, one of
``registry.POS_RULES``): the plain DINOv2 models and DINO v1 use bicubic, antialias off and a scale
factor ``(new + 0.1) / old``; the DINOv2 register models (Meta's hub builds them with
``interpolate_antialias=True, interpolate_offset=0.0``) and timm-native ViTs use a bicubic resize
to the target size with antialias on. Mixing them up changes features by 0.3 % to 6 % relative L2;
(2) any block's ``prenorm`` / ``norm`` output or its attention ``key`` / ``query`` / ``value`` can be
read without a second forward pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Backbone
from .registry import BackboneConfig


def _as_grid(patch_pos: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(1, M*M, D) -> float32 (1, D, M, M) and M."""
    n, dim = patch_pos.shape[1], patch_pos.shape[2]
    m = int(round(n ** 0.5))
    if m * m != n:
        raise ValueError(f"position embedding of {n} patches is not a square grid")
    return patch_pos.float().reshape(1, m, m, dim).permute(0, 3, 1, 2), m


def _from_grid(grid: torch.Tensor, grid_h: int, grid_w: int, dtype: torch.dtype) -> torch.Tensor:
    if grid.shape[-2:] != (grid_h, grid_w):
        raise RuntimeError(f"position interpolation gave {tuple(grid.shape[-2:])}, expected {(grid_h, grid_w)}")
    return grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, grid.shape[1]).to(dtype)


def interpolate_pos_offset(patch_pos: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """Rule ``bicubic_offset_0.1`` (plain DINOv2, DINO): (1, M*M, D) patch positions -> (1, gh*gw, D).

    Bicubic, antialias off, scale factor ``(new + 0.1) / M``, in float32; the native M x M grid is
    returned unchanged (as the official code does).
    """
    grid, m = _as_grid(patch_pos)
    if grid_h == m and grid_w == m:
        return patch_pos
    out = F.interpolate(grid, scale_factor=((grid_h + 0.1) / m, (grid_w + 0.1) / m), mode="bicubic",
                        antialias=False)
    return _from_grid(out, grid_h, grid_w, patch_pos.dtype)


def interpolate_pos_antialias(patch_pos: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """Rule ``bicubic_antialias_size`` (DINOv2 register models, timm): bicubic resize to (gh, gw), antialias on.

    Identical to timm's ``resample_abs_pos_embed`` and to the official DINOv2 code with
    ``interpolate_offset=0``; float32; the native grid is returned unchanged.
    """
    grid, m = _as_grid(patch_pos)
    if grid_h == m and grid_w == m:
        return patch_pos
    out = F.interpolate(grid, size=(grid_h, grid_w), mode="bicubic", antialias=True)
    return _from_grid(out, grid_h, grid_w, patch_pos.dtype)


POS_INTERPOLATORS = {"bicubic_offset_0.1": interpolate_pos_offset, "bicubic_antialias_size": interpolate_pos_antialias}


class ViTBackbone(Backbone):
    """A timm VisionTransformer run token by token up to the requested block."""

    def __init__(self, config: BackboneConfig, model: torch.nn.Module, weights_source: str) -> None:
        super().__init__(config, weights_source)
        self.model = model
        self.num_prefix = int(model.num_prefix_tokens)
        self._pos_prefix = 0 if model.no_embed_class else self.num_prefix

    # -------------------------------------------------------------------- tokens ------
    def patch_pos_embed(self, grid_h: int, grid_w: int) -> torch.Tensor:
        """Patch position embeddings for a (grid_h, grid_w) grid under the backbone's rule."""
        rule = self.config.pos_interpolation
        if rule not in POS_INTERPOLATORS:
            raise ValueError(f"{self.name}: a ViT needs a position-embedding rule, got {rule!r}")
        return POS_INTERPOLATORS[rule](self.model.pos_embed[:, self._pos_prefix:], grid_h, grid_w)

    def prepare_tokens(self, images: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """Normalised images (B, 3, H, W) -> tokens (B, prefix + h*w, D) before the first block."""
        m = self.model
        x = m.patch_embed.proj(images)
        b, _, gh, gw = x.shape
        x = m.patch_embed.norm(x.flatten(2).transpose(1, 2))
        x = x + self.patch_pos_embed(gh, gw).to(x.dtype)
        prefix = []
        if m.cls_token is not None:
            prefix.append(m.cls_token.expand(b, -1, -1))
        if m.reg_token is not None:
            prefix.append(m.reg_token.expand(b, -1, -1))
        if prefix:
            pre = torch.cat(prefix, dim=1)
            if self._pos_prefix:
                pre = pre + m.pos_embed[:, : self._pos_prefix].to(pre.dtype)
            x = torch.cat([pre, x], dim=1)
        return m.norm_pre(x), gh, gw

    def forward_tokens(self, images: torch.Tensor, layer: int | None = None,
                       facet: str | None = None) -> tuple[torch.Tensor, int, int]:
        """Tokens of the tap (B, N, D) including prefix tokens, and the grid size."""
        idx, facet = self.resolve_tap(layer, facet)
        x, gh, gw = self.prepare_tokens(self.normalize(images))
        blocks = self.model.blocks
        for i in range(idx):
            x = blocks[i](x)
        if facet in ("prenorm", "norm"):
            x = blocks[idx](x)
            return (self.model.norm(x) if facet == "norm" else x), gh, gw
        return self._attention_facet(blocks[idx], x, facet), gh, gw

    @staticmethod
    def _attention_facet(blk: torch.nn.Module, x: torch.Tensor, facet: str) -> torch.Tensor:
        """The block's attention ``query`` / ``key`` / ``value`` tokens (B, N, D) for block input ``x``."""
        attn = blk.attn
        b, n, _ = x.shape
        qkv = attn.qkv(blk.norm1(x)).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        part = {"query": attn.q_norm(q), "key": attn.k_norm(k), "value": v}[facet]
        return part.transpose(1, 2).reshape(b, n, -1)

    def forward_taps(self, images: torch.Tensor, taps: list[tuple[int | None, str | None]]
                     ) -> list[torch.Tensor]:
        """Patch grids (B, D, h, w) of several (layer, facet) taps from ONE forward, in the order given.

        Runs the blocks once up to the deepest tap (``forward_intermediates``-style; a dense head
        taking four block outputs needs this). Each grid equals ``forward_features`` at that tap.
        """
        if not taps:
            raise ValueError(f"{self.name}: forward_taps needs at least one (layer, facet) tap")
        self.check_resolution(images.shape[-2], images.shape[-1])
        resolved = [self.resolve_tap(layer, facet) for layer, facet in taps]
        x, gh, gw = self.prepare_tokens(self.normalize(images))
        tokens: list[torch.Tensor | None] = [None] * len(resolved)
        for i in range(max(idx for idx, _ in resolved) + 1):
            blk = self.model.blocks[i]
            for k, (idx, facet) in enumerate(resolved):
                if idx == i and facet in ("key", "query", "value"):
                    tokens[k] = self._attention_facet(blk, x, facet)
            x = blk(x)
            for k, (idx, facet) in enumerate(resolved):
                if idx == i and facet in ("prenorm", "norm"):
                    tokens[k] = self.model.norm(x) if facet == "norm" else x
        b = images.shape[0]
        return [t[:, self.num_prefix:].transpose(1, 2).reshape(b, -1, gh, gw) for t in tokens if t is not None]

    def forward_features(self, images: torch.Tensor, layer: int | None = None,
                         facet: str | None = None) -> torch.Tensor:
        self.check_resolution(images.shape[-2], images.shape[-1])
        x, gh, gw = self.forward_tokens(images, layer, facet)
        patches = x[:, self.num_prefix:]
        return patches.transpose(1, 2).reshape(x.shape[0], -1, gh, gw)


class ConvNeXtBackbone(Backbone):
    """timm ConvNeXt; ``layer`` is the stage index (0..3, stride 4, 8, 16, 32)."""

    def __init__(self, config: BackboneConfig, model: torch.nn.Module, weights_source: str) -> None:
        super().__init__(config, weights_source)
        self.model = model

    def feature_stride(self, layer: int | None = None) -> int:
        idx = self.config.default_layer if layer is None else layer
        idx = idx + self.config.depth if idx < 0 else idx
        return 4 * 2 ** idx

    def feature_dim(self, layer: int | None = None, facet: str | None = None) -> int:
        idx, _ = self.resolve_tap(layer, facet)
        return int(self.model.stages[idx].blocks[-1].mlp.fc2.out_features)

    def forward_features(self, images: torch.Tensor, layer: int | None = None,
                         facet: str | None = None) -> torch.Tensor:
        idx, facet = self.resolve_tap(layer, facet)
        self.check_resolution(images.shape[-2], images.shape[-1], idx)
        x = self.model.stem(self.normalize(images))
        for i in range(idx + 1):
            x = self.model.stages[i](x)
        if facet == "norm":  # channel LayerNorm without affine parameters
            x = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],)).permute(0, 3, 1, 2)
        return x
