"""Dataset loaders for the benchmarks, reading each dataset's original layout unmodified.

``get_dataset(name, root, **filters)`` builds a loader by name; ``list_datasets()`` lists the
names. Every loader yields typed records (:class:`PairRecord`, :class:`ClipRecord`) and lists what
it had to skip through ``incomplete()`` (reason per item) instead of failing midway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DatasetError, suggest
from .ap10k import AP10KDataset
from .badja import BadjaDataset
from .base import (
    VIEWPOINT_BINS,
    BaseDataset,
    ClipRecord,
    Incomplete,
    PairRecord,
    ViewCorrespondence,
    ViewSetRecord,
)
from .mmpose_coco import CocoKeypointPairs
from .pfpascal import PFPascalDataset
from .pfwillow import PFWillowDataset
from .spair import SPairDataset
from .synthetic_spair import SyntheticSPairDataset
from .tapvid import TapVidFolderDataset, TapVidPickleDataset

_REGISTRY: dict[str, tuple[type[BaseDataset[Any]], str]] = {
    "spair": (SPairDataset, "SPair-71k pairs (split, categories, viewpoint filters)"),
    "synthetic_spair": (SyntheticSPairDataset, "synthetic SPair written by corrviz-data synthetic-spair (twins, instances)"),
    "pfpascal": (PFPascalDataset, "PF-PASCAL test pairs from test_pairs_pf_pascal.csv"),
    "pfwillow": (PFWillowDataset, "PF-WILLOW: the 900 ordered pairs within each class"),
    "ap10k": (AP10KDataset, "AP-10K pairs: intra-species / cross-species / cross-family"),
    "coco_keypoints": (CocoKeypointPairs, "pairs from any COCO-style keypoint file (mmpose fixtures)"),
    "tapvid_davis": (TapVidPickleDataset, "TAP-Vid DAVIS-style pickle"),
    "tapvid_folder": (TapVidFolderDataset, "folder of videos: frames + tracks.npz"),
    "badja": (BadjaDataset, "BADJA joints over DAVIS frames (PCK@0.2, sqrt(mask area))"),
}
_ALIASES = {"synthetic-spair": "synthetic_spair", "spair71k": "spair", "spair-71k": "spair", "pf-pascal": "pfpascal", "pf-willow": "pfwillow",
            "ap-10k": "ap10k", "tapvid": "tapvid_davis", "mmpose_coco": "coco_keypoints"}


def list_datasets() -> list[str]:
    """Names accepted by :func:`get_dataset`."""
    return sorted(_REGISTRY)


def describe_datasets() -> dict[str, str]:
    return {k: v[1] for k, v in sorted(_REGISTRY.items())}


def get_dataset(name: str, root: str | Path, **filters: Any) -> BaseDataset[Any]:
    """Build the loader ``name`` over ``root``; ``filters`` go to its constructor
    (e.g. ``split="test", categories=["cat"], viewpoint="large"`` for SPair)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _REGISTRY:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(list_datasets())}."
                           + suggest(name, list(_REGISTRY) + list(_ALIASES)))
    cls = _REGISTRY[key][0]
    return cls(root, **filters)


__all__ = [
    "AP10KDataset", "BadjaDataset", "BaseDataset", "ClipRecord", "CocoKeypointPairs", "Incomplete",
    "PFPascalDataset", "PFWillowDataset", "PairRecord", "SPairDataset", "SyntheticSPairDataset", "TapVidFolderDataset",
    "TapVidPickleDataset", "VIEWPOINT_BINS", "ViewCorrespondence", "ViewSetRecord", "describe_datasets",
    "get_dataset", "list_datasets",
]
