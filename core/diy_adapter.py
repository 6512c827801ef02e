"""DIY-SC adapter (seed 004; method spec section 5): the module a DIY-SC checkpoint adds, and its inference.

Feature sources: one or several (layer, facet) taps of the backbone, each L2-normalised over its
channels, then concatenated (:func:`source_features`; one forward for all taps). The adapter
(:class:`DIYAdapter`, checkpoint module type ``diy_adapter``) has one bottleneck block per source,
applied to that source's channels of the concatenation:

    1x1 conv C_in -> C/4, GroupNorm, ReLU; 3x3 conv C/4 -> C/4, GroupNorm, ReLU; 1x1 conv -> C, GroupNorm;
    residual projection 1x1 conv C_in -> C, GroupNorm; sum, final ReLU

(GroupNorm with 32 groups, or the largest divisor of the width below 32), and mixes the block
outputs with softmax-normalised learnable weights. Training adds feature-map dropout (``dropout``
[0.2], element-wise on the input concatenation; off in eval mode) and a learnable logit scale
(``logit_scale``, init log(1/0.07)) that only the sparse contrastive loss uses; both are stored
in the checkpoint so a run resumes exactly, and inference ignores them.

Inference (method spec): window soft-argmax, radius 7 cells, beta 0.02, on the adapter features:
``corrviz-eval ... --checkpoint CKPT --matcher soft-argmax`` / ``corrviz-match`` / the app.
:data:`RECOMMENDED_MATCHER` is written into the module spec for the tools to report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .backbones.base import Backbone
from .heads import register_head

RECOMMENDED_MATCHER = {"matcher": "soft-argmax", "radius": 7, "beta": 0.02}


def group_count(channels: int, groups: int = 32) -> int:
    """The GroupNorm group count for ``channels``: ``groups`` when it divides them, else the largest divisor below."""
    g = min(int(groups), int(channels))
    while channels % g:
        g -= 1
    return g


class AdapterBottleneck(nn.Module):
    """One source's block: 1x1 -> 3x3 -> 1x1 with GroupNorm, residual projection, final ReLU."""

    def __init__(self, c_in: int, c: int, groups: int = 32) -> None:
        super().__init__()
        mid = max(1, c // 4)
        self.conv1 = nn.Conv2d(c_in, mid, 1, bias=False)
        self.norm1 = nn.GroupNorm(group_count(mid, groups), mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(group_count(mid, groups), mid)
        self.conv3 = nn.Conv2d(mid, c, 1, bias=False)
        self.norm3 = nn.GroupNorm(group_count(c, groups), c)
        self.proj = nn.Conv2d(c_in, c, 1, bias=False)
        self.norm_proj = nn.GroupNorm(group_count(c, groups), c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.norm1(self.conv1(x)))
        y = torch.relu(self.norm2(self.conv2(y)))
        y = self.norm3(self.conv3(y))
        return torch.relu(y + self.norm_proj(self.proj(x)))


class DIYAdapter(nn.Module):
    """Bottleneck per source + softmax mixing: (B, sum(C_in), h, w) -> (B, C, h, w)."""

    def __init__(self, source_dims: Sequence[int], channels: int, dropout: float = 0.2, groups: int = 32) -> None:
        super().__init__()
        if not source_dims:
            raise ValueError("DIY-SC adapter needs at least one feature source")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"DIY-SC adapter: dropout {dropout} is not in [0, 1)")
        self.source_dims = [int(d) for d in source_dims]
        self.channels = int(channels)
        self.dropout = float(dropout)
        self.blocks = nn.ModuleList([AdapterBottleneck(d, self.channels, groups) for d in self.source_dims])
        self.mixing = nn.Parameter(torch.zeros(len(self.source_dims)))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / 0.07)))

    def mixing_weights(self) -> torch.Tensor:
        return torch.softmax(self.mixing, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != sum(self.source_dims):
            raise ValueError(f"DIY-SC adapter expects {sum(self.source_dims)} input channels "
                             f"(sources {self.source_dims}), got {x.shape[1]}")
        x = F.dropout(x, self.dropout, self.training)
        w = self.mixing_weights()
        parts = x.split(self.source_dims, dim=1)
        out = w[0] * self.blocks[0](parts[0])
        for k in range(1, len(parts)):
            out = out + w[k] * self.blocks[k](parts[k])
        return out


def source_taps(spec: dict) -> list[tuple[int, str]]:
    """The (layer, facet) taps of a ``diy_adapter`` spec, in order."""
    return [(int(s["layer"]), str(s["facet"])) for s in spec["sources"]]


def source_features(backbone: Backbone, canvases: torch.Tensor, taps: Sequence[tuple[int | None, str | None]]
                    ) -> torch.Tensor:
    """The adapter's input: each tap's grid L2-normalised over channels, concatenated (one forward)."""
    if len(taps) == 1:
        grids = [backbone.forward_features(canvases, *taps[0])]
    else:
        forward_taps = getattr(backbone, "forward_taps", None)
        if forward_taps is None:
            raise ValueError(f"{backbone.name}: several feature sources need a ViT backbone")
        grids = forward_taps(canvases, list(taps))
    return torch.cat([F.normalize(g, dim=1) for g in grids], dim=1)


@register_head("diy_adapter")
def _diy_adapter(backbone: Backbone, spec: dict) -> nn.Module:
    dims = [backbone.feature_dim(layer, facet) for layer, facet in source_taps(spec)]
    return DIYAdapter(dims, int(spec.get("out_channels", 768)), float(spec.get("dropout", 0.2)),
                      int(spec.get("groups", 32)))


def adapter_spec(sources: Sequence[tuple[int, str]], channels: int, dropout: float = 0.2) -> dict:
    """The checkpoint module spec of an adapter on ``sources`` ((layer, facet) taps)."""
    return {"type": "diy_adapter", "sources": [{"layer": int(layer), "facet": str(facet)} for layer, facet in sources],
            "out_channels": int(channels), "dropout": float(dropout), "inference": dict(RECOMMENDED_MATCHER)}
