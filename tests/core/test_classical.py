"""Tests for the weight-free dense descriptors in ``corrviz.core.backbones.classical``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import color, data
from skimage.feature import daisy as skimage_daisy

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
