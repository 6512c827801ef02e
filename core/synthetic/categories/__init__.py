"""Semantic categories with exact keypoints: a synthetic SPair.

Each category (car, airplane, chair, table, lamp, mug, bottle, quadruped) generates instances
that differ in proportions, part counts (slats, armrests, engines, horns, shelves), part shapes
(leg profiles, shade and cap shapes, handle kinds, body types), textures and colours. Every
instance carries the category's named keypoints, defined in part coordinates, with left/right
twins (``Category.twins``), in the canonical frame of :mod:`.base` (front +z, up +y, left +x).

* :func:`list_categories`, :func:`get_category` -- the registry.
* :func:`make_instance` (category, seed) -> :class:`Instance` (mesh + (K, 3) keypoints).
* Instance splits by seed, the same rule as the other procedural data: test seeds 0-499,
  val 500-999, train 1000 and above (:func:`instance_seeds`, :func:`split_of_seed`).
* Rendering with keypoint projections and visibility: :mod:`corrviz.core.synthetic.keypoints`.
"""

from __future__ import annotations

import zlib

import numpy as np

from ...errors import CorrvizError, suggest
from . import animals, furniture, household, vehicles
from .base import CATEGORY_GENERATOR_VERSION, MIRROR, Category, Instance, finish

CATEGORIES: dict[str, Category] = {c.name: c for mod in (vehicles, furniture, household, animals)
                                   for c in mod.CATEGORIES}
SPLITS = ("train", "val", "test")
SPLIT_SEED_START = {"test": 0, "val": 500, "train": 1000}


def list_categories() -> list[str]:
    return list(CATEGORIES)


def get_category(name: str) -> Category:
    if name not in CATEGORIES:
        raise CorrvizError(f"unknown synthetic category {name!r}.{suggest(name, CATEGORIES)} "
                           f"Available: {', '.join(CATEGORIES)}")
    return CATEGORIES[name]


def make_instance(category: str, seed: int) -> Instance:
    """Instance ``seed`` of ``category`` (deterministic), normalised, keypoints on its surface."""
    cat = get_category(category)
    rng = np.random.default_rng([int(seed), zlib.crc32(cat.name.encode()), CATEGORY_GENERATOR_VERSION])
    return finish(cat, cat.build(rng), seed)


def split_of_seed(seed: int) -> str:
    """test for seeds 0-499, val for 500-999, train from 1000."""
    if seed < 0:
        raise ValueError(f"instance seeds are non-negative, got {seed}")
    return "test" if seed < 500 else "val" if seed < 1000 else "train"


def instance_seeds(split: str, n: int) -> list[int]:
    """The first ``n`` instance seeds of ``split``."""
    if split not in SPLIT_SEED_START:
        raise ValueError(f"unknown split {split!r}; choose {', '.join(SPLITS)}")
    limit = 500 if split != "train" else None
    if limit is not None and n > limit:
        raise ValueError(f"split {split} has at most {limit} instance seeds, asked for {n}")
    return [SPLIT_SEED_START[split] + i for i in range(n)]


__all__ = ["CATEGORIES", "CATEGORY_GENERATOR_VERSION", "Category", "Instance", "MIRROR", "SPLITS",
           "get_category", "instance_seeds", "list_categories", "make_instance", "split_of_seed"]
