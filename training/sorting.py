"""Differentiable sorting networks returning soft permutation matrices (3DPoV, method spec section 2).

A sorting network is a fixed sequence of layers of disjoint compare-and-swap gates on wire pairs
(a, b), a < b. The relaxed gate with steepness beta moves

    min' = alpha * x_a + (1 - alpha) * x_b,   max' = (1 - alpha) * x_a + alpha * x_b,
    alpha = f(beta * (x_b - x_a)),            f(x) = atan(x) / pi + 1/2   (Cauchy relaxation)

to wires a and b, and applies the same mixing to the columns a and b of the running permutation
matrix P (which starts as the identity). ``P[..., i, p]`` is the weight with which input element i
lands at sorted position p (ascending: position 0 holds the smallest): ``sorted = x @ P`` and, as
beta -> inf, P becomes the exact permutation matrix of ``argsort``. Every gate is a convex mixing of
two columns, so rows and columns of P always sum to 1 (P is doubly stochastic).

Networks: :func:`odd_even_network` (odd-even transposition: n layers of neighbour gates, any n, the
3DPoV paper's choice) and :func:`bitonic_network` (ceil(log2 n) (ceil(log2 n) + 1) / 2 layers; for a
non-power-of-two n the network of the next power of two is run with the missing wires held at
+inf, so every gate touching them is a no-op and is dropped). Both give exactly the same soft
permutation as the authors' reference implementation (the ``diffsort`` package, Petersen et al.),
checked in the tests; this executor works with index gathers on the gate wires instead of
``diffsort``'s dense (n x n) wiring matrices, which is what makes it fast enough for a CPU step.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

NETWORKS = ("odd_even", "bitonic")

Layer = tuple[tuple[int, ...], tuple[int, ...]]  # (wires receiving the minimum, wires receiving the maximum)


def cauchy(x: torch.Tensor) -> torch.Tensor:
    """The Cauchy relaxation of the step function: atan(x) / pi + 1/2."""
    return torch.atan(x) / math.pi + 0.5


@lru_cache(maxsize=64)
def odd_even_network(n: int) -> tuple[Layer, ...]:
    """Odd-even transposition sort of ``n`` wires: n layers, gates (i, i+1) on alternating parities."""
    if n < 1:
        raise ValueError(f"a sorting network needs at least one wire, got {n}")
    layers = []
    for layer in range(n):
        a = tuple(range(layer % 2, n - 1, 2))
        layers.append((a, tuple(i + 1 for i in a)))
    return tuple(layers)


@lru_cache(maxsize=64)
def bitonic_network(n: int) -> tuple[Layer, ...]:
    """Bitonic sort of ``n`` wires (any n; see the module docstring for non-powers of two).

    Gates are (wire receiving the minimum, wire receiving the maximum). For a non-power-of-two n the
    network of the next power of two runs with ``pad`` virtual wires holding -inf: a gate between two
    real wires is relaxed, a gate between a virtual and a real wire is decided exactly (-inf is the
    minimum), so it only relabels wires, which :func:`bitonic_layers` returns as a static permutation.
    """
    return tuple((a, b) for a, b, _ in bitonic_layers(n))


@lru_cache(maxsize=64)
def bitonic_layers(n: int) -> tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...] | None], ...]:
    """Bitonic layers on the padded width: (min wires, max wires, wire permutation after the gates or None).

    The padded network has ``2**ceil(log2 n)`` wires; the real elements start on the last n of them
    and end sorted on the last n (the virtual -inf wires end on top).
    """
    if n < 1:
        raise ValueError(f"a sorting network needs at least one wire, got {n}")
    blocks = math.ceil(math.log2(n)) if n > 1 else 0
    size = 2 ** blocks
    virtual = [w < size - n for w in range(size)]
    layers = []
    for block in range(blocks):
        for sub in range(block + 1):
            m = 2 ** (block - sub)
            lo, hi, src = [], [], list(range(size))
            for i in range(0, size, 2 * m):
                for j in range(m):
                    a, b = i + j, i + j + m
                    if ((i + j) // 2 ** (block + 1)) % 2 == 1:
                        a, b = b, a  # descending half of a bitonic merge: the minimum goes to wire b
                    if virtual[a] and virtual[b]:
                        continue
                    if not virtual[a] and not virtual[b]:
                        lo.append(a)
                        hi.append(b)
                    elif virtual[b]:  # -inf must go to a: the real element moves from a to b
                        src[a], src[b] = b, a
                        virtual[a], virtual[b] = True, False
            perm = None if src == list(range(size)) else tuple(src)
            if lo or perm is not None:
                layers.append((tuple(lo), tuple(hi), perm))
    if any(virtual[size - n:]):  # pragma: no cover - a wiring error
        raise AssertionError("bitonic network: virtual wires did not end on top")
    return tuple(layers)


def network(kind: str, n: int) -> tuple[Layer, ...]:
    if kind == "odd_even":
        return odd_even_network(n)
    if kind == "bitonic":
        return bitonic_network(n)
    raise ValueError(f"unknown sorting network {kind!r}; choose one of {', '.join(NETWORKS)}")


def _long(idx: tuple[int, ...], device: str) -> torch.Tensor:
    return torch.tensor(idx, dtype=torch.long, device=device)


@lru_cache(maxsize=256)
def _index_layers(kind: str, n: int, device: str) -> tuple[int, tuple]:
    """(padded width, layers as (min wires, max wires, permutation or None) index tensors)."""
    if kind == "bitonic":
        raw = bitonic_layers(n)
        width = 2 ** math.ceil(math.log2(n)) if n > 1 else 1
    else:
        raw = tuple((a, b, None) for a, b in network(kind, n))
        width = n
    return width, tuple((_long(a, device), _long(b, device), None if p is None else _long(p, device))
                        for a, b, p in raw)


def _gate(t: torch.Tensor, a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    ta, tb = t[..., a], t[..., b]
    return t.index_copy(-1, a, alpha * ta + beta * tb).index_copy(-1, b, beta * ta + alpha * tb)


def soft_sort(x: torch.Tensor, steepness: float, kind: str = "odd_even") -> tuple[torch.Tensor, torch.Tensor]:
    """Relaxed ascending sort of the last axis of ``x`` (..., n).

    Returns ``(sorted_x, P)`` with P (..., n, n), ``P[..., i, p]`` = weight of element i at position p.
    """
    if x.dim() < 1 or x.shape[-1] < 1:
        raise ValueError(f"soft_sort needs a tensor with a non-empty last axis, got {tuple(x.shape)}")
    n = int(x.shape[-1])
    width, layers = _index_layers(kind, n, str(x.device))
    pad = width - n
    eye = torch.eye(n, dtype=x.dtype, device=x.device)
    perm = torch.cat([eye.new_zeros(n, pad), eye], dim=1) if pad else eye
    perm = perm.expand(*x.shape[:-1], n, width)
    if pad:
        x = torch.cat([x.new_zeros(*x.shape[:-1], pad), x], dim=-1)  # virtual wires: never read by a gate
    for a, b, src in layers:
        if len(a):
            alpha = cauchy(steepness * (x[..., b] - x[..., a]))
            beta = 1.0 - alpha
            x = _gate(x, a, b, alpha, beta)
            perm = _gate(perm, a, b, alpha.unsqueeze(-2), beta.unsqueeze(-2))
        if src is not None:
            x, perm = x[..., src], perm[..., src]
    return x[..., pad:], perm[..., pad:]


def soft_permutation(x: torch.Tensor, steepness: float, kind: str = "odd_even") -> torch.Tensor:
    """The soft permutation matrix (..., n, n) of :func:`soft_sort`."""
    return soft_sort(x, steepness, kind)[1]


def permutation_matrix(x: torch.Tensor) -> torch.Tensor:
    """The exact permutation matrix of an ascending sort: ``P[..., i, p] = 1`` iff element i is p-th."""
    n = int(x.shape[-1])
    order = torch.argsort(x, dim=-1, stable=True)  # order[..., p] = element at position p
    perm = torch.zeros(*x.shape, n, dtype=x.dtype, device=x.device)
    return perm.scatter_(-2, order.unsqueeze(-2), 1.0)


def ranking_cross_entropy(p_student: torch.Tensor, p_teacher: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """CE(student, teacher) = -sum P_student * log(P_teacher + eps) over the matrix entries (..., n, n) -> (...)."""
    return -(p_student * torch.log(p_teacher + eps)).sum(dim=(-2, -1))
