"""The data the app opens on when started without files.

``corrviz.core.demo.demo_pair()`` (a photo and a copy warped by a known affine) when it exists;
otherwise two views cut from scikit-image's bundled astronaut photo by a known crop and scale (a
scale + shift rather than a mirror: weight-free descriptors such as dense SIFT are not
mirror-invariant, so a flipped pair would not show useful matches).
"""

from __future__ import annotations

import numpy as np

from corrviz.core.session import ImageInput


def demo_images() -> tuple[list[ImageInput], np.ndarray]:
    """Two demo images and the (2, 3) affine mapping source pixels to target pixels."""
    try:
        from corrviz.core.demo import demo_pair

        pair = demo_pair()
        if isinstance(pair, tuple):
            src, trg, affine = pair
        else:
            src, trg, affine = pair.src, pair.trg, pair.affine
        return [ImageInput("demo source", src), ImageInput("demo target", trg)], np.asarray(affine, float)
    except ImportError:
        return fallback_pair()


def fallback_pair() -> tuple[list[ImageInput], np.ndarray]:
    """Astronaut crop and a shifted, 0.875x-scaled crop of the same photo."""
    import cv2
    from skimage import data

    astro = data.astronaut()
    src = np.ascontiguousarray(astro[0:448, 0:448])
    scale, dx, dy = 0.875, 32, 48
    crop = astro[dy: dy + 448, dx: dx + 448]
    size = round(448 * scale)
    trg = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    affine = np.array([[scale, 0.0, -dx * scale], [0.0, scale, -dy * scale]])
    return [ImageInput("astronaut", src), ImageInput("astronaut, shifted and scaled", trg)], affine
