"""How much the position-embedding rule changes a ViT's patch features: relative L2 between the features
under the two official DINOv2 rules (``bicubic_offset_0.1`` of the plain models, ``bicubic_antialias_size``
of the register models and timm), same weights, same image, per resolution.

    python scripts/pos_rule_diff.py --backbone dinov2_vits14_reg4 --random-init --resolution 224 840
    python scripts/pos_rule_diff.py --backbone vit_tiny_patch16_224 --weights ../shared/weights/vit_tiny_patch16_224.safetensors

Prints one markdown row per (backbone, resolution); "rel L2" = ||f_offset - f_antialias|| / ||f_antialias||
over the whole (D, h, w) grid of the default tap (random-init models are perturbed exactly as the
exactness test does, so their position embeddings matter).
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
import torch.nn.functional as F

RULES = ("bicubic_offset_0.1", "bicubic_antialias_size")


def photo(res: int) -> torch.Tensor:
    from skimage import data

    img = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(img, size=(res, res), mode="bicubic", antialias=True).clamp(0, 1)


def rule_difference(backbone, res: int) -> float:
    """Relative L2 between the default-tap features under the two rules, at ``res`` px."""
    img, out, cfg = photo(res), {}, backbone.config
    try:
        for rule in RULES:
            backbone.config = dataclasses.replace(cfg, pos_interpolation=rule)
            with torch.no_grad():
                out[rule] = backbone.forward_features(img)
    finally:
        backbone.config = cfg
    a, b = out[RULES[0]], out[RULES[1]]
    return float((a - b).norm() / b.norm())


def build(name: str, random_init: bool, weights: str | None):
    from corrviz.core.backbones import create_backbone

    bb = create_backbone(name, pretrained=not random_init, weights=weights)
    if random_init:  # as tests/core/test_vit_exactness.py: position embeddings that are not near zero
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for pname, p in bb.model.named_parameters():
                p.add_(torch.randn(p.shape, generator=g) * (0.5 if "pos_embed" in pname else 0.02))
    return bb


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", action="append", required=True, help="ViT backbone name (repeatable)")
    p.add_argument("--resolution", type=int, nargs="+", default=[224, 448, 840])
    p.add_argument("--random-init", action="store_true", help="random-init weights (perturbed), no file needed")
    p.add_argument("--weights", default=None, help="explicit weights file (one backbone)")
    args = p.parse_args(argv)
    print("| backbone (weights) | px | grid | rel L2, offset vs antialias rule |")
    print("|---|---|---|---|")
    for name in args.backbone:
        bb = build(name, args.random_init, args.weights)
        for res in args.resolution:
            s = bb.config.patch_size
            res = max(s, round(res / s) * s)
            label = "random init, perturbed" if args.random_init else bb.weights_source
            print(f"| {name} ({label}) | {res} | {res // s}x{res // s} | {100 * rule_difference(bb, res):.2f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
