"""Weight-free backbones: dense SIFT (OpenCV) and DAISY (scikit-image) on a regular grid.

They follow the same interface as the networks, so every tool works offline with the classical
baseline the papers compare against. ``patch_size`` is the grid stride (configurable:
``create_backbone("dense_sift", patch_size=4)``); descriptors are centred on the cells.

Descriptor options (``BackboneConfig.descriptor``, overridable like any config field)
------------------------------------------------------------------------------------
``support_px`` / ``support_frac``
    The spatial support of every descriptor, in canvas pixels or as a fraction of the canvas
    side (the longer side for a non-square canvas). For ``dense_sift`` it is the side of the
    square 4 x 4-bin window (each bin ``support / 4`` px; OpenCV ``KeyPoint.size = support / 6``);
    for ``daisy`` it is the radius of the outermost ring (scikit-image ``radius``, rounded to
    whole pixels, at least 1). Give ONE of the two: the other is derived from the canvas
    (``support_px = support_frac * canvas side``). A value you pass wins over the registered
    default (which is a fraction, so the window covers the same part of the image at every
    resolution); passing both is an error.
``min_bin_px``
    Large supports are computed on the canvas box-downsampled by a power of two dividing the
    stride, as long as a spatial bin (SIFT: ``support / 4``; DAISY: ring spacing) keeps at least
    this many pixels [12]; same cell centres, up to 16x faster. A huge value (e.g. ``1e6``) keeps
    full resolution.
``scales``
    Multi-scale descriptors (SIFT-Flow / multi-scale dense SIFT style): one descriptor per factor
    at ``support * factor`` on the same cell centres, each block L2-normalised, concatenated and
    divided by ``sqrt(len(scales))`` (unit norm), so every scale weighs the same in a cosine
    similarity. ``(1,)`` is a single-scale descriptor. Factors must be positive; the feature
    dimension is ``len(scales)`` times the single descriptor's (SIFT 128, DAISY 104).
``normalisation``
    ``dense_sift``: ``"rootsift"`` (L1, then element-wise sqrt; Arandjelovic & Zisserman 2012) or
    ``"l2"``. ``daisy``: scikit-image's ``"l1"`` / ``"l2"`` over the whole descriptor or
    ``"daisy"`` (each histogram to unit L2, as in Tola et al. 2010).

The defaults were chosen by ``scripts/sweep_classical.py`` (table in ``docs/sweep_classical.md``)
on the default procedural objects and PF-WILLOW classes kept apart from the ones it checks on.
Usage: ``create_backbone("dense_sift", descriptor={"support_px": 96})``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from .base import Backbone
from .classical import MIN_BIN_PX
from .registry import BackboneConfig, register_backbone

SIFT_NORMALISATIONS = ("rootsift", "l2")
DAISY_NORMALISATIONS = ("l1", "l2", "daisy")
# Registered defaults (chosen by scripts/sweep_classical.py; see docs/sweep_classical.md).
SIFT_DEFAULTS: dict[str, Any] = {"support_frac": 0.1875, "scales": (1.0, 2.0, 4.0), "normalisation": "rootsift"}
DAISY_DEFAULTS: dict[str, Any] = {"support_frac": 0.125, "scales": (1.0, 2.0, 4.0), "normalisation": "l1"}
SINGLE_DIM = {"sift": 128, "daisy": 104}
_DEFAULTS = {"sift": SIFT_DEFAULTS, "daisy": DAISY_DEFAULTS}
_NORMALISATIONS = {"sift": SIFT_NORMALISATIONS, "daisy": DAISY_NORMALISATIONS}


def resolve_descriptor_options(kind: str, given: dict[str, Any] | None, name: str = "") -> dict[str, Any]:
    """Merge options a user passed with the registered defaults of ``kind`` ("sift" | "daisy").

    Returns ``{"support_px": float | None, "support_frac": float | None, "min_bin_px": float,
    "scales": tuple[float, ...], "normalisation": str}`` with exactly one support set. Unknown keys, both supports at once, non-positive or non-finite
    supports, fractions above 1, empty or non-positive scales and unknown normalisations raise ``ValueError`` naming the backbone.
    """
    who = name or kind
    given = dict(given or {})
    allowed = ("support_px", "support_frac", "min_bin_px", "scales", "normalisation")
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"{who}: unknown descriptor option(s) {', '.join(unknown)}; choose from {', '.join(allowed)}")
    given_px, given_frac = given.get("support_px"), given.get("support_frac")
    if given_px is not None and given_frac is not None:
        raise ValueError(f"{who}: give support_px or support_frac, not both (got {given_px!r} and {given_frac!r})")
    out: dict[str, Any] = {"support_px": None, "support_frac": None, "min_bin_px": given.get("min_bin_px", MIN_BIN_PX),
                           "normalisation": given.get("normalisation", _DEFAULTS[kind]["normalisation"])}
    if given_px is None and given_frac is None:
        out["support_px"] = _DEFAULTS[kind].get("support_px")
        out["support_frac"] = _DEFAULTS[kind].get("support_frac")
    else:
        out["support_px"], out["support_frac"] = given_px, given_frac
    for key in ("support_px", "support_frac", "min_bin_px"):
        val = out[key]
        if val is None:
            continue
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val) or val <= 0:
            raise ValueError(f"{who}: {key} must be a positive number, got {val!r}")
        out[key] = float(val)
    out["scales"] = _scales(given.get("scales", _DEFAULTS[kind]["scales"]), who)
    if out["support_frac"] is not None and out["support_frac"] > 1:
        raise ValueError(f"{who}: support_frac is a fraction of the canvas side (0, 1], got {out['support_frac']!r}")
    if out["normalisation"] not in _NORMALISATIONS[kind]:
        raise ValueError(f"{who}: unknown normalisation {out['normalisation']!r}; "
                         f"choose one of {', '.join(_NORMALISATIONS[kind])}")
    return out


def _scales(value: Any, who: str) -> tuple[float, ...]:
    """``scales`` as a tuple of positive finite floats (hashable, so caches can key on it)."""
    vals = (value,) if isinstance(value, (int, float)) else value
    try:
        out = tuple(float(v) for v in vals if not isinstance(v, bool))
    except (TypeError, ValueError):
        out = ()
    if not out or len(out) != len(tuple(vals)) or any(not math.isfinite(v) or v <= 0 for v in out):
        raise ValueError(f"{who}: scales must be a non-empty list of positive factors of the support, got {value!r}")
    return out


def support_pixels(options: dict[str, Any], canvas_h: int, canvas_w: int) -> float:
    """The support in canvas pixels for a canvas of ``canvas_h x canvas_w`` (see the module docstring)."""
    if options.get("support_px") is not None:
        return float(options["support_px"])
    return float(options["support_frac"]) * max(int(canvas_h), int(canvas_w))


def describe_descriptor(kind: str, options: dict[str, Any]) -> str:
    """One line for listings and logs, e.g. ``support 0.25 of the canvas side, rootsift``."""
    what = "window side" if kind == "sift" else "outer-ring radius"
    if options.get("support_px") is not None:
        sup = f"{what} {options['support_px']:g} canvas px"
    else:
        sup = f"{what} {options['support_frac']:g} of the canvas side"
    scales = tuple(options.get("scales", (1.0,)))
    if scales != (1.0,):
        sup += " x " + "/".join(f"{s:g}" for s in scales)
    return f"{sup}, {options['normalisation']}"


class ClassicalBackbone(Backbone):
    """Dense SIFT or DAISY behind the backbone interface; the descriptor options live in ``config.descriptor``."""

    def __init__(self, config: BackboneConfig) -> None:
        kind = config.timm_name
        if kind not in _DEFAULTS:
            raise ValueError(f"{config.name}: unknown classical descriptor {kind!r}; choose sift or daisy")
        # Store the resolved options, so caches and result protocols see every value that shapes the features.
        options = resolve_descriptor_options(kind, config.descriptor, config.name)
        dim = SINGLE_DIM[kind] * len(options["scales"])
        super().__init__(dataclasses.replace(config, descriptor=options, embed_dim=dim), "weight-free")
        self.kind = kind

    @property
    def descriptor_options(self) -> dict[str, Any]:
        return dict(self.config.descriptor)

    def support_px(self, canvas_h: int, canvas_w: int) -> float:
        """Descriptor support in pixels on a canvas of this size (SIFT window side / DAISY radius)."""
        return support_pixels(self.config.descriptor, canvas_h, canvas_w)

    def feature_dim(self, layer: int | None = None, facet: str | None = None) -> int:
        return self.config.embed_dim

    def resolve_tap(self, layer: int | None, facet: str | None) -> tuple[int, str]:
        return 0, "prenorm"

    def describe_gray(self, gray: np.ndarray) -> np.ndarray:
        """Descriptor grid (D, H / stride, W / stride) of one grey canvas in [0, 1]."""
        from . import classical

        opts = self.config.descriptor
        support = self.support_px(*gray.shape)
        stride = self.config.patch_size
        blocks = []
        for factor in opts["scales"]:
            if self.kind == "sift":
                blocks.append(classical.dense_sift(gray, stride=stride, size=support * factor,
                                                   min_bin_px=opts["min_bin_px"],
                                                   root_sift=opts["normalisation"] == "rootsift"))
            else:
                blocks.append(classical.dense_daisy(gray, stride=stride, radius=max(1, int(round(support * factor))),
                                                    normalization=opts["normalisation"], min_bin_px=opts["min_bin_px"]))
        if len(blocks) == 1:
            return blocks[0]
        return classical.concat_unit_blocks(blocks)

    def forward_features(self, images: torch.Tensor, layer: int | None = None,
                         facet: str | None = None) -> torch.Tensor:
        self.check_resolution(images.shape[-2], images.shape[-1])
        rgb = images.detach().float().clamp(0, 1).cpu().numpy()
        gray = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).astype(np.float32)
        feats = [self.describe_gray(g) for g in gray]
        return torch.from_numpy(np.stack(feats)).to(images.device)


def _register() -> None:
    for name, kind, what in (("dense_sift", "sift", "dense SIFT (OpenCV), upright"),
                             ("daisy", "daisy", "DAISY (scikit-image) on a dense grid")):
        defaults = resolve_descriptor_options(kind, None, name)
        dim = SINGLE_DIM[kind] * len(defaults["scales"])
        register_backbone(BackboneConfig(
            name=name, family="classical", timm_name=kind, patch_size=8, embed_dim=dim, depth=1,
            default_layer=0, default_resolution=448, native_resolution=448, pos_interpolation="none",
            facets=("prenorm",), needs_weights=False, descriptor=defaults,
            description=f"{what}; {describe_descriptor(kind, defaults)}"), builder=ClassicalBackbone)


_register()
