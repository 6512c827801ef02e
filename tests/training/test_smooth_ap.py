"""1 - SmoothAP (seed 000 A.1): hand-computed cases and a float64 gradient check."""

from __future__ import annotations

import math

import pytest
import torch

from corrviz.training.losses import smooth_ap, smooth_ap_loss


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_three_points_one_positive_by_hand():
    # query similarities: positive 0.9, negatives 0.5 and 0.95; tau 0.1
    sim = torch.tensor([[0.9, 0.5, 0.95]], dtype=torch.float64)
    pos = torch.tensor([[True, False, False]])
    neg = torch.tensor([[False, True, True]])
    want_ap = 1.0 / (1.0 + sig((0.5 - 0.9) / 0.1) + sig((0.95 - 0.9) / 0.1))
    assert want_ap == pytest.approx(0.6095904, abs=1e-7)
    loss = smooth_ap_loss(sim, pos, neg, temperature=0.1)
    assert float(loss) == pytest.approx(1.0 - want_ap, abs=1e-12)


def test_three_points_two_positives_by_hand():
    sim = torch.tensor([[0.9, 0.7, 0.8]], dtype=torch.float64)
    pos = torch.tensor([[True, True, False]])
    neg = ~pos
    r0 = (1 + sig(-2.0)) / (1 + sig(-2.0) + sig(-1.0))  # positive 0.9: other positive 0.7, negative 0.8
    r1 = (1 + sig(2.0)) / (1 + sig(2.0) + sig(1.0))     # positive 0.7: other positive 0.9, negative 0.8
    ap, valid = smooth_ap(sim, pos, neg, temperature=0.1)
    assert bool(valid[0])
    assert float(ap[0]) == pytest.approx((r0 + r1) / 2, abs=1e-12)
    assert (r0 + r1) / 2 == pytest.approx(0.763179, abs=1e-6)


def test_ignored_candidates_and_queries_without_signal():
    sim = torch.tensor([[0.9, 0.5, 0.95, 0.99], [0.1, 0.2, 0.3, 0.4]], dtype=torch.float64)
    pos = torch.tensor([[True, False, False, False], [False, False, False, False]])
    neg = torch.tensor([[False, True, True, False], [True, True, True, True]])
    # candidate 3 of query 0 is in neither set: ignored; query 1 has no positive: left out of the mean
    loss = smooth_ap_loss(sim, pos, neg, temperature=0.1)
    want = 1.0 - 1.0 / (1.0 + sig(-4.0) + sig(0.5))
    assert float(loss) == pytest.approx(want, abs=1e-12)
    ap, valid = smooth_ap(sim, pos, neg, 0.1)
    assert valid.tolist() == [True, False]


def test_perfect_ranking_gives_zero_loss_at_paper_temperature():
    sim = torch.tensor([[0.9, 0.2, 0.1, 0.3]], dtype=torch.float64)
    pos = torch.tensor([[True, False, False, False]])
    loss = smooth_ap_loss(sim, pos, ~pos, temperature=0.01)
    assert float(loss) == pytest.approx(0.0, abs=1e-25 + 1e-20)


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(0)
    sim = torch.rand(5, 7, generator=g, dtype=torch.float64).requires_grad_(True)
    pos = torch.zeros(5, 7, dtype=torch.bool)
    pos[torch.arange(5), torch.arange(5)] = True
    pos[0, 6] = True  # a query with two positives
    neg = ~pos
    neg[1, 5] = False  # an ignored candidate
    assert torch.autograd.gradcheck(lambda s: smooth_ap_loss(s, pos, neg, 0.1), (sim,), eps=1e-6, atol=1e-8)
    assert torch.autograd.gradcheck(lambda s: smooth_ap_loss(s, pos, neg, 0.01), (sim * 0.05,), eps=1e-7,
                                    atol=1e-6)


def test_overlapping_masks_are_refused():
    with pytest.raises(ValueError, match="both a positive and a negative"):
        smooth_ap_loss(torch.zeros(1, 2), torch.ones(1, 2, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool))


def test_hand_written_backward_matches_autograd_reference():
    from corrviz.training.losses import smooth_ap_reference

    g = torch.Generator().manual_seed(4)
    sim = (torch.rand(40, 90, generator=g, dtype=torch.float64) * 0.2).requires_grad_(True)
    r = torch.rand(40, 90, generator=g)
    pos, neg = r < 0.05, r > 0.3
    pos[torch.arange(40), torch.arange(40)] = True
    neg &= ~pos
    ref = smooth_ap_reference(sim, pos, neg, 0.01)
    (gref,) = torch.autograd.grad(ref.sum(), sim)
    for chunk in (7, 4096):  # chunk boundaries must not matter
        ap, valid = smooth_ap(sim, pos, neg, 0.01, chunk=chunk)
        (got,) = torch.autograd.grad(ap.sum(), sim)
        torch.testing.assert_close(ap[valid], ref[valid], rtol=0, atol=1e-12)
        torch.testing.assert_close(got, gref, rtol=1e-9, atol=1e-12)
    assert float(gref.abs().max()) > 1e-3
