"""Backbones by name: ``create_backbone``, ``list_backbones``, ``get_config``.

ViTs and ConvNeXts come from timm; weight-free dense SIFT / DAISY need no download.
"""

from . import classical_backbone as _classical  # noqa: F401  (registers dense_sift, daisy)
from .base import Backbone
from .factory import (
    architecture_signature,
    create_backbone,
    default_backbone,
    fallback_note,
    matching_backbones,
    weights_available,
)
from .registry import (
    DEFAULT_BACKBONE_ORDER,
    POS_RULES,
    BackboneConfig,
    get_config,
    list_backbones,
    register_backbone,
)
from .weights import find_weights, load_state_dict, read_metadata, weights_dir

__all__ = [
    "DEFAULT_BACKBONE_ORDER", "POS_RULES", "Backbone", "BackboneConfig", "architecture_signature", "create_backbone",
    "default_backbone", "fallback_note", "find_weights", "get_config", "list_backbones", "load_state_dict",
    "matching_backbones", "read_metadata", "register_backbone", "weights_available", "weights_dir",
]
