"""Backbone registry: one config per name, timm-native.

Each entry records the timm architecture and pretrained tag, patch size (stride), embedding dim,
number of blocks, register tokens, normalisation constants, default feature tap and the
position-embedding interpolation rule its official release uses (``POS_RULES``; methods.md section 0).
``create_backbone`` (in ``factory``) builds and loads; this module only describes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

from ..errors import UnknownBackboneError, suggest
from ..feature_spec import DEFAULT_BACKBONE_ORDER  # noqa: F401  (re-exported)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

Family = Literal["vit", "convnext", "classical"]
PosInterp = Literal["bicubic_offset_0.1", "bicubic_antialias_size", "none"]

# How each release resizes its learned patch position embeddings to another grid (methods.md section 0).
# The name is recorded in every FeatureMap, match file and evaluation result.
POS_RULES: dict[str, str] = {
    "bicubic_offset_0.1": "bicubic, antialias off, scale factor (new + 0.1) / old: the official plain "
                          "DINOv2 models (dinov2_vit*14) and DINO v1",
    "bicubic_antialias_size": "bicubic resize to the target grid size, antialias on: the official DINOv2 "
                              "register models (interpolate_antialias=True, interpolate_offset=0.0) and "
                              "timm's resample_abs_pos_embed",
    "none": "no learned position embeddings to resize (convolutional or hand-crafted features)",
}
# Default backbone of corrviz-match and the app: the first whose weights are found (the last needs none).
# (defined once, in corrviz.core.feature_spec, light to import; re-exported here)


@dataclass(frozen=True)
class BackboneConfig:
    """Everything corrviz needs to know about a backbone before building it."""

    name: str
    family: Family
    timm_name: str = ""  # architecture name in timm (no tag)
    pretrained_tag: str = ""  # timm pretrained tag, e.g. "lvd142m"
    patch_size: int = 14  # feature stride in pixels
    embed_dim: int = 0
    depth: int = 0  # number of blocks (ViT) or stages (ConvNeXt)
    num_registers: int = 0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    default_layer: int = -1
    default_facet: str = "prenorm"
    default_resolution: int = 448
    native_resolution: int = 224  # resolution of the checkpoint's position embeddings
    pos_interpolation: PosInterp = "bicubic_antialias_size"
    facets: tuple[str, ...] = ("prenorm", "norm", "key", "query", "value")
    needs_weights: bool = True
    description: str = ""
    timm_kwargs: dict = field(default_factory=dict)
    # Weight-free descriptors only (support, normalisation): see classical_backbone's docstring.
    descriptor: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.pos_interpolation not in POS_RULES:
            raise ValueError(f"backbone {self.name!r}: unknown position-embedding rule {self.pos_interpolation!r}; "
                             f"choose one of {', '.join(POS_RULES)}")

    @property
    def timm_id(self) -> str:
        return f"{self.timm_name}.{self.pretrained_tag}" if self.pretrained_tag else self.timm_name

    def to_dict(self) -> dict:
        d = asdict(self)
        d["timm_id"] = self.timm_id
        return d


_REGISTRY: dict[str, BackboneConfig] = {}
_BUILDERS: dict[str, Callable] = {}


def register_backbone(cfg: BackboneConfig, builder: Callable | None = None) -> BackboneConfig:
    """Add a backbone config (and optionally a custom builder) to the registry."""
    if cfg.name in _REGISTRY:
        raise ValueError(f"backbone {cfg.name!r} is already registered")
    _REGISTRY[cfg.name] = cfg
    if builder is not None:
        _BUILDERS[cfg.name] = builder
    return cfg


def get_config(name: str) -> BackboneConfig:
    """Config of a registered backbone; unknown names raise with close-match suggestions."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownBackboneError(
            f"unknown backbone {name!r}.{suggest(name, _REGISTRY)} "
            f"(see `corrviz-match --list-backbones` for all {len(list_backbones())} names)") from None


def get_builder(name: str) -> Callable | None:
    return _BUILDERS.get(name)


def list_backbones(family: str | None = None, include_test: bool = False) -> list[str]:
    """Registered backbone names, optionally of one family; ``test_*`` toy models are hidden by default."""
    names = [n for n, c in _REGISTRY.items() if family is None or c.family == family]
    if not include_test:
        names = [n for n in names if not n.startswith("test_")]
    return names


def _vit(name: str, timm_name: str, tag: str, patch: int, dim: int, depth: int, *, regs: int = 0,
         native: int = 224, interp: PosInterp = "bicubic_antialias_size", mean=IMAGENET_MEAN, std=IMAGENET_STD,
         res: int = 448, facet: str = "prenorm", desc: str = "", timm_kwargs: dict | None = None) -> None:
    register_backbone(BackboneConfig(
        name=name, family="vit", timm_name=timm_name, pretrained_tag=tag, patch_size=patch,
        embed_dim=dim, depth=depth, num_registers=regs, mean=mean, std=std, default_resolution=res,
        native_resolution=native, pos_interpolation=interp, default_facet=facet, description=desc,
        needs_weights=not name.startswith("test_"), timm_kwargs=dict(timm_kwargs or {})))


# DINOv2 (Oquab et al.), with and without 4 registers. 518 px checkpoints, 37x37 position grid.
# Meta's hub builds the plain models with the 0.1-offset rule and the register models with
# interpolate_antialias=True, interpolate_offset=0.0 (hubconf / vision_transformer.py of dinov2).
for _s, _dim, _depth, _arch in (("s", 384, 12, "small"), ("b", 768, 12, "base"),
                                ("l", 1024, 24, "large"), ("g", 1536, 40, "giant")):
    _vit(f"dinov2_vit{_s}14", f"vit_{_arch}_patch14_dinov2", "lvd142m", 14, _dim, _depth, native=518,
         interp="bicubic_offset_0.1", res=840, desc=f"DINOv2 ViT-{_s.upper()}/14")
    _vit(f"dinov2_vit{_s}14_reg4", f"vit_{_arch}_patch14_reg4_dinov2", "lvd142m", 14, _dim, _depth,
         regs=4, native=518, interp="bicubic_antialias_size", res=840,
         desc=f"DINOv2 ViT-{_s.upper()}/14 with 4 registers")

# DINO v1 (Caron et al.): official interpolation rule with the 0.1 offset as well.
for _s, _dim, _arch in (("s", 384, "small"), ("b", 768, "base")):
    for _p in (8, 16):
        _vit(f"dino_vit{_s}{_p}", f"vit_{_arch}_patch{_p}_224", "dino", _p, _dim, 12,
             interp="bicubic_offset_0.1", res=448 if _p == 8 else 512, desc=f"DINO ViT-{_s.upper()}/{_p}")

_vit("mae_vitb16", "vit_base_patch16_224", "mae", 16, 768, 12, res=512, desc="MAE ViT-B/16")
_vit("clip_vitb16", "vit_base_patch16_clip_224", "openai", 16, 768, 12, mean=CLIP_MEAN, std=CLIP_STD,
     res=512, desc="CLIP ViT-B/16 image tower (OpenAI)")
_vit("deit3_vits16", "deit3_small_patch16_224", "fb_in22k_ft_in1k", 16, 384, 12, res=512,
     desc="DeiT-III ViT-S/16")
_vit("deit3_vitb16", "deit3_base_patch16_224", "fb_in22k_ft_in1k", 16, 768, 12, res=512,
     desc="DeiT-III ViT-B/16")

# The one real pretrained ViT on the project's machines (../shared/weights): timm's AugReg ViT-Tiny/16,
# ImageNet-21k pretrained and ImageNet-1k finetuned (a supervised classifier, NOT a DINOv2 model).
# The file carries the 1000-class head; corrviz builds the model without it and drops it on load.
_vit("vit_tiny_patch16_224", "vit_tiny_patch16_224", "augreg_in21k_ft_in1k", 16, 192, 12,
     mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), res=448, interp="bicubic_antialias_size",
     desc="ImageNet-supervised ViT-Tiny/16 (not DINOv2)")

for _s, _dim in (("small", 768), ("base", 1024)):
    register_backbone(BackboneConfig(
        name=f"convnext_{_s}", family="convnext", timm_name=f"convnext_{_s}", pretrained_tag="fb_in22k",
        patch_size=16, embed_dim=_dim // 2, depth=4, default_layer=2, default_resolution=512,
        facets=("prenorm", "norm"), pos_interpolation="none",
        description=f"ConvNeXt-{_s.capitalize()} (ImageNet-22k); stage 3 output, stride 16"))

# Toy random-init models for tests and benchmarks: the real code path, seconds on a CPU.
# Never offered as pretrained; they have no weights to find.
_vit("test_dinov2_tiny", "vit_small_patch14_dinov2", "", 14, 32, 3, native=518, interp="bicubic_offset_0.1",
     res=224, desc="random-init DINOv2-style ViT (32 dims, 3 blocks, LayerScale) for tests",
     timm_kwargs=dict(embed_dim=32, depth=3, num_heads=2, init_values=1e-1))
_vit("test_dinov2_tiny_reg4", "vit_small_patch14_reg4_dinov2", "", 14, 32, 3, regs=4, native=518,
     interp="bicubic_antialias_size", res=224, desc="random-init DINOv2-style ViT with 4 registers, for tests",
     timm_kwargs=dict(embed_dim=32, depth=3, num_heads=2, init_values=1e-1))
_vit("test_dinov2_small_random", "vit_small_patch14_dinov2", "", 14, 384, 12, native=518,
     interp="bicubic_offset_0.1", res=448, desc="random-init ViT-S/14 with DINOv2's architecture (speed benchmarks only)")
