"""Modules a finetuned corrviz checkpoint can add to a frozen backbone.

Each module type is registered by name and built from a JSON spec, so a checkpoint's metadata
fully describes the architecture and no code is ever loaded from a file:

``lora``        low-rank updates of the query/value projections in chosen blocks (rank r, A
                kaiming-uniform, B zero, no alpha scaling: method spec section 1)
``conv``        one 3x3 convolution D -> D on the patch grid (MEF)
``projection``  a 1x1 convolution D -> out (linear projection of each cell)
``bottleneck``  DIY-SC adapter block: 1x1 C->C/4, 3x3 C/4->C/4, 1x1 ->C, GroupNorm(32), residual, ReLU
``sphere_mapper`` SPH mapper f_S (method spec section 3): Linear D -> D/2, GELU, one transformer block
                (D/2 dims, 6 heads, MLP ratio 4) over the image's cells, Linear -> 3, L2-normalise: a
                unit sphere point per cell, used by the ``combined`` matcher
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .backbones.base import Backbone

HEADS: dict[str, Callable[[Backbone, dict], nn.Module]] = {}


def register_head(name: str) -> Callable:
    def deco(fn: Callable[[Backbone, dict], nn.Module]) -> Callable:
        HEADS[name] = fn
        return fn
    return deco


class LoRAQKV(nn.Module):
    """Wraps a fused qkv Linear: adds B @ A updates to the selected parts (q, k, v)."""

    def __init__(self, base: nn.Linear, rank: int = 4, targets: tuple[str, ...] = ("q", "v")) -> None:
        super().__init__()
        self.base = base
        self.dim = base.in_features
        self.targets = tuple(targets)
        self.lora_a = nn.ParameterDict()
        self.lora_b = nn.ParameterDict()
        for t in self.targets:
            a = torch.empty(rank, self.dim)
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            self.lora_a[t] = nn.Parameter(a)
            self.lora_b[t] = nn.Parameter(torch.zeros(self.dim, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        parts = list(out.split(self.dim, dim=-1))
        for t in self.targets:
            i = "qkv".index(t)
            parts[i] = parts[i] + (x @ self.lora_a[t].T) @ self.lora_b[t].T
        return torch.cat(parts, dim=-1)


class LoRA(nn.Module):
    """Installs :class:`LoRAQKV` into blocks of a ViT backbone; holds the parameters."""

    def __init__(self, backbone: Backbone, blocks: list[int], rank: int, targets: tuple[str, ...]) -> None:
        super().__init__()
        model = backbone.model  # type: ignore[attr-defined]
        depth = len(model.blocks)
        self.block_ids = [b + depth if b < 0 else b for b in blocks]
        self.adapters = nn.ModuleDict()
        for b in self.block_ids:
            attn = model.blocks[b].attn
            base = attn.qkv.base if isinstance(attn.qkv, LoRAQKV) else attn.qkv
            wrapped = LoRAQKV(base, rank, targets)
            attn.qkv = wrapped
            self.adapters[str(b)] = wrapped

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # acts inside the backbone
        return feats


@register_head("lora")
def _lora(backbone: Backbone, spec: dict) -> nn.Module:
    if backbone.config.family != "vit":
        raise ValueError(f"LoRA needs a ViT backbone, {backbone.name} is {backbone.config.family}")
    depth = backbone.config.depth
    blocks = spec.get("blocks") or list(range(depth - int(spec.get("last_blocks", 4)), depth))
    return LoRA(backbone, list(blocks), int(spec.get("rank", 4)), tuple(spec.get("targets", ("q", "v"))))


@register_head("conv")
def _conv(backbone: Backbone, spec: dict) -> nn.Module:
    c = int(spec["channels"])
    return nn.Conv2d(c, int(spec.get("out_channels", c)), int(spec.get("kernel", 3)),
                     padding=int(spec.get("kernel", 3)) // 2)


@register_head("projection")
def _projection(backbone: Backbone, spec: dict) -> nn.Module:
    return nn.Conv2d(int(spec["channels"]), int(spec["out_channels"]), 1)


class Bottleneck(nn.Module):
    def __init__(self, c_in: int, c: int) -> None:
        super().__init__()
        mid = max(1, c // 4)
        self.body = nn.Sequential(
            nn.Conv2d(c_in, mid, 1), nn.GELU(), nn.Conv2d(mid, mid, 3, padding=1), nn.GELU(),
            nn.Conv2d(mid, c, 1), nn.GroupNorm(min(32, c), c))
        self.skip = nn.Conv2d(c_in, c, 1) if c_in != c else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


@register_head("bottleneck")
def _bottleneck(backbone: Backbone, spec: dict) -> nn.Module:
    return Bottleneck(int(spec["channels"]), int(spec.get("out_channels", 768)))


class SphereMapper(nn.Module):
    """Maps a feature grid (B, D, h, w) to unit sphere points (B, 3, h, w)."""

    def __init__(self, dim: int, heads: int = 6, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        from timm.models.vision_transformer import Block

        half = dim // 2
        if half % heads:
            raise ValueError(f"sphere mapper: {half} dims are not divisible into {heads} heads")
        self.proj_in = nn.Linear(dim, half)
        self.act = nn.GELU()
        self.block = Block(half, heads, mlp_ratio=mlp_ratio, qkv_bias=True)
        self.proj_out = nn.Linear(half, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        tokens = self.act(self.proj_in(x.flatten(2).transpose(1, 2)))
        pts = self.proj_out(self.block(tokens))
        pts = torch.nn.functional.normalize(pts, dim=-1)
        return pts.transpose(1, 2).reshape(b, 3, h, w)


@register_head("sphere_mapper")
def _sphere(backbone: Backbone, spec: dict) -> nn.Module:
    return SphereMapper(int(spec["channels"]), int(spec.get("heads", 6)), float(spec.get("mlp_ratio", 4.0)))


def build_head(backbone: Backbone, spec: dict) -> nn.Module:
    kind = spec.get("type")
    if kind not in HEADS:
        raise ValueError(f"unknown module type {kind!r} in checkpoint; known: {', '.join(sorted(HEADS))}")
    return HEADS[kind](backbone, spec)


class AdaptedBackbone(Backbone):
    """A backbone plus checkpoint modules: LoRA acts inside, grid modules act on its output in order."""

    def __init__(self, backbone: Backbone, specs: list[dict], name_suffix: str = "") -> None:
        super().__init__(backbone.config, backbone.weights_source)
        self.inner = backbone
        self.specs = [dict(s) for s in specs]
        self.heads = nn.ModuleList([build_head(backbone, s) for s in specs])
        self.name_suffix = name_suffix

    def feature_stride(self, layer: int | None = None) -> int:
        return self.inner.feature_stride(layer)

    def resolve_tap(self, layer: int | None, facet: str | None) -> tuple[int, str]:
        return self.inner.resolve_tap(layer, facet)

    def feature_dim(self, layer: int | None = None, facet: str | None = None) -> int:
        dim = self.inner.feature_dim(layer, facet)
        for spec in self.specs:
            if spec["type"] in ("conv", "projection", "bottleneck"):
                dim = int(spec.get("out_channels", dim if spec["type"] == "conv" else 768))
            elif spec["type"] == "sphere_mapper":
                dim = 3
        return dim

    @property
    def is_sphere_mapper(self) -> bool:
        """True when the output is a sphere point per cell (a checkpoint for the combined matcher)."""
        return bool(self.specs) and self.specs[-1]["type"] == "sphere_mapper"

    def forward_features(self, images: torch.Tensor, layer: int | None = None,
                         facet: str | None = None) -> torch.Tensor:
        x = self.inner.forward_features(images, layer, facet)
        for spec, head in zip(self.specs, self.heads, strict=True):
            if spec["type"] != "lora":
                x = head(x)
        return x
