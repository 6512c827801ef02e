"""One-shot pose of a query image against an onboarded database (seed 000 A.10).

1. Dense mutual nearest neighbours (cosine similarity of L2-normalised features) between every
   ``stride``-th cell of the query grid (inside the image, optionally inside a mask) and every
   database point: a query cell and a database point match when each is the other's nearest.
2. Each match is a 2D-3D correspondence: the query cell centre (image pixels) and the database
   point's object coordinates.
3. EPnP inside RANSAC (OpenCV ``solvePnPRansac``, reprojection threshold [8] px as in the
   reference code), then optional Levenberg-Marquardt refinement on the inliers
   (``solvePnPRefineLM``); the inliers are recounted under the final pose.

The result is the object-to-camera pose, the inlier count and the inlier ratio (the confidence).
A query that cannot give a pose (fewer than ``min_matches`` matches, RANSAC without consensus,
fewer than ``min_inliers`` inliers, the object behind the camera) returns ``found=False`` with the
reason, never a pose.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .database import PoseDatabase, cell_selection, informative

if TYPE_CHECKING:  # pragma: no cover
    from ..features import FeatureMap


@dataclass(frozen=True)
class PoseOptions:
    stride: int = 1  # query cells (the database has its own, chosen at onboarding)
    threshold_px: float = 8.0
    refine: bool = True
    min_matches: int = 6
    min_inliers: int = 6
    iterations: int = 1000
    confidence: float = 0.999
    seed: int = 0

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ValueError(f"stride must be at least 1, got {self.stride}")
        if self.threshold_px <= 0:
            raise ValueError(f"the reprojection threshold must be positive, got {self.threshold_px}")
        if self.min_matches < 4 or self.min_inliers < 4:
            raise ValueError("PnP needs at least 4 correspondences (min_matches / min_inliers >= 4)")

    def to_dict(self) -> dict[str, Any]:
        return {"query_stride_cells": self.stride, "pnp": "EPnP in RANSAC (cv2.solvePnPRansac)",
                "reprojection_threshold_px": self.threshold_px, "ransac_iterations": self.iterations,
                "ransac_confidence": self.confidence, "refinement": "solvePnPRefineLM on inliers" if self.refine
                else None, "min_matches": self.min_matches, "min_inliers": self.min_inliers,
                "matching": "dense mutual nearest neighbours, cosine similarity, query cells vs every database point"}


@dataclass
class PoseEstimate:
    """A pose (``found``) or the reason there is none. ``rotation``/``translation``: object to camera."""

    found: bool
    reason: str
    rotation: np.ndarray | None = None
    translation: np.ndarray | None = None
    n_matches: int = 0
    n_inliers: int = 0
    query_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    object_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    ref_view: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    db_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # database row of each match
    inliers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    refined: bool = False
    seconds: float = 0.0

    @property
    def inlier_ratio(self) -> float:
        """The confidence: inliers / matches (0 without matches)."""
        return self.n_inliers / self.n_matches if self.n_matches else 0.0

    @property
    def object_to_camera(self) -> np.ndarray | None:
        if not self.found:
            return None
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.rotation, self.translation
        return m

    def to_dict(self) -> dict[str, Any]:
        return {"found": self.found, "reason": self.reason, "n_matches": self.n_matches,
                "n_inliers": self.n_inliers, "inlier_ratio": self.inlier_ratio, "refined": self.refined,
                "object_to_camera": None if not self.found else self.object_to_camera.tolist(),
                "seconds": self.seconds}


def mutual_nn(query: torch.Tensor, db: torch.Tensor, budget: int = 1 << 23) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mutual nearest neighbours of unit rows: (query index (K,), database index (K,), cosine (K,)).

    One pass over the similarity matrix in row chunks: each chunk gives its rows' argmax and
    updates every database column's running best query (ties keep the lowest index).
    """
    m, n = len(query), len(db)
    if m == 0 or n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    fwd = torch.empty(m, dtype=torch.long)
    fwd_s = torch.empty(m)
    col_best = torch.full((n,), -float("inf"))
    col_arg = torch.zeros(n, dtype=torch.long)
    step = max(1, budget // n)
    dbt = db.T.contiguous()
    for a in range(0, m, step):
        sim = query[a:a + step] @ dbt
        fwd_s[a:a + step], fwd[a:a + step] = sim.max(dim=1)
        cbest, carg = sim.max(dim=0)
        better = cbest > col_best
        col_best = torch.where(better, cbest, col_best)
        col_arg = torch.where(better, carg + a, col_arg)
    qi = torch.arange(m)
    keep = col_arg[fwd] == qi
    return qi[keep].numpy(), fwd[keep].numpy(), fwd_s[keep].numpy().astype(np.float64)


def query_cells(fm: FeatureMap, stride: int = 1, mask: np.ndarray | None = None) -> tuple[np.ndarray, torch.Tensor]:
    """Image coordinates (M, 2) and unit features (M, D) of the query cells.

    ``mask`` (H, W) bool restricts them to cells whose centre pixel is on it (e.g. a detection).
    """
    idx, xy = cell_selection(fm, stride)
    unit = fm.unit()[torch.from_numpy(idx)]
    keep = informative(unit)
    if mask is not None:
        m = np.asarray(mask, bool)
        c = np.clip(np.floor(xy[:, 0]).astype(int), 0, m.shape[1] - 1)
        r = np.clip(np.floor(xy[:, 1]).astype(int), 0, m.shape[0] - 1)
        keep &= m[r, c]
    sel = np.flatnonzero(keep)
    return xy[sel], unit[torch.from_numpy(sel)]


def reprojection_errors(points: np.ndarray, xy: np.ndarray, K: np.ndarray, rot: np.ndarray, t: np.ndarray) -> np.ndarray:
    cam = points @ rot.T + t.reshape(1, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        proj = cam @ np.asarray(K, np.float64).T
        proj = proj[:, :2] / proj[:, 2:3]
    err = np.linalg.norm(proj - xy, axis=1)
    return np.where(cam[:, 2] > 0, err, np.inf)


def solve_pnp(points: np.ndarray, xy: np.ndarray, K: np.ndarray, options: PoseOptions | None = None) -> PoseEstimate:
    """EPnP + RANSAC (+ LM refinement) on 2D-3D correspondences; see the module docstring."""
    import cv2

    o = options or PoseOptions()
    t0 = time.perf_counter()
    pts = np.ascontiguousarray(points, np.float64).reshape(-1, 3)
    img = np.ascontiguousarray(xy, np.float64).reshape(-1, 2)
    n = len(pts)
    base = {"n_matches": n, "query_xy": img, "object_points": pts}
    if n < o.min_matches:
        return PoseEstimate(False, f"no pose: {n} 2D-3D matches, at least {o.min_matches} needed "
                                   "(object not visible or not recognised)", **base,
                            seconds=time.perf_counter() - t0)
    cv2.setRNGSeed(o.seed)
    K64 = np.asarray(K, np.float64)
    try:
        ok, rvec, tvec, inl = cv2.solvePnPRansac(pts[:, None], img[:, None], K64, None,
                                                 iterationsCount=o.iterations, reprojectionError=o.threshold_px,
                                                 confidence=o.confidence, flags=cv2.SOLVEPNP_EPNP)
    except cv2.error as exc:
        return PoseEstimate(False, f"no pose: PnP failed ({str(exc).strip().splitlines()[-1]})", **base,
                            seconds=time.perf_counter() - t0)
    if not ok or inl is None or len(inl) < o.min_inliers:
        k = 0 if inl is None else len(inl)
        return PoseEstimate(False, f"no pose: RANSAC found {k} inliers within {o.threshold_px:g} px of "
                                   f"{n} matches, at least {o.min_inliers} needed", **base,
                            seconds=time.perf_counter() - t0)
    refined = False
    if o.refine:
        sel = inl.ravel()
        rvec, tvec = cv2.solvePnPRefineLM(pts[sel][:, None], img[sel][:, None], K64, None, rvec.copy(), tvec.copy())
        refined = True
    rot = cv2.Rodrigues(rvec)[0]
    t = tvec.reshape(3)
    errs = reprojection_errors(pts, img, K64, rot, t)
    inliers = np.flatnonzero(errs < o.threshold_px)
    if len(inliers) < o.min_inliers:
        return PoseEstimate(False, f"no pose: {len(inliers)} inliers under the final pose, at least "
                                   f"{o.min_inliers} needed", **base, seconds=time.perf_counter() - t0)
    if not np.all(np.isfinite(rot)) or not np.isfinite(t).all() or t[2] <= 0:
        return PoseEstimate(False, "no pose: the estimate puts the object behind the camera", **base,
                            seconds=time.perf_counter() - t0)
    return PoseEstimate(True, "", rot, t, n, len(inliers), img, pts, inliers=inliers, refined=refined,
                        seconds=time.perf_counter() - t0)


def estimate_pose(query: FeatureMap, db: PoseDatabase, K: np.ndarray, options: PoseOptions | None = None,
                  mask: np.ndarray | None = None) -> PoseEstimate:
    """Pose of the object in the query image (features ``query``, intrinsics ``K`` of its pixels)."""
    from ..errors import InputMismatchError

    o = options or PoseOptions()
    t0 = time.perf_counter()
    if db.dim and query.dim != db.dim:
        raise InputMismatchError(f"query features have {query.dim} dims, the database {db.dim} "
                                 "(built with another backbone?)")
    xy, feats = query_cells(query, o.stride, mask)
    if len(xy) == 0:
        return PoseEstimate(False, "no pose: the query has no informative cell (empty mask or blank image)",
                            seconds=time.perf_counter() - t0)
    qi, dj, _ = mutual_nn(feats, db.features)
    est = solve_pnp(db.points[dj], xy[qi], K, o)
    est.ref_view = db.view_ids[dj]
    est.db_index = dj
    est.seconds = time.perf_counter() - t0
    return est
