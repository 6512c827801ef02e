"""Losses shared by training methods.

``smooth_ap_loss``: 1 - SmoothAP (Brown et al. 2020), as the multiview-equivariance method uses it
(seed 000 A.1; method spec section 1). For a query ``q`` with positive set P and negative set N
among the candidates, with ``D_ij = s_j - s_i`` (``s`` the query's similarities) and ``sigma`` the
sigmoid at temperature ``tau``::

    SmoothAP_q = 1/|P| sum_{i in P} (1 + sum_{j in P, j != i} sigma(D_ij / tau))
                                    / (1 + sum_{j in P, j != i} sigma(D_ij / tau) + sum_{j in N} sigma(D_ij / tau))

The ``1 +`` is the rank of ``i`` itself, so ``j = i`` is left out of the sums (the original
Smooth-AP; seed 000 writes the sum over all of P, which only adds sigma(0) = 1/2 to both ranks).
Candidates in neither set are ignored. Queries without a positive or without a negative carry no
ranking signal and are left out of the mean.
"""

from __future__ import annotations

import torch


def smooth_ap(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, temperature: float = 0.01
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """SmoothAP per query and which queries count.

    sim: (Q, M) similarities of Q queries to M candidates; pos, neg: (Q, M) bool, disjoint.
    Returns ``(ap (Q,), valid (Q,) bool)``; ``ap`` is 0 where not valid.
    """
    if sim.shape != pos.shape or sim.shape != neg.shape:
        raise ValueError(f"sim {tuple(sim.shape)}, pos {tuple(pos.shape)} and neg {tuple(neg.shape)} must match")
    if torch.any(pos & neg):
        raise ValueError("a candidate cannot be both a positive and a negative")
    q_idx, i_idx = pos.nonzero(as_tuple=True)  # every (query, positive) pair
    n_q = sim.shape[0]
    counts = pos.sum(1)
    valid = (counts > 0) & neg.any(1)
    if q_idx.numel() == 0:
        return sim.sum(1) * 0.0, valid
    s_i = sim[q_idx, i_idx]
    rows = sim[q_idx]  # (E, M)
    sg = torch.sigmoid((rows - s_i[:, None]) / temperature)
    others = pos[q_idx].clone()
    others[torch.arange(len(q_idx), device=sim.device), i_idx] = False
    zero = sg.new_zeros(())
    rank_pos = 1.0 + torch.where(others, sg, zero).sum(1)
    rank_all = rank_pos + torch.where(neg[q_idx], sg, zero).sum(1)
    ap_pairs = rank_pos / rank_all
    ap = sim.new_zeros(n_q).index_add(0, q_idx, ap_pairs) / counts.clamp(min=1).to(sim.dtype)
    return torch.where(valid, ap, sim.new_zeros(())), valid


def smooth_ap_loss(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, temperature: float = 0.01
                   ) -> torch.Tensor:
    """1 - mean SmoothAP over the queries that have a positive and a negative (0 if none has)."""
    ap, valid = smooth_ap(sim, pos, neg, temperature)
    n = valid.sum()
    if int(n) == 0:
        return sim.sum() * 0.0
    return 1.0 - ap[valid].sum() / n.to(sim.dtype)
