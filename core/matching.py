"""Matching on feature grids, in image pixel coordinates in and out.

Similarity is the cosine of L2-normalised features (method spec section 0). Matchers:
nearest neighbour (argmax), mutual nearest neighbour, window soft-argmax (softmax of similarity /
beta restricted to a window of ``radius`` cells around the argmax; expectation of coordinates) and
the combined similarity ``(1 - alpha) * cos(feat) + alpha * cos(sphere)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from .errors import InputMismatchError
from .features import FeatureMap

Matcher = Literal["nn", "mnn", "soft-argmax", "combined"]
MATCHERS: tuple[str, ...] = ("nn", "mnn", "soft-argmax", "combined")


@dataclass
class Matches:
    """Point matches between a source and a target image (image pixel coordinates)."""

    src_xy: np.ndarray  # (N, 2)
    trg_xy: np.ndarray  # (N, 2)
    score: np.ndarray  # (N,) cosine similarity at the match
    valid: np.ndarray  # (N,) bool (e.g. mutual for mnn; foreground)
    method: str
    # soft-argmax / combined: the peak probability of softmax(similarity / beta) over the whole grid
    confidence: np.ndarray | None = None
    # (N, gh, gw) the similarity the matcher used (feature, or combined), when asked for (keep_similarity)
    similarity: torch.Tensor | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.src_xy)

    def to_records(self) -> list[dict]:
        rows = [{"src_x": float(s[0]), "src_y": float(s[1]), "trg_x": float(t[0]), "trg_y": float(t[1]),
                 "score": float(c), "valid": bool(v)}
                for s, t, c, v in zip(self.src_xy, self.trg_xy, self.score, self.valid, strict=True)]
        if self.confidence is not None:
            for r, c in zip(rows, self.confidence, strict=True):
                r["confidence"] = float(c)
        return rows


def _as_points(xy: np.ndarray | list) -> np.ndarray:
    pts = np.asarray(xy, dtype=np.float64)
    if pts.ndim == 1 and pts.size == 2:
        pts = pts[None]
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InputMismatchError(f"points must have shape (N, 2), got {pts.shape}")
    return pts


def similarity_to_grid(query: torch.Tensor, trg: FeatureMap) -> torch.Tensor:
    """Cosine similarity of query features (N, D) to every target cell -> (N, grid_h, grid_w)."""
    if query.shape[1] != trg.dim:
        raise InputMismatchError(f"feature dims differ: query {query.shape[1]}, target {trg.dim}")
    q = torch.nn.functional.normalize(query.float(), dim=1)
    return (q @ trg.unit().T).reshape(-1, *trg.grid_shape)


def similarity_map(src: FeatureMap, points_xy: np.ndarray, trg: FeatureMap) -> torch.Tensor:
    """Similarity maps of source image points against the target grid: (N, grid_h, grid_w)."""
    return similarity_to_grid(src.sample(_as_points(points_xy)), trg)


def combine_similarity(sim_feat: torch.Tensor, sim_sphere: torch.Tensor, alpha: float = 0.2) -> torch.Tensor:
    """``(1 - alpha) * sim_feat + alpha * sim_sphere`` (both cosine maps of the same shape)."""
    if sim_feat.shape != sim_sphere.shape:
        raise InputMismatchError(f"similarity maps differ in shape: {tuple(sim_feat.shape)} vs {tuple(sim_sphere.shape)}")
    return (1.0 - alpha) * sim_feat + alpha * sim_sphere


def argmax_cells(sim: torch.Tensor) -> torch.Tensor:
    """Integer (row, col) of the maximum of each map (N, h, w) -> (N, 2)."""
    n, _, w = sim.shape
    flat = sim.reshape(n, -1).argmax(dim=1)
    return torch.stack([flat // w, flat % w], dim=1)


def window_soft_argmax(sim: torch.Tensor, radius: int = 7, beta: float = 0.02) -> torch.Tensor:
    """Sub-cell peak of each map (N, h, w): softmax(sim / beta) inside a (2r+1)^2 window at the argmax.

    Returns continuous grid coordinates (N, 2) as (u, v) = (col, row), cell centres at integers.
    """
    n, h, w = sim.shape
    peak = argmax_cells(sim)
    rows = torch.arange(h, device=sim.device).view(1, h, 1)
    cols = torch.arange(w, device=sim.device).view(1, 1, w)
    inside = ((rows - peak[:, 0].view(n, 1, 1)).abs() <= radius) & ((cols - peak[:, 1].view(n, 1, 1)).abs() <= radius)
    logits = (sim.float() / beta).masked_fill(~inside, float("-inf"))
    prob = torch.softmax(logits.reshape(n, -1), dim=1).reshape(n, h, w)
    v = (prob.sum(dim=2) * torch.arange(h, device=sim.device, dtype=prob.dtype)).sum(dim=1)
    u = (prob.sum(dim=1) * torch.arange(w, device=sim.device, dtype=prob.dtype)).sum(dim=1)
    return torch.stack([u, v], dim=1)


def _mask_tensor(mask: np.ndarray | None, fm: FeatureMap) -> torch.Tensor | None:
    if mask is None:
        return None
    m = torch.from_numpy(np.asarray(mask, dtype=bool))
    if tuple(m.shape) != fm.grid_shape:
        raise InputMismatchError(f"mask shape {tuple(m.shape)} does not match the grid {fm.grid_shape}")
    return m


def match_points(src: FeatureMap, trg: FeatureMap, points_xy: np.ndarray, method: str = "nn",
                 radius: int = 7, beta: float = 0.02, trg_mask: np.ndarray | None = None,
                 sphere: tuple[FeatureMap, FeatureMap] | None = None, alpha: float = 0.2,
                 keep_similarity: bool = False) -> Matches:
    """Match source image points into the target image.

    ``method``: ``nn`` (argmax cell centre), ``mnn`` (argmax, valid only if the target cell's own
    nearest neighbour in the source is the query's cell), ``soft-argmax`` (window soft-argmax) or
    ``combined`` (window soft-argmax on the combined feature + sphere similarity; needs ``sphere``).
    ``trg_mask`` (grid-shaped bool) restricts matches to target foreground cells. One similarity
    computation per call gives the match, its score, its confidence (soft-argmax methods) and, with
    ``keep_similarity``, the (N, gh, gw) similarity itself (e.g. for a heatmap).
    """
    if method not in MATCHERS:
        raise ValueError(f"unknown matcher {method!r}; choose one of {', '.join(MATCHERS)}")
    pts = _as_points(points_xy)
    sim = similarity_map(src, pts, trg)
    if method == "combined":
        if sphere is None:
            raise ValueError("the combined matcher needs sphere maps (src_sphere, trg_sphere)")
        sim = combine_similarity(sim, similarity_map(sphere[0], pts, sphere[1]), alpha)
    m = _mask_tensor(trg_mask, trg)
    if m is not None:
        sim = sim.masked_fill(~m[None], -2.0)
    cells = argmax_cells(sim)
    confidence = None
    if method in ("soft-argmax", "combined"):
        uv = window_soft_argmax(sim, radius, beta).double().numpy()
        confidence = torch.softmax(sim.reshape(len(pts), -1) / beta, dim=1).max(dim=1).values.double().numpy()
    else:
        uv = cells.flip(1).double().numpy()
    trg_xy = trg.transform.grid_to_image(uv)
    score = sim[torch.arange(len(pts)), cells[:, 0], cells[:, 1]].numpy().astype(np.float64)
    valid = np.ones(len(pts), dtype=bool)
    if method == "mnn":
        back = similarity_to_grid(trg.unit().reshape(*trg.grid_shape, -1)[cells[:, 0], cells[:, 1]], src)
        back_cells = argmax_cells(back).numpy()
        valid = np.all(back_cells == src.transform.image_to_cell(pts), axis=1)
    if m is not None:
        valid &= m[cells[:, 0], cells[:, 1]].numpy()
    return Matches(pts, trg_xy, score, valid, method, confidence, sim if keep_similarity else None)


def dense_matches(src: FeatureMap, trg: FeatureMap, src_mask: np.ndarray | None = None,
                  trg_mask: np.ndarray | None = None, mutual: bool = True, chunk: int = 4096) -> Matches:
    """All-to-all matching of two grids: every (foreground) source cell to its target nearest neighbour.

    With ``mutual`` only mutual nearest neighbours are kept valid. Masks default to the cells covered by
    each image (padding excluded).
    """
    sm = src.foreground() if src_mask is None else np.asarray(src_mask, bool)
    tm = trg.foreground() if trg_mask is None else np.asarray(trg_mask, bool)
    s_idx = np.flatnonzero(sm.ravel())
    t_idx = np.flatnonzero(tm.ravel())
    su = src.unit()[torch.from_numpy(s_idx)]
    tu = trg.unit()[torch.from_numpy(t_idx)]
    fwd = torch.empty(len(s_idx), dtype=torch.long)
    fwd_score = torch.empty(len(s_idx))
    for a in range(0, len(s_idx), chunk):
        sim = su[a: a + chunk] @ tu.T
        fwd_score[a: a + chunk], fwd[a: a + chunk] = sim.max(dim=1)
    bwd = torch.empty(len(t_idx), dtype=torch.long)
    for a in range(0, len(t_idx), chunk):
        bwd[a: a + chunk] = (tu[a: a + chunk] @ su.T).argmax(dim=1)
    valid = (bwd[fwd] == torch.arange(len(s_idx))).numpy() if mutual else np.ones(len(s_idx), bool)
    gw_s, gw_t = src.grid_shape[1], trg.grid_shape[1]
    s_rc = np.stack([s_idx // gw_s, s_idx % gw_s], axis=1)
    t_lin = t_idx[fwd.numpy()]
    t_rc = np.stack([t_lin // gw_t, t_lin % gw_t], axis=1)
    return Matches(src.transform.cell_to_image(s_rc), trg.transform.cell_to_image(t_rc),
                   fwd_score.numpy().astype(np.float64), valid, "dense-mnn" if mutual else "dense-nn")


def grid_points(fm: FeatureMap, step: int = 1, foreground_only: bool = True) -> np.ndarray:
    """Image coordinates of every ``step``-th cell centre (foreground only by default), (N, 2)."""
    centres = fm.cell_centers()[::step, ::step]
    keep = fm.foreground()[::step, ::step] if foreground_only else np.ones(centres.shape[:2], bool)
    return centres[keep]
