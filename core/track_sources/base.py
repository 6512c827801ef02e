"""The track-source interface, the clip record and the per-clip cache."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from ..io import atomic_write
from ..settings import cache_dir

CACHE_VERSION = 1


@dataclass
class TrackClip:
    """One clip: frames (T, H, W, 3) uint8, positions (N, T, 2) pixel (x, y), visibility (N, T) bool.

    Positions are NaN where a point has no position at all (a grid point off the object on frame 0,
    or a track lost by the flow tracker); ``visibility`` is False there and where the point is
    occluded or out of frame.
    """

    name: str
    frames: np.ndarray
    positions: np.ndarray
    visibility: np.ndarray
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = len(self.frames)
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3:
            raise DatasetError(f"clip {self.name}: frames must be (T, H, W, 3), got {self.frames.shape}")
        if self.positions.shape[1:] != (t, 2) or self.visibility.shape != self.positions.shape[:2]:
            raise DatasetError(f"clip {self.name}: positions {self.positions.shape} / visibility "
                               f"{self.visibility.shape} do not fit {t} frames")

    @property
    def n_frames(self) -> int:
        return int(len(self.frames))

    @property
    def n_points(self) -> int:
        return int(self.positions.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.frames.shape[2]), int(self.frames.shape[1])


class TrackSource:
    """An indexable collection of clips (``len``, ``clip(i)``); ``name`` says where tracks come from."""

    name: str = ""

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def clip(self, index: int) -> TrackClip:  # pragma: no cover - interface
        raise NotImplementedError

    def clips(self) -> list[TrackClip]:
        return [self.clip(i) for i in range(len(self))]


def track_cache_dir() -> Path:
    return cache_dir() / "tracks"


def cache_key(params: dict[str, Any]) -> str:
    blob = json.dumps({"v": CACHE_VERSION, **params}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def save_clip(path: str | Path, clip: TrackClip) -> Path:
    target = Path(path)
    with atomic_write(target) as fh:
        np.savez_compressed(fh, frames=clip.frames, positions=clip.positions, visibility=clip.visibility,
                            meta=np.array(json.dumps({"name": clip.name, "source": clip.source, **clip.meta})))
    return target


def load_clip(path: str | Path) -> TrackClip:
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return TrackClip(meta.pop("name"), z["frames"], z["positions"], z["visibility"].astype(bool),
                             meta.pop("source", ""), meta)
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{p}: not a readable track clip ({exc})") from None


def cached_clip(params: dict[str, Any], build) -> TrackClip:  # noqa: ANN001 - build() -> TrackClip
    """The clip for ``params`` from the cache, built (and written) on first use."""
    path = track_cache_dir() / f"{params.get('source', 'clip')}-{cache_key(params)}.npz"
    if path.exists():
        try:
            return load_clip(path)
        except DatasetError:
            pass  # a corrupt entry is built again
    clip = build()
    save_clip(path, clip)
    return clip
