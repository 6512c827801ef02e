"""PF-WILLOW loader (the Proposal Flow release, read unmodified).

Layout (Ham et al., CVPR 2016)::

    PF-dataset-WILLOW/{class}/{image}.png
    PF-dataset-WILLOW/{class}/{image}.mat     (pts_coord: 2 x 10, row 0 = x, row 1 = y)

10 classes x 10 images. The standard 900 test pairs are all ordered pairs of distinct images within
a class (10 x 10 x 9). PCK threshold: alpha * max(h, w) of the target box, with the box taken
tight around the target keypoints (the standard protocol; no box is annotated).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .base import BaseDataset, PairRecord, bbox_from_points, image_size_of, matching_filter

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def read_willow_mat(path: Path) -> np.ndarray:
    """Keypoints (N, 2) as pixel (x, y) from a PF-WILLOW ``.mat`` (``pts_coord`` 2 x N)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for corrupt files
        raise DatasetError(f"{path}: unreadable .mat file ({exc})") from None
    if "pts_coord" not in mat:
        raise DatasetError(f"{path}: missing variable 'pts_coord'")
    pts = np.asarray(mat["pts_coord"], dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] != 2:
        raise DatasetError(f"{path}: 'pts_coord' must be 2 x N, got shape {pts.shape}")
    return pts.T.copy()


class PFWillowDataset(BaseDataset[PairRecord]):
    """The 900 PF-WILLOW test pairs. ``root`` is ``PF-dataset-WILLOW`` or the folder holding it."""

    name = "pfwillow"

    def __init__(self, root: str | Path, categories: str | Sequence[str] | None = None) -> None:
        super().__init__(root)
        inner = self.root / "PF-dataset-WILLOW"
        self.dataset_dir = inner if inner.is_dir() else self.root
        self.categories = matching_filter(categories)
        class_dirs = sorted(d for d in self.dataset_dir.iterdir() if d.is_dir())
        if not class_dirs:
            raise DatasetError(f"{self.name}: no class folders (e.g. 'car(G)') in {self.dataset_dir}")
        if not any(p.suffix.lower() == ".mat" for d in class_dirs for p in d.iterdir()):
            # images without keypoint files are not a PF-WILLOW release (e.g. an unrelated folder of PNGs)
            raise DatasetError(f"{self.name}: no class folder of {self.dataset_dir} holds a .mat keypoint file "
                               f"(expected PF-dataset-WILLOW/<class>/<image>.png + .mat; looked in "
                               f"{', '.join(d.name for d in class_dirs[:3])}{', ...' if len(class_dirs) > 3 else ''})")
        self._scan(class_dirs)

    def _scan(self, class_dirs: list[Path]) -> None:
        for cdir in class_dirs:
            category = cdir.name
            if self.categories is not None and category not in self.categories:
                continue
            items: list[tuple[str, Path, np.ndarray, tuple[int, int] | None]] = []
            for img in sorted(p for p in cdir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                mat = img.with_suffix(".mat")
                if not mat.is_file():
                    self._skip(f"{category}/{img.stem}", f"keypoint file {mat} missing; its pairs are skipped", mat)
                    continue
                try:
                    kps = read_willow_mat(mat)
                except DatasetError as exc:
                    self._skip(f"{category}/{img.stem}", f"{exc}; its pairs are skipped", mat)
                    continue
                items.append((img.stem, img, kps, image_size_of(img)))
            for s_name, s_img, s_kps, s_size in items:
                for t_name, t_img, t_kps, t_size in items:
                    if s_name == t_name:
                        continue
                    pair_id = f"{category}/{s_name}-{t_name}"
                    if len(s_kps) != len(t_kps):
                        self._skip(pair_id, f"keypoint lists of different lengths: {len(s_kps)} vs {len(t_kps)}")
                        continue
                    valid = np.all(np.isfinite(s_kps), axis=1) & np.all(np.isfinite(t_kps), axis=1)
                    ids = tuple(str(k) for k in np.flatnonzero(valid))
                    src, trg = s_kps[valid], t_kps[valid]
                    self._records.append(PairRecord(
                        pair_id=pair_id, dataset=self.name, category=category, src_image=s_img,
                        trg_image=t_img, src_kps=src, trg_kps=trg, kps_ids=ids, kps_names=ids,
                        src_size=s_size, trg_size=t_size, src_bbox=bbox_from_points(src),
                        trg_bbox=bbox_from_points(trg), bbox_source="keypoints", threshold_norm="bbox",
                        kap_src_kps=src, kap_trg_kps=trg, kap_ids=ids,
                    ))
