"""SPH (viewpoint-guided spherical maps, seed 002; method spec section 3): the parts that live in core.

- :class:`SphericalPrototype` S_Z: a sphere point (3-d) and a category -> a feature in D. Linear
  3 -> D, then a cross-attention block (pre-norm: queries = the embedded points, keys / values =
  the learned category embedding; then an MLP, ratio 4) applied ``repeats`` [2] times with SHARED
  weights, as the public code does. The prototype is used in training only, but it is stored in
  the checkpoint (head ``sphere_prototype``, before the mapper) so that a run resumes exactly and
  a checkpoint is self-describing; inference never calls it. With one category token (the
  paper's) the attention weights are trivially 1, so the block adds a category-dependent vector
  before its MLP; ``tokens`` > 1 gives the attention a choice.
- :func:`mean_directions` / :func:`azimuth_angles` / :func:`circular_correlation`: reading the
  viewpoint off a sphere map (the paper's claim that the mean sphere direction approximates the
  camera direction), used by the SPH evaluation.

The mapper f_S itself is :class:`corrviz.core.heads.SphereMapper` (head ``sphere_mapper``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn


class CrossAttentionBlock(nn.Module):
    """Pre-norm transformer block without self-attention: x += CA(LN(x), LN(ctx)); x += MLP(LN(x))."""

    def __init__(self, dim: int, heads: int = 6, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"sphere prototype: {dim} dims are not divisible into {heads} heads")
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(ctx)
        x = x + self.attn(self.norm_q(x), kv, kv, need_weights=False)[0]
        return x + self.mlp(self.norm_mlp(x))


class SphericalPrototype(nn.Module):
    """S_Z(s, category): points (B, N, 3) and category ids (B,) -> features (B, N, D)."""

    def __init__(self, dim: int, n_categories: int, heads: int = 6, mlp_ratio: float = 4.0,
                 repeats: int = 2, tokens: int = 1) -> None:
        super().__init__()
        if n_categories < 1 or repeats < 1 or tokens < 1:
            raise ValueError("sphere prototype needs at least one category, one repeat and one token")
        self.n_categories = int(n_categories)
        self.repeats = int(repeats)
        self.embed = nn.Linear(3, dim)
        self.category = nn.Parameter(torch.randn(n_categories, tokens, dim) * 0.02)
        self.block = CrossAttentionBlock(dim, heads, mlp_ratio)

    def forward(self, points: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"sphere prototype expects points (B, N, 3), got {tuple(points.shape)}")
        if int(category.max()) >= self.n_categories or int(category.min()) < 0:
            raise ValueError(f"category id out of range 0..{self.n_categories - 1}: {category.tolist()}")
        x = self.embed(points)
        ctx = self.category[category]
        for _ in range(self.repeats):  # the same block, shared weights
            x = self.block(x, ctx)
        return x


# --------------------------------------------------------------------------- viewpoint from spheres
def mean_directions(spheres: list[np.ndarray], masks: list[np.ndarray] | None = None) -> np.ndarray:
    """Unit mean direction (K, 3) of each sphere map (h, w, 3) over its mask (all cells when None)."""
    out = []
    for k, s in enumerate(spheres):
        pts = np.asarray(s, dtype=np.float64).reshape(-1, 3)
        if masks is not None:
            pts = pts[np.asarray(masks[k], dtype=bool).ravel()]
        m = pts.sum(axis=0)
        n = np.linalg.norm(m)
        out.append(m / n if n > 0 else np.full(3, np.nan))
    return np.asarray(out, dtype=np.float64).reshape(-1, 3)


def azimuth_angles(directions: np.ndarray) -> np.ndarray:
    """Angle (K,) of each unit direction around the circle the directions spread along.

    The plane of that circle is fitted by PCA of the centred directions (its two main axes); the
    angle is atan2 along them. Its zero and its sense are arbitrary (the sphere's frame is learned).
    """
    d = np.asarray(directions, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != 3 or len(d) < 3:
        raise ValueError(f"need at least three directions (K, 3), got {d.shape}")
    c = d - d.mean(axis=0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    return np.arctan2(c @ vt[1], c @ vt[0])


def circular_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Fisher & Lee (1983) circular-circular correlation of two paired angle samples, in [-1, 1].

    sum_{i<j} sin(a_i - a_j) sin(b_i - b_j) / sqrt(sum_{i<j} sin^2(a_i - a_j) sum_{i<j} sin^2(b_i - b_j)).
    Invariant to rotating either sample; mirroring one flips the sign. Unlike the coefficient built
    on circular means (Jammalamadaka & SenGupta) it stays defined for angles spread evenly round
    the circle, as azimuth bins are.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"need two equal-length angle samples, got {a.shape} and {b.shape}")
    iu = np.triu_indices(len(a), k=1)
    sa = np.sin(a[:, None] - a[None, :])[iu]
    sb = np.sin(b[:, None] - b[None, :])[iu]
    den = np.sqrt((sa ** 2).sum() * (sb ** 2).sum())
    return float((sa * sb).sum() / den) if den > 0 else float("nan")


def bin_angles(bins: np.ndarray, n_bins: int = 8) -> np.ndarray:
    """Azimuth bin ids -> angles (bin * 2 pi / n_bins)."""
    return np.asarray(bins, dtype=np.float64) * (2.0 * np.pi / n_bins)


# --------------------------------------------------------------------------- labels
@functools.lru_cache(maxsize=16)
def _mapper_label(path: str, mtime: float) -> str:
    from .checkpoint import read_checkpoint_metadata

    meta = read_checkpoint_metadata(path)
    step = meta.get("step")
    cats = next((m.get("category_names") for m in meta.get("modules", []) if m.get("type") == "sphere_prototype"), None)
    parts = [f"method {meta.get('method', '?')}"] + ([f"step {step}"] if step is not None else [])
    parts.append(f"on {meta.get('backbone', '?')} {meta.get('feature', {}).get('facet') or ''}".rstrip())
    if cats:
        parts.append(f"categories {', '.join(cats)}")
    return f"trained mapper {Path(path).name} ({'; '.join(parts)})"


def mapper_label(path: str | Path) -> str:
    """How the app labels a sphere-mapper checkpoint: 'trained mapper NAME (method, step, backbone, categories)'."""
    p = Path(path)
    return _mapper_label(str(p), p.stat().st_mtime)


# --------------------------------------------------------------------------- mapper positions
def grid_sincos(h: int, w: int, dim: int, device: torch.device | None = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Fixed 2-D sine-cosine position code (h * w, dim) of a cell grid, row-major.

    Cell centres in normalised coordinates ((j + 0.5) / w, (i + 0.5) / h) in [0, 1], so every grid
    size gets the same code for the same image position. Half the channels code y, half x; each
    half is sin / cos at ``dim // 4`` frequencies from pi to 32 pi (geometric). ``dim`` must be a
    multiple of 4. Used by the sphere mapper with ``pos: sincos``: without it the mapper's
    transformer block is permutation-equivariant over cells, so a mirrored feature grid (ViT
    features are nearly flip-equivariant) gives the mirrored sphere map with the SAME mean
    direction, and left / right views cannot get different viewpoints.
    """
    if dim % 4:
        raise ValueError(f"sine-cosine position code needs a multiple of 4 channels, got {dim}")
    n = dim // 4
    freqs = torch.pi * 32.0 ** (torch.arange(n, dtype=torch.float64) / max(1, n - 1))
    ys = (torch.arange(h, dtype=torch.float64) + 0.5) / h
    xs = (torch.arange(w, dtype=torch.float64) + 0.5) / w
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    parts = []
    for c in (yy.reshape(-1), xx.reshape(-1)):
        ang = c[:, None] * freqs[None]
        parts += [torch.sin(ang), torch.cos(ang)]
    return torch.cat(parts, dim=1).to(device=device, dtype=dtype)
