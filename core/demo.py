"""The built-in demo pair: a photo and a warped copy with an exactly known affine transform.

The source is scikit-image's ``chelsea`` photo (CC0), shipped in ``resources/demo/``; the target
is the same photo scaled by 0.8 and shifted, made by ``scripts/make_demo_assets.py``. Because the
transform is known, ``corrviz-match`` can report the PCK it achieves without any annotation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .io import load_image


@dataclass(frozen=True)
class DemoPair:
    src: np.ndarray  # (H, W, 3) uint8
    trg: np.ndarray
    affine: np.ndarray  # (2, 3): trg_xy = A[:, :2] @ src_xy + A[:, 2] (continuous pixel coordinates)
    description: str

    def ground_truth(self, src_xy: np.ndarray) -> np.ndarray:
        return apply_affine(self.affine, src_xy)

    def inside_target(self, trg_xy: np.ndarray, margin: float = 0.0) -> np.ndarray:
        h, w = self.trg.shape[:2]
        xy = np.asarray(trg_xy)
        return (xy[:, 0] >= margin) & (xy[:, 0] <= w - margin) & (xy[:, 1] >= margin) & (xy[:, 1] <= h - margin)


def apply_affine(affine: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to (N, 2) points."""
    a = np.asarray(affine, dtype=np.float64)
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    return pts @ a[:, :2].T + a[:, 2]


def warp_affine(image: np.ndarray, affine: np.ndarray, out_size: tuple[int, int],
                border: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Warp an image by a continuous-coordinate affine (pixel centres at +0.5) into ``out_size=(W, H)``.

    OpenCV works in pixel-index coordinates (centres at integers), so the translation is adjusted:
    ``t' = A @ (0.5, 0.5) + t - 0.5``.
    """
    import cv2

    a = np.asarray(affine, dtype=np.float64)
    m = a.copy()
    m[:, 2] = a[:, :2] @ np.array([0.5, 0.5]) + a[:, 2] - 0.5
    return cv2.warpAffine(image, m, out_size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border)


def demo_pair() -> DemoPair:
    """Load the shipped demo pair and its ground-truth transform."""
    from corrviz.resources import resource_path

    meta = json.loads(resource_path("demo", "demo_pair.json").read_text())
    return DemoPair(load_image(resource_path("demo", meta["source"])),
                    load_image(resource_path("demo", meta["target"])),
                    np.asarray(meta["affine"], dtype=np.float64), meta["description"])
