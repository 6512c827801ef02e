"""Loader of the synthetic SPair written by ``corrviz-data synthetic-spair`` (SPair-71k layout).

Pairs are read by the SPair-71k loader (same files, same fields, same KAP keypoints from
ImageAnnotation); this sibling checks the index ``synthetic_spair.json`` first and adds, per
pair, in ``PairRecord.meta``:

* ``twins``: {kps_id: twin kps_id} of the category (left/right keypoints),
* ``twin_trg_kps`` (N, 2): for each pair keypoint, its twin's position in the target where the twin
  is visible there (NaN otherwise) -- what the left/right confusion rate compares against,
* ``src_instance`` / ``trg_instance``, ``azimuth_bin_distance``.

:meth:`SyntheticSPairDataset.images` lists the per-image annotations of a split (paths of image,
mask and depth, azimuth bin, keypoints and visibility) for training methods.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from .base import PairRecord, matching_filter
from .spair import SPLIT_ALIASES, SPairDataset

FORMAT = "corrviz-synthetic-spair"
INDEX_FILE = "synthetic_spair.json"
_SPLIT_NAMES = {"trn": "train", "val": "val", "test": "test"}


@dataclass(frozen=True)
class SyntheticImage:
    """One render on disk. ``kps`` (K, 2) projections (NaN where the instance lacks the keypoint),
    ``visible`` (K,) depth-test visibility, ``K`` / ``world_to_cam`` its camera."""

    image: Path
    mask: Path
    depth: Path
    category: str
    instance_id: str
    seed: int
    split: str
    azimuth_bin: int
    azimuth_deg: float
    elevation_deg: float
    kps: np.ndarray
    visible: np.ndarray
    bbox: np.ndarray
    K: np.ndarray
    world_to_cam: np.ndarray


def read_index(root: Path) -> dict[str, Any]:
    path = root / INDEX_FILE
    if not path.is_file():
        raise DatasetError(f"{root}: {INDEX_FILE} is missing (not a synthetic SPair folder? "
                           "write one with corrviz-data synthetic-spair OUT)")
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable JSON ({exc})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise DatasetError(f"{path}: format is {index.get('format') if isinstance(index, dict) else None!r}, "
                           f"expected {FORMAT!r}")
    if not isinstance(index.get("categories"), dict):
        raise DatasetError(f"{path}: no 'categories' table")
    return index


class SyntheticSPairDataset(SPairDataset):
    """Synthetic SPair pairs of one split (``train``/``trn``, ``val``, ``test``), filtered by
    category and viewpoint bin like :class:`SPairDataset`."""

    name = "synthetic_spair"

    def __init__(self, root: str | Path, split: str = "test", categories: str | Sequence[str] | None = None,
                 viewpoint: int | str | Sequence[int | str] | None = None, require_images: bool = True) -> None:
        self.index = read_index(Path(root))
        self.twins: dict[str, dict[str, str]] = {c: dict(v.get("twins", {})) for c, v in self.index["categories"].items()}
        self.keypoint_names: dict[str, list[str]] = {c: list(v.get("keypoints", []))
                                                      for c, v in self.index["categories"].items()}
        wanted = matching_filter(categories)
        if wanted is not None:
            unknown = sorted(set(wanted) - set(self.twins))
            if unknown:
                raise DatasetError(f"{root}: no category {', '.join(unknown)} (has {', '.join(self.twins)})")
        super().__init__(root, split=split, categories=categories, viewpoint=viewpoint, layout=None,
                         require_images=require_images)

    def _parse_pair(self, name: str, path: Path) -> PairRecord | None:
        record = super()._parse_pair(name, path)
        if record is None:
            return None
        twins = self.twins.get(record.category, {})
        trg_ann = self._image_annotation(record.category, record.trg_image.name) or {}
        trg_kps = trg_ann.get("kps") or {}
        twin_xy = np.full((record.n_keypoints, 2), np.nan)
        for row, kid in enumerate(record.kps_ids):
            t = twins.get(kid)
            if t is not None and trg_kps.get(t) is not None:
                twin_xy[row] = trg_kps[t]
        ann = json.loads(path.read_text())
        meta = dict(record.meta)
        meta.update(twins=dict(twins), twin_trg_kps=twin_xy, src_instance=ann.get("src_instance"),
                    trg_instance=ann.get("trg_instance"), azimuth_bin_distance=ann.get("azimuth_bin_distance"))
        names = tuple(ann.get("kps_names") or record.kps_names)
        return replace(record, meta=meta, kps_names=names)

    # ------------------------------------------------------------------ images
    def images(self, split: str | None = None, categories: str | Sequence[str] | None = None) -> list[SyntheticImage]:
        """Every render of the split (default: this loader's split), sorted by name."""
        split_name = _SPLIT_NAMES[SPLIT_ALIASES[split]] if split else _SPLIT_NAMES[self.split]
        wanted = matching_filter(categories) if categories is not None else self.categories
        out: list[SyntheticImage] = []
        for cat in sorted(self.twins):
            if wanted is not None and cat not in wanted:
                continue
            folder = self.image_ann_dir / cat
            for p in sorted(folder.glob("*.json")):
                try:
                    ann = json.loads(p.read_text())
                except (OSError, ValueError) as exc:
                    raise DatasetError(f"{p}: unreadable image annotation ({exc})") from None
                if ann.get("split") != split_name:
                    continue
                out.append(self._image(cat, ann))
        return out

    def _image(self, cat: str, ann: dict[str, Any]) -> SyntheticImage:
        stem = Path(ann["filename"]).stem
        n = len(self.keypoint_names.get(cat, [])) or len(ann["kps_all"])
        kps = np.full((n, 2), np.nan)
        visible = np.zeros(n, dtype=bool)
        for kid, xy in ann["kps_all"].items():
            if xy is not None:
                kps[int(kid)] = xy
            visible[int(kid)] = ann["kps"].get(kid) is not None
        return SyntheticImage(
            image=self.image_dir / cat / ann["filename"], mask=self.seg_dir / cat / f"{stem}.png",
            depth=self.root / "Depth" / cat / f"{stem}.npy", category=cat, instance_id=ann["instance_id"],
            seed=int(ann["seed"]), split=ann["split"], azimuth_bin=int(ann["azimuth_id"]),
            azimuth_deg=float(ann["azimuth_deg"]), elevation_deg=float(ann["elevation_deg"]), kps=kps,
            visible=visible, bbox=np.asarray(ann["bndbox"], dtype=np.float64),
            K=np.asarray(ann["K"], dtype=np.float64), world_to_cam=np.asarray(ann["world_to_cam"], dtype=np.float64))
