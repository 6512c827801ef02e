"""Weight-free dense descriptors: dense SIFT (OpenCV) and DAISY (scikit-image).

These are the classical baselines that dense-correspondence papers compare foundation-model
features against. Both functions map a grey image to a descriptor grid laid out exactly like a
ViT patch-feature map of patch size ``stride``.

Geometry contract (shared with the rest of corrviz). Continuous image coordinates span
``[0, W] x [0, H]`` and pixel ``(r, c)`` has its centre at ``(c + 0.5, r + 0.5)``. Output cell
``(i, j)`` describes the image around the continuous point ``((j + 0.5) * stride,
(i + 0.5) * stride)``, i.e. pixel-index position ``(j + 0.5) * stride - 0.5`` (OpenCV / array
convention, pixel centre on the integer). For odd strides that position is an integer pixel; for
even strides it lies exactly half-way between four pixels.

How the centres are made exact. Neither back-end samples at sub-pixel centres: OpenCV's
``calcSIFTDescriptor`` rounds the keypoint to the nearest pixel (``cvRound``, ties to even) and
scikit-image's ``daisy`` only evaluates integer pixels on a regular ``step`` grid. So the image is
first padded by symmetric reflection (the edge pixel is repeated, i.e. the mirror sits on the
continuous image border, consistent with the coordinate convention above and with SciPy's
``mode='reflect'``), and, for even strides, resampled by a half-pixel shift in both axes with an
exact bilinear kernel: ``shifted[a, b] = mean(padded[a:a + 2, b:b + 2])``, which is the bilinear
value of the padded image at index ``(a + 0.5, b + 0.5)``. Every cell centre then falls on an
integer pixel of the resampled image, where the back-end is evaluated. The half-pixel resampling
adds a tiny blur (a 2x2 box, std 0.5 px per axis) that odd strides do not get.

Padding also guarantees that every cell near the border gets a descriptor (OpenCV may drop
keypoints close to the border; the returned count is checked anyway).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["concat_unit_blocks", "dense_daisy", "dense_sift"]

# OpenCV SIFT: 4 x 4 spatial bins, each SIFT_DESCR_SCL_FCTR * (kp.size / 2) = 1.5 * kp.size px
# wide, so the square descriptor support is 6 * kp.size pixels on a side.
_SIFT_SUPPORT_PER_KP_SIZE = 6.0
# OpenCV samples a disc of radius sqrt(2) * 1.5 * kp.size * (4 + 1) / 2 ~= 5.31 * kp.size.
_SIFT_RADIUS_PER_KP_SIZE = math.sqrt(2.0) * 1.5 * 2.5
# Narrowest spatial bin (pixels) left after downsampling a large support (``pyramid_factor``). OpenCV's
# own scale space would go down to 4.8 px bins (keypoint size 2 * 1.6 px), but on PF-WILLOW that loses
# 4 points of PCK@0.1 (window 112 px: 23.4 with 7 px bins vs 27.8 at full resolution) while 14 px bins
# score the same as full resolution at a quarter of the cost.
MIN_BIN_PX = 12.0


def _validate(gray: np.ndarray, stride: int) -> np.ndarray:
    """Check the image/stride contract and return ``gray`` as a C-contiguous float32 array."""
    if not isinstance(stride, (int, np.integer)) or isinstance(stride, bool) or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    arr = np.asarray(gray)
    if arr.ndim != 2:
        raise ValueError(f"gray must be a 2-D (H, W) array, got shape {arr.shape}")
    h, w = arr.shape
    if h == 0 or w == 0 or h % stride or w % stride:
        raise ValueError(f"image size {h}x{w} (HxW) is not a non-zero multiple of stride {stride}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _pad_and_centre(img: np.ndarray, stride: int, margin: int) -> tuple[np.ndarray, int]:
    """Pad ``img`` symmetrically by ``margin`` and, for even strides, shift it by half a pixel.

    Returns the prepared image and the integer index (same for rows and columns) at which the
    centre of cell 0 lies in it; cell ``k`` is then at ``first + k * stride``.
    """
    padded = np.pad(img, margin, mode="symmetric")
    if stride % 2:
        return padded, margin + (stride - 1) // 2
    # Exact bilinear half-pixel shift: sample (a + 0.5, b + 0.5) of ``padded`` at index (a, b).
    shifted = 0.25 * (padded[:-1, :-1] + padded[1:, :-1] + padded[:-1, 1:] + padded[1:, 1:])
    # Cell 0 centre is at padded index margin + stride / 2 - 0.5, i.e. shifted index - 0.5 more.
    return shifted, margin + stride // 2 - 1


def pyramid_factor(stride: int, bin_px: float, min_bin_px: float | None = MIN_BIN_PX) -> int:
    """Downsampling factor (a power of two dividing ``stride``) at which a spatial bin of
    ``bin_px`` pixels is still at least ``min_bin_px`` wide; 1 keeps full resolution (always so
    for ``min_bin_px=None``).

    Like SIFT's scale space, large supports are sampled on a smaller image (the cost grows as
    support^2 otherwise), but more conservatively than SIFT's octaves (see ``MIN_BIN_PX``). The
    factor divides the stride so cell centres stay exact.
    """
    f = 1
    while min_bin_px is not None and stride % (2 * f) == 0 and bin_px / (2 * f) >= min_bin_px:
        f *= 2
    return f


def box_downsample(img: np.ndarray, f: int) -> np.ndarray:
    """Mean over ``f x f`` blocks (area sampling: continuous point ``p`` maps to ``p / f``)."""
    if f == 1:
        return img
    h, w = img.shape
    return np.ascontiguousarray(img.reshape(h // f, f, w // f, f).mean(axis=(1, 3)), dtype=np.float32)


def dense_sift(
    gray: np.ndarray, stride: int = 8, size: float | None = None, root_sift: bool = True,
    min_bin_px: float | None = MIN_BIN_PX,
) -> np.ndarray:
    """Dense upright SIFT on a regular grid, one descriptor per ``stride`` x ``stride`` cell.

    Args:
        gray: float image in [0, 1], shape (H, W), H and W multiples of ``stride``. It is
            quantised to uint8 for OpenCV after padding/resampling (values are clipped).
        stride: cell size in pixels; output cell (i, j) is centred on the continuous point
            ((j + 0.5) * stride, (i + 0.5) * stride) (see module docstring).
        size: side length in pixels of the square descriptor support (the 4 x 4 spatial bins are
            ``size / 4`` px each, as in SIFT-Flow / VLFeat dense SIFT). Default ``2 * stride``,
            so neighbouring descriptors overlap by half and each bin is ``stride / 2`` px. It maps
            to OpenCV's ``KeyPoint.size = size / 6``; note that OpenCV additionally weights the
            support with a Gaussian of std ``size / 2`` and blurs the image with sigma 1.6 px
            (octave 0, layer 0 of its scale space).
        root_sift: if True return RootSIFT (L1-normalise, element-wise sqrt, hence unit L2
            norm); otherwise the OpenCV descriptor L2-normalised. Textureless cells give zeros.
        min_bin_px: when the bins are wide (``size / 4 >= 2 * min_bin_px``) the descriptors are
            computed on the image box-downsampled by ``f = pyramid_factor(stride, size / 4,
            min_bin_px)`` with stride ``stride / f`` and size ``size / f``: the same cell centres,
            ~f^2 times faster (OpenCV's 1.6 px blur then acts at that scale). None: full resolution.

    Returns:
        float32 array of shape (128, H // stride, W // stride). The channel order is OpenCV's:
        ``(row_bin * 4 + col_bin) * 8 + orientation_bin``. Orientation is fixed (angle 0): no
        rotation invariance, as in the dense-SIFT baseline.
    """
    import cv2  # imported here: corrviz.core.backbones stays light to import

    img = _validate(gray, stride)
    support = float(2 * stride if size is None else size)
    if not support > 0:
        raise ValueError(f"size must be positive, got {size!r}")
    f = pyramid_factor(stride, support / 4.0, min_bin_px)
    if f > 1:
        return dense_sift(box_downsample(img, f), stride // f, support / f, root_sift, min_bin_px=None)
    kp_size = support / _SIFT_SUPPORT_PER_KP_SIZE
    margin = int(math.ceil(_SIFT_RADIUS_PER_KP_SIZE * kp_size)) + 8
    prepared, first = _pad_and_centre(img, stride, margin)
    img_u8 = np.clip(np.rint(prepared * 255.0), 0, 255).astype(np.uint8)

    rows, cols = img.shape[0] // stride, img.shape[1] // stride
    ys = first + stride * np.arange(rows)
    xs = first + stride * np.arange(cols)
    keypoints = [cv2.KeyPoint(float(x), float(y), kp_size, 0.0) for y in ys.tolist() for x in xs.tolist()]
    # Fixed-parameter extractor: SIFT_create(nfeatures, nOctaveLayers, ...) defaults otherwise.
    sift = cv2.SIFT_create()
    out_kps, desc = sift.compute(img_u8, keypoints)
    if desc is None or len(out_kps) != rows * cols or desc.shape != (rows * cols, 128):
        raise RuntimeError(
            f"OpenCV SIFT returned {0 if desc is None else len(out_kps)} descriptors, expected {rows * cols}"
        )
    # Put descriptors back on the grid by their (unchanged, integer) coordinates, in case
    # OpenCV reorders keypoints.
    pts = np.array([kp.pt for kp in out_kps], dtype=np.float64)
    cj = np.rint((pts[:, 0] - first) / stride).astype(np.int64)
    ci = np.rint((pts[:, 1] - first) / stride).astype(np.int64)
    flat = ci * cols + cj
    if np.unique(flat).size != rows * cols or flat.min() < 0 or flat.max() >= rows * cols:
        raise RuntimeError("OpenCV SIFT returned keypoints that do not cover the grid")
    grid = np.empty((rows * cols, 128), dtype=np.float32)
    grid[flat] = desc.astype(np.float32)

    if root_sift:
        l1 = grid.sum(axis=1, keepdims=True)
        grid = np.sqrt(grid / np.maximum(l1, 1e-12))
    else:
        l2 = np.linalg.norm(grid, axis=1, keepdims=True)
        grid = grid / np.maximum(l2, 1e-12)
    return np.ascontiguousarray(grid.T.reshape(128, rows, cols), dtype=np.float32)


def dense_daisy(
    gray: np.ndarray,
    stride: int = 8,
    radius: int = 15,
    rings: int = 2,
    histograms: int = 6,
    orientations: int = 8,
    normalization: str = "l1",
    min_bin_px: float | None = MIN_BIN_PX,
) -> np.ndarray:
    """Dense DAISY (Tola et al. 2010) via ``skimage.feature.daisy``, one descriptor per cell.

    Args:
        gray: float image in [0, 1], shape (H, W), H and W multiples of ``stride``.
        stride: cell size in pixels; output cell (i, j) is centred on the continuous point
            ((j + 0.5) * stride, (i + 0.5) * stride) (see module docstring).
        radius: radius in pixels of the outermost ring.
        rings: number of rings.
        histograms: histograms per ring.
        orientations: orientation bins per histogram.
        normalization: scikit-image's ``'l1'`` or ``'l2'`` (over the whole descriptor) or
            ``'daisy'`` (each histogram to unit L2, as in Tola et al.).
        min_bin_px: when the rings are far apart (``radius / rings >= 2 * min_bin_px``) DAISY runs
            on the image box-downsampled by ``f = pyramid_factor(stride, radius / rings,
            min_bin_px)`` with stride ``stride / f`` and radius ``round(radius / f)``: the same cell
            centres at a fraction of the cost (the Gaussians grow with the radius). None: full resolution.

    Returns:
        float32 array of shape (D, H // stride, W // stride) with
        ``D = (rings * histograms + 1) * orientations`` in scikit-image's channel order.

    The padded image is laid out so that skimage's first evaluated centre (index ``radius``) is
    a cell centre ``k`` cells outside the image and its ``step = stride`` grid then hits every
    cell centre; the padding extends at least ``2 * radius`` beyond the image so that the
    largest Gaussian (std ``radius / 2``) sees reflected content rather than skimage's own
    boundary handling. Note that skimage's gradients are forward differences, so its
    descriptors carry an intrinsic +0.5 px bias in the gradient locations, which is kept as is
    (it is the same for every cell, so the centring contract holds in skimage's own sense). For
    even strides the 2x2 bilinear resampling changes a DAISY descriptor a little more than a
    1 px shift would (DAISY varies very smoothly in space); odd strides avoid it.
    """
    from skimage.feature import daisy as _skimage_daisy

    img = _validate(gray, stride)
    for name, val in (
        ("radius", radius),
        ("rings", rings),
        ("histograms", histograms),
        ("orientations", orientations),
    ):
        if int(val) != val or val < 1:
            raise ValueError(f"{name} must be a positive integer, got {val!r}")
    if normalization not in ("l1", "l2", "daisy"):
        raise ValueError(f"normalization must be 'l1', 'l2' or 'daisy', got {normalization!r}")
    radius = int(radius)
    f = pyramid_factor(stride, radius / rings, min_bin_px)
    if f > 1:
        return dense_daisy(box_downsample(img, f), stride // f, max(1, round(radius / f)), rings, histograms,
                           orientations, normalization, min_bin_px=None)
    rows, cols = img.shape[0] // stride, img.shape[1] // stride
    c0 = (stride - 1) // 2 if stride % 2 else stride // 2 - 1  # cell-0 centre minus margin
    # Extra cells outside the image so the descriptors see >= 2 * radius of reflected context.
    k = int(math.ceil((2 * radius) / stride))
    margin = stride * k + radius - c0
    prepared, first = _pad_and_centre(img, stride, margin)  # first == radius + stride * k
    # Trim the trailing side to the last needed centre + radius + 2 * radius of context (the
    # padding is always at least that large); skimage evaluates every pixel before subsampling.
    end_r = first + stride * (rows - 1) + 3 * radius + 1
    end_c = first + stride * (cols - 1) + 3 * radius + 1
    prepared = np.ascontiguousarray(prepared[:end_r, :end_c])
    descs = _skimage_daisy(
        prepared,
        step=stride,
        radius=radius,
        rings=rings,
        histograms=histograms,
        orientations=orientations,
        normalization=normalization,
    )
    descs = descs[k : k + rows, k : k + cols]
    if descs.shape[:2] != (rows, cols):
        raise RuntimeError(f"DAISY grid {descs.shape[:2]} does not cover {rows}x{cols} cells")
    return np.ascontiguousarray(np.moveaxis(descs, 2, 0), dtype=np.float32)


def concat_unit_blocks(blocks: list[np.ndarray]) -> np.ndarray:
    """Concatenate descriptor grids (D_k, h, w) along channels, each cell's block L2-normalised and
    the whole divided by ``sqrt(len(blocks))``: every block weighs the same in a cosine similarity
    and the result has unit norm (a block of zeros, a textureless cell, stays zero)."""
    if not blocks or len({b.shape[1:] for b in blocks}) != 1:
        raise ValueError(f"blocks must share one (h, w) grid, got {[b.shape for b in blocks]}")
    unit = [b / np.maximum(np.linalg.norm(b, axis=0, keepdims=True), 1e-12) for b in blocks]
    return np.ascontiguousarray(np.concatenate(unit, axis=0) / np.sqrt(len(blocks)), dtype=np.float32)
