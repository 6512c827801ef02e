"""Procedural textures (deterministic from a random generator): checker, stripes, noise, paint.

Each function returns an (size, size, 3) uint8 RGB image that tiles seamlessly, so texture
coordinates may wrap around a surface of revolution without a visible seam.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PALETTE = np.array([
    [220, 60, 50], [240, 150, 40], [245, 210, 60], [90, 180, 80], [40, 140, 130], [60, 120, 210],
    [120, 80, 190], [200, 90, 160], [235, 235, 230], [60, 60, 70], [150, 100, 60], [170, 200, 230],
], dtype=np.float64)


LUMA = np.array([0.299, 0.587, 0.114])


def pick_colors(rng: np.random.Generator, n: int = 2, min_contrast: float = 50.0) -> np.ndarray:
    """``n`` distinct palette colours (n, 3) in [0, 255], slightly varied.

    For two colours, draws again (deterministically) until their luminances differ by at least
    ``min_contrast`` so that patterns stay visible.
    """
    for _ in range(50):
        idx = rng.choice(len(PALETTE), size=n, replace=False)
        colours = np.clip(PALETTE[idx] + rng.uniform(-15, 15, size=(n, 3)), 0, 255)
        if n != 2 or abs(float((colours[0] - colours[1]) @ LUMA)) >= min_contrast:
            return colours
    return colours


def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    s = (np.arange(size) + 0.5) / size
    return np.meshgrid(s, s)


def _blend(weight: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    w = np.clip(weight, 0.0, 1.0)[..., None]
    return np.clip(np.round(c1 * (1 - w) + c2 * w), 0, 255).astype(np.uint8)


def checker(rng: np.random.Generator, size: int = 256, cells: int | None = None,
            colors: np.ndarray | None = None) -> np.ndarray:
    """Checkerboard with ``cells`` x ``cells`` squares (an even number, so it tiles)."""
    n = int(cells if cells is not None else 2 * rng.integers(2, 5))
    c1, c2 = pick_colors(rng) if colors is None else np.asarray(colors, dtype=np.float64)
    x, y = _coords(size)
    return _blend(((np.floor(x * n) + np.floor(y * n)) % 2).astype(np.float64), c1, c2)


def stripes(rng: np.random.Generator, size: int = 256, count: int | None = None,
            vertical: bool | None = None) -> np.ndarray:
    """Parallel stripes along u (``vertical``) or v."""
    n = int(count if count is not None else rng.integers(3, 9))
    vert = bool(rng.integers(0, 2)) if vertical is None else vertical
    c1, c2 = pick_colors(rng)
    x, y = _coords(size)
    s = x if vert else y
    return _blend((np.floor(s * n * 2) % 2).astype(np.float64), c1, c2)


def noise(rng: np.random.Generator, size: int = 256, cells: int | None = None) -> np.ndarray:
    """Smooth value noise (tileable): random values on a coarse periodic grid, bicubic-upsampled."""
    from scipy.ndimage import zoom

    n = int(cells if cells is not None else rng.integers(4, 9))
    c1, c2 = pick_colors(rng)
    coarse = rng.random((n, n))
    tiled = np.tile(coarse, (3, 3))
    fine = zoom(tiled, size / n, order=3, mode="grid-wrap", grid_mode=True)
    fine = fine[size:2 * size, size:2 * size]
    fine = (fine - fine.min()) / max(float(np.ptp(fine)), 1e-9)
    return _blend(fine, c1, c2)


def paint(rng: np.random.Generator, size: int = 16, color: np.ndarray | None = None) -> np.ndarray:
    """A plain painted colour (a small uniform texture)."""
    c = pick_colors(rng, 1)[0] if color is None else np.asarray(color, dtype=np.float64)
    return np.tile(np.clip(np.round(c), 0, 255).astype(np.uint8), (size, size, 1))


TEXTURES: dict[str, Callable[..., np.ndarray]] = {
    "checker": checker, "stripes": stripes, "noise": noise, "paint": paint,
}


def random_texture(rng: np.random.Generator, kinds: tuple[str, ...] = ("checker", "stripes", "noise")) -> np.ndarray:
    """A texture of a kind drawn from ``kinds``."""
    kind = kinds[int(rng.integers(0, len(kinds)))]
    return TEXTURES[kind](rng)
