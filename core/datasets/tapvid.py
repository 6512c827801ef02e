"""TAP-Vid loaders: the DAVIS-style pickle, and the same content as a folder of frames + npz tracks.

Pickle (TAP-Vid DAVIS, Doersch et al. 2022)::

    {video_name: {"video": T x H x W x 3 uint8 (or a list of encoded frames),
                  "points": N x T x 2 float in [0, 1] as (x, y),
                  "occluded": N x T bool}}

Only load pickles you trust: unpickling can run code.

Folder layout (corrviz's equivalent, one sub-folder per video)::

    ROOT/{video}/tracks.npz      points (N, T, 2) in [0, 1] (x, y)  -- or points_px in pixels --
                                 and occluded (N, T) bool
    ROOT/{video}/frames/*.jpg|png   (or the frames directly in ROOT/{video}/), sorted by name

Records carry pixel (x, y) tracks in the stored frame size: x = u * W, y = v * H for normalised
(u, v). Metrics rescale to 256 x 256 (see :func:`corrviz.core.metrics.tapvid.rescale_to_256`).
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from .base import BaseDataset, ClipRecord, image_size_of, matching_filter

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def _decode_video(raw: Any) -> np.ndarray:
    if isinstance(raw, np.ndarray):
        return raw
    if isinstance(raw, list | tuple) and raw and isinstance(raw[0], bytes | bytearray):
        from PIL import Image

        frames = []
        for b in raw:
            with Image.open(io.BytesIO(b)) as im:
                frames.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        return np.stack(frames)
    return np.asarray(raw)


def _check_tracks(points: np.ndarray, occluded: np.ndarray, n_frames: int) -> str | None:
    if points.ndim != 3 or points.shape[2] != 2:
        return f"points must be (N, T, 2), got {points.shape}"
    if occluded.shape != points.shape[:2]:
        return f"occluded {occluded.shape} does not match points {points.shape[:2]}"
    if points.shape[1] != n_frames:
        return f"tracks have {points.shape[1]} frames but the video has {n_frames}"
    return None


class TapVidPickleDataset(BaseDataset[ClipRecord]):
    """TAP-Vid DAVIS-style pickle. ``root`` is the .pkl file or a folder holding ``tapvid_davis.pkl``."""

    name = "tapvid_davis"

    def __init__(self, root: str | Path, videos: str | Sequence[str] | None = None,
                 pickle_name: str = "tapvid_davis.pkl") -> None:
        path = Path(root)
        if path.is_file():
            self.pickle_path = path
            super().__init__(path.parent)
        else:
            super().__init__(path)
            self.pickle_path = self.root / pickle_name
            if not self.pickle_path.is_file():
                raise DatasetError(f"{self.name}: pickle {self.pickle_path} does not exist")
        self.videos = matching_filter(videos)
        try:
            with self.pickle_path.open("rb") as fh:
                data = pickle.load(fh)
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
            raise DatasetError(f"{self.name}: {self.pickle_path} is not a readable pickle ({exc})") from None
        if isinstance(data, list):  # some TAP-Vid releases store a list of video dicts
            data = {str(i): v for i, v in enumerate(data)}
        if not isinstance(data, dict):
            raise DatasetError(f"{self.name}: {self.pickle_path} must hold a dict of videos")
        for vid in sorted(data):
            if self.videos is not None and str(vid) not in self.videos:
                continue
            self._add(str(vid), data[vid])

    def _add(self, vid: str, entry: Any) -> None:
        if not isinstance(entry, dict):
            self._skip(vid, "entry is not a dict with video / points / occluded")
            return
        missing = [k for k in ("video", "points", "occluded") if k not in entry]
        if missing:
            self._skip(vid, f"missing field {', '.join(repr(m) for m in missing)}")
            return
        video = _decode_video(entry["video"])
        if video.ndim != 4 or video.shape[-1] != 3:
            self._skip(vid, f"video must be T x H x W x 3, got {video.shape}")
            return
        pts = np.asarray(entry["points"], dtype=np.float64)
        occ = np.asarray(entry["occluded"], dtype=bool)
        problem = _check_tracks(pts, occ, video.shape[0])
        if problem:
            self._skip(vid, problem)
            return
        h, w = int(video.shape[1]), int(video.shape[2])
        self._records.append(ClipRecord(
            clip_id=vid, dataset=self.name, image_size=(w, h), points=pts * np.array([w, h]),
            occluded=occ, annotated=np.ones_like(occ), point_ids=tuple(str(i) for i in range(len(pts))),
            video=video.astype(np.uint8, copy=False), threshold="tapvid",
        ))


class TapVidFolderDataset(BaseDataset[ClipRecord]):
    """A folder of videos, each a folder of frames plus ``tracks.npz`` (layout in module docstring)."""

    name = "tapvid_folder"

    def __init__(self, root: str | Path, videos: str | Sequence[str] | None = None,
                 tracks_name: str = "tracks.npz") -> None:
        super().__init__(root)
        self.videos = matching_filter(videos)
        subdirs = sorted(d for d in self.root.iterdir() if d.is_dir())
        with_tracks = [d for d in subdirs if (d / tracks_name).is_file()]
        if not with_tracks:
            raise DatasetError(f"{self.name}: no video folder with a {tracks_name} under {self.root} "
                               f"(expected ROOT/<video>/{tracks_name} and frames)")
        for d in subdirs:
            if self.videos is not None and d.name not in self.videos:
                continue
            if not (d / tracks_name).is_file():
                self._skip(d.name, f"tracks file {d / tracks_name} missing", d / tracks_name)
                continue
            self._add(d, d / tracks_name)

    def _add(self, d: Path, tracks: Path) -> None:
        frame_dir = d / "frames" if (d / "frames").is_dir() else d
        frames = tuple(sorted(p for p in frame_dir.iterdir() if p.suffix.lower() in FRAME_SUFFIXES))
        if not frames:
            self._skip(d.name, f"no frames (*.jpg / *.png) in {frame_dir}", frame_dir)
            return
        try:
            with np.load(tracks, allow_pickle=False) as npz:
                keys = set(npz.files)
                if "occluded" not in keys or not ({"points", "points_px"} & keys):
                    self._skip(d.name, f"{tracks.name} needs 'occluded' and 'points' (or 'points_px')", tracks)
                    return
                occ = np.asarray(npz["occluded"], dtype=bool)
                pixel = "points_px" in keys
                pts = np.asarray(npz["points_px" if pixel else "points"], dtype=np.float64)
        except (OSError, ValueError) as exc:
            self._skip(d.name, f"{tracks} unreadable ({exc})", tracks)
            return
        problem = _check_tracks(pts, occ, len(frames))
        if problem:
            self._skip(d.name, problem, tracks)
            return
        size = image_size_of(frames[0])
        if size is None:
            self._skip(d.name, f"first frame {frames[0]} unreadable", frames[0])
            return
        if not pixel:
            pts = pts * np.array([size[0], size[1]])
        self._records.append(ClipRecord(
            clip_id=d.name, dataset=self.name, image_size=size, points=pts, occluded=occ,
            annotated=np.ones_like(occ), point_ids=tuple(str(i) for i in range(len(pts))),
            frame_paths=frames, threshold="tapvid",
        ))
