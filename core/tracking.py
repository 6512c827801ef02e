"""Video frames and point tracking with features (seed 000 A.10), used by the app and the benchmarks.

A query point is matched from its query frame's features into every frame independently (no
temporal model): the nearest-neighbour cell gives the peak, a soft-argmax over the cells within
``radius_px`` [35] image pixels of the peak refines it. The argmax only looks at cells covered by
the image (canvas padding excluded).

Occlusion rules (``occlusion=``):

* ``absolute`` (A.10, the benchmarks' default): occluded where the peak cosine similarity is below
  ``occlusion_threshold`` [0.5]. Confidence = the peak similarity.
* ``relative``: the peak is compared with the query's own similarity distribution in its query
  frame, ``c = (peak - median) / (self - median)`` with ``self`` the query's similarity at its own
  position and ``median`` over the frame's cells; occluded where ``c < relative_threshold``.
  Weight-free descriptors peak at 0.8-0.9 everywhere, so an absolute threshold flags nothing.
* ``cycle``: the match in frame t is tracked back into the query frame; occluded where it lands
  more than ``cycle_cells`` feature cells from the query (a cycle-consistency check, independent
  of the similarity scale). Confidence = ``c`` clipped to [0, 1], zero where the cycle fails.
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


OCCLUSION_RULES = {"absolute": "peak similarity below a fixed threshold (A.10)",
                   "relative": "peak relative to the query's own similarity distribution",
                   "cycle": "tracking back to the query frame misses the query"}


@dataclass
class Track:
    """Tracks of N points over T frames.

    ``confidence`` (T, N) in [0, 1] is what the occlusion rule thresholds (see the module
    docstring); ``cycle_error`` (T, N) the back-tracking error in image pixels (``cycle`` rule).
    """

    xy: np.ndarray  # (T, N, 2) image coordinates
    visible: np.ndarray  # (T, N) bool
    score: np.ndarray  # (T, N) cosine similarity at the match
    query_frame: int
    seconds: float = 0.0
    confidence: np.ndarray | None = None
    rule: str = "absolute"
    cycle_error: np.ndarray | None = None
    query_frames: np.ndarray | None = None  # (N,) each point's query frame (None: all ``query_frame``)
    query_xy: np.ndarray | None = None  # (N, 2) each point's query position

    def point_query_frames(self) -> np.ndarray:
        if self.query_frames is not None:
            return np.asarray(self.query_frames, dtype=np.int64)
        return np.full(self.num_points, self.query_frame, dtype=np.int64)

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
    inside = ((centres[None] - centres[flat_peak][:, None]) ** 2).sum(-1) <= radius_px ** 2  # exact, no cdist matmul
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


def query_self_similarity(query: torch.Tensor, fm: FeatureMap, points_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The query features' similarity distribution in their own frame: (self (N,), median (N,)).

    ``self``: the peak within one cell of each query's position (its own match); ``median``: over
    the cells covered by the image. What a peak elsewhere is measured against (``relative`` rule).
    """
    from .matching import similarity_to_grid

    sim = similarity_to_grid(query, fm)  # (N, h, w)
    content = torch.from_numpy(fm.transform.content_mask())
    median = sim[:, content].median(dim=1).values.double().numpy()
    centres = np.asarray(fm.cell_centers(), dtype=np.float64)  # (h, w, 2)
    pitch = cell_pitch(fm)
    own = np.empty(len(points_xy))
    flat = sim.reshape(len(points_xy), -1).double().numpy()
    for i, p in enumerate(np.asarray(points_xy, dtype=np.float64)):
        near = np.linalg.norm(centres.reshape(-1, 2) - p, axis=1) <= 1.5 * pitch
        own[i] = flat[i, near].max() if near.any() else flat[i].max()
    return own, median


def cell_pitch(fm: FeatureMap) -> float:
    """Distance between neighbouring feature cells in image pixels."""
    c = np.asarray(fm.cell_centers(), dtype=np.float64)
    steps = [np.linalg.norm(c[0, 1] - c[0, 0]) if c.shape[1] > 1 else 0.0,
             np.linalg.norm(c[1, 0] - c[0, 0]) if c.shape[0] > 1 else 0.0]
    return float(max(steps)) or 1.0


def relative_confidence(score: np.ndarray, own: np.ndarray, median: np.ndarray) -> np.ndarray:
    """``(score - median) / (self - median)`` per query (rows of ``score`` (N, T)), clipped to [0, 1]."""
    span = np.maximum(own - median, 1e-6)[:, None]
    return np.clip((score - median[:, None]) / span, 0.0, 1.0)


def cycle_errors(maps: Sequence[FeatureMap], query_frame: int, points_xy: np.ndarray, xy: np.ndarray,
                 method: str, radius_px: float, beta: float, progress: Progress | None = None) -> np.ndarray:
    """Back-tracking error (N, T) in image pixels: the features at ``xy`` (N, T, 2) of each frame are
    located in the query frame, and compared with the queries ``points_xy`` (N, 2)."""
    n, t = xy.shape[:2]
    qmap = maps[query_frame]
    err = np.zeros((n, t))
    for f, fm in enumerate(maps):
        if f == query_frame:
            continue
        back, _ = track_features(fm.sample(xy[:, f]), [qmap], method, radius_px, beta)
        err[:, f] = np.linalg.norm(back[:, 0] - points_xy, axis=1)
        if progress is not None:
            progress.step()
    return err


def track_points(maps: Sequence[FeatureMap], query_frame: int, points_xy: np.ndarray, radius_px: float = 35.0,
                 beta: float = 0.02, occlusion_threshold: float = 0.5, method: str = "soft-argmax",
                 progress: Progress | None = None, occlusion: str = "absolute", relative_threshold: float = 0.5,
                 cycle_cells: float = 2.0) -> Track:
    """Track image points of ``maps[query_frame]`` through every frame (see the module docstring).

    ``occlusion`` picks the rule that decides visibility: ``absolute`` (peak >= ``occlusion_threshold``),
    ``relative`` (relative confidence >= ``relative_threshold``) or ``cycle`` (back-tracking lands
    within ``cycle_cells`` feature cells of the query). In the query frame a point is always
    visible at its own position, with confidence 1.
    """
    t0 = time.perf_counter()
    if not maps:
        raise InputMismatchError("no frames to track through")
    if not 0 <= query_frame < len(maps):
        raise InputMismatchError(f"query frame {query_frame} is outside 0..{len(maps) - 1}")
    if occlusion not in OCCLUSION_RULES:
        raise InputMismatchError(f"unknown occlusion rule {occlusion!r}; choose one of {', '.join(OCCLUSION_RULES)}")
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if progress is not None:
        progress.start(len(maps) * 2 - 1 if occlusion == "cycle" else len(maps), "tracking")
    query = maps[query_frame].sample(pts)
    xy, score = track_features(query, maps, method, radius_px, beta, progress=progress)
    xy[:, query_frame], score[:, query_frame] = pts, 1.0
    cycle = None
    if occlusion == "absolute":
        confidence = np.clip(score, 0.0, 1.0)
        visible = score >= occlusion_threshold
    else:
        own, median = query_self_similarity(query, maps[query_frame], pts)
        confidence = relative_confidence(score, own, median)
        visible = confidence >= relative_threshold
        if occlusion == "cycle":
            cycle = cycle_errors(maps, query_frame, pts, xy, method, radius_px, beta, progress)
            visible = cycle <= cycle_cells * cell_pitch(maps[query_frame])
            confidence = np.where(visible, confidence, 0.0)
    visible[:, query_frame] = True
    confidence[:, query_frame] = 1.0
    return Track(xy.transpose(1, 0, 2), visible.T, score.T, query_frame, time.perf_counter() - t0,
                 confidence=confidence.T, rule=occlusion, cycle_error=None if cycle is None else cycle.T,
                 query_frames=np.full(len(pts), query_frame, np.int64), query_xy=pts.copy())


RULE_PARAMETER = {"absolute": "occlusion_threshold", "relative": "relative_threshold", "cycle": "cycle_cells"}


def track_query_points(maps: Sequence[FeatureMap], queries: Sequence[tuple[int, float, float]],
                       occlusion: str = "cycle", value: float | None = None, method: str = "soft-argmax",
                       radius_px: float = 35.0, beta: float = 0.02, progress: Progress | None = None) -> Track:
    """Several tracks at once: ``queries`` (frame, x, y), each from its own frame, in one Track
    (points in the order given). ``value`` is the threshold of the rule (see ``RULE_PARAMETER``)."""
    if not queries:
        raise InputMismatchError("no query points to track")
    if occlusion not in RULE_PARAMETER:
        raise InputMismatchError(f"unknown occlusion rule {occlusion!r}; choose one of {', '.join(OCCLUSION_RULES)}")
    t0 = time.perf_counter()
    q = np.asarray([[f, x, y] for f, x, y in queries], dtype=np.float64)
    frames = q[:, 0].astype(np.int64)
    kw = {} if value is None else {RULE_PARAMETER[occlusion]: float(value)}
    parts: list[tuple[np.ndarray, Track]] = []
    for f in np.unique(frames):
        sel = np.flatnonzero(frames == f)
        parts.append((sel, track_points(maps, int(f), q[sel, 1:], radius_px, beta, method=method,
                                        occlusion=occlusion, progress=progress, **kw)))
    n, t = len(q), len(maps)
    out = Track(np.zeros((t, n, 2)), np.zeros((t, n), bool), np.zeros((t, n)), int(frames[0]),
                confidence=np.zeros((t, n)), rule=occlusion, query_frames=frames, query_xy=q[:, 1:].copy(),
                cycle_error=np.zeros((t, n)) if occlusion == "cycle" else None)
    for sel, part in parts:
        out.xy[:, sel], out.visible[:, sel], out.score[:, sel] = part.xy, part.visible, part.score
        out.confidence[:, sel] = part.confidence
        if out.cycle_error is not None:
            out.cycle_error[:, sel] = part.cycle_error
    out.seconds = time.perf_counter() - t0
    return out
