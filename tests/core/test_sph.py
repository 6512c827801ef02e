"""SPH parts in core: the category prototype S_Z, the mapper checkpoint layout, viewpoint read-out."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from corrviz.core.backbones import create_backbone
from corrviz.core.heads import AdaptedBackbone
from corrviz.core.sph import (
    SphericalPrototype,
    azimuth_angles,
    bin_angles,
    circular_correlation,
    mean_directions,
)


def test_prototype_shares_one_block_over_its_repeats():
    torch.manual_seed(0)
    once = SphericalPrototype(24, 3, heads=6, repeats=1)
    twice = SphericalPrototype(24, 3, heads=6, repeats=2)
    n_once = sum(p.numel() for p in once.parameters())
    assert sum(p.numel() for p in twice.parameters()) == n_once  # shared weights, not a second block
    twice.load_state_dict(once.state_dict())
    pts = torch.nn.functional.normalize(torch.randn(2, 5, 3), dim=-1)
    cat = torch.tensor([0, 2])
    with torch.no_grad():
        x = once.embed(pts)
        ctx = once.category[cat]
        want = once.block(once.block(x, ctx), ctx)
        assert torch.allclose(twice(pts, cat), want, atol=1e-6)
        assert twice(pts, cat).shape == (2, 5, 24)


def test_prototype_depends_on_point_and_category():
    torch.manual_seed(0)
    proto = SphericalPrototype(12, 2, heads=6)
    with torch.no_grad():
        proto.category[1] += 1.0  # make the two category tokens clearly different
        p = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        a = proto(p, torch.tensor([0]))
        b = proto(p, torch.tensor([1]))
    assert not torch.allclose(a[0, 0], a[0, 1], atol=1e-4)  # another sphere point, another feature
    assert not torch.allclose(a, b, atol=1e-4)  # another category, another feature
    with pytest.raises(ValueError, match="out of range"):
        proto(p, torch.tensor([2]))


def test_mapper_checkpoint_with_prototype_is_a_sphere_mapper():
    bb = create_backbone("test_dinov2_tiny", pretrained=False)
    dim = bb.config.embed_dim
    specs = [{"type": "sphere_prototype", "channels": dim, "categories": 3, "heads": 4},
             {"type": "sphere_mapper", "channels": dim, "heads": 4}]
    adapted = AdaptedBackbone(bb, specs, feature={"layer": -1, "facet": "prenorm"})
    assert adapted.is_sphere_mapper and adapted.kind == "sphere_mapper"
    assert adapted.feature_dim() == 3
    x = torch.rand(1, 3, 56, 56)
    with torch.no_grad():
        out = adapted.forward_features(x)
        base = bb.forward_features(x, *bb.resolve_tap(-1, "prenorm"))
        mapped = adapted.heads[1](base)  # the prototype is not applied at inference
    assert out.shape[1] == 3
    assert torch.allclose(out.norm(dim=1), torch.ones(()), atol=1e-5)
    assert torch.allclose(out, mapped, atol=1e-6)
    keys = adapted.trainable_state_dict()
    assert any(k.startswith("heads.0.category") for k in keys)  # stored for exact resume


def test_mean_directions_and_masks():
    s = np.zeros((1, 2, 3))
    s[0, 0] = [1, 0, 0]
    s[0, 1] = [0, 1, 0]
    d = mean_directions([s, s], [np.array([[True, True]]), np.array([[False, True]])])
    assert d[0] == pytest.approx([math.sqrt(0.5), math.sqrt(0.5), 0])
    assert d[1] == pytest.approx([0, 1, 0])


def test_circular_correlation_hand_values():
    bins = np.arange(8)
    a = bin_angles(bins)
    assert circular_correlation(a, a) == pytest.approx(1.0)
    assert circular_correlation(a, a + 1.3) == pytest.approx(1.0)  # a rotation of the frame
    assert circular_correlation(a, -a) == pytest.approx(-1.0)      # a mirrored frame
    # hand case, three angles: a = (0, pi/2, pi), b = (0, pi/2, pi/2); pairs (0,1), (0,2), (1,2):
    # sin(a_i - a_j) = (-1, 0, -1), sin(b_i - b_j) = (-1, -1, 0) -> 1 / sqrt(2 * 2) = 0.5
    assert circular_correlation(np.array([0, np.pi / 2, np.pi]),
                                np.array([0, np.pi / 2, np.pi / 2])) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    assert abs(circular_correlation(rng.uniform(0, 2 * np.pi, 2000), rng.uniform(0, 2 * np.pi, 2000))) < 0.1


def test_azimuth_angles_recover_a_tilted_circle():
    # mean directions on a tilted small circle: the angle along the fitted plane follows the azimuth
    az = bin_angles(np.repeat(np.arange(8), 3)) + np.random.default_rng(1).normal(0, 0.05, 24)
    circle = np.stack([np.cos(az) * 0.8, np.sin(az) * 0.8, np.full_like(az, 0.6)], axis=1)
    tilt = np.array([[1, 0, 0], [0, math.cos(0.4), -math.sin(0.4)], [0, math.sin(0.4), math.cos(0.4)]])
    ang = azimuth_angles(circle @ tilt.T)
    assert abs(circular_correlation(ang, bin_angles(np.repeat(np.arange(8), 3)))) > 0.99


def test_grid_sincos_code_and_the_mapper_tells_mirrored_grids_apart():
    from corrviz.core.heads import SphereMapper
    from corrviz.core.sph import grid_sincos

    code = grid_sincos(2, 3, 8)
    assert code.shape == (6, 8)
    # cell (row 1, col 2): y = 0.75, x = 5/6; first frequency pi -> sin(0.75 pi), first x channel sin(5 pi / 6)
    assert code[5, 0].item() == pytest.approx(math.sin(0.75 * math.pi), abs=1e-6)
    assert code[5, 4].item() == pytest.approx(math.sin(5 * math.pi / 6), abs=1e-6)
    assert torch.allclose(grid_sincos(4, 4, 8)[0], grid_sincos(4, 4, 8)[0])
    torch.manual_seed(0)
    x = torch.randn(1, 32, 4, 4)
    mirrored = x.flip(-1)
    plain = SphereMapper(32, 4)
    with torch.no_grad():
        a, b = plain(x), plain(mirrored)
        # no position code: the block is permutation-equivariant, so the mirrored grid maps to the mirrored map
        assert torch.allclose(a.flip(-1), b, atol=1e-5)
        pos = SphereMapper(32, 4, pos="sincos")
        pos.load_state_dict(plain.state_dict())
        c, d = pos(x), pos(mirrored)
        assert not torch.allclose(c.flip(-1), d, atol=1e-3)
    with pytest.raises(ValueError, match="position code"):
        SphereMapper(32, 4, pos="learned")
