"""Modules a finetuned corrviz checkpoint can add to a frozen backbone.

Each module type is registered by name and built from a JSON spec, so a checkpoint's metadata
fully describes the architecture and no code is ever loaded from a file:

``lora``        low-rank updates of the query/value projections in chosen blocks (rank r, A
                kaiming-uniform, B zero, no alpha scaling: method spec section 1)
``conv``        one 3x3 convolution D -> D on the patch grid (MEF)
``projection``  a 1x1 convolution D -> out (linear projection of each cell)
``bottleneck``  DIY-SC adapter block: 1x1 C->C/4, 3x3 C/4->C/4, 1x1 ->C, GroupNorm(32), residual, ReLU
``blocks``      trainable copies of chosen ViT blocks (3DPoV: the last 2), initialised from the backbone's
``mlp``         per-cell MLP head with GELU, L2-normalised output (3DPoV: D -> 1024 -> 1024 -> 512 -> 256);
                ``"apply": false`` in a spec keeps a grid module out of the output
``sphere_mapper`` SPH mapper f_S (method spec section 3): Linear D -> D/2, GELU, one transformer block
                (D/2 dims, 6 heads, MLP ratio 4) over the image's cells, Linear -> 3, L2-normalise: a
                unit sphere point per cell, used by the ``combined`` matcher
``diy_adapter`` DIY-SC adapter (method spec section 5): one bottleneck block per feature source (taps of
                the backbone, each L2-normalised, concatenated), softmax mixing: :mod:`corrviz.core.diy_adapter`
``sphere_prototype`` SPH category prototype S_Z (training only, never applied at inference; stored
                before the mapper so an SPH run resumes exactly): :mod:`corrviz.core.sph`
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

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
    """Low-rank updates ``B @ A`` of the selected parts (q, k, v) of one fused qkv Linear.

    Holds ONLY the trainable factors: the frozen base Linear is passed to :meth:`forward`, never
    registered here, so a checkpoint of these modules carries no base weights. Parameter names
    (``lora_a.<t>``, ``lora_b.<t>``; A is (rank, D), B is (D, rank)) are part of the checkpoint
    format.
    """

    def __init__(self, dim: int, rank: int = 4, targets: tuple[str, ...] = ("q", "v")) -> None:
        super().__init__()
        bad = [t for t in targets if t not in ("q", "k", "v")]
        if bad or not targets:
            raise ValueError(f"LoRA targets must be some of q, k, v; got {list(targets)}")
        self.dim = int(dim)
        self.rank = int(rank)
        self.targets = tuple(targets)
        self.lora_a = nn.ParameterDict()
        self.lora_b = nn.ParameterDict()
        for t in self.targets:
            a = torch.empty(self.rank, self.dim)
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            self.lora_a[t] = nn.Parameter(a)
            self.lora_b[t] = nn.Parameter(torch.zeros(self.dim, self.rank))

    def forward(self, x: torch.Tensor, base: nn.Module) -> torch.Tensor:
        out = base(x)
        parts = list(out.split(self.dim, dim=-1))
        for t in self.targets:
            i = "qkv".index(t)
            parts[i] = parts[i] + (x @ self.lora_a[t].T.to(x.dtype)) @ self.lora_b[t].T.to(x.dtype)
        return torch.cat(parts, dim=-1)


class _QKVWithLoRA(nn.Module):
    """The qkv projection of a transient view: the frozen base Linear plus one :class:`LoRAQKV`."""

    def __init__(self, base: nn.Module, lora: LoRAQKV) -> None:
        super().__init__()
        self.base = base
        self.lora = lora

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lora(x, self.base)


def _shallow(module: nn.Module) -> nn.Module:
    """A new module object sharing parameters, buffers and submodules, with its own submodule table."""
    clone = copy.copy(module)
    clone.__dict__["_modules"] = dict(module._modules)
    return clone


def _block_ids(blocks: list[int], depth: int, what: str) -> list[int]:
    """Block indices (negative ones count from the end), sorted, unique, checked against ``depth``."""
    ids = sorted({b + depth if b < 0 else b for b in blocks})
    if not ids or not all(0 <= b < depth for b in ids):
        raise ValueError(f"{what} blocks {blocks} out of range for a backbone with {depth} blocks")
    return ids


def _with_blocks(backbone: Backbone, replaced: dict[int, nn.Module]) -> Backbone:
    """A transient copy of ``backbone`` whose ViT blocks ``replaced`` are swapped; the rest is shared."""
    out = _shallow(backbone)
    model = _shallow(backbone.model)  # type: ignore[attr-defined]
    blocks = _shallow(model.blocks)
    for index, blk in replaced.items():
        blocks[index] = blk
    model.blocks = blocks
    out.model = model
    return out


class LoRA(nn.Module):
    """LoRA factors for blocks of a ViT backbone. Never modifies the backbone it was built for.

    :meth:`view` returns a transient copy of the backbone's module tree (sharing every base tensor,
    so no memory is duplicated) whose selected blocks use base + LoRA for their qkv projection. The
    caller's backbone object is untouched, so the plain and the adapted model can run side by side.
    """

    def __init__(self, dim: int, depth: int, blocks: list[int], rank: int, targets: tuple[str, ...]) -> None:
        super().__init__()
        self.block_ids = _block_ids(blocks, depth, "LoRA")
        self.adapters = nn.ModuleDict({str(b): LoRAQKV(dim, rank, targets) for b in self.block_ids})

    def view(self, backbone: Backbone) -> Backbone:
        """A copy of ``backbone`` that applies these LoRA updates (base tensors shared, not copied)."""
        src = backbone.model.blocks  # type: ignore[attr-defined]
        replaced: dict[int, nn.Module] = {}
        for key, adapter in self.adapters.items():
            blk = _shallow(src[int(key)])
            attn = _shallow(blk.attn)
            attn.qkv = _QKVWithLoRA(attn.qkv, adapter)  # on top of any LoRA an earlier view added
            blk.attn = attn
            replaced[int(key)] = blk
        return _with_blocks(backbone, replaced)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # acts inside the backbone (see view)
        return feats


@register_head("lora")
def _lora(backbone: Backbone, spec: dict) -> nn.Module:
    if backbone.config.family != "vit":
        raise ValueError(f"LoRA needs a ViT backbone, {backbone.name} is {backbone.config.family}")
    depth = backbone.config.depth
    blocks = spec.get("blocks") or list(range(depth - int(spec.get("last_blocks", 4)), depth))
    return LoRA(backbone.config.embed_dim, depth, list(blocks), int(spec.get("rank", 4)),
                tuple(spec.get("targets", ("q", "v"))))


class TrainableBlocks(nn.Module):
    """Trainable copies of chosen ViT blocks (3DPoV trains the last 2), initialised from the backbone's.

    Like :class:`LoRA`, it never modifies the backbone: :meth:`view` returns a transient copy of the
    module tree whose selected blocks are these copies. Parameter names (``blocks.<index>.<timm name>``)
    are part of the checkpoint format.
    """

    def __init__(self, backbone: Backbone, blocks: list[int]) -> None:
        super().__init__()
        depth = backbone.config.depth
        self.block_ids = _block_ids(blocks, depth, "trainable")
        src = backbone.model.blocks  # type: ignore[attr-defined]
        self.blocks = nn.ModuleDict({str(b): copy.deepcopy(src[b]) for b in self.block_ids})

    def view(self, backbone: Backbone) -> Backbone:
        return _with_blocks(backbone, {int(key): blk for key, blk in self.blocks.items()})

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # acts inside the backbone (see view)
        return feats


@register_head("blocks")
def _blocks(backbone: Backbone, spec: dict) -> nn.Module:
    if backbone.config.family != "vit":
        raise ValueError(f"trainable blocks need a ViT backbone, {backbone.name} is {backbone.config.family}")
    depth = backbone.config.depth
    return TrainableBlocks(backbone, list(spec.get("blocks") or range(depth - int(spec.get("last_blocks", 2)), depth)))


class MLPHead(nn.Module):
    """Per-cell MLP on a feature grid: Linear layers with GELU between them, L2-normalised output.

    3DPoV's projection head is D -> 1024 -> 1024 -> 512 -> 256 (method spec section 2).
    """

    def __init__(self, dim: int, hidden: Sequence[int], out: int, normalize: bool = True) -> None:
        super().__init__()
        sizes = [int(dim), *[int(h) for h in hidden], int(out)]
        layers: list[nn.Module] = []
        for k in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[k], sizes[k + 1]))
            if k < len(sizes) - 2:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.normalize = bool(normalize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) -> (B, out, h, w); also accepts point features (..., D) -> (..., out)."""
        grid = x.dim() == 4
        y = self.mlp(x.permute(0, 2, 3, 1) if grid else x)
        if self.normalize:
            y = torch.nn.functional.normalize(y, dim=-1)
        return y.permute(0, 3, 1, 2) if grid else y


@register_head("mlp")
def _mlp(backbone: Backbone, spec: dict) -> nn.Module:
    return MLPHead(int(spec["channels"]), list(spec.get("hidden", [1024, 1024, 512])),
                   int(spec.get("out_channels", 256)), bool(spec.get("normalize", True)))


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

    def __init__(self, dim: int, heads: int = 6, mlp_ratio: float = 4.0, pos: str = "none") -> None:
        super().__init__()
        from timm.models.vision_transformer import Block

        half = dim // 2
        if half % heads:
            raise ValueError(f"sphere mapper: {half} dims are not divisible into {heads} heads")
        if pos not in ("none", "sincos"):
            raise ValueError(f"sphere mapper: position code {pos!r}; choose none or sincos")
        self.pos = pos  # "sincos": a fixed 2-D position code added to the tokens (corrviz.core.sph.grid_sincos)
        self.proj_in = nn.Linear(dim, half)
        self.act = nn.GELU()
        self.block = Block(half, heads, mlp_ratio=mlp_ratio, qkv_bias=True)
        self.proj_out = nn.Linear(half, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        tokens = self.act(self.proj_in(x.flatten(2).transpose(1, 2)))
        if self.pos == "sincos":
            from .sph import grid_sincos

            tokens = tokens + grid_sincos(h, w, tokens.shape[-1], tokens.device, tokens.dtype)
        pts = self.proj_out(self.block(tokens))
        pts = torch.nn.functional.normalize(pts, dim=-1)
        return pts.transpose(1, 2).reshape(b, 3, h, w)


@register_head("sphere_mapper")
def _sphere(backbone: Backbone, spec: dict) -> nn.Module:
    return SphereMapper(int(spec["channels"]), int(spec.get("heads", 6)), float(spec.get("mlp_ratio", 4.0)),
                        str(spec.get("pos", "none")))


@register_head("sphere_prototype")
def _sphere_prototype(backbone: Backbone, spec: dict) -> nn.Module:
    """SPH category prototype S_Z (training only; stored so runs resume exactly): see :mod:`corrviz.core.sph`."""
    from .sph import SphericalPrototype

    return SphericalPrototype(int(spec["channels"]), int(spec["categories"]), int(spec.get("heads", 6)),
                              float(spec.get("mlp_ratio", 4.0)), int(spec.get("repeats", 2)),
                              int(spec.get("tokens", 1)))


def build_head(backbone: Backbone, spec: dict) -> nn.Module:
    kind = spec.get("type")
    if kind not in HEADS:
        raise ValueError(f"unknown module type {kind!r} in checkpoint; known: {', '.join(sorted(HEADS))}")
    return HEADS[kind](backbone, spec)


GRID_MODULES = ("conv", "projection", "bottleneck", "sphere_mapper", "mlp", "diy_adapter")  # act on the tap's feature grid
VIEW_MODULES = ("lora", "blocks")  # act inside the backbone (through a transient view of it)


def applied(spec: dict) -> bool:
    """Whether a grid module is part of the output; ``"apply": false`` keeps a trained head out of it
    (e.g. a 3DPoV run matching on the backbone features rather than on its projection head)."""
    return bool(spec.get("apply", True))
KINDS = ("features", "sphere_mapper", "grid_matcher")  # what a checkpoint's output is (header field ``kind``)


def _resolved(backbone: Backbone, feature: dict | None) -> tuple[int, str] | None:
    if not feature or ("layer" not in feature and "facet" not in feature):
        return None
    return backbone.resolve_tap(feature.get("layer"), feature.get("facet"))


class AdaptedBackbone(Backbone):
    """A frozen backbone plus trainable modules: LoRA acts inside, grid modules act on its output.

    The caller's backbone is never modified: it is held as ``inner`` (its tensors are shared, not
    copied, so ``.to(device)`` moves them too) and LoRA runs through a transient view of it
    (:meth:`LoRA.view`). The base stays frozen and in eval mode: :meth:`train` and
    :meth:`requires_grad_` act on the added modules only. ``feature`` is the tap the modules were
    trained on (``layer``/``facet``); when given it is the default tap and any other tap is refused.

    API for trainers (stable names): :meth:`trainable_parameters`, :meth:`trainable_state_dict`
    (exactly the tensors a checkpoint stores, keys ``heads.<i>.<param>``) and its inverse
    :meth:`load_trainable_state_dict`, :meth:`forward_features`
    (differentiable: no inference mode inside), :meth:`forward_taps`, :attr:`kind`.
    """

    def __init__(self, backbone: Backbone, specs: list[dict], name_suffix: str = "",
                 feature: dict | None = None) -> None:
        super().__init__(backbone.config, backbone.weights_source)
        self.inner = backbone
        self.specs = [dict(s) for s in specs]
        self.heads = nn.ModuleList([build_head(backbone, s) for s in specs])
        self.name_suffix = name_suffix
        self.feature = {k: v for k, v in (feature or {}).items() if k in ("layer", "facet", "resolution")}
        self._tap = _resolved(backbone, self.feature)
        self.inner.eval()

    # ------------------------------------------------------------------ frozen base
    def train(self, mode: bool = True) -> AdaptedBackbone:
        self.training = mode
        self.heads.train(mode)
        self.inner.eval()
        return self

    def requires_grad_(self, requires_grad: bool = True) -> AdaptedBackbone:
        self.heads.requires_grad_(requires_grad)
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.heads.parameters() if p.requires_grad]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors of the added modules only (what a checkpoint stores), keyed ``heads.<i>.<param>``."""
        return {f"heads.{k}": v for k, v in self.heads.state_dict().items()}

    def load_trainable_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`trainable_state_dict` (strict: every module tensor, no others); ValueError otherwise."""
        bad = [k for k in tensors if not k.startswith("heads.")]
        if bad:
            raise ValueError(f"not a module tensor: {', '.join(bad[:5])} (keys start with 'heads.')")
        try:
            self.heads.load_state_dict({k[len("heads."):]: v for k, v in tensors.items()}, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"tensors do not fit the modules ({str(exc)[:300]})") from None

    @property
    def kind(self) -> str:
        """``sphere_mapper`` when the output is a sphere point per cell, ``grid_matcher`` for a dense
        grid matcher (:mod:`corrviz.core.grid_matcher`), else ``features``."""
        if any(s["type"] == "grid_matcher" for s in self.specs):
            return "grid_matcher"
        return "sphere_mapper" if self.is_sphere_mapper else "features"

    # ------------------------------------------------------------------ taps
    def feature_stride(self, layer: int | None = None) -> int:
        return self.inner.feature_stride(layer)

    def resolve_tap(self, layer: int | None, facet: str | None) -> tuple[int, str]:
        if self._tap is None:
            return self.inner.resolve_tap(layer, facet)
        want_layer, want_facet = self._tap
        got = self.inner.resolve_tap(want_layer if layer is None else layer, want_facet if facet is None else facet)
        if got != self._tap:
            raise ValueError(
                f"{self.name}: this checkpoint's modules were trained on layer {want_layer} facet "
                f"'{want_facet}', but layer {got[0]} facet '{got[1]}' was requested; leave layer and "
                "facet unset to use the checkpoint's tap")
        return got

    def feature_dim(self, layer: int | None = None, facet: str | None = None) -> int:
        dim = self.inner.feature_dim(layer, facet)
        for spec in self.specs:
            if not applied(spec):
                continue
            if spec["type"] in ("conv", "projection", "bottleneck", "diy_adapter"):
                dim = int(spec.get("out_channels", dim if spec["type"] == "conv" else 768))
            elif spec["type"] == "mlp":
                dim = int(spec.get("out_channels", 256))
            elif spec["type"] == "sphere_mapper":
                dim = 3
        return dim

    @property
    def is_sphere_mapper(self) -> bool:
        """True when the output is a sphere point per cell (a checkpoint for the combined matcher)."""
        return bool(self.specs) and self.specs[-1]["type"] == "sphere_mapper"

    def base_view(self) -> Backbone:
        """The backbone with this model's LoRA updates / trainable blocks applied (else the inner backbone)."""
        view = self.inner
        for spec, head in zip(self.specs, self.heads, strict=True):
            if spec["type"] in VIEW_MODULES:
                view = head.view(view)
        return view

    def forward_features(self, images: torch.Tensor, layer: int | None = None,
                         facet: str | None = None) -> torch.Tensor:
        layer, facet = self.resolve_tap(layer, facet)
        sources = self.source_taps()
        if sources is not None:  # a multi-source adapter: its input is the normalised concatenation of its taps
            from .diy_adapter import source_features

            x = source_features(self.base_view(), images, sources)
        else:
            x = self.base_view().forward_features(images, layer, facet)
        for spec, head in zip(self.specs, self.heads, strict=True):
            if spec["type"] in GRID_MODULES and applied(spec):
                x = head(x)
        return x

    def source_taps(self) -> list[tuple[int, str]] | None:
        """The feature sources of a ``diy_adapter`` module (its input taps), else None."""
        for spec in self.specs:
            if spec["type"] == "diy_adapter":
                from .diy_adapter import source_taps

                return source_taps(spec)
        return None

    def forward_taps(self, images: torch.Tensor, taps: Sequence[tuple[int | None, str | None]]
                     ) -> list[torch.Tensor]:
        """Several (layer, facet) grids of the LoRA-adapted backbone from one forward.

        Grid modules (conv, projection, ...) are NOT applied: they belong to :meth:`forward_features`
        at the checkpoint's tap. Backbones without ``forward_taps`` (ConvNeXt, classical) raise.
        """
        view = self.base_view()
        if not hasattr(view, "forward_taps"):
            raise ValueError(f"{self.name}: several taps from one forward need a ViT backbone")
        return view.forward_taps(images, taps)  # type: ignore[attr-defined]


from . import diy_adapter as _diy_adapter  # noqa: E402,F401 - registers the "diy_adapter" module type
from . import grid_matcher as _grid_matcher  # noqa: E402,F401 - registers the "grid_matcher" module type
