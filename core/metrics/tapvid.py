"""Point-tracking metrics: TAP-Vid (OA, delta_avg, AJ) and BADJA's mask-normalised PCK.

TAP-Vid (Doersch et al., 2022), computed per video in a 256 x 256 raster (points are rescaled from
the frame size first, see :func:`rescale_to_256`). For Q query tracks over T frames, an evaluation
mask E (Q, T) keeps the frames that count: query mode "first" evaluates frames strictly AFTER the
query frame, "strided" every frame except the query frame. With V = ground-truth visible, P =
predicted visible and W_d = ||pred - gt|| < d (strict) for d in {1, 2, 4, 8, 16} px:

* occlusion accuracy  OA = sum(E & (P == V)) / sum(E)
* position accuracy   pts_within_d = sum(E & V & W_d) / sum(E & V);  delta_avg = mean_d
* Jaccard             J_d = TP / (TP + FN + FP) = sum(E & V & W_d & P) /
                            (sum(E & V) + sum(E & P & (~V | ~W_d)));  AJ = mean_d J_d

Query sampling: "first" takes, per track, its first visible frame; "strided" takes every
``stride``-th frame (0, 5, 10, ...) and makes one query of each track visible there.

BADJA (Biggs et al., 2018): a joint is correct when ||pred - gt|| <= alpha * sqrt(mask area) of
that frame [alpha 0.2]; the score is the fraction correct over visible, annotated, non-query frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..errors import InputMismatchError

TAPVID_THRESHOLDS: tuple[int, ...] = (1, 2, 4, 8, 16)
TAPVID_SIZE = 256
QueryMode = Literal["first", "strided"]


def _np(x: Any, dtype: Any = None) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


@dataclass(frozen=True, eq=False)
class QuerySet:
    """Query points: track ``point_index`` (Q,) queried at frame ``frame`` (Q,) at pixel ``xy`` (Q, 2)."""

    point_index: np.ndarray
    frame: np.ndarray
    xy: np.ndarray
    mode: str

    def __len__(self) -> int:
        return int(self.point_index.shape[0])


def sample_queries(points: np.ndarray, occluded: np.ndarray, mode: QueryMode = "first",
                   stride: int = 5) -> QuerySet:
    """TAP-Vid query sampling from tracks ``points`` (N, T, 2) and ``occluded`` (N, T).

    Tracks never visible produce no query. In "strided" mode a track yields one query per visible
    strided frame, so one track may appear several times.
    """
    pts, occ = _np(points, np.float64), _np(occluded, bool)
    if pts.shape[:2] != occ.shape:
        raise InputMismatchError(f"points {pts.shape} and occluded {occ.shape} disagree on (N, T)")
    vis = ~occ
    if mode == "first":
        idx = np.flatnonzero(vis.any(axis=1))
        frames = np.argmax(vis[idx], axis=1)
    elif mode == "strided":
        if stride < 1:
            raise ValueError(f"query stride must be >= 1, got {stride}")
        idx_l, fr_l = [], []
        for t in range(0, occ.shape[1], stride):
            sel = np.flatnonzero(vis[:, t])
            idx_l.append(sel)
            fr_l.append(np.full(len(sel), t, dtype=np.int64))
        idx = np.concatenate(idx_l) if idx_l else np.zeros(0, np.int64)
        frames = np.concatenate(fr_l) if fr_l else np.zeros(0, np.int64)
    else:
        raise ValueError(f"unknown query mode {mode!r}; choose 'first' or 'strided'")
    idx, frames = idx.astype(np.int64), frames.astype(np.int64)
    return QuerySet(idx, frames, pts[idx, frames].reshape(-1, 2), mode)


def evaluation_mask(query_frames: np.ndarray, n_frames: int, mode: QueryMode) -> np.ndarray:
    """(Q, T) bool: frames evaluated for each query ("first": t > q; "strided": t != q)."""
    q = np.round(_np(query_frames, np.float64)).astype(np.int64)[:, None]
    t = np.arange(n_frames)[None, :]
    if mode == "first":
        return t > q
    if mode == "strided":
        return t != q
    raise ValueError(f"unknown query mode {mode!r}; choose 'first' or 'strided'")


def rescale_to_256(xy: np.ndarray, image_size: tuple[int, int], size: int = TAPVID_SIZE) -> np.ndarray:
    """Pixel ``(x, y)`` in a ``(W, H)`` frame -> the ``size x size`` raster: x * size / W, y * size / H."""
    arr = _np(xy, np.float64)
    w, h = float(image_size[0]), float(image_size[1])
    return arr * np.array([size / w, size / h])


@dataclass(frozen=True)
class TapVidScores:
    """TAP-Vid metrics of one video (fractions in [0, 1]; NaN when nothing was evaluable)."""

    occlusion_accuracy: float
    pts_within: dict[int, float]
    jaccard: dict[int, float]
    average_pts_within: float  # delta_avg
    average_jaccard: float
    n_queries: int
    query_mode: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"occlusion_accuracy": self.occlusion_accuracy, "delta_avg": self.average_pts_within,
                "average_jaccard": self.average_jaccard,
                "pts_within": {str(k): v for k, v in self.pts_within.items()},
                "jaccard": {str(k): v for k, v in self.jaccard.items()},
                "n_queries": self.n_queries, "query_mode": self.query_mode}


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b > 0 else float("nan")


def tapvid_metrics(query_frames: np.ndarray, gt_tracks: np.ndarray, gt_occluded: np.ndarray,
                   pred_tracks: np.ndarray, pred_occluded: np.ndarray, query_mode: QueryMode,
                   thresholds: tuple[float, ...] = TAPVID_THRESHOLDS,
                   valid: np.ndarray | None = None) -> TapVidScores:
    """TAP-Vid metrics for one video (formulas in the module docstring).

    Tracks are (Q, T, 2) in the 256 x 256 raster (use :func:`rescale_to_256`), occlusion flags
    (Q, T) bool (True = occluded), ``query_frames`` (Q,). ``valid`` (Q, T), optional, further
    restricts the evaluated frames (e.g. frames with ground truth).
    """
    gt, pred = _np(gt_tracks, np.float64), _np(pred_tracks, np.float64)
    gocc, pocc = _np(gt_occluded, bool), _np(pred_occluded, bool)
    if gt.shape != pred.shape or gt.ndim != 3 or gt.shape[2] != 2:
        raise InputMismatchError(f"gt_tracks {gt.shape} and pred_tracks {pred.shape} must both be (Q, T, 2)")
    if gocc.shape != gt.shape[:2] or pocc.shape != gt.shape[:2]:
        raise InputMismatchError(f"occlusion flags {gocc.shape} / {pocc.shape} must be (Q, T) = {gt.shape[:2]}")
    qf = _np(query_frames)
    if qf.shape != (gt.shape[0],):
        raise InputMismatchError(f"query_frames {qf.shape} must be (Q,) with Q = {gt.shape[0]}")
    ev = evaluation_mask(qf, gt.shape[1], query_mode)
    if valid is not None:
        ev = ev & _np(valid, bool)
    vis, pvis = ~gocc, ~pocc
    oa = _div(np.sum(ev & (pvis == vis)), np.sum(ev))
    dist2 = np.sum((pred - gt) ** 2, axis=-1)
    within: dict[int, float] = {}
    jac: dict[int, float] = {}
    n_vis = np.sum(ev & vis)
    for d in thresholds:
        ok = dist2 < float(d) ** 2
        correct = ev & vis & ok
        within[d] = _div(np.sum(correct), n_vis)
        tp = np.sum(correct & pvis)
        fp = np.sum(ev & pvis & (~vis | ~ok))
        jac[d] = _div(tp, n_vis + fp)
    return TapVidScores(oa, within, jac, float(np.mean(list(within.values()))),
                        float(np.mean(list(jac.values()))), int(gt.shape[0]), str(query_mode))


def mean_over_videos(scores: list[TapVidScores]) -> dict[str, float]:
    """Dataset-level TAP-Vid numbers: plain mean of the per-video metrics (NaN videos ignored)."""
    def m(vals: list[float]) -> float:
        arr = np.asarray(vals, dtype=np.float64)
        arr = arr[np.isfinite(arr)]
        return float(arr.mean()) if arr.size else float("nan")

    out = {"occlusion_accuracy": m([s.occlusion_accuracy for s in scores]),
           "delta_avg": m([s.average_pts_within for s in scores]),
           "average_jaccard": m([s.average_jaccard for s in scores]), "n_videos": float(len(scores))}
    if scores:
        for d in scores[0].pts_within:
            out[f"pts_within_{d}"] = m([s.pts_within[d] for s in scores])
            out[f"jaccard_{d}"] = m([s.jaccard[d] for s in scores])
    return out


@dataclass(frozen=True)
class BadjaScores:
    """BADJA PCK of one clip: fraction of evaluated joints within alpha * sqrt(mask area)."""

    pck: float
    n_correct: int
    n_evaluated: int
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return {"pck": self.pck, "n_correct": self.n_correct, "n_evaluated": self.n_evaluated,
                "alpha": self.alpha}


def badja_pck(query_frames: np.ndarray, gt_tracks: np.ndarray, gt_occluded: np.ndarray,
              pred_tracks: np.ndarray, mask_area: np.ndarray, valid: np.ndarray | None = None,
              alpha: float = 0.2) -> BadjaScores:
    """BADJA PCK@alpha: correct if ||pred - gt|| <= alpha * sqrt(mask_area[t]).

    Tracks (Q, T, 2) in the pixels the mask area was measured in; ``mask_area`` (T,); evaluated
    entries are ground-truth visible, ``valid`` (annotated) when given, with a finite positive
    mask area, and not the query frame itself.
    """
    gt, pred = _np(gt_tracks, np.float64), _np(pred_tracks, np.float64)
    if gt.shape != pred.shape:
        raise InputMismatchError(f"gt_tracks {gt.shape} and pred_tracks {pred.shape} differ")
    area = _np(mask_area, np.float64)
    if area.shape != (gt.shape[1],):
        raise InputMismatchError(f"mask_area {area.shape} must be (T,) with T = {gt.shape[1]}")
    ev = evaluation_mask(_np(query_frames), gt.shape[1], "strided") & ~_np(gt_occluded, bool)
    if valid is not None:
        ev &= _np(valid, bool)
    ok_area = np.isfinite(area) & (area > 0)
    ev &= ok_area[None, :]
    thr = alpha * np.sqrt(np.where(ok_area, area, 0.0))
    dist = np.linalg.norm(pred - gt, axis=-1)
    correct = ev & (dist <= thr[None, :])
    n_ev, n_ok = int(ev.sum()), int(correct.sum())
    return BadjaScores(_div(n_ok, n_ev), n_ok, n_ev, float(alpha))
