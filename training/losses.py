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


def _pair_sums(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, q: torch.Tensor, i: torch.Tensor,
               temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For (query, positive) pairs q, i: sigmoids (E, M) and the masks of the other positives / negatives."""
    rows = sim[q]
    sg = torch.sigmoid((rows - rows.gather(1, i[:, None])) / temperature)
    others = pos[q]
    others[torch.arange(len(q), device=sim.device), i] = False
    return sg, others.to(sg.dtype), neg[q].to(sg.dtype), rows


class _RowCSR:
    """Nonzeros of a (Q, M) bool mask, found once, by row: sliced by a row range, or gathered for any rows."""

    def __init__(self, mask: torch.Tensor) -> None:
        self.rows, self.cols = mask.nonzero(as_tuple=True)  # rows come out sorted
        self.count = torch.bincount(self.rows, minlength=mask.shape[0])
        self.start = torch.cumsum(self.count, 0) - self.count

    def range(self, a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(row - a, column) of the nonzeros of rows a .. b-1."""
        lo = int(self.start[a]) if a < len(self.start) else len(self.rows)
        hi = int(self.start[b]) if b < len(self.start) else len(self.rows)
        return self.rows[lo:hi] - a, self.cols[lo:hi]

    def expand(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For rows ``q`` (E,): ``(e, col)`` of every nonzero of row ``q[e]``, e = 0 .. E-1."""
        n = self.count[q]
        e = torch.repeat_interleave(torch.arange(len(q), device=q.device), n)
        first = torch.cumsum(n, 0) - n
        offset = torch.arange(len(e), device=q.device) - torch.repeat_interleave(first, n)
        return e, self.cols[self.start[q][e] + offset]


def _general_sigmoids(sim: torch.Tensor, q: torch.Tensor, i: torch.Tensor, tau: float) -> torch.Tensor:
    """sigmoid((s_qj - s_qi) / tau) for pairs (q, i): a new (E, M) tensor, computed in place of one row copy."""
    rows = sim[q]
    return rows.sub_(sim[q, i][:, None]).mul_(1.0 / tau).sigmoid_()


def _fast_sigmoids(sim: torch.Tensor, a: int, b: int, tau: float) -> torch.Tensor:
    """sigmoid((s_qj - s_qq) / tau) for rows a..b (a new tensor; sim itself is not modified)."""
    rows = torch.arange(a, b, device=sim.device)
    x = sim[a:b] - sim[rows, rows][:, None]
    return x.mul_(1.0 / tau).sigmoid_()


class _SmoothAP(torch.autograd.Function):
    """SmoothAP per query with a hand-written backward, in chunks.

    Each (query q, positive i) pair needs sigmoid((s_qj - s_qi) / tau) over all candidates j. Pairs
    with i == q (the data puts each query's exact correspondence in column q) take a dense fast path
    on row views of ``sim``: one sigmoid pass, the negatives' sum as the row sum minus the few
    positive and ignored entries (gathered sparsely). Other pairs take the general gathered path.
    Nothing of size (pairs x candidates) is kept for the backward pass: the sigmoids are recomputed.
    """

    @staticmethod
    def forward(ctx, sim, pos, neg, temperature, chunk):  # noqa: ANN001, ANN205
        n_q, n_m = sim.shape
        k = min(n_q, n_m)
        diag = torch.zeros(n_q, dtype=torch.bool, device=sim.device)
        diag[:k] = pos[torch.arange(k), torch.arange(k)]
        pos_off = pos.clone()
        pos_off[torch.arange(k), torch.arange(k)] = False
        q_idx, i_idx = pos_off.nonzero(as_tuple=True)  # the general pairs (i != q)
        ignored = ~(pos | neg)
        ap_sum = sim.new_zeros(n_q)
        fast_pos = sim.new_zeros(n_q)
        fast_all = sim.new_ones(n_q)
        pos_csr, ign_csr = _RowCSR(pos), _RowCSR(ignored)
        for a in range(0, k, chunk):  # fast path: pair (q, q) (its values are used where pos[q, q] only)
            b = min(k, a + chunk)
            sg = _fast_sigmoids(sim, a, b, temperature)
            pr, pc = pos_csr.range(a, b)
            ir, ic = ign_csr.range(a, b)
            s_pos = sg.new_zeros(b - a).index_add(0, pr, sg[pr, pc]) - 0.5  # the other positives: minus j == q
            s_ign = sg.new_zeros(b - a).index_add(0, ir, sg[ir, ic])
            s_neg = sg.sum(1) - s_pos - s_ign - 0.5  # 0.5 = sigma(0) of j == q itself
            fast_pos[a:b] = 1.0 + s_pos
            fast_all[a:b] = 1.0 + s_pos + s_neg.clamp(min=0.0)
        ap_sum += torch.where(diag, fast_pos / fast_all, sim.new_zeros(()))
        rank_pos = sim.new_empty(len(q_idx))
        rank_all = sim.new_empty(len(q_idx))
        for start in range(0, len(q_idx), chunk):  # general path: dense row sums, sparse corrections
            sl = slice(start, start + chunk)
            q, i = q_idx[sl], i_idx[sl]
            sg = _general_sigmoids(sim, q, i, temperature)
            pe, pc = pos_csr.expand(q)
            ie, ic = ign_csr.expand(q)
            s_pos = sg.new_zeros(len(q)).index_add(0, pe, sg[pe, pc]) - 0.5  # minus sigma(0) of j == i itself
            s_ign = sg.new_zeros(len(q)).index_add(0, ie, sg[ie, ic])
            s_neg = (sg.sum(1) - s_pos - 0.5 - s_ign).clamp(min=0.0)
            rank_pos[sl] = 1.0 + s_pos
            rank_all[sl] = rank_pos[sl] + s_neg
        ap_sum = ap_sum.index_add(0, q_idx, rank_pos / rank_all)
        counts = pos.sum(1).clamp(min=1).to(sim.dtype)
        ctx.save_for_backward(sim, pos, neg, diag, q_idx, i_idx, rank_pos, rank_all, fast_pos, fast_all, counts)
        ctx.temperature, ctx.chunk, ctx.sparse = temperature, chunk, (pos_csr, ign_csr)
        return ap_sum / counts

    @staticmethod
    def backward(ctx, grad_ap):  # noqa: ANN001, ANN205
        sim, pos, neg, diag, q_idx, i_idx, rank_pos, rank_all, fast_pos, fast_all, counts = ctx.saved_tensors
        tau, chunk = ctx.temperature, ctx.chunk
        pos_csr, ign_csr = ctx.sparse
        grad = torch.zeros_like(sim)
        k = min(sim.shape)
        wq = torch.where(diag, grad_ap / counts, grad_ap.new_zeros(()))  # d loss / d ratio of pair (q, q)
        f_other = wq * (fast_all - fast_pos) / fast_all ** 2  # d ratio / d sigma_j, j another positive
        f_neg = -wq * fast_pos / fast_all ** 2                # d ratio / d sigma_j, j a negative
        for a in range(0, k, chunk):
            b = min(k, a + chunk)
            rows = torch.arange(a, b, device=sim.device)
            sg = _fast_sigmoids(sim, a, b, tau)
            g = sg.addcmul_(sg, sg, value=-1.0).mul_(f_neg[a:b, None] / tau)  # f_neg * sigma(1 - sigma) / tau, in place
            pr, pc = pos_csr.range(a, b)  # also (q, q): set to 0 below
            if len(pr):
                g[pr, pc] *= (f_other[a:b] / f_neg[a:b].where(f_neg[a:b] != 0, f_neg.new_ones(())))[pr]
            ir, ic = ign_csr.range(a, b)
            g[ir, ic] = 0.0
            g[rows - a, rows] = 0.0
            grad[a:b] = g
            grad[rows, rows] -= g.sum(1)
        w = grad_ap[q_idx] / counts[q_idx]
        coef_other = w * (rank_all - rank_pos) / rank_all ** 2
        coef_neg = -w * rank_pos / rank_all ** 2
        for start in range(0, len(q_idx), chunk):
            sl = slice(start, start + chunk)
            q, i = q_idx[sl], i_idx[sl]
            sg = _general_sigmoids(sim, q, i, tau)
            pe, pc = pos_csr.expand(q)
            ie, ic = ign_csr.expand(q)
            sp = sg[pe, pc]  # the other positives' sigmoids, before sg is overwritten
            g = sg.addcmul_(sg, sg, value=-1.0).mul_(coef_neg[sl, None] / tau)  # every candidate as a negative, in place
            g[pe, pc] = sp * (1.0 - sp) * (coef_other[sl][pe] / tau)  # positives: their own coefficient
            g[ie, ic] = 0.0  # ignored candidates
            g[torch.arange(len(q), device=sim.device), i] = 0.0  # j == i is not in the sums
            grad.index_add_(0, q, g)
            grad.index_put_((q, i), -g.sum(1), accumulate=True)
        return grad, None, None, None, None


def smooth_ap(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, temperature: float = 0.01,
              chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """SmoothAP per query and which queries count.

    sim: (Q, M) similarities of Q queries to M candidates; pos, neg: (Q, M) bool, disjoint.
    Returns ``(ap (Q,), valid (Q,) bool)``; ``ap`` is 0 where not valid. Differentiable in ``sim``.
    """
    if sim.shape != pos.shape or sim.shape != neg.shape:
        raise ValueError(f"sim {tuple(sim.shape)}, pos {tuple(pos.shape)} and neg {tuple(neg.shape)} must match")
    if torch.any(pos & neg):
        raise ValueError("a candidate cannot be both a positive and a negative")
    valid = pos.any(1) & neg.any(1)
    ap = _SmoothAP.apply(sim, pos, neg, float(temperature), int(chunk))
    return torch.where(valid, ap, ap.new_zeros(())), valid


def smooth_ap_reference(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, temperature: float = 0.01
                        ) -> torch.Tensor:
    """The same SmoothAP per query written with plain autograd ops (for tests; slower)."""
    q_idx, i_idx = pos.nonzero(as_tuple=True)
    sg, others, negm, _ = _pair_sums(sim, pos, neg, q_idx, i_idx, temperature)
    rank_pos = 1.0 + (sg * others).sum(1)
    rank_all = rank_pos + (sg * negm).sum(1)
    counts = pos.sum(1).clamp(min=1).to(sim.dtype)
    return sim.new_zeros(sim.shape[0]).index_add(0, q_idx, rank_pos / rank_all) / counts


def smooth_ap_loss(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, temperature: float = 0.01
                   ) -> torch.Tensor:
    """1 - mean SmoothAP over the queries that have a positive and a negative (0 if none has)."""
    ap, valid = smooth_ap(sim, pos, neg, temperature)
    n = valid.sum()
    if int(n) == 0:
        return sim.sum() * 0.0
    return 1.0 - ap[valid].sum() / n.to(sim.dtype)
