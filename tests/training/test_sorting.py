"""Differentiable sorting networks: exact limit, doubly stochastic, gradients, reference, hand-built loss."""

from __future__ import annotations

import math

import pytest
import torch

from corrviz.training.sorting import (
    NETWORKS,
    bitonic_network,
    odd_even_network,
    permutation_matrix,
    ranking_cross_entropy,
    soft_sort,
)

SIZES = (1, 2, 3, 5, 7, 8, 12, 22, 33, 64)


def _separated(n: int, batch: int, seed: int) -> torch.Tensor:
    """Random inputs whose values are at least 0.9 apart (so a steep relaxation is numerically exact)."""
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(n, generator=g) for _ in range(batch)]).double() + \
        0.1 * torch.rand(batch, n, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("kind", NETWORKS)
@pytest.mark.parametrize("n", SIZES)
def test_steep_relaxation_is_the_exact_permutation(kind, n):
    x = _separated(n, 40, seed=n)
    sorted_x, p = soft_sort(x, 1e7, kind)
    exact = permutation_matrix(x)
    assert (p - exact).abs().max() < 1e-4
    assert torch.allclose(sorted_x, torch.sort(x, dim=-1).values, atol=1e-4)
    assert torch.allclose(torch.einsum("bi,bip->bp", x, p), sorted_x, atol=1e-9)  # sorted = x @ P


@pytest.mark.parametrize("kind", NETWORKS)
@pytest.mark.parametrize("n", (3, 6, 16, 22))
def test_rows_and_columns_sum_to_one(kind, n):
    x = torch.randn(30, n, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for beta in (0.5, 3.0, 20.0):
        p = soft_sort(x, beta, kind)[1]
        assert torch.allclose(p.sum(-1), torch.ones(30, n, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(p.sum(-2), torch.ones(30, n, dtype=torch.float64), atol=1e-12)
        assert (p >= 0).all()


@pytest.mark.parametrize("kind", NETWORKS)
def test_finite_difference_gradient(kind):
    x = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: soft_sort(v, 3.0, kind)[1], (x,), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(lambda v: soft_sort(v, 20.0, kind)[0], (x,), eps=1e-6, atol=1e-5)


def test_network_wiring_is_a_sorting_network():
    assert odd_even_network(3) == (((0,), (1,)), ((1,), (2,)), ((0,), (1,)))
    assert len(bitonic_network(64)) == 21  # log2(64) (log2(64) + 1) / 2 layers
    assert len(odd_even_network(64)) == 64


@pytest.mark.parametrize("kind,n", [("odd_even", 5), ("odd_even", 22), ("bitonic", 8), ("bitonic", 64)])
def test_equals_the_reference_implementation(kind, n):
    """The authors' diffsort package, where its wiring is right (odd-even: any n; bitonic: powers of two)."""
    diffsort = pytest.importorskip("diffsort")
    x = torch.randn(20, n, generator=torch.Generator().manual_seed(4))
    _, want = diffsort.DiffSortNet(kind, n, steepness=20.0, distribution="cauchy")(x)
    assert torch.allclose(soft_sort(x, 20.0, kind)[1], want, atol=1e-5)


def test_bitonic_non_power_of_two_where_the_reference_is_wrong():
    """diffsort 0.2's bitonic network drops gates on padded wires and mis-sorts some sizes (e.g. 22);
    ours decides those gates exactly and sorts every size (the exact-permutation test above)."""
    x = _separated(22, 40, seed=5)
    assert (soft_sort(x, 1e7, "bitonic")[1] - permutation_matrix(x)).abs().max() < 1e-4


def _f(v: float) -> float:
    return math.atan(v) / math.pi + 0.5


def test_loss_on_a_hand_built_three_element_case():
    # student: x = [0, 1, 2] at steepness 1 through odd-even gates (0,1), (1,2), (0,1), written out by hand
    a = _f(1.0)                                    # gate (0,1): x1 - x0 = 1
    x0, x1 = a * 0 + (1 - a) * 1, (1 - a) * 0 + a * 1
    c0, c1 = [a, 1 - a, 0.0], [1 - a, a, 0.0]       # columns of P (weights of elements 0, 1, 2)
    b = _f(2.0 - x1)                               # gate (1,2)
    x1 = b * x1 + (1 - b) * 2.0  # (the element in slot 2 is not needed below)
    c2 = [0.0, 0.0, 1.0]
    c1, c2 = [b * u + (1 - b) * w for u, w in zip(c1, c2, strict=True)], [(1 - b) * u + b * w for u, w in zip(c1, c2, strict=True)]
    g = _f(x1 - x0)                                # gate (0,1) again
    c0, c1 = [g * u + (1 - g) * w for u, w in zip(c0, c1, strict=True)], [(1 - g) * u + g * w for u, w in zip(c0, c1, strict=True)]
    p_student_hand = torch.tensor([c0, c1, c2], dtype=torch.float64).T  # P[i, p]
    p_student = soft_sort(torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64), 1.0, "odd_even")[1][0]
    assert torch.allclose(p_student, p_student_hand, atol=1e-12)
    # teacher: the exact permutation of [2, 0, 1] (element 1 first, then 2, then 0)
    p_teacher = permutation_matrix(torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64))
    assert torch.equal(p_teacher, torch.tensor([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=torch.float64))
    on = p_teacher.bool()
    want = -(math.log(1 + 1e-6) * p_student_hand[on].sum() + math.log(1e-6) * p_student_hand[~on].sum())
    got = ranking_cross_entropy(p_student, p_teacher)
    assert abs(float(got) - float(want)) < 1e-9
    assert 3.0 * 13.8155 > float(got) > 13.8155 * 2.0  # most of the student's mass is off the teacher's order
