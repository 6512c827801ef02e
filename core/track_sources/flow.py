"""Point tracks on real videos from OpenCV optical flow, chained frame to frame.

Trackers: ``lk`` (pyramidal Lucas-Kanade, ``cv2.calcOpticalFlowPyrLK``, window 21, 4 levels) or
``dis`` (dense inverse search, ``cv2.DISOpticalFlow`` MEDIUM preset, flow sampled bilinearly at the
points). Each link t -> t+1 is checked forward-backward: a point is tracked back from t+1 to t and
the link fails when it returns more than ``fb_threshold`` px from where it started (or leaves the
frame, or LK reports no solution). A chained tracker cannot re-find a point, so once a link fails the
point stays invisible (and without position) for the rest of the clip: occlusion ends a track.
Tracks are chained over EVERY video frame between the clip's frames (``frame_step`` apart), which is
more accurate than one long jump.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..io import file_sha1, load_image
from .base import TrackClip, TrackSource, cached_clip

TRACKERS = ("lk", "dis")


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _in_frame(xy: np.ndarray, w: int, h: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(xy).all(1) & (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)


def _lk(g0: np.ndarray, g1: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
    out, status, _ = cv2.calcOpticalFlowPyrLK(g0, g1, xy.astype(np.float32).reshape(-1, 1, 2), None,
                                              winSize=(21, 21), maxLevel=4, criteria=crit)
    return out.reshape(-1, 2).astype(np.float64), status.reshape(-1).astype(bool)


def _dis_flow(g0: np.ndarray, g1: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(g0, g1, None)


def _sample_flow(flow: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear flow at pixel coordinates (pixel centres at integer coordinates, as OpenCV)."""
    import cv2

    m = xy.astype(np.float32).reshape(-1, 1, 2)
    fx = cv2.remap(flow[..., 0], m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    fy = cv2.remap(flow[..., 1], m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.stack([fx.reshape(-1), fy.reshape(-1)], axis=1).astype(np.float64)


def link(g0: np.ndarray, g1: np.ndarray, xy: np.ndarray, tracker: str = "lk",
         fb_threshold: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Track points xy (N, 2) from grey frame g0 to g1: (new xy, ok, forward-backward error px)."""
    h, w = g0.shape[:2]
    if tracker == "lk":
        fwd, ok_f = _lk(g0, g1, xy)
        back, ok_b = _lk(g1, g0, fwd)
        ok = ok_f & ok_b
    elif tracker == "dis":
        fwd = xy + _sample_flow(_dis_flow(g0, g1), xy)
        back = fwd + _sample_flow(_dis_flow(g1, g0), fwd)
        ok = np.ones(len(xy), bool)
    else:
        raise ValueError(f"unknown tracker {tracker!r}; choose one of {', '.join(TRACKERS)}")
    fb = np.linalg.norm(back - xy, axis=1)
    ok &= (fb <= fb_threshold) & _in_frame(fwd, w, h)
    return fwd, ok, fb


def chain_tracks(frames: Sequence[np.ndarray], query_xy: np.ndarray, tracker: str = "lk",
                 fb_threshold: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Chained tracks of query points on frame 0 through ``frames``: positions (N, T, 2), visibility (N, T)."""
    greys = [_grey(f) for f in frames]
    n, t = len(query_xy), len(frames)
    pos = np.full((n, t, 2), np.nan)
    vis = np.zeros((n, t), bool)
    h, w = greys[0].shape
    xy = np.asarray(query_xy, np.float64).reshape(-1, 2)
    alive = _in_frame(xy, w, h)
    pos[alive, 0], vis[:, 0] = xy[alive], alive
    for k in range(1, t):
        idx = np.nonzero(alive)[0]
        if len(idx) == 0:
            break
        new, ok, _ = link(greys[k - 1], greys[k], pos[idx, k - 1], tracker, fb_threshold)
        alive[idx[~ok]] = False
        pos[idx[ok], k], vis[idx[ok], k] = new[ok], True
    return pos, vis


def grid_queries(width: int, height: int, grid: int, mask: np.ndarray | None = None) -> np.ndarray:
    """A ``grid x grid`` lattice of cell centres over the mask's box (or the whole frame)."""
    x0, y0, x1, y1 = 0.0, 0.0, float(width), float(height)
    if mask is not None and np.any(mask):
        rows, cols = np.nonzero(mask)
        x0, x1, y0, y1 = float(cols.min()), float(cols.max() + 1), float(rows.min()), float(rows.max() + 1)
    s = (np.arange(grid) + 0.5) / grid
    xs, ys = np.meshgrid(x0 + s * (x1 - x0), y0 + s * (y1 - y0))
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def read_frames(folder: str | Path, suffixes: tuple[str, ...] = (".jpg", ".jpeg", ".png")) -> list[Path]:
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{root}: frame folder does not exist")
    paths = sorted(p for p in root.iterdir() if p.suffix.lower() in suffixes)
    if not paths:
        raise DatasetError(f"{root}: holds no frames ({', '.join(suffixes)})")
    return paths


class FlowTracks(TrackSource):
    """Clips of ``n_frames`` frames ``frame_step`` apart from one video (a folder of frames), with
    chained OpenCV tracks from a ``grid x grid`` lattice on each clip's frame 0; clips start every
    ``clip_stride`` video frames. Frames are resized to ``max_side`` (long side) before tracking."""

    name = "flow"

    def __init__(self, frames: str | Path | Sequence[str | Path], n_frames: int = 4, frame_step: int = 4,
                 grid: int = 16, tracker: str = "lk", fb_threshold: float = 1.0, clip_stride: int = 4,
                 max_side: int = 0) -> None:
        if tracker not in TRACKERS:
            raise ValueError(f"unknown tracker {tracker!r}; choose one of {', '.join(TRACKERS)}")
        self.paths = read_frames(frames) if isinstance(frames, (str, Path)) else [Path(p) for p in frames]
        self.video = Path(frames).name if isinstance(frames, (str, Path)) else "video"
        self.n_frames, self.frame_step, self.grid = int(n_frames), int(frame_step), int(grid)
        self.tracker, self.fb_threshold, self.clip_stride = tracker, float(fb_threshold), max(1, int(clip_stride))
        self.max_side = int(max_side)
        span = (self.n_frames - 1) * self.frame_step + 1
        if len(self.paths) < span:
            raise DatasetError(f"{self.video}: {len(self.paths)} frames, a clip of {self.n_frames} frames "
                               f"{self.frame_step} apart needs {span}")
        self.starts = list(range(0, len(self.paths) - span + 1, self.clip_stride))

    def __len__(self) -> int:
        return len(self.starts)

    def _frame(self, path: Path) -> np.ndarray:
        import cv2

        rgb = load_image(path)
        h, w = rgb.shape[:2]
        if self.max_side and max(h, w) > self.max_side:
            k = self.max_side / max(h, w)
            rgb = cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
        return rgb

    def clip(self, index: int) -> TrackClip:
        start = self.starts[index]
        span = self.paths[start:start + (self.n_frames - 1) * self.frame_step + 1]
        params = {"source": self.name, "frames": [(p.name, file_sha1(p)[:12]) for p in span], "grid": self.grid,
                  "tracker": self.tracker, "fb": self.fb_threshold, "step": self.frame_step,
                  "max_side": self.max_side}

        def build() -> TrackClip:
            frames = [self._frame(p) for p in span]
            h, w = frames[0].shape[:2]
            pos, vis = chain_tracks(frames, grid_queries(w, h, self.grid), self.tracker, self.fb_threshold)
            keep = slice(None, None, self.frame_step)
            return TrackClip(f"{self.video}-{start:05d}", np.stack(frames[keep]), pos[:, keep], vis[:, keep],
                             self.name, {"start": start, "tracker": self.tracker})

        return cached_clip(params, build)
