"""Feature extraction: FeatureMap geometry, point sampling, the LRU cache, options and PCA."""

import numpy as np
import pytest
import torch

from corrviz.core.backbones import create_backbone
from corrviz.core.features import FeatureCache, FeatureExtractor, FeatureOptions
from corrviz.core.pca import fit_joint_pca, joint_pca_rgb, upsample_rgb


@pytest.fixture(scope="module")
def tiny():
    return create_backbone("test_dinov2_tiny")


def _img(seed=0, h=150, w=230):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_feature_map_matches_direct_forward(tiny):
    ex = FeatureExtractor(tiny, FeatureOptions(resolution=224, canvas="resize"), cache=None)
    img = _img()
    fm = ex.extract(img)
    from corrviz.core.transforms import render_canvas

    canvas = torch.from_numpy(render_canvas(img, fm.transform)).permute(2, 0, 1)[None]
    direct = tiny.forward_features(canvas)[0]
    assert fm.grid_shape == (16, 16) and torch.allclose(fm.features, direct, atol=1e-6)


def test_sampling_at_cell_centres_returns_cell_features(tiny):
    fm = FeatureExtractor(tiny, FeatureOptions(resolution=224), cache=None).extract(_img(1))
    rows, cols = np.array([5, 7, 10]), np.array([0, 8, 15])
    xy = fm.transform.cell_to_image(np.stack([rows, cols], axis=1))
    sampled = fm.sample(xy)
    assert torch.allclose(sampled, fm.features[:, rows, cols].T, atol=1e-5)
    # half-way between two horizontal neighbours: the mean of both (bilinear, centre aligned)
    mid = (fm.transform.cell_to_image(np.array([8, 3])) + fm.transform.cell_to_image(np.array([8, 4]))) / 2
    assert torch.allclose(fm.sample(mid)[0], fm.features[:, 8, 3:5].mean(dim=1), atol=1e-5)


def test_cache_hits_skip_extraction(tiny):
    cache = FeatureCache(max_entries=2)
    ex = FeatureExtractor(tiny, FeatureOptions(resolution=224), cache=cache)
    a, b, c = _img(1), _img(2), _img(3)
    fa = ex.extract(a)
    assert ex.extractions == 1
    assert ex.extract(a.copy()) is fa and ex.extractions == 1  # same content -> cached
    ex.extract_many([b, c])
    assert ex.extractions == 3 and len(cache) == 2
    ex.extract(a)  # evicted (LRU of 2) -> recomputed
    assert ex.extractions == 4
    other = FeatureExtractor(tiny, FeatureOptions(resolution=224, facet="key"), cache=cache)
    other.extract(a)
    assert other.extractions == 1  # a different facet is a different key


def test_masks_and_batching(tiny):
    ex = FeatureExtractor(tiny, FeatureOptions(resolution=224, batch_size=2), cache=None)
    imgs = [_img(i, 100 + 10 * i, 120) for i in range(3)]
    mask = np.zeros((100, 120), bool)
    mask[:50] = True
    fms = ex.extract_many(imgs, masks=[mask, None, None])
    assert ex.extractions == 3 and fms[0].mask is not None and fms[1].mask is None
    fg = fms[0].foreground()
    assert fg.any() and fg.sum() < fms[0].transform.content_mask().sum()


def test_options_validation(tiny):
    with pytest.raises(ValueError, match="canvas mode"):
        FeatureOptions(canvas="pad")
    with pytest.raises(ValueError, match="needs a CUDA device"):
        FeatureOptions(dtype="bf16", device="cpu")
    with pytest.raises(ValueError, match="unknown facet"):
        FeatureExtractor(tiny, FeatureOptions(facet="token"))
    with pytest.raises(ValueError, match="out of range"):
        FeatureExtractor(tiny, FeatureOptions(layer=7))


def test_joint_pca_colours_are_consistent(tiny):
    ex = FeatureExtractor(tiny, FeatureOptions(resolution=224, canvas="resize"), cache=None)
    img = _img(5, 224, 224)
    a, b = ex.extract(img), ex.extract(np.ascontiguousarray(img[:, ::-1]))
    rgb_a, rgb_b = joint_pca_rgb([a, b])
    assert rgb_a.shape == (16, 16, 3) and 0 <= rgb_a.min() and rgb_a.max() <= 1
    pca = fit_joint_pca([a, b])
    # the same features get the same colour in both images
    same = pca.to_unit(pca.project(a.unit()[:3].double().numpy()))
    assert np.allclose(same, rgb_a.reshape(-1, 3)[:3], atol=1e-5)
    assert upsample_rgb(rgb_a, a).shape == (224, 224, 3)


def test_shared_extractor_reuses_the_built_backbone(tmp_path):
    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.features import shared_extractor
    from corrviz.core.heads import AdaptedBackbone

    a = shared_extractor("test_dinov2_tiny", FeatureOptions(resolution=224))
    b = shared_extractor("test_dinov2_tiny", FeatureOptions(resolution=448, facet="key"))
    assert b.backbone is a.backbone and b.options.resolution == 448 and b.options.facet == "key"
    img = _img(7)
    fresh = FeatureExtractor("test_dinov2_tiny", FeatureOptions(resolution=448, facet="key"), cache=None)
    assert torch.equal(b.extract(img).features, fresh.extract(img).features)
    ck = save_checkpoint(tmp_path / "c.safetensors", AdaptedBackbone(create_backbone("test_dinov2_tiny"),
                                                                    [{"type": "conv", "channels": 32}]), "mef")
    c = shared_extractor("test_dinov2_tiny", FeatureOptions(resolution=224), checkpoint=ck)
    assert c.backbone is not a.backbone and c.checkpoint_digest
