"""Typed records every dataset loader yields, and the shared loader base class.

Coordinates follow :mod:`corrviz.core.transforms`: continuous image coordinates ``(x, y)`` in the
ORIGINAL image pixels, the image spanning ``[0, W] x [0, H]``. Sizes are ``(W, H)``. Boxes are
``[x1, y1, x2, y2]``.

Three record kinds:

* :class:`PairRecord` -- a keypoint-transfer pair (SPair-71k, PF-PASCAL, PF-WILLOW, AP-10K, ...).
* :class:`ClipRecord` -- a video with point tracks (TAP-Vid, BADJA).
* :class:`ViewSetRecord` -- a multi-view render set with a ground-truth correspondence function
  (filled by corrviz's renderer; only the interface lives here).

Loaders never crash midway on a bad item: each item that cannot be used becomes an
:class:`Incomplete` entry with the reason, listed by :meth:`BaseDataset.incomplete`. A folder in
the wrong layout raises :class:`~corrviz.core.errors.DatasetError` naming what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

import numpy as np

from ..errors import DatasetError

ThresholdNorm = Literal["bbox", "img"]
VIEWPOINT_BINS: tuple[str, ...] = ("small", "medium", "large")


@dataclass(frozen=True)
class Incomplete:
    """One item a loader could not use fully, with the reason in plain words.

    ``skipped`` is True when no record was yielded for the item; False when a record was yielded
    but optional parts are missing (e.g. no ImageAnnotation, so no azimuth / KAP keypoints).
    """

    dataset: str
    item_id: str
    reason: str
    paths: tuple[str, ...] = ()
    skipped: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "item_id": self.item_id, "reason": self.reason,
                "paths": list(self.paths), "skipped": self.skipped}


@dataclass(frozen=True, eq=False)
class PairRecord:
    """A keypoint-transfer pair.

    ``src_kps`` / ``trg_kps`` (N, 2) hold the keypoints visible in BOTH images (what PCK uses), in
    original pixel ``(x, y)``; row k of each is the same semantic keypoint ``kps_ids[k]``.
    ``kap_src_kps`` / ``kap_trg_kps`` (M, 2), when known, hold every keypoint visible in the source
    and its target location, with NaN rows where it is not visible in the target (what KAP uses).
    ``threshold_norm`` is the protocol's default PCK normaliser: "bbox" (alpha * max(h, w) of the
    target box) or "img" (alpha * max(H, W) of the target image).
    """

    pair_id: str
    dataset: str
    category: str
    src_image: Path
    trg_image: Path
    src_kps: np.ndarray
    trg_kps: np.ndarray
    kps_ids: tuple[str, ...]
    kps_names: tuple[str, ...]
    src_size: tuple[int, int] | None
    trg_size: tuple[int, int] | None
    src_bbox: np.ndarray | None = None
    trg_bbox: np.ndarray | None = None
    bbox_source: Literal["annotation", "keypoints", "none"] = "annotation"
    threshold_norm: ThresholdNorm = "bbox"
    viewpoint_variation: int | None = None
    src_azimuth: int | None = None
    trg_azimuth: int | None = None
    mirror: bool = False
    src_mask: Path | None = None
    trg_mask: Path | None = None
    kap_src_kps: np.ndarray | None = None
    kap_trg_kps: np.ndarray | None = None
    kap_ids: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_keypoints(self) -> int:
        return int(self.src_kps.shape[0])

    @property
    def viewpoint_bin(self) -> str | None:
        """'small' / 'medium' / 'large' for SPair's viewpoint_variation 0 / 1 / 2."""
        v = self.viewpoint_variation
        return VIEWPOINT_BINS[v] if v is not None and 0 <= v < len(VIEWPOINT_BINS) else None

    def threshold_size(self, norm: ThresholdNorm | None = None) -> float:
        """max(h, w) of the target box ("bbox") or of the target image ("img")."""
        norm = norm or self.threshold_norm
        if norm == "bbox":
            if self.trg_bbox is None:
                raise DatasetError(f"pair {self.pair_id}: no target bounding box for bbox PCK")
            b = self.trg_bbox
            return float(max(b[2] - b[0], b[3] - b[1]))
        if norm == "img":
            if self.trg_size is None:
                raise DatasetError(f"pair {self.pair_id}: target image size unknown")
            return float(max(self.trg_size))
        raise ValueError(f"unknown PCK normalisation {norm!r}; choose 'bbox' or 'img'")


@dataclass(frozen=True, eq=False)
class ClipRecord:
    """A video with point tracks.

    ``points`` (N, T, 2) are pixel ``(x, y)`` in the frames as stored (``image_size``); ``occluded``
    (N, T) is True where the point is not visible; ``annotated`` (N, T) is True where ground truth
    exists at all (all True for TAP-Vid; only the annotated frames for BADJA). Frames come either
    from ``frame_paths`` or from the in-memory ``video`` (T, H, W, 3) uint8 of a pickle.
    ``threshold`` names the protocol: "tapvid" (pixel thresholds after rescaling to 256x256) or
    "sqrt_mask_area" (BADJA: correct if error <= alpha * sqrt(mask area of that frame)), with
    ``mask_area`` (T,) in pixels of the stored frames (NaN where unknown).
    """

    clip_id: str
    dataset: str
    image_size: tuple[int, int]
    points: np.ndarray
    occluded: np.ndarray
    annotated: np.ndarray
    point_ids: tuple[str, ...]
    frame_paths: tuple[Path, ...] | None = None
    video: np.ndarray | None = None
    threshold: Literal["tapvid", "sqrt_mask_area"] = "tapvid"
    mask_area: np.ndarray | None = None
    mask_paths: tuple[Path | None, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.points.shape[1])

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])

    def load_frame(self, t: int) -> np.ndarray:
        """Frame ``t`` as RGB uint8 (H, W, 3)."""
        if self.video is not None:
            return np.asarray(self.video[t], dtype=np.uint8)
        if self.frame_paths is None:
            raise DatasetError(f"clip {self.clip_id}: no frames attached")
        from ..io import load_image

        return load_image(self.frame_paths[t])

    def queries(self, mode: Literal["first", "strided"] = "first", stride: int = 5):
        """Query points following the TAP-Vid sampling (see :mod:`corrviz.core.metrics.tapvid`).

        Frames without ground truth are never used as query frames.
        """
        from ..metrics.tapvid import sample_queries

        return sample_queries(self.points, self.occluded | ~self.annotated, mode=mode, stride=stride)


class ViewCorrespondence(Protocol):
    """Ground-truth correspondence between two views of a render set.

    Maps pixel ``(x, y)`` points (N, 2) of view ``src`` to view ``trg``; returns the target points
    (N, 2) and a (N,) bool ``valid`` (False for background or points occluded in the target).
    """

    def __call__(self, src: int, trg: int, src_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True, eq=False)
class ViewSetRecord:
    """A multi-view render set: per-view image, mask and depth files, intrinsics (V, 3, 3) and
    camera-to-world poses (V, 4, 4), plus the ground-truth correspondence function."""

    set_id: str
    dataset: str
    images: tuple[Path, ...]
    image_size: tuple[int, int]
    intrinsics: np.ndarray
    cam_to_world: np.ndarray
    masks: tuple[Path | None, ...] = ()
    depths: tuple[Path | None, ...] = ()
    correspond: ViewCorrespondence | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_views(self) -> int:
        return len(self.images)


R = TypeVar("R")


class BaseDataset(Generic[R]):
    """Shared loader behaviour: records are scanned once at construction (cheap: annotations only,
    images are never decoded), then iterated. Bad items go to :meth:`incomplete`."""

    name: str = "dataset"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.exists():
            raise DatasetError(f"{self.name}: data root {self.root} does not exist")
        if not self.root.is_dir():
            raise DatasetError(f"{self.name}: data root {self.root} is not a folder")
        self._records: list[R] = []
        self._incomplete: list[Incomplete] = []

    # -- reporting -------------------------------------------------------------------------
    def _skip(self, item_id: str, reason: str, *paths: str | Path) -> None:
        self._incomplete.append(Incomplete(self.name, item_id, reason, tuple(str(p) for p in paths), True))

    def _partial(self, item_id: str, reason: str, *paths: str | Path) -> None:
        self._incomplete.append(Incomplete(self.name, item_id, reason, tuple(str(p) for p in paths), False))

    def incomplete(self) -> list[Incomplete]:
        """Items that were skipped (no record yielded), each with the reason."""
        return [i for i in self._incomplete if i.skipped]

    def partial(self) -> list[Incomplete]:
        """Records that were yielded but lack optional parts (reason says which)."""
        return [i for i in self._incomplete if not i.skipped]

    # -- iteration -------------------------------------------------------------------------
    def records(self) -> list[R]:
        return list(self._records)

    def __iter__(self) -> Iterator[R]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> R:
        return self._records[index]

    def summary(self) -> dict[str, Any]:
        return {"dataset": self.name, "root": str(self.root), "records": len(self._records),
                "skipped": len(self.incomplete()), "partial": len(self.partial())}


def require_path(path: Path, dataset: str, what: str) -> Path:
    """Raise DatasetError naming ``path`` when it does not exist (wrong layout)."""
    if not path.exists():
        raise DatasetError(f"{dataset}: expected {what} at {path}, but it does not exist "
                           f"(is the data root pointing at the original layout?)")
    return path


def as_points(value: Any, field_name: str) -> np.ndarray:
    """Parse a list of ``[x, y]`` into a float64 (N, 2) array; raise DatasetError when malformed."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"field '{field_name}' is not a list of [x, y] numbers") from None
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DatasetError(f"field '{field_name}' must be a list of [x, y] pairs, got shape {arr.shape}")
    return arr


def bbox_from_points(points: np.ndarray) -> np.ndarray | None:
    """Tight ``[x1, y1, x2, y2]`` around the finite rows of (N, 2) points; None when there are none."""
    pts = np.asarray(points, dtype=np.float64)
    pts = pts[np.all(np.isfinite(pts), axis=1)] if pts.size else pts.reshape(0, 2)
    if len(pts) == 0:
        return None
    return np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()], dtype=np.float64)


def image_size_of(path: Path) -> tuple[int, int] | None:
    """(W, H) from the image header (no decoding); None when the file is missing or unreadable."""
    if not path.is_file():
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (UnidentifiedImageError, OSError):
        return None


def matching_filter(values: str | Sequence[str] | None) -> set[str] | None:
    """Normalise a category filter (one name or several) to a set, or None for 'all'."""
    if values is None:
        return None
    if isinstance(values, str):
        return {values}
    return set(values)
