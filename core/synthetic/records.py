"""Adapter from corrviz view-set folders to the evaluation side's :class:`ViewSetRecord`.

The evaluation loaders (:mod:`corrviz.core.datasets`) describe a multi-view render set by file
paths, intrinsics, camera-to-world poses and a ground-truth correspondence function. This module
fills that record from a folder written by :func:`~corrviz.core.render.write_view_set`; the view
set itself is read lazily, on the first correspondence query.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DatasetError
from ..render import ViewSet, load_view_set
from ..render.cameras import cam_to_world
from ..render.storage import CAMERAS_FILE

if TYPE_CHECKING:
    from ..datasets.base import ViewSetRecord


class LazyCorrespondence:
    """``(src, trg, src_xy) -> (trg_xy, valid)`` backed by a view set loaded on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._viewset: ViewSet | None = None

    def viewset(self) -> ViewSet:
        if self._viewset is None:
            self._viewset = load_view_set(self.folder)
        return self._viewset

    def __call__(self, src: int, trg: int, src_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.viewset().correspondence(src, trg, src_xy)


def view_set_record(folder: str | os.PathLike, dataset: str = "corrviz-synthetic",
                    set_id: str | None = None) -> ViewSetRecord:
    """A :class:`~corrviz.core.datasets.base.ViewSetRecord` for a view-set folder.

    ``depths`` point at the per-view geometry NPZ files (key ``depth``: float32 z-depth, 0 on
    background), as ``meta["depth_key"]`` records.
    """
    from ..datasets.base import ViewSetRecord

    root = Path(folder)
    meta_path = root / CAMERAS_FILE
    if not meta_path.exists():
        raise DatasetError(f"{root}: not a corrviz view set ({CAMERAS_FILE} is missing)")
    try:
        meta = json.loads(meta_path.read_text())
        views = meta["views"]
        sizes = {(int(v["width"]), int(v["height"])) for v in views}
        K = np.asarray([v["K"] for v in views], dtype=np.float64).reshape(-1, 3, 3)
        c2w = np.stack([cam_to_world(np.asarray(v["world_to_cam"], dtype=np.float64)) for v in views])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{meta_path}: malformed view-set description ({exc})") from None
    if len(sizes) != 1:
        raise DatasetError(f"{meta_path}: views have different sizes {sorted(sizes)}")
    return ViewSetRecord(
        set_id=set_id or str(meta.get("name") or root.name), dataset=dataset,
        images=tuple(root / v["rgb"] for v in views), image_size=sizes.pop(),
        intrinsics=K, cam_to_world=c2w,
        masks=tuple(root / v["mask"] for v in views), depths=tuple(root / v["geometry"] for v in views),
        correspond=LazyCorrespondence(root),
        meta={"depth_key": "depth", "depth": "z-depth, 0 on background", "folder": str(root),
              "exact": bool(meta.get("mesh"))},
    )
