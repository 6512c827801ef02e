"""Tests for the weight-free dense descriptors in ``corrviz.core.backbones.classical``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import color, data
from skimage.feature import daisy as skimage_daisy

from corrviz.core.backbones import create_backbone, get_config
from corrviz.core.backbones.classical import dense_daisy, dense_sift

DAISY_RADIUS = 15


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """512 x 512 textured grey image, float32 in [0, 1]."""
    return color.rgb2gray(data.astronaut()).astype(np.float32)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity along axis 0 (descriptor channels) of two equally shaped arrays."""
    num = (a * b).sum(axis=0)
    den = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
    return num / np.maximum(den, 1e-12)


def _sift_direct(img: np.ndarray, xy: list[tuple[float, float]], support: float) -> np.ndarray:
    """RootSIFT computed by OpenCV on the *unpadded* image at the given pixel-index points."""
    u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    kps = [cv2.KeyPoint(float(x), float(y), support / 6.0, 0.0) for x, y in xy]
    out, desc = cv2.SIFT_create().compute(u8, kps)
    assert len(out) == len(kps)
    desc = desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-12)
    return np.sqrt(desc).T  # (128, N)


def _daisy_direct(img: np.ndarray, xy: list[tuple[int, int]]) -> np.ndarray:
    """skimage DAISY evaluated on a crop of the unpadded image centred at integer points."""
    ctx = 3 * DAISY_RADIUS
    out = []
    for x, y in xy:
        crop = img[y - ctx : y + ctx + 1, x - ctx : x + ctx + 1]
        # Centres at radius + step * p; p = 1 lands on the crop centre (index ctx).
        d = skimage_daisy(
            crop, step=ctx - DAISY_RADIUS, radius=DAISY_RADIUS, rings=2, histograms=6, orientations=8
        )
        out.append(d[1, 1])
    return np.stack(out, axis=1)


@pytest.mark.parametrize("fn", [dense_sift, dense_daisy])
@pytest.mark.parametrize(
    ("h", "w", "stride"), [(8 * 37, 8 * 23, 8), (8 * 23, 8 * 37, 8), (7 * 9, 7 * 5, 7), (14 * 3, 14 * 4, 14)]
)
def test_shapes_dtype(fn, h: int, w: int, stride: int) -> None:
    rng = np.random.default_rng(0)
    out = fn(rng.random((h, w), dtype=np.float32), stride=stride)
    dim = 128 if fn is dense_sift else (2 * 6 + 1) * 8
    assert out.shape == (dim, h // stride, w // stride)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    # Every cell, border cells included, got a real (non-zero) descriptor.
    assert (np.abs(out).sum(axis=0) > 0).all()


@pytest.mark.parametrize("fn", [dense_sift, dense_daisy])
@pytest.mark.parametrize(
    ("shape", "stride"), [((100, 96), 8), ((96, 100), 8), ((64, 64), 7), ((64, 64, 3), 8), ((64, 64), 0)]
)
def test_bad_sizes_raise(fn, shape: tuple[int, ...], stride: int) -> None:
    with pytest.raises(ValueError):
        fn(np.zeros(shape, dtype=np.float32), stride=stride)


def test_deterministic(astronaut: np.ndarray) -> None:
    img = astronaut[:128, :192]
    np.testing.assert_array_equal(dense_sift(img), dense_sift(img))
    np.testing.assert_array_equal(dense_daisy(img), dense_daisy(img))
    sift = dense_sift(img)
    np.testing.assert_allclose(np.linalg.norm(sift, axis=0), 1.0, atol=1e-4)  # RootSIFT


@pytest.mark.parametrize("fn", [dense_sift, dense_daisy])
@pytest.mark.parametrize("stride", [8, 7])
def test_equivariant_to_cell_shift(astronaut: np.ndarray, fn, stride: int) -> None:
    """Translating the image by k cells translates the descriptor grid by k cells."""
    n, (ky, kx), y0, x0 = 40, (3, 5), 40, 24
    a = astronaut[y0 : y0 + n * stride, x0 : x0 + n * stride]
    b = astronaut[y0 + ky * stride : y0 + (ky + n) * stride, x0 + kx * stride : x0 + (kx + n) * stride]
    da, db = fn(a, stride=stride), fn(b, stride=stride)
    # Cells whose descriptor support stays inside both crops (SIFT: 2*stride support + pyramid
    # blur; DAISY: 15 px rings + Gaussian tails).
    m = 3 if fn is dense_sift else int(np.ceil(3 * DAISY_RADIUS / stride)) + 1
    sub_a = da[:, ky + m : n - m, kx + m : n - m]
    sub_b = db[:, m : n - m - ky, m : n - m - kx]
    cos = _cos(sub_a, sub_b)
    assert cos.size > 200
    assert cos.min() > 0.99
    # Sanity: the test can fail -- without the shift the grids do not match.
    assert np.median(_cos(da[:, m:-m, m:-m], db[:, m:-m, m:-m])) < 0.9


@pytest.mark.parametrize("fn", [dense_sift, dense_daisy])
def test_odd_stride_centres_match_direct(astronaut: np.ndarray, fn) -> None:
    """Odd stride: centres are integer pixels; compare with the back-end on the raw image."""
    stride, n = 9, 24
    img = astronaut[: n * stride, : n * stride]
    dense = fn(img, stride=stride)
    cells = [(i, j) for i in range(6, n - 6, 3) for j in range(6, n - 6, 3)]
    xy = [(j * stride + 4, i * stride + 4) for i, j in cells]  # (j + 0.5) * 9 - 0.5
    direct = _sift_direct(img, xy, 2.0 * stride) if fn is dense_sift else _daisy_direct(img, xy)
    got = np.stack([dense[:, i, j] for i, j in cells], axis=1)
    off = [(x + 1, y) for x, y in xy]
    shifted = _sift_direct(img, off, 2.0 * stride) if fn is dense_sift else _daisy_direct(img, off)
    err = np.linalg.norm(got - direct, axis=0)
    one_px = np.linalg.norm(shifted - direct, axis=0)  # what a 1 px centring error costs
    assert one_px.min() > 0
    assert err.mean() < 0.1 * one_px.mean(), (err.mean(), one_px.mean())
    assert _cos(got, direct).min() > 0.999


@pytest.mark.parametrize("fn", [dense_sift, dense_daisy])
def test_even_stride_half_pixel_centre(astronaut: np.ndarray, fn) -> None:
    """Even stride: each cell centre is a half-integer pixel index. The dense descriptor must
    sit symmetrically between direct descriptors at the four surrounding integer pixels (an
    implementation rounding the centre, as OpenCV itself does, would equal one of them)."""
    stride, n = 8, 28
    img = astronaut[100 : 100 + n * stride, 120 : 120 + n * stride]
    dense = fn(img, stride=stride)
    cells = [(i, j) for i in range(7, n - 7, 2) for j in range(7, n - 7, 2)]
    got = np.stack([dense[:, i, j] for i, j in cells], axis=1)
    dist = {}
    for dx in (0, 1):
        for dy in (0, 1):
            xy = [(j * stride + 3 + dx, i * stride + 3 + dy) for i, j in cells]
            direct = _sift_direct(img, xy, 2.0 * stride) if fn is dense_sift else _daisy_direct(img, xy)
            dist[dx, dy] = np.linalg.norm(got - direct, axis=0)
    # Normalised imbalance per cell: 0 when equidistant, +-1 when equal to one neighbour.
    for a, b in (((0, 0), (1, 1)), ((1, 0), (0, 1))):
        bal = (dist[a] - dist[b]) / np.maximum(dist[a] + dist[b], 1e-12)
        assert abs(bal.mean()) < 0.1, (a, b, bal.mean())
        assert np.abs(bal).mean() < 0.2, (a, b, np.abs(bal).mean())


def test_sift_point_symmetry(astronaut: np.ndarray) -> None:
    """Rotating the image by 180 degrees maps cell (i, j) to (n-1-i, m-1-j) and permutes
    the SIFT bins (both spatial axes reversed, orientation + 180 deg) -- exactly, if and only
    if the cell centres are symmetric about the image centre (padding-independent check)."""
    img = astronaut[64 : 64 + 8 * 30, 32 : 32 + 8 * 34]
    d = dense_sift(img)
    r = dense_sift(np.ascontiguousarray(img[::-1, ::-1]))[:, ::-1, ::-1]
    perm = np.array(
        [((3 - rb) * 4 + (3 - cb)) * 8 + (o + 4) % 8 for rb in range(4) for cb in range(4) for o in range(8)]
    )
    cos = _cos(d[:, 3:-3, 3:-3], r[perm][:, 3:-3, 3:-3])
    assert np.median(cos) > 0.995


@pytest.mark.parametrize("fn", [dense_sift, dense_daisy])
@pytest.mark.parametrize("extra", [0, 1])
def test_nn_matching_crop(astronaut: np.ndarray, fn, extra: int) -> None:
    """Cells of a half-size crop (cell-aligned, plus ``extra`` px of sub-cell translation)
    match the right cell of the full image by nearest neighbour for > 90% of textured cells."""
    stride, full = 8, astronaut[:384, :384]
    oy, ox = 9 * stride + extra, 14 * stride + extra
    crop = full[oy : oy + 192, ox : ox + 192]
    df, dc = fn(full, stride=stride), fn(crop, stride=stride)
    m = 2 if fn is dense_sift else 4
    q = dc[:, m:-m, m:-m].reshape(dc.shape[0], -1)
    # Textured cells: enough local intensity variation around the centre.
    sd = np.array(
        [
            [crop[max(i * 8 - 4, 0) : i * 8 + 12, max(j * 8 - 4, 0) : j * 8 + 12].std() for j in range(24)]
            for i in range(24)
        ]
    )[m:-m, m:-m].ravel()
    textured = sd > 0.03
    assert textured.sum() > 100
    db = df.reshape(df.shape[0], -1)
    qn = q / np.maximum(np.linalg.norm(q, axis=0), 1e-12)
    dn = db / np.maximum(np.linalg.norm(db, axis=0), 1e-12)
    nn = np.argmax(qn.T @ dn, axis=1)
    k = 24 - 2 * m
    ii, jj = np.divmod(np.arange(k * k), k)
    expected = (ii + m + 9) * 48 + (jj + m + 14)
    acc = np.mean(nn[textured] == expected[textured])
    assert acc > 0.9, acc


# ---------------------------------------------------------------- descriptor options of the backbones
def _rgb(gray: np.ndarray) -> torch.Tensor:
    """(1, 3, H, W) grey canvas as RGB in [0, 1] (equal channels: the backbone's grey is ``gray``)."""
    return torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32))[None, None].repeat(1, 3, 1, 1)


def _features(name: str, gray: np.ndarray, **descriptor) -> np.ndarray:
    """Backbone features with the given options; single-scale unless ``scales`` is given."""
    bb = create_backbone(name, descriptor={"scales": (1.0,), **descriptor})
    return bb.forward_features(_rgb(gray))[0].numpy()


@pytest.mark.parametrize(("name", "px", "frac"), [("dense_sift", 112.0, 0.25), ("daisy", 56.0, 0.125)])
def test_support_in_pixels_equals_fraction(astronaut: np.ndarray, name: str, px: float, frac: float) -> None:
    """On a 448 px canvas, a support of 0.25 (SIFT) / 0.125 (DAISY) of the side is 112 / 56 px."""
    img = astronaut[:448, :448]
    by_px, by_frac = _features(name, img, support_px=px), _features(name, img, support_frac=frac)
    np.testing.assert_array_equal(by_px, by_frac)
    # The fraction follows the canvas: on a 224 px canvas the same fraction is half the pixels.
    small = np.ascontiguousarray(img[::2, ::2])
    np.testing.assert_array_equal(_features(name, small, support_frac=frac), _features(name, small, support_px=px / 2))
    assert not np.allclose(_features(name, small, support_frac=frac), _features(name, small, support_px=px))


def test_backbone_support_is_the_descriptor_window(astronaut: np.ndarray) -> None:
    """The backbone's support reaches the low-level functions as the SIFT window side / DAISY radius."""
    img = astronaut[:224, :224]  # (the backbone's RGB -> grey conversion costs ~1e-7 of rounding)
    np.testing.assert_allclose(_features("dense_sift", img, support_px=48, min_bin_px=1e6),
                               dense_sift(img, 8, size=48.0, min_bin_px=None), atol=1e-5)
    np.testing.assert_allclose(_features("daisy", img, support_px=20, normalisation="daisy"),
                               dense_daisy(img, 8, radius=20, normalization="daisy"), atol=1e-5)
    # The previous default window (2 x stride) is the low-level default.
    np.testing.assert_allclose(_features("dense_sift", img, support_px=16), dense_sift(img, 8), atol=1e-5)


@pytest.mark.parametrize("name", ["dense_sift", "daisy"])
def test_support_widens_the_descriptor(astronaut: np.ndarray, name: str) -> None:
    """A larger support sees more context: neighbouring cells become more alike and the descriptor
    changes (the option is not ignored)."""
    img = astronaut[64 : 64 + 256, 64 : 64 + 256]
    small, large = _features(name, img, support_px=16), _features(name, img, support_px=96)
    m = 4
    adj = [float(np.median(_cos(f[:, m:-m, m : -m - 1], f[:, m:-m, m + 1 : -m]))) for f in (small, large)]
    assert 1 - adj[1] < 0.5 * (1 - adj[0]), adj  # at least twice as similar to the next cell
    assert np.median(_cos(small[:, m:-m, m:-m], large[:, m:-m, m:-m])) < 0.9


def test_pyramid_keeps_the_descriptor(astronaut: np.ndarray) -> None:
    """Computing a 112 px SIFT window / 56 px DAISY radius on the 2x downsampled image (14 px bins)
    gives nearly the descriptor of full resolution, at the same cell centres."""
    img = astronaut[:448, :448]
    for fn, kw in ((dense_sift, {"size": 112.0}), (dense_daisy, {"radius": 56})):
        fast, full = fn(img, 8, **kw), fn(img, 8, min_bin_px=None, **kw)
        cos = _cos(fast, full)[8:-8, 8:-8]
        assert np.median(cos) > 0.97 and cos.min() > 0.9, (fn.__name__, np.median(cos), cos.min())
    from corrviz.core.backbones.classical import pyramid_factor

    assert [pyramid_factor(8, b) for b in (4, 23.9, 24, 47.9, 48, 1000)] == [1, 1, 2, 2, 4, 8]
    assert pyramid_factor(12, 1000) == 4 and pyramid_factor(7, 1000) == 1 and pyramid_factor(8, 1000, None) == 1


def test_rootsift_and_l2_normalisation(astronaut: np.ndarray) -> None:
    """RootSIFT is the element-wise sqrt of the L1-normalised histogram, so its square is
    proportional to the L2-normalised one; both have unit L2 norm."""
    img = astronaut[:224, :224]
    root, l2 = _features("dense_sift", img, normalisation="rootsift"), _features("dense_sift", img, normalisation="l2")
    np.testing.assert_allclose(np.linalg.norm(root, axis=0), 1.0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(l2, axis=0), 1.0, atol=1e-4)
    np.testing.assert_allclose(root**2 / (root**2).sum(0), l2 / l2.sum(0), atol=1e-5)
    assert np.median(_cos(root, l2)) < 0.99


@pytest.mark.parametrize(
    ("options", "message"),
    [({"support_px": 64, "support_frac": 0.2}, "not both"), ({"radius": 3}, "unknown descriptor option"),
     ({"support_frac": 1.5}, "fraction of the canvas side"), ({"support_px": -4}, "positive number"),
     ({"support_px": float("nan")}, "positive number"), ({"normalisation": "l3"}, "unknown normalisation"),
     ({"min_bin_px": 0}, "positive number"), ({"scales": []}, "scales must be"), ({"scales": [1, 0]}, "scales must be"),
     ({"scales": "1,2"}, "scales must be"), ({"scales": [1, float("inf")]}, "scales must be")],
)
def test_bad_descriptor_options_raise(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        create_backbone("dense_sift", descriptor=options)
    assert "dense_sift" in str(err.value)


def test_registered_defaults_and_overrides() -> None:
    from corrviz.core.backbones.classical_backbone import DAISY_DEFAULTS, SIFT_DEFAULTS

    for name, defaults in (("dense_sift", SIFT_DEFAULTS), ("daisy", DAISY_DEFAULTS)):
        cfg = get_config(name)
        assert cfg.descriptor["support_frac"] == defaults["support_frac"] and cfg.descriptor["support_px"] is None
        assert cfg.descriptor["normalisation"] == defaults["normalisation"]
        assert f"{defaults['support_frac']:g} of the canvas side" in cfg.description
        assert cfg.descriptor["scales"] == defaults["scales"] == (1.0, 2.0, 4.0)
        assert cfg.embed_dim == create_backbone(name).feature_dim() == {"dense_sift": 128, "daisy": 104}[name] * 3
    # A value you pass wins over the registered fraction; options you leave out keep their defaults.
    bb = create_backbone("dense_sift", descriptor={"support_px": 64})
    assert bb.config.descriptor == {"support_px": 64.0, "support_frac": None, "min_bin_px": 12.0,
                                    "normalisation": SIFT_DEFAULTS["normalisation"], "scales": SIFT_DEFAULTS["scales"]}
    single = create_backbone("daisy", descriptor={"scales": [1]})
    assert single.config.descriptor["scales"] == (1.0,) and single.feature_dim() == 104
    assert bb.support_px(448, 448) == 64.0
    assert create_backbone("dense_sift").support_px(448, 448) == SIFT_DEFAULTS["support_frac"] * 448
    assert create_backbone("daisy").support_px(224, 336) == DAISY_DEFAULTS["support_frac"] * 336


def test_caches_tell_supports_apart(astronaut: np.ndarray, tmp_path) -> None:
    """Two supports never share cached features, in memory or on disk; the protocol records them."""
    from corrviz.core.evaluate import FeatureStore
    from corrviz.core.evaluate.spec import extractor_protocol
    from corrviz.core.features import FeatureCache, FeatureExtractor, FeatureOptions

    rgb = (np.stack([astronaut[:224, :224]] * 3, axis=-1) * 255).astype(np.uint8)
    shared = FeatureCache()
    exs = [FeatureExtractor(create_backbone("dense_sift", descriptor={"support_px": px}),
                            FeatureOptions(resolution=224), cache=shared) for px in (16, 64)]
    a, b = (ex.extract(rgb).features for ex in exs)
    assert exs[1].extractions == 1 and not torch.allclose(a, b)
    stores = [FeatureStore(ex, tmp_path) for ex in exs]
    assert stores[0].key(rgb) != stores[1].key(rgb)
    assert extractor_protocol(exs[1])["descriptor"]["support_px"] == 64.0


def test_concat_unit_blocks_by_hand() -> None:
    """Each cell's block is scaled to unit L2, the concatenation divided by sqrt(#blocks); zeros stay zero."""
    from corrviz.core.backbones.classical import concat_unit_blocks

    a = np.array([[[3.0, 0.0]], [[4.0, 0.0]]], dtype=np.float32)  # (2, 1, 2): cell 0 = (3, 4), cell 1 = 0
    b = np.array([[[0.0, 2.0]]], dtype=np.float32)  # (1, 1, 2): cell 0 = 0, cell 1 = 2
    out = concat_unit_blocks([a, b])
    r = 1 / np.sqrt(2)
    np.testing.assert_allclose(out[:, 0, 0], [0.6 * r, 0.8 * r, 0.0], atol=1e-7)
    np.testing.assert_allclose(out[:, 0, 1], [0.0, 0.0, r], atol=1e-7)
    with pytest.raises(ValueError, match="share one"):
        concat_unit_blocks([a, np.zeros((1, 2, 2), np.float32)])


@pytest.mark.parametrize("name", ["dense_sift", "daisy"])
def test_multiscale_is_the_scaled_supports_concatenated(astronaut: np.ndarray, name: str) -> None:
    """The registered multi-scale descriptor is the single-scale one at support x 1, 2, 4, each block
    at unit norm (the whole at unit norm), on the same cell centres."""
    img = astronaut[:224, :224]
    multi = _features(name, img, support_px=12, scales=(1, 2, 4))
    dim = 128 if name == "dense_sift" else 104
    assert multi.shape == (3 * dim, 28, 28)
    for k, px in enumerate((12, 24, 48)):
        single = _features(name, img, support_px=px)
        single = single / np.maximum(np.linalg.norm(single, axis=0, keepdims=True), 1e-12)
        np.testing.assert_allclose(multi[k * dim:(k + 1) * dim] * np.sqrt(3), single, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(multi, axis=0), 1.0, atol=1e-4)
    # The default (no scales given) is the multi-scale one.
    default = create_backbone(name, descriptor={"support_px": 12}).forward_features(_rgb(img))[0].numpy()
    np.testing.assert_array_equal(default, multi)


def test_caches_tell_scales_apart(astronaut: np.ndarray, tmp_path) -> None:
    from corrviz.core.evaluate import FeatureStore
    from corrviz.core.evaluate.spec import extractor_protocol
    from corrviz.core.features import FeatureExtractor, FeatureOptions

    exs = [FeatureExtractor(create_backbone("daisy", descriptor={"support_px": 10, "scales": sc}),
                            FeatureOptions(resolution=112), cache=None) for sc in ((1,), (1, 2))]
    rgb = (np.stack([astronaut[:112, :112]] * 3, axis=-1) * 255).astype(np.uint8)
    assert FeatureStore(exs[0], tmp_path).key(rgb) != FeatureStore(exs[1], tmp_path).key(rgb)
    assert extractor_protocol(exs[1])["descriptor"]["scales"] == (1.0, 2.0)
