"""SPair-71k loader (original layout, read unmodified).

Layout (Min et al., 2019)::

    PairAnnotation/{trn,val,test}/{id}-{src}-{trg}:{category}.json
    ImageAnnotation/{category}/{image}.json      (kps {"id": [x, y] | null}, azimuth_id 0-7, ...)
    JPEGImages/{category}/{image}.jpg
    Segmentation/{category}/{image}.png          (optional)
    Layout/{large,small}/{trn,val,test}.txt      (optional: the official pair lists)

Pair annotations list only keypoints visible in both images (``src_kps``, ``trg_kps``,
``kps_ids``); the full per-image keypoints used by KAP come from ImageAnnotation when present.
``viewpoint_variation`` 0 / 1 / 2 is the small / medium / large bin.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from .base import VIEWPOINT_BINS, BaseDataset, PairRecord, as_points, matching_filter, require_path

SPLIT_ALIASES = {"train": "trn", "trn": "trn", "val": "val", "validation": "val", "test": "test"}
REQUIRED_FIELDS = ("category", "src_imname", "trg_imname", "src_kps", "trg_kps",
                   "src_bndbox", "trg_bndbox", "src_imsize", "trg_imsize")


def _viewpoint_filter(viewpoint: int | str | Sequence[int | str] | None) -> set[int] | None:
    if viewpoint is None:
        return None
    items = [viewpoint] if isinstance(viewpoint, int | str) else list(viewpoint)
    out: set[int] = set()
    for v in items:
        if isinstance(v, str):
            if v not in VIEWPOINT_BINS:
                raise ValueError(f"unknown viewpoint bin {v!r}; choose from {', '.join(VIEWPOINT_BINS)}")
            out.add(VIEWPOINT_BINS.index(v))
        else:
            out.add(int(v))
    return out


class SPairDataset(BaseDataset[PairRecord]):
    """SPair-71k pairs of one split, optionally filtered by category and viewpoint bin.

    ``layout`` picks the official pair list ``Layout/{layout}/{split}.txt`` when it exists (the
    order of the file is kept; a listed pair with no annotation file is reported incomplete);
    otherwise every JSON in ``PairAnnotation/{split}`` is used, sorted by name.
    ``require_images``: pairs whose image files are missing are skipped (with the reason).
    """

    name = "spair"

    def __init__(self, root: str | Path, split: str = "test",
                 categories: str | Sequence[str] | None = None,
                 viewpoint: int | str | Sequence[int | str] | None = None,
                 layout: str | None = "large", require_images: bool = True) -> None:
        super().__init__(root)
        if split not in SPLIT_ALIASES:
            raise ValueError(f"unknown SPair split {split!r}; choose trn, val or test")
        self.split = SPLIT_ALIASES[split]
        self.categories = matching_filter(categories)
        self.viewpoints = _viewpoint_filter(viewpoint)
        self.require_images = require_images
        self.pair_dir = require_path(self.root / "PairAnnotation" / self.split, self.name,
                                     f"the pair annotation folder PairAnnotation/{self.split}")
        self.image_dir = require_path(self.root / "JPEGImages", self.name, "the image folder JPEGImages")
        self.image_ann_dir = self.root / "ImageAnnotation"
        self.seg_dir = self.root / "Segmentation"
        self.layout_file: Path | None = None
        if layout is not None and (self.root / "Layout" / layout / f"{self.split}.txt").is_file():
            self.layout_file = self.root / "Layout" / layout / f"{self.split}.txt"
        self._image_ann_cache: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._scan()

    # ------------------------------------------------------------------ scanning
    def _pair_names(self) -> list[str]:
        if self.layout_file is not None:
            lines = self.layout_file.read_text().split()
            return [ln.strip() for ln in lines if ln.strip()]
        return sorted(p.stem for p in self.pair_dir.glob("*.json"))

    def _scan(self) -> None:
        for name in self._pair_names():
            category_hint = name.rsplit(":", 1)[-1] if ":" in name else None
            if self.categories is not None and category_hint is not None and category_hint not in self.categories:
                continue
            path = self.pair_dir / f"{name}.json"
            if not path.is_file():
                self._skip(name, f"pair annotation file {path} is missing", path)
                continue
            try:
                record = self._parse_pair(name, path)
            except DatasetError as exc:
                self._skip(name, f"{path.name}: {exc}", path)
                continue
            if record is None:
                continue
            self._records.append(record)

    def _image_annotation(self, category: str, imname: str) -> dict[str, Any] | None:
        key = (category, imname)
        if key not in self._image_ann_cache:
            p = self.image_ann_dir / category / f"{Path(imname).stem}.json"
            try:
                self._image_ann_cache[key] = json.loads(p.read_text()) if p.is_file() else None
            except (json.JSONDecodeError, UnicodeDecodeError):
                self._image_ann_cache[key] = None
        return self._image_ann_cache[key]

    def _parse_pair(self, name: str, path: Path) -> PairRecord | None:
        try:
            ann = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DatasetError(f"not valid JSON ({exc})") from None
        if not isinstance(ann, dict):
            raise DatasetError("top level is not a JSON object")
        missing = [f for f in REQUIRED_FIELDS if f not in ann]
        if missing:
            raise DatasetError(f"missing field {', '.join(repr(m) for m in missing)}")
        category = str(ann["category"])
        if self.categories is not None and category not in self.categories:
            return None
        vp = ann.get("viewpoint_variation")
        vp = int(vp) if vp is not None else None
        if self.viewpoints is not None and vp not in self.viewpoints:
            return None
        src_kps = as_points(ann["src_kps"], "src_kps")
        trg_kps = as_points(ann["trg_kps"], "trg_kps")
        if len(src_kps) != len(trg_kps):
            raise DatasetError(f"keypoint lists of different lengths: src_kps has {len(src_kps)}, "
                               f"trg_kps has {len(trg_kps)}")
        ids = [str(i) for i in ann.get("kps_ids", range(len(src_kps)))]
        if len(ids) != len(src_kps):
            raise DatasetError(f"kps_ids has {len(ids)} entries for {len(src_kps)} keypoints")
        src_bbox = np.asarray(ann["src_bndbox"], dtype=np.float64)
        trg_bbox = np.asarray(ann["trg_bndbox"], dtype=np.float64)
        if src_bbox.shape != (4,) or trg_bbox.shape != (4,):
            raise DatasetError("src_bndbox / trg_bndbox must be [x1, y1, x2, y2]")
        try:
            src_size = (int(ann["src_imsize"][0]), int(ann["src_imsize"][1]))
            trg_size = (int(ann["trg_imsize"][0]), int(ann["trg_imsize"][1]))
        except (TypeError, ValueError, IndexError):
            raise DatasetError("src_imsize / trg_imsize must be [W, H, C]") from None
        src_img = self.image_dir / category / str(ann["src_imname"])
        trg_img = self.image_dir / category / str(ann["trg_imname"])
        missing_imgs = [p for p in (src_img, trg_img) if not p.is_file()]
        if missing_imgs and self.require_images:
            which = " and ".join(f"{'source' if p == src_img else 'target'} image {p}" for p in missing_imgs)
            self._skip(name, f"{which} missing", *missing_imgs)
            return None

        src_ia = self._image_annotation(category, str(ann["src_imname"]))
        trg_ia = self._image_annotation(category, str(ann["trg_imname"]))
        kap_src = kap_trg = None
        kap_ids: tuple[str, ...] | None = None
        if src_ia is not None and trg_ia is not None and isinstance(src_ia.get("kps"), dict):
            kap_src, kap_trg, kap_ids = self._kap_keypoints(src_ia["kps"], trg_ia.get("kps") or {})
        else:
            lacking = [n for n, ia in ((ann["src_imname"], src_ia), (ann["trg_imname"], trg_ia)) if ia is None]
            self._partial(name, f"ImageAnnotation missing for {', '.join(lacking)}: "
                                "azimuth and KAP keypoints unavailable")

        def seg(imname: str) -> Path | None:
            p = self.seg_dir / category / f"{Path(imname).stem}.png"
            return p if p.is_file() else None

        def azimuth(ia: dict[str, Any] | None) -> int | None:
            return int(ia["azimuth_id"]) if ia is not None and ia.get("azimuth_id") is not None else None

        return PairRecord(
            pair_id=name, dataset=self.name, category=category, src_image=src_img, trg_image=trg_img,
            src_kps=src_kps, trg_kps=trg_kps, kps_ids=tuple(ids), kps_names=tuple(ids),
            src_size=src_size, trg_size=trg_size, src_bbox=src_bbox, trg_bbox=trg_bbox,
            bbox_source="annotation", threshold_norm="bbox", viewpoint_variation=vp,
            src_azimuth=azimuth(src_ia), trg_azimuth=azimuth(trg_ia), mirror=bool(ann.get("mirror", 0)),
            src_mask=seg(str(ann["src_imname"])), trg_mask=seg(str(ann["trg_imname"])),
            kap_src_kps=kap_src, kap_trg_kps=kap_trg, kap_ids=kap_ids,
            meta={k: ann.get(k) for k in ("pair_id", "src_pose", "trg_pose", "scale_variation",
                                         "truncation", "occlusion") if k in ann},
        )

    @staticmethod
    def _kap_keypoints(src: dict[str, Any], trg: dict[str, Any]
                       ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """Every keypoint visible in the source, with its target location (NaN when not visible)."""
        ids: list[str] = []
        s_rows: list[list[float]] = []
        t_rows: list[list[float]] = []
        for kid in sorted(src, key=lambda k: int(k) if str(k).isdigit() else str(k)):
            s = src[kid]
            if s is None:
                continue
            t = trg.get(kid)
            ids.append(str(kid))
            s_rows.append([float(s[0]), float(s[1])])
            t_rows.append([float(t[0]), float(t[1])] if t is not None else [np.nan, np.nan])
        shape = (len(ids), 2)
        return (np.asarray(s_rows, dtype=np.float64).reshape(shape),
                np.asarray(t_rows, dtype=np.float64).reshape(shape), tuple(ids))

    # ------------------------------------------------------------------ helpers
    def category_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self._records:
            counts[r.category] = counts.get(r.category, 0) + 1
        return dict(sorted(counts.items()))

    def viewpoint_counts(self) -> dict[str, int]:
        counts = {b: 0 for b in VIEWPOINT_BINS}
        for r in self._records:
            if r.viewpoint_bin is not None:
                counts[r.viewpoint_bin] += 1
        return counts
