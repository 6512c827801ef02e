"""COCO-style keypoint annotations turned into keypoint-transfer pairs.

Shared by AP-10K (its native format is COCO-style) and mmpose's COCO-style conversions of Horse-10,
Zebra and Animal-Pose (the fixtures in ``mmpose_animal_fixtures``). A COCO keypoint file has
``images`` (id, file_name, width, height), ``annotations`` (image_id, category_id, bbox [x, y, w, h],
keypoints as a flat [x1, y1, v1, x2, ...] list with v = 0 for unlabeled) and ``categories`` (id,
name, supercategory, keypoints names). Each annotation (animal instance) is one pair member.

A pair keeps the keypoints labeled (v > 0) in both instances for PCK, and every keypoint labeled
in the source, NaN in the target where unlabeled, for KAP. Boxes become [x1, y1, x2, y2].
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from .base import BaseDataset, PairRecord, matching_filter


@dataclass(frozen=True, eq=False)
class CocoInstance:
    """One annotated animal: keypoints (K, 2) with labeled flags (K,), box [x1, y1, x2, y2]."""

    ann_id: str
    image: Path
    size: tuple[int, int] | None
    category: str
    family: str
    kps: np.ndarray
    labeled: np.ndarray
    names: tuple[str, ...]
    bbox: np.ndarray | None


def load_coco_instances(ann_path: Path, image_dir: Path, dataset: str
                        ) -> tuple[list[CocoInstance], list[tuple[str, str]]]:
    """Parse a COCO keypoint file; returns instances and (item_id, reason) for unusable ones."""
    try:
        data = json.loads(ann_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{dataset}: {ann_path} is not valid JSON ({exc})") from None
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing:
        raise DatasetError(f"{dataset}: {ann_path} lacks {', '.join(repr(m) for m in missing)}")
    images = {im.get("id"): im for im in data["images"]}
    cats = {c.get("id"): c for c in data["categories"]}
    out: list[CocoInstance] = []
    bad: list[tuple[str, str]] = []
    for ann in data["annotations"]:
        aid = str(ann.get("id", len(out) + len(bad)))
        im = images.get(ann.get("image_id"))
        cat = cats.get(ann.get("category_id"))
        if im is None or cat is None:
            bad.append((aid, f"annotation refers to unknown image_id {ann.get('image_id')} "
                             f"or category_id {ann.get('category_id')}"))
            continue
        names = tuple(str(n) for n in cat.get("keypoints", []))
        flat = np.asarray(ann.get("keypoints", []), dtype=np.float64)
        if flat.size % 3 or (names and flat.size // 3 != len(names)):
            bad.append((aid, f"keypoints list has {flat.size} numbers; expected 3 x {len(names)}"))
            continue
        trip = flat.reshape(-1, 3)
        if not names:
            names = tuple(str(i) for i in range(len(trip)))
        box = ann.get("bbox")
        bbox = None
        if box is not None and len(box) == 4:
            x, y, w, h = (float(v) for v in box)
            bbox = np.array([x, y, x + w, y + h])
        size = (int(im["width"]), int(im["height"])) if "width" in im and "height" in im else None
        out.append(CocoInstance(aid, image_dir / str(im.get("file_name", "")), size, str(cat.get("name")),
                                str(cat.get("supercategory", "")), trip[:, :2].copy(), trip[:, 2] > 0,
                                names, bbox))
    return out, bad


def make_pair(dataset: str, src: CocoInstance, trg: CocoInstance, category: str) -> PairRecord:
    """A PairRecord from two instances with the same keypoint definition."""
    both = src.labeled & trg.labeled
    ids = tuple(str(i) for i in np.flatnonzero(both))
    kap_idx = np.flatnonzero(src.labeled)
    kap_trg = np.where(trg.labeled[kap_idx, None], trg.kps[kap_idx], np.nan)
    return PairRecord(
        pair_id=f"{src.ann_id}-{trg.ann_id}", dataset=dataset, category=category,
        src_image=src.image, trg_image=trg.image, src_kps=src.kps[both], trg_kps=trg.kps[both],
        kps_ids=ids, kps_names=tuple(src.names[i] for i in np.flatnonzero(both)),
        src_size=src.size, trg_size=trg.size, src_bbox=src.bbox, trg_bbox=trg.bbox,
        bbox_source="annotation", threshold_norm="bbox",
        kap_src_kps=src.kps[kap_idx], kap_trg_kps=kap_trg, kap_ids=tuple(str(i) for i in kap_idx),
        meta={"src_species": src.category, "trg_species": trg.category,
              "src_family": src.family, "trg_family": trg.family},
    )


class CocoKeypointPairs(BaseDataset[PairRecord]):
    """Pairs of instances of the same category from a COCO-style keypoint file.

    ``root`` holds the images and the annotation JSON (``annotation`` names it; default: the only
    ``*.json`` in ``root``). ``ordered`` gives both (a, b) and (b, a); otherwise a < b only.
    """

    name = "coco_keypoints"

    def __init__(self, root: str | Path, annotation: str | None = None, image_dir: str | None = None,
                 categories: str | Sequence[str] | None = None, ordered: bool = False,
                 require_images: bool = True) -> None:
        super().__init__(root)
        self.ann_path = self._find_annotation(annotation)
        self.image_dir = self.root / image_dir if image_dir else self.root
        self.categories = matching_filter(categories)
        self.ordered = ordered
        self.require_images = require_images
        instances, bad = load_coco_instances(self.ann_path, self.image_dir, self.name)
        for aid, reason in bad:
            self._skip(aid, reason, self.ann_path)
        self.instances = self._usable(instances)
        self._build_pairs()

    def _find_annotation(self, annotation: str | None) -> Path:
        if annotation is not None:
            p = self.root / annotation
            if not p.is_file():
                raise DatasetError(f"{self.name}: annotation file {p} does not exist")
            return p
        found = sorted(self.root.glob("*.json"))
        if len(found) != 1:
            raise DatasetError(f"{self.name}: expected one *.json annotation file in {self.root}, "
                               f"found {len(found)}; pass annotation=...")
        return found[0]

    def _usable(self, instances: list[CocoInstance]) -> list[CocoInstance]:
        keep = []
        for inst in instances:
            if self.categories is not None and inst.category not in self.categories:
                continue
            if self.require_images and not inst.image.is_file():
                self._skip(inst.ann_id, f"image {inst.image} missing; its pairs are skipped", inst.image)
                continue
            keep.append(inst)
        return keep

    def _pairs_of(self, group: list[CocoInstance]) -> list[tuple[CocoInstance, CocoInstance]]:
        it = itertools.permutations(group, 2) if self.ordered else itertools.combinations(group, 2)
        return list(it)

    def _build_pairs(self) -> None:
        by_cat: dict[str, list[CocoInstance]] = {}
        for inst in self.instances:
            by_cat.setdefault(inst.category, []).append(inst)
        for cat in sorted(by_cat):
            for a, b in self._pairs_of(by_cat[cat]):
                self._emit(a, b, cat)

    def _emit(self, a: CocoInstance, b: CocoInstance, category: str, extra: dict[str, Any] | None = None) -> None:
        if a.names != b.names:
            self._skip(f"{a.ann_id}-{b.ann_id}", f"keypoint definitions differ ({len(a.names)} vs {len(b.names)})")
            return
        rec = make_pair(self.name, a, b, category)
        if extra:
            rec.meta.update(extra)
        self._records.append(rec)
