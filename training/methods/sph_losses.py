"""The four SPH losses (seed 002; method spec section 3): L = L_rec + 0.3 L_rd + 0.3 L_o + 0.1 L_vp.

Every function takes plain tensors, so each term can be checked by hand on three or four points
and with ``torch.autograd.gradcheck`` in float64.

Conventions
- Gamma is the cosine distance ``1 - cos``.
- Triplets ``(a, b, c)`` are index triples into one image's cells; image positions ``xy`` are in
  any isotropic pixel unit (cell centres on the patch grid, x right, y DOWN as in images).
- Orientation: the image determinant is taken in a y-UP frame, i.e. ``det(b - a, c - a)`` with
  the y components negated. With that choice a mapper that "looks at" the sphere from outside,
  like a camera looks at an object's surface (x right, y up, normal towards the camera = outward
  normal ``s_a``), has positive sphere determinants; the other sign is its mirror image. Only
  consistency matters to the loss; the frame is stated so the sign of a test case is defined.
- The sphere determinant of a triplet is ``s_a . (u x w) / (|u| |w|)`` with ``u = P_a(s_b) - s_a``,
  ``w = P_a(s_c) - s_a`` and ``P_a`` the projection onto the plane tangent to the sphere at
  ``s_a`` (so ``u = s_b - (s_a . s_b) s_a``): the 2-D determinant in the tangent plane oriented
  by the outward normal, normalised like the image one (the sine of the angle at ``a``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

LOSS_WEIGHTS = {"rec": 1.0, "rd": 0.3, "o": 0.3, "vp": 0.1}
EPS = 1e-8


def cosine_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gamma(x, y) = 1 - cos(x, y) along the last dimension."""
    return 1.0 - F.cosine_similarity(x, y, dim=-1, eps=EPS)


def reconstruction_loss(phi: torch.Tensor, recon: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_rec: mean over foreground cells of ``1 - cos(phi(I, x), S_Z(f_S(I, x), category))``.

    ``phi`` and ``recon`` are (..., D) features of the same cells, ``mask`` (...) bool marks the
    foreground. No foreground cell at all gives 0 (connected to the graph).
    """
    m = mask.to(phi.dtype)
    d = cosine_distance(phi, recon)
    return (d * m).sum() / m.sum().clamp_min(1.0)


def sample_triplets(foreground: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` triplets (n, 3) of distinct foreground cell indices (flattened row-major grid).

    Fewer than three foreground cells gives an empty (0, 3) array.
    """
    idx = np.flatnonzero(np.asarray(foreground, dtype=bool).ravel())
    if len(idx) < 3 or n <= 0:
        return np.zeros((0, 3), dtype=np.int64)
    out = np.empty((n, 3), dtype=np.int64)
    for k in range(n):
        out[k] = idx[rng.choice(len(idx), 3, replace=False)]
    return out


def relative_distance_loss(s: torch.Tensor, xy: torch.Tensor, triplets: torch.Tensor,
                           margin: float = 0.5) -> torch.Tensor:
    """L_rd: triplet margin loss on the sphere, anchor / positive / negative by IMAGE distance.

    ``s`` (N, 3) sphere points of one image's cells, ``xy`` (N, 2) their image positions,
    ``triplets`` (T, 3) indices (a, b, c). Anchor = a, positive = the nearer of b and c to a in the
    image, negative = the farther; loss = mean of max(Gamma(s_anc, s_pos) - Gamma(s_anc, s_neg) + margin, 0).
    """
    if triplets.numel() == 0:
        return s.sum() * 0.0
    a, b, c = triplets[:, 0], triplets[:, 1], triplets[:, 2]
    db = (xy[b] - xy[a]).norm(dim=-1)
    dc = (xy[c] - xy[a]).norm(dim=-1)
    b_nearer = (db <= dc)[:, None]
    pos = torch.where(b_nearer, s[b], s[c])
    neg = torch.where(b_nearer, s[c], s[b])
    anc = s[a]
    return torch.relu(cosine_distance(anc, pos) - cosine_distance(anc, neg) + margin).mean()


def image_determinant(xy: torch.Tensor, triplets: torch.Tensor) -> torch.Tensor:
    """Normalised image determinant det(b - a, c - a) / (|b - a| |c - a|) in the y-up frame (T,)."""
    a, b, c = xy[triplets[:, 0]], xy[triplets[:, 1]], xy[triplets[:, 2]]
    u, w = b - a, c - a
    det = -(u[:, 0] * w[:, 1] - u[:, 1] * w[:, 0])  # y-up: negate the y components (flips the sign)
    return det / (u.norm(dim=-1) * w.norm(dim=-1)).clamp_min(EPS)


def sphere_determinant(sa: torch.Tensor, sb: torch.Tensor, sc: torch.Tensor) -> torch.Tensor:
    """Normalised determinant of (s_b, s_c) projected to the plane tangent at s_a, oriented by s_a (T,)."""
    u = sb - (sa * sb).sum(-1, keepdim=True) * sa
    w = sc - (sa * sc).sum(-1, keepdim=True) * sa
    det = (sa * torch.linalg.cross(u, w, dim=-1)).sum(-1)
    return det / (u.norm(dim=-1) * w.norm(dim=-1)).clamp_min(EPS)


def orientation_loss(s: torch.Tensor, xy: torch.Tensor, triplets: torch.Tensor,
                     threshold: float = 0.7) -> torch.Tensor:
    """L_o: for triplets with |image determinant| >= threshold (b, c swapped where it is negative),
    mean of max(threshold - d_S, 0) over those triplets; 0 when no triplet qualifies."""
    if triplets.numel() == 0:
        return s.sum() * 0.0
    d_img = image_determinant(xy, triplets)
    keep = d_img.abs() >= threshold
    if not bool(keep.any()):
        return s.sum() * 0.0
    t = triplets[keep]
    swap = d_img[keep] < 0
    b = torch.where(swap, t[:, 2], t[:, 1])
    c = torch.where(swap, t[:, 1], t[:, 2])
    d_sph = sphere_determinant(s[t[:, 0]], s[b], s[c])
    return torch.relu(threshold - d_sph).mean()


def mean_direction(s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unit mean direction mu(f_S(I)) of each image's foreground sphere points: s (B, N, 3), mask (B, N) -> (B, 3)."""
    m = mask.to(s.dtype)[..., None]
    total = (s * m).sum(dim=-2)
    return F.normalize(total, dim=-1, eps=EPS)


def azimuth_cosines(bins: torch.Tensor, n_bins: int = 8) -> torch.Tensor:
    """cos(delta_bin * 2 pi / n_bins) for every pair of azimuth bins: (B,) -> (B, B)."""
    delta = (bins[:, None] - bins[None, :]).to(torch.float64)
    return torch.cos(delta * (2.0 * np.pi / n_bins))


def viewpoint_loss(mu: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """L_vp: squared difference between the viewpoint cosine and mu_I . mu_I' over all image pairs.

    ``mu`` (B, 3) unit mean sphere directions, ``target`` (B, B) the cosines of the viewpoint
    angles (:func:`azimuth_cosines` for bins; ``v @ v.T`` for unit viewing directions). Pairs are
    the B (B - 1) / 2 unordered pairs of distinct images; ``reduction`` ``mean`` (default, weight
    independent of the batch size) or ``sum`` (eq. 2 of the paper read literally). B < 2 gives 0.
    """
    b = mu.shape[0]
    if b < 2:
        return mu.sum() * 0.0
    iu = torch.triu_indices(b, b, offset=1, device=mu.device)
    dots = mu @ mu.T
    diff = (target.to(mu.dtype) - dots)[iu[0], iu[1]] ** 2
    if reduction == "sum":
        return diff.sum()
    if reduction != "mean":
        raise ValueError(f"viewpoint loss reduction must be mean or sum, got {reduction!r}")
    return diff.mean()


def total_loss(terms: dict[str, torch.Tensor], weights: dict[str, float] | None = None) -> torch.Tensor:
    """L = L_rec + 0.3 L_rd + 0.3 L_o + 0.1 L_vp (``weights`` overrides the paper's lambdas)."""
    w = dict(LOSS_WEIGHTS if weights is None else weights)
    return sum(float(w[k]) * v for k, v in terms.items())
