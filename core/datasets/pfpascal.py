"""PF-PASCAL loader: the test-pairs CSV and the JPEG images, read unmodified.

Layout (Ham et al. 2017, pair list of Rocco et al.)::

    PF-dataset-PASCAL/test_pairs_pf_pascal.csv
    PF-dataset-PASCAL/JPEGImages/*.jpg

CSV columns ``source_image, target_image, class, XA, YA, XB, YB``; the image paths are relative to
the folder holding ``PF-dataset-PASCAL``; ``class`` is 1-20 in PASCAL VOC order; the coordinate
columns are semicolon-separated lists (A = source, B = target), used as given. The protocol's PCK
threshold is alpha * max(H, W) of the target image ("img"); a keypoint-tight box is attached too.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .base import BaseDataset, PairRecord, bbox_from_points, image_size_of, matching_filter

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)
CSV_NAMES = ("test_pairs_pf_pascal.csv", "test_pairs.csv")
COLUMNS = ("source_image", "target_image", "class", "XA", "YA", "XB", "YB")


def _coords(text: str, column: str) -> np.ndarray:
    try:
        return np.asarray([float(v) for v in str(text).split(";") if v.strip() != ""], dtype=np.float64)
    except ValueError:
        raise DatasetError(f"column {column} is not a ';'-separated list of numbers") from None


class PFPascalDataset(BaseDataset[PairRecord]):
    """PF-PASCAL test pairs (299). ``root`` is ``PF-dataset-PASCAL`` or the folder holding it."""

    name = "pfpascal"

    def __init__(self, root: str | Path, categories: str | Sequence[str] | None = None,
                 csv_name: str | None = None, require_images: bool = True) -> None:
        super().__init__(root)
        self.dataset_dir = self.root if (self.root / "JPEGImages").is_dir() or self.root.name == "PF-dataset-PASCAL" \
            else self.root / "PF-dataset-PASCAL"
        if not self.dataset_dir.is_dir():
            raise DatasetError(f"{self.name}: expected the folder PF-dataset-PASCAL at {self.dataset_dir}")
        names = (csv_name,) if csv_name else CSV_NAMES
        found = [self.dataset_dir / n for n in names if (self.dataset_dir / n).is_file()]
        if not found:
            raise DatasetError(f"{self.name}: pair list {self.dataset_dir / names[0]} does not exist")
        self.csv_path = found[0]
        self.base_dir = self.dataset_dir.parent
        self.categories = matching_filter(categories)
        self.require_images = require_images
        self._scan()

    def _resolve(self, rel: str) -> Path:
        p = self.base_dir / rel
        if p.exists():
            return p
        alt = self.dataset_dir / "JPEGImages" / Path(rel).name
        return alt if alt.exists() else p

    def _scan(self) -> None:
        with self.csv_path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            absent = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if absent:
                raise DatasetError(f"{self.name}: {self.csv_path} lacks column(s) {', '.join(absent)}")
            for i, row in enumerate(reader):
                pair_id = f"pfpascal-{i:04d}"
                try:
                    rec = self._parse_row(pair_id, row)
                except DatasetError as exc:
                    self._skip(pair_id, f"{self.csv_path.name} row {i + 2}: {exc}", self.csv_path)
                    continue
                if rec is not None:
                    self._records.append(rec)

    def _parse_row(self, pair_id: str, row: dict[str, str]) -> PairRecord | None:
        try:
            cls = int(float(row["class"]))
        except (TypeError, ValueError):
            raise DatasetError(f"class {row['class']!r} is not a number 1-20") from None
        if not 1 <= cls <= len(VOC_CLASSES):
            raise DatasetError(f"class {cls} is outside 1-20")
        category = VOC_CLASSES[cls - 1]
        if self.categories is not None and category not in self.categories:
            return None
        xa, ya, xb, yb = (_coords(row[c], c) for c in ("XA", "YA", "XB", "YB"))
        if not (len(xa) == len(ya) == len(xb) == len(yb)):
            raise DatasetError(f"keypoint lists of different lengths: XA {len(xa)}, YA {len(ya)}, "
                               f"XB {len(xb)}, YB {len(yb)}")
        src_img, trg_img = self._resolve(row["source_image"]), self._resolve(row["target_image"])
        missing = [p for p in (src_img, trg_img) if not p.is_file()]
        if missing and self.require_images:
            which = " and ".join(f"{'source' if p == src_img else 'target'} image {p}" for p in missing)
            self._skip(pair_id, f"{which} missing", *missing)
            return None
        src_kps = np.stack([xa, ya], axis=1)
        trg_kps = np.stack([xb, yb], axis=1)
        ids = tuple(str(k) for k in range(len(src_kps)))
        return PairRecord(
            pair_id=pair_id, dataset=self.name, category=category, src_image=src_img, trg_image=trg_img,
            src_kps=src_kps, trg_kps=trg_kps, kps_ids=ids, kps_names=ids,
            src_size=image_size_of(src_img), trg_size=image_size_of(trg_img),
            src_bbox=bbox_from_points(src_kps), trg_bbox=bbox_from_points(trg_kps),
            bbox_source="keypoints", threshold_norm="img",
            kap_src_kps=src_kps, kap_trg_kps=trg_kps, kap_ids=ids,
            meta={"source_image": row["source_image"], "target_image": row["target_image"], "class": cls},
        )
