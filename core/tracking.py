"""Video frames and point tracking with features (seed 000 A.10), used by the app and the benchmarks.

A query point is matched from its query frame's features into every frame independently (no
temporal model): the nearest-neighbour cell gives the peak, a soft-argmax over the cells within
``radius_px`` [35] image pixels of the peak refines it, and the cosine similarity at the peak decides
visibility (below ``occlusion_threshold`` the point is reported occluded). The argmax only looks at
cells covered by the image (canvas padding excluded).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import CorrvizError, InputMismatchError

if TYPE_CHECKING:  # pragma: no cover
    from .features import FeatureMap
    from .progress import Progress

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")


class VideoError(CorrvizError):
    """A video file is missing, of an unsupported container/codec, or has no frames."""


@dataclass
class VideoFrames:
    """Frames sampled from a video every ``step`` frames: RGB uint8 (H, W, 3) each."""

    frames: list[np.ndarray]
    indices: list[int]  # frame number in the file of each sampled frame
    fps: float
    step: int
    path: str = ""

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.frames[0].shape[1]), int(self.frames[0].shape[0])) if self.frames else (0, 0)


@dataclass
class Track:
    """Tracks of N points over T frames."""

    xy: np.ndarray  # (T, N, 2) image coordinates
    visible: np.ndarray  # (T, N) bool
    score: np.ndarray  # (T, N) cosine similarity at the match
    query_frame: int
    seconds: float = 0.0

    @property
    def num_frames(self) -> int:
        return int(self.xy.shape[0])

    @property
    def num_points(self) -> int:
        return int(self.xy.shape[1])

    def curve(self, point: int = 0) -> np.ndarray:
        """(T, 3) curve (x, y, t) of one point, for the 3-D view; occluded frames are NaN."""
        xyt = np.concatenate([self.xy[:, point], np.arange(self.num_frames, dtype=np.float64)[:, None]], axis=1)
        xyt[~self.visible[:, point], :2] = np.nan
        return xyt


def read_video(path: str, step: int = 5, max_frames: int = 200, max_side: int = 640,
               progress: Progress | None = None) -> VideoFrames:
    """Read every ``step``-th frame (at most ``max_frames``), shrunk so the long side is <= ``max_side``."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise VideoError(f"{p}: video file does not exist")
    if step < 1:
        raise InputMismatchError(f"frame step must be >= 1, got {step}")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise VideoError(f"{p}: cannot open this video (unsupported container or codec); "
                             "try converting it to H.264 MP4 or MJPEG AVI")
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
        expected = min(max_frames, (total + step - 1) // step) if total > 0 else max_frames
        if progress is not None:
            progress.start(expected, f"reading {p.name}")
        frames: list[np.ndarray] = []
        indices: list[int] = []
        index = 0
        while len(frames) < max_frames:
            ok = cap.grab()
            if not ok:
                break
            if index % step == 0:
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    break
                frames.append(_shrink(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), max_side))
                indices.append(index)
                if progress is not None:
                    progress.step()
            index += 1
    finally:
        cap.release()
    if not frames:
        raise VideoError(f"{p}: no frames could be decoded (unsupported codec or empty video)")
    return VideoFrames(frames, indices, fps, step, str(p))


def _shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    s = max_side / max(h, w)
    if s >= 1.0:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def radius_soft_argmax(sim: torch.Tensor, cells_xy: np.ndarray, radius_px: float, beta: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Peak refinement in image pixels: maps (Q, h, w) and cell centres (h, w, 2) ->
    (predicted xy (Q, 2), peak similarity (Q,)). softmax(sim / beta) over the cells within
    ``radius_px`` of the argmax cell (the argmax itself always counts), expectation of their centres."""
    from .matching import argmax_cells

    q, h, w = sim.shape
    peak = argmax_cells(sim)
    centres = torch.from_numpy(np.asarray(cells_xy, dtype=np.float64)).reshape(h * w, 2)
    flat_peak = peak[:, 0] * w + peak[:, 1]
    inside = torch.cdist(centres[flat_peak], centres) <= radius_px
    inside[torch.arange(q), flat_peak] = True
    logits = (sim.reshape(q, -1).double() / beta).masked_fill(~inside, float("-inf"))
    xy = torch.softmax(logits, dim=1) @ centres
    score = sim[torch.arange(q), peak[:, 0], peak[:, 1]]
    return xy.numpy(), score.double().numpy()


def track_features(query: torch.Tensor, maps: Sequence[FeatureMap], method: str = "soft-argmax",
                   radius_px: float = 35.0, beta: float = 0.02, restrict_to_image: bool = True,
                   progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Locate query features (N, D) in every frame: positions (N, T, 2) and peak similarity (N, T).

    ``method`` is ``nn`` (argmax cell centre) or ``soft-argmax`` (:func:`radius_soft_argmax`).
    """
    from .matching import argmax_cells, similarity_to_grid

    if method not in ("nn", "soft-argmax"):
        raise InputMismatchError(f"tracking supports the nn and soft-argmax matchers, not {method!r}")
    n, t = int(query.shape[0]), len(maps)
    xy = np.zeros((n, t, 2))
    score = np.zeros((n, t))
    for f, fm in enumerate(maps):
        sim = similarity_to_grid(query, fm)
        if restrict_to_image:
            sim = sim.masked_fill(~torch.from_numpy(fm.transform.content_mask())[None], -2.0)
        if method == "nn":
            cells = argmax_cells(sim)
            xy[:, f] = fm.transform.cell_to_image(cells.numpy())
            score[:, f] = sim[torch.arange(n), cells[:, 0], cells[:, 1]].double().numpy()
        else:
            xy[:, f], score[:, f] = radius_soft_argmax(sim, fm.cell_centers(), radius_px, beta)
        if progress is not None:
            progress.step()
    return xy, score


def track_points(maps: Sequence[FeatureMap], query_frame: int, points_xy: np.ndarray, radius_px: float = 35.0,
                 beta: float = 0.02, occlusion_threshold: float = 0.5, method: str = "soft-argmax",
                 progress: Progress | None = None) -> Track:
    """Track image points of ``maps[query_frame]`` through every frame (see the module docstring).

    A point is visible in a frame when the cosine similarity at its peak is >= ``occlusion_threshold``;
    in the query frame it is always visible at its own position.
    """
    t0 = time.perf_counter()
    if not maps:
        raise InputMismatchError("no frames to track through")
    if not 0 <= query_frame < len(maps):
        raise InputMismatchError(f"query frame {query_frame} is outside 0..{len(maps) - 1}")
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if progress is not None:
        progress.start(len(maps), "tracking")
    xy, score = track_features(maps[query_frame].sample(pts), maps, method, radius_px, beta, progress=progress)
    xy[:, query_frame], score[:, query_frame] = pts, 1.0
    visible = score >= occlusion_threshold
    visible[:, query_frame] = True
    return Track(xy.transpose(1, 0, 2), visible.T, score.T, query_frame, time.perf_counter() - t0)
