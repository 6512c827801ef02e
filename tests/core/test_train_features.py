"""The differentiable training path: torch canvases equal the numpy ones, tensor point sampling equals
FeatureMap.sample (hand-computed case, gradcheck), gradients reach the adapters, and several taps come
from one forward."""

import numpy as np
import pytest
import torch

from corrviz.core.backbones import create_backbone
from corrviz.core.features import FeatureExtractor, FeatureOptions
from corrviz.core.heads import AdaptedBackbone
from corrviz.core.train_features import TrainFeatures, sample_points
from corrviz.core.transforms import (
    CANVAS_MODES,
    CanvasTransform,
    image_to_normalized_torch,
    render_canvas,
    render_canvas_torch,
)

SIZES = [(131, 97), (60, 150), (224, 224), (333, 201)]


@pytest.mark.parametrize("mode", CANVAS_MODES)
@pytest.mark.parametrize("canvas", [112, 224])
def test_torch_canvas_equals_numpy_canvas_to_float_precision(mode, canvas):
    rng = np.random.default_rng(1)
    for w, h in SIZES:
        t = CanvasTransform.create((w, h), canvas, 14 if canvas % 14 == 0 else 16, mode)
        img = rng.random((h, w, 3), dtype=np.float32)
        ref = render_canvas(img, t)
        got = render_canvas_torch(torch.from_numpy(img).permute(2, 0, 1)[None], t)[0].permute(1, 2, 0).numpy()
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() < 3e-5, (w, h, np.abs(got - ref).max())


@pytest.mark.parametrize("mode", CANVAS_MODES)
def test_torch_canvas_of_uint8_images_is_the_float_canvas_and_close_to_pils_eight_bit_one(mode):
    rng = np.random.default_rng(2)
    for w, h in SIZES:
        t = CanvasTransform.create((w, h), 224, 14, mode)
        yy, xx = np.mgrid[0:h, 0:w]  # a smooth image: PIL's 8-bit passes only round (nothing overshoots)
        img = np.stack([127 + 100 * np.sin(xx / 9.0 + c) * np.cos(yy / 13.0) for c in range(3)], -1)
        img = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
        got = render_canvas_torch(torch.from_numpy(img).permute(2, 0, 1), t).permute(1, 2, 0).numpy()
        assert np.abs(got - render_canvas(img.astype(np.float32) / 255, t)).max() < 3e-5
        diff = np.abs(got - render_canvas(img, t)) * 255
        if mode == "pad_br_white":  # the content / white edge is sharp: PIL clips its overshoot, float does not
            diff[max(0, t.content_h - 4): t.content_h + 4] = 0
            diff[:, max(0, t.content_w - 4): t.content_w + 4] = 0
        assert diff.max() < 1.5 and diff.mean() < 0.35, (w, h, diff.max(), diff.mean())


def test_torch_canvas_is_batched_and_differentiable():
    t = CanvasTransform.create((50, 40), 112, 14, "pad_center")
    x = torch.rand(3, 3, 40, 50, dtype=torch.float64, requires_grad=True)
    out = render_canvas_torch(x, t)
    assert out.shape == (3, 3, 112, 112)
    assert torch.equal(out[1], render_canvas_torch(x[1], t))
    out[:, :, 56, 56].sum().backward()
    assert x.grad is not None and x.grad[0].abs().sum() > 0
    assert out[:, :, :10].abs().max() == 0  # zero padding above the content (offset 11 rows)
    with pytest.raises(ValueError, match="transform expects 50x40"):
        render_canvas_torch(torch.rand(1, 3, 41, 50), t)


@pytest.mark.parametrize("anchor", ["center", "corner"])
def test_normalized_coordinates_torch_equal_numpy(anchor):
    rng = np.random.default_rng(3)
    for mode in CANVAS_MODES:
        t = CanvasTransform.create((131, 97), 224, 16, mode, cell_anchor=anchor)
        xy = rng.random((20, 2)) * [131, 97]
        got = image_to_normalized_torch(t, torch.from_numpy(xy)).numpy()
        assert np.allclose(got, t.image_to_normalized(xy), atol=1e-12)


def test_point_sampling_hand_values_and_gradcheck():
    # a 2 x 2 grid on a 28 x 28 "resize" canvas of a 28 x 28 image, stride 14: cell centres at 7 and 21
    t = CanvasTransform.create((28, 28), 28, 14, "resize")
    grid = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]], dtype=torch.float64)[None]  # (1, 1, 2, 2)
    xy = torch.tensor([[[7.0, 7.0], [21.0, 7.0], [14.0, 14.0], [7.0, 14.0], [0.0, 0.0], [17.5, 21.0]]],
                      dtype=torch.float64)
    got = sample_points(grid, xy, t)[0, :, 0]
    # centres are exact; half-way is the mean; outside the centres it is clamped (border); 17.5 is 3/4 of 7..21
    assert torch.allclose(got, torch.tensor([0.0, 1.0, 1.5, 1.0, 0.0, 2.75], dtype=torch.float64))
    g = torch.rand(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    t3 = CanvasTransform.create((42, 42), 42, 14, "resize")
    pts = torch.tensor([[[10.3, 12.9], [30.1, 25.4]]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: sample_points(f, pts, t3), (g,))


def test_point_sampling_equals_feature_map_sample():
    ex = FeatureExtractor("test_dinov2_tiny", FeatureOptions(resolution=112), cache=None)
    img = np.random.default_rng(4).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    fm = ex.extract(img)
    xy = np.array([[3.2, 5.0], [60.0, 44.4], [119.0, 89.0], [77.7, 10.1]])
    got = sample_points(fm.features[None], torch.from_numpy(xy)[None].float(), fm.transform)[0]
    assert torch.allclose(got, fm.sample(xy), atol=1e-6)


def test_train_features_match_inference_features_and_carry_gradients():
    bb = create_backbone("test_dinov2_tiny")
    model = AdaptedBackbone(bb, [{"type": "lora", "rank": 2, "last_blocks": 2}, {"type": "conv", "channels": 32}])
    model.train()
    img = np.random.default_rng(5).integers(0, 256, (84, 112, 3), dtype=np.uint8)  # no resize at 112
    batch = torch.from_numpy(img).permute(2, 0, 1)[None]
    tf = TrainFeatures(model, 112, "pad_center", layer=-1, facet="norm")
    grid, t = tf.features(batch)
    assert grid.requires_grad and grid.shape == (1, 32, 8, 8)
    ref = FeatureExtractor(bb, FeatureOptions(resolution=112, layer=-1, facet="norm"), cache=None)
    with torch.no_grad():
        expected = model.heads[1](ref.extract(img).features[None])
    assert torch.allclose(grid, expected, atol=1e-5)
    xy = torch.tensor([[[10.0, 20.0], [100.0, 70.0]]])
    feats = tf.point_features(batch, xy)
    assert feats.shape == (1, 2, 32)
    feats.sum().backward()
    assert model.heads[1].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in bb.parameters())


def test_several_taps_come_from_one_forward():
    bb = create_backbone("test_dinov2_tiny")
    taps = [(0, "prenorm"), (1, "key"), (2, "value"), (-1, "norm")]
    x = torch.rand(2, 3, 56, 70)
    calls = []
    hooks = [b.register_forward_hook(lambda m, i, o, k=k: calls.append(k)) for k, b in enumerate(bb.model.blocks)]
    with torch.no_grad():
        grids = bb.forward_taps(x, taps)
    assert calls == [0, 1, 2]
    for h in hooks:
        h.remove()
    with torch.no_grad():
        for (layer, facet), g in zip(taps, grids, strict=True):
            assert torch.equal(g, bb.forward_features(x, layer, facet))
    model = AdaptedBackbone(bb, [{"type": "lora", "rank": 2, "last_blocks": 2}])
    with torch.no_grad():
        for p in model.heads.parameters():
            p.add_(0.1)
        tf = TrainFeatures(model, 70, "resize")
        got, _ = tf.taps(x[:, :, :, :70].mul(255).to(torch.uint8), taps)
        canvas, _ = tf.canvases(x[:, :, :, :70].mul(255).to(torch.uint8))
        for (layer, facet), g in zip(taps, got, strict=True):
            assert torch.equal(g, model.forward_features(canvas, layer, facet))
        assert not torch.equal(got[2], bb.forward_features(canvas, 2, "value"))
    with pytest.raises(ValueError, match="at least one"):
        bb.forward_taps(x, [])
